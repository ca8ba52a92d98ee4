package loader

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// stDirNames lists a directory, to check that no temporary file is left.
func stDirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestSafetensorsWriterStreamingMatchesOneShot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tensors := stRandomTensors(r, 40, false)
	dir := t.TempDir()
	oneShot := filepath.Join(dir, "a.safetensors")
	if err := WriteSafetensors(oneShot, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	specs := make([]WriteTensorSpec, len(tensors))
	for i, w := range tensors {
		specs[i] = WriteTensorSpec{Name: w.Name, DType: w.DType, Shape: w.Shape}
	}
	streamed := filepath.Join(dir, "b.safetensors")
	w, err := NewSafetensorsWriter(streamed, specs, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(streamed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("final file exists before Close: %v", err)
	}
	// Reverse order, from several goroutines at once.
	var wg sync.WaitGroup
	errs := make([]error, len(tensors))
	for i := len(tensors) - 1; i >= 0; i-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.WriteTensor(tensors[i].Name, tensors[i].Data)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(oneShot)
	b, _ := os.ReadFile(streamed)
	if !bytes.Equal(a, b) || int64(len(b)) != w.Size() {
		t.Errorf("streamed file (%d bytes, Size %d) differs from one-shot file (%d bytes)", len(b), w.Size(), len(a))
	}
	if names := stDirNames(t, dir); len(names) != 2 {
		t.Errorf("directory holds %v, want only the two outputs", names)
	}
	fi, err := os.Stat(streamed)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}
}

func TestSafetensorsWriterMisuse(t *testing.T) {
	specs := []WriteTensorSpec{
		{Name: "a", DType: F32, Shape: []int64{2}},
		{Name: "b", DType: BF16, Shape: []int64{3}},
		{Name: "s", DType: BF16, Shape: []int64{1000}, Sparse: true},
	}
	cases := []struct {
		name   string
		run    func(w *SafetensorsWriter) error
		tensor string
		want   string
	}{
		{"unknown tensor", func(w *SafetensorsWriter) error { return w.WriteTensor("zz", nil) }, "zz", "not declared"},
		{"wrong size", func(w *SafetensorsWriter) error { return w.WriteTensor("a", make([]byte, 7)) }, "a", "got 7 bytes, but shape [2] of F32 needs 8"},
		{"twice", func(w *SafetensorsWriter) error {
			if err := w.WriteTensor("a", make([]byte, 8)); err != nil {
				return err
			}
			return w.WriteTensor("a", make([]byte, 8))
		}, "a", "written twice"},
		{"missing at close", func(w *SafetensorsWriter) error {
			if err := w.WriteTensor("a", make([]byte, 8)); err != nil {
				return err
			}
			return w.Close()
		}, "", `1 declared tensors were never written ("b")`},
		{"write after abort", func(w *SafetensorsWriter) error {
			if err := w.Abort(); err != nil {
				return err
			}
			return w.WriteTensor("a", make([]byte, 8))
		}, "a", "already closed or aborted"},
		{"close after abort", func(w *SafetensorsWriter) error {
			if err := w.Abort(); err != nil {
				return err
			}
			return w.Close()
		}, "", "already closed or aborted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out.safetensors")
			w, err := NewSafetensorsWriter(p, specs, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.run(w)
			stCheckFileError(t, err, p, tc.tensor, ErrInvalidWrite, tc.want)
			_ = w.Abort()
			if names := stDirNames(t, dir); len(names) != 0 {
				t.Errorf("left files behind: %v", names)
			}
		})
	}
}

func TestSafetensorsWriterRejectsBadSpecs(t *testing.T) {
	cases := []struct {
		name   string
		specs  []WriteTensorSpec
		tensor string
		want   string
	}{
		{"empty name", []WriteTensorSpec{{Name: "", DType: F32}}, "", "empty name"},
		{"metadata name", []WriteTensorSpec{{Name: "__metadata__", DType: F32}}, "__metadata__", "reserved"},
		{"duplicate", []WriteTensorSpec{{Name: "a", DType: F32}, {Name: "a", DType: F16}}, "a", "declared twice"},
		{"bad dtype", []WriteTensorSpec{{Name: "a", DType: "F128"}}, "a", `unknown dtype "F128"`},
		{"negative dim", []WriteTensorSpec{{Name: "a", DType: F32, Shape: []int64{2, -2}}}, "a", "negative dimension"},
		{"too many elements", []WriteTensorSpec{{Name: "a", DType: U8, Shape: []int64{1 << 40, 1 << 40}}}, "a", "too many elements"},
		{"invalid utf8", []WriteTensorSpec{{Name: "a\xff", DType: U8}}, "", "not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out.safetensors")
			_, err := NewSafetensorsWriter(p, tc.specs, nil)
			stCheckFileError(t, err, p, tc.tensor, ErrInvalidWrite, tc.want)
			if names := stDirNames(t, dir); len(names) != 0 {
				t.Errorf("left files behind: %v", names)
			}
		})
	}
	if err := WriteSafetensors(filepath.Join(t.TempDir(), "x.safetensors"), []WriteTensor{{Name: "a", DType: F32, Shape: []int64{4}, Data: make([]byte, 3)}}, nil); err == nil {
		t.Error("WriteSafetensors accepted data of the wrong size")
	}
	if err := WriteSafetensors(filepath.Join(t.TempDir(), "nodir", "x.safetensors"), nil, nil); err == nil {
		t.Error("WriteSafetensors into a missing directory succeeded")
	}
}

func TestSafetensorsWriterSparse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sparse.safetensors")
	specs := []WriteTensorSpec{
		{Name: "big", DType: BF16, Shape: []int64{1 << 20, 1024}, Sparse: true}, // 2 GiB hole
		{Name: "small", DType: F32, Shape: []int64{4}},
	}
	w, err := NewSafetensorsWriter(p, specs, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	small := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if err := w.WriteTensor("small", small); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := ReadSafetensorsHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.DataStart() + 2<<30 + 16; h.FileSize != want {
		t.Errorf("file size %d, want %d", h.FileSize, want)
	}
	if used := stDiskUsage(t, p); used >= 0 && used > 1<<20 {
		t.Errorf("sparse file uses %d bytes of disk", used)
	}
}
