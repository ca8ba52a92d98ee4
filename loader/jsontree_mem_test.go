package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBigConfigStringMemory: a config.json with a huge string value (issue 9: a
// 50 MB string cost 438 MB) is read and parsed in under twice its size; parsing
// alone, of a caller's buffer, costs one copy.
func TestBigConfigStringMemory(t *testing.T) {
	const big = 16 << 20
	src := "../testdata/example/qwen3-omni-tiny"
	dir := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == ConfigFileName {
			i := bytes.LastIndexByte(b, '}')
			b = append(b[:i:i], []byte(`, "junk": "`+strings.Repeat("a", big)+`"}`)...)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, ConfigFileName))
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(fi.Size())

	var ck *Checkpoint
	got := allocated(func() {
		ck, err = OpenHF(dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if n, ok := ck.Config.Member("junk"); !ok || len(n.Raw) != big+2 {
		t.Fatal("the big string was not parsed")
	}
	if got > 2*size {
		t.Errorf("OpenHF of a %d-byte config.json allocated %d bytes (%.2f× the file), want under 2×", size, got, float64(got)/float64(size))
	}
	t.Logf("OpenHF: %.2f× the config size", float64(got)/float64(size))

	data, _ := os.ReadFile(filepath.Join(dir, ConfigFileName))
	got = allocated(func() { _, err = ParseJSONTree(data) })
	if err != nil {
		t.Fatal(err)
	}
	if got > size+size/4 {
		t.Errorf("ParseJSONTree of %d bytes allocated %d (%.2f×), want one copy", size, got, float64(got)/float64(size))
	}
	got = allocated(func() { _, err = parseJSONTreeShared(data) })
	if got > size/8 {
		t.Errorf("parseJSONTreeShared of %d bytes allocated %d (%.2f×), want no copy", size, got, float64(got)/float64(size))
	}
}
