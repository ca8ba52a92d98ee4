package pt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// centralOf returns the offset of the central directory header of entry name.
func centralOf(t *testing.T, b []byte, name string) int {
	t.Helper()
	sig := []byte{0x50, 0x4b, 0x01, 0x02}
	for i := 0; ; {
		j := bytes.Index(b[i:], sig)
		if j < 0 {
			t.Fatalf("no central entry %q", name)
		}
		at := i + j
		n := int(binary.LittleEndian.Uint16(b[at+28:]))
		if at+46+n <= len(b) && string(b[at+46:at+46+n]) == name {
			return at
		}
		i = at + 4
	}
}

func localOf(b []byte, central int) int { return int(binary.LittleEndian.Uint32(b[central+42:])) }

// TestZipIntegrity: rank files whose zip directory is inconsistent are refused at
// Open, naming the entry and saying not to paper over it with --take-rank0. Each
// would otherwise load, and the copies of a tensor would "disagree".
func TestZipIntegrity(t *testing.T) {
	const pkl = "\x80\x02}."
	// descriptor style (Go's archive/zip, like torch.save: zeros in the local header)
	descr := func(t *testing.T, recs ...[2]string) []byte {
		b, err := os.ReadFile(makePT(t, t.TempDir(), recs...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// our writer: real sizes and CRC in the local header
	wf := writeTestFile(t, t.TempDir(), "w.pt", testDicts(), Options{})
	own, err := os.ReadFile(wf.path)
	if err != nil {
		t.Fatal(err)
	}
	of, err := Open(wf.path)
	if err != nil {
		t.Fatal(err)
	}
	ownName := of.archive + "/data.pkl"
	of.Close()

	cases := []struct {
		name string
		file func(t *testing.T) []byte
		want string
	}{
		{"duplicate entry name", func(t *testing.T) []byte {
			return descr(t, [2]string{"data.pkl", pkl}, [2]string{"data/0", "AAAAAAAA"}, [2]string{"data/0", "BBBBBBBB"})
		}, `entry "archive/data/0" appears twice`},
		{"local header names another entry", func(t *testing.T) []byte {
			b := descr(t, [2]string{"data.pkl", pkl}, [2]string{"data/0", "AAAAAAAA"}, [2]string{"data/1", "BBBBBBBB"})
			l := localOf(b, centralOf(t, b, "archive/data/1"))
			copy(b[l+30:], "archive/data/2")
			return b
		}, `names "archive/data/2"`},
		{"shared data: two central entries point at one local header", func(t *testing.T) []byte {
			b := descr(t, [2]string{"data.pkl", pkl}, [2]string{"data/0", "AAAAAAAA"}, [2]string{"data/1", "BBBBBBBB"})
			c0, c1 := centralOf(t, b, "archive/data/0"), centralOf(t, b, "archive/data/1")
			copy(b[c1+42:c1+46], b[c0+42:c0+46])
			return b
		}, `local header at offset`},
		{"overlapping data", func(t *testing.T) []byte {
			b := descr(t, [2]string{"data.pkl", pkl}, [2]string{"data/0", "AAAAAAAA"}, [2]string{"data/1", "BBBBBBBB"})
			c0 := centralOf(t, b, "archive/data/0")
			// data/0 claims 48 bytes: its data now runs over data/1's local header
			binary.LittleEndian.PutUint32(b[c0+20:], 48)
			binary.LittleEndian.PutUint32(b[c0+24:], 48)
			return b
		}, "overlap"},
		{"local sizes disagree", func(t *testing.T) []byte {
			b := bytes.Clone(own)
			l := localOf(b, centralOf(t, b, ownName))
			binary.LittleEndian.PutUint32(b[l+22:], binary.LittleEndian.Uint32(b[l+22:])-1)
			return b
		}, "but the central directory says"},
		{"local CRC disagrees", func(t *testing.T) []byte {
			b := bytes.Clone(own)
			l := localOf(b, centralOf(t, b, ownName))
			b[l+14] ^= 1
			return b
		}, "but the central directory says"},
		{"local compression method disagrees", func(t *testing.T) []byte {
			b := bytes.Clone(own)
			l := localOf(b, centralOf(t, b, ownName))
			binary.LittleEndian.PutUint16(b[l+8:], methodDeflate)
			return b
		}, "compression method 8 in the local header, 0 in the central directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "model_optim_rng.pt")
			if err := os.WriteFile(p, c.file(t), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("Open accepted an inconsistent archive")
			}
			for _, w := range []string{c.want, p, "restore this file from the original checkpoint", "--take-rank0"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if !errors.Is(err, errTampered) {
				t.Errorf("error does not wrap errTampered: %v", err)
			}
		})
	}
	// the untouched files open
	for _, b := range [][]byte{own, descr(t, [2]string{"data.pkl", pkl}, [2]string{"data/0", "AAAAAAAA"})} {
		p := filepath.Join(t.TempDir(), "ok.pt")
		os.WriteFile(p, b, 0o644)
		f, err := Open(p)
		if err != nil {
			t.Fatalf("a consistent archive is refused: %v", err)
		}
		f.Close()
	}
}
