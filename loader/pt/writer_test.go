package pt

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		limit uint64
		gap   int64
	}{
		{"plain", 0, 0},
		{"zip64 everything", 1, 0},          // every size and offset in ZIP64 fields
		{"zip64 offsets only", 200, 0},      // offsets past 200 and the biggest sizes
		{"zip64 large sizes only", 4000, 0}, // a mix of plain and ZIP64 entries
		// Real ZIP64: a sparse 5 GiB record pushes every tensor past 4 GiB.
		{"real zip64 offsets", 0, 5 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wf := writeTestFile(t, t.TempDir(), "model_optim_rng.pt", testDicts(), Options{zip64Limit: tc.limit, gap: tc.gap})
			checkReadBack(t, wf, tc.gap == 0)
			checkWithArchiveZip(t, wf, tc.limit != 0 || tc.gap != 0)
		})
	}
}

// checkWithArchiveZip reads the file with Go's archive/zip, an independent
// reader that verifies CRCs and ZIP64 handling, and checks torch's layout:
// folder name, record order, 64-byte data alignment.
func checkWithArchiveZip(t *testing.T, wf writtenFile, wantZip64 bool) {
	t.Helper()
	zr, err := zip.OpenReader(wf.path)
	if err != nil {
		t.Fatalf("archive/zip cannot open our file: %v", err)
	}
	defer zr.Close()
	want := []string{"model_optim_rng/data.pkl"}
	for i := range wf.data {
		want = append(want, "model_optim_rng/data/"+strconv.Itoa(i))
	}
	want = append(want, "model_optim_rng/version", "model_optim_rng/byteorder")
	if len(zr.File) > 1 && strings.HasSuffix(zr.File[1].Name, "/.gap") {
		want = append(want[:1], append([]string{"model_optim_rng/.gap"}, want[1:]...)...)
	}
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	sawZip64 := false
	for i, zf := range zr.File {
		if zf.Name != want[i] {
			t.Errorf("entry %d is %q, want %q", i, zf.Name, want[i])
		}
		if zf.Method != zip.Store {
			t.Errorf("%s: method %d, want stored", zf.Name, zf.Method)
		}
		off, err := zf.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		if off%64 != 0 {
			t.Errorf("%s: data at offset %d is not 64-byte aligned", zf.Name, off)
		}
		if zf.UncompressedSize == ^uint32(0) || off >= 1<<32 {
			sawZip64 = true
		}
		if strings.HasSuffix(zf.Name, "/.gap") {
			if zf.UncompressedSize64 <= 1<<32 {
				t.Errorf("gap record has %d bytes, want > 4 GiB", zf.UncompressedSize64)
			}
			continue // 5 GiB of zeros: too slow to read in a unit test
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // archive/zip checks the CRC at EOF
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		j := i // tensor number + 1
		if len(zr.File) > len(wf.data)+3 {
			j--
		}
		switch {
		case i == 0:
			if !bytes.HasPrefix(got, []byte{0x80, 2}) || got[len(got)-1] != '.' {
				t.Errorf("data.pkl does not look like a protocol 2 pickle")
			}
		case j <= len(wf.data):
			if !bytes.Equal(got, wf.data[j-1]) {
				t.Errorf("%s: content differs", zf.Name)
			}
		case strings.HasSuffix(zf.Name, "/version"):
			if string(got) != "3\n" {
				t.Errorf("version = %q", got)
			}
		default:
			if string(got) != "little" {
				t.Errorf("byteorder = %q", got)
			}
		}
	}
	if wantZip64 && !sawZip64 {
		t.Errorf("no entry uses ZIP64 sizes although the limit was lowered")
	}
	if !wantZip64 && sawZip64 {
		t.Errorf("a small file uses ZIP64 sizes")
	}
}

func TestPlannedSizeMatchesFile(t *testing.T) {
	dicts := testDicts()
	for _, opt := range []Options{{}, {ArchiveName: "a_much_longer_archive_name"}, {zip64Limit: 1}} {
		wf := writeTestFile(t, t.TempDir(), "x.pt", dicts, opt)
		st, err := os.Stat(wf.path)
		if err != nil {
			t.Fatal(err)
		}
		planned, err := PlannedSizeWith(wf.path, dicts, opt)
		if err != nil {
			t.Fatal(err)
		}
		if planned != st.Size() {
			t.Fatalf("%+v: PlannedSize = %d, file has %d bytes", opt, planned, st.Size())
		}
	}
	if _, err := PlannedSize("x.pt", []StateDict{{Key: "m", Tensors: []TensorSpec{{Name: "w", DType: loader.F8E4M3}}}}); err == nil {
		t.Fatal("PlannedSize accepted a float8 tensor")
	}
}

func TestArchiveName(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/a/b/model_optim_rng.pt", "model_optim_rng"},
		{"x.tar.pt", "x.tar"},
		{"noext", "noext"},
		{"dir/.pt", "archive"},
	}
	for _, tc := range tests {
		if got := archiveName(tc.path); got != tc.want {
			t.Errorf("archiveName(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestArchiveNameOption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model_optim_rng.pt.tmp")
	w, err := CreateWith(path, []StateDict{{Key: "model"}}, Options{ArchiveName: "model_optim_rng"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if zr.File[0].Name != "model_optim_rng/data.pkl" {
		t.Fatalf("first entry %q", zr.File[0].Name)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Dicts(); !equalStrings(got, []string{"model"}) {
		t.Fatalf("Dicts() = %q; an empty model dict must still be listed", got)
	}
}

func TestCreateRejects(t *testing.T) {
	tests := []struct {
		name  string
		dicts []StateDict
		want  string
	}{
		{"float8", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.F8E4M3, Shape: []int64{2}}}}}, "float8"},
		{"float8 e5m2", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.F8E5M2, Shape: []int64{2}}}}}, "no float8 storage"},
		{"uint16", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.U16, Shape: []int64{2}}}}}, "unsigned"},
		{"unknown dtype", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: "Q4", Shape: []int64{2}}}}}, "unknown dtype"},
		{"negative dim", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.F32, Shape: []int64{2, -1}}}}}, "negative"},
		{"overflow", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.F32, Shape: []int64{1 << 40, 1 << 30}}}}}, "too large"},
		{"duplicate tensor", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.F32}, {Name: "w", DType: loader.F32}}}}, "appears twice"},
		{"duplicate key", []StateDict{{Key: "model"}, {Key: "model"}}, "appears twice"},
		{"bad utf8", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w\xff", DType: loader.F32}}}}, "UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pt")
			w, err := Create(path, tc.dicts)
			if err == nil {
				w.Abort()
				t.Fatalf("Create succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a rejected Create left %s behind", path)
			}
		})
	}
}

func TestWriteAtRejects(t *testing.T) {
	dicts := []StateDict{{Key: "model", Tensors: []TensorSpec{
		{Name: "a", DType: loader.F32, Shape: []int64{4}},
		{Name: "b", DType: loader.BF16, Shape: []int64{3}},
	}}}
	w, err := Create(filepath.Join(t.TempDir(), "x.pt"), dicts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteAt(0, 4, make([]byte, 4)))
	must(w.WriteAt(0, 12, make([]byte, 4)))
	tests := []struct {
		name   string
		tensor int
		off    int64
		n      int
		want   string
	}{
		{"overlap start", 0, 2, 4, "overlaps"},
		{"overlap end", 0, 10, 4, "overlaps"},
		{"covering", 0, 0, 16, "overlaps"},
		{"same", 0, 4, 4, "overlaps"},
		{"past end", 1, 4, 4, "outside"},
		{"negative", 1, -1, 2, "outside"},
		{"bad tensor", 2, 0, 1, "out of range"},
		{"negative tensor", -1, 0, 1, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := w.WriteAt(tc.tensor, tc.off, make([]byte, tc.n))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteAt(%d, %d, %d bytes) = %v, want error with %q", tc.tensor, tc.off, tc.n, err, tc.want)
			}
		})
	}
	// The rejected writes must not count: closing now reports the gaps.
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "model/a (bytes [0, 4) of 16 not written)") || !strings.Contains(err.Error(), "model/b") {
		t.Fatalf("Close = %v, want incomplete tensors model/a and model/b named", err)
	}
	// Filling the gaps makes the file complete.
	must(w.WriteAt(0, 0, make([]byte, 4)))
	must(w.WriteAt(0, 8, make([]byte, 4)))
	must(w.WriteAt(1, 0, make([]byte, 6)))
	must(w.Close())
	if err := w.WriteAt(0, 0, []byte{1}); err == nil {
		t.Fatal("WriteAt after Close succeeded")
	}
}

func TestAbortRemovesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pt")
	w, err := Create(path, []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "a", DType: loader.F32, Shape: []int64{4}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(0, 0, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still exists after Abort: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
	w.Abort() // idempotent
}

func TestAbortAfterCloseKeepsFile(t *testing.T) {
	wf := writeTestFile(t, t.TempDir(), "x.pt", testDicts(), Options{}) // defers Abort after Close
	if _, err := os.Stat(wf.path); err != nil {
		t.Fatalf("Abort after a successful Close removed the file: %v", err)
	}
}

func TestConcurrentOverlapExactlyOnce(t *testing.T) {
	// Many goroutines race to write the same byte ranges; exactly one write
	// per range must win and the file must close cleanly.
	const n = 64 << 10
	w, err := Create(filepath.Join(t.TempDir(), "x.pt"), []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "a", DType: loader.U8, Shape: []int64{n}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[int64]int{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1024)
			for off := int64(0); off < n; off += 1024 {
				if w.WriteAt(0, off, buf) == nil {
					mu.Lock()
					wins[off]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for off := int64(0); off < n; off += 1024 {
		if wins[off] != 1 {
			t.Fatalf("range at %d was written %d times", off, wins[off])
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPickleMatchesTorch compares our data.pkl byte for byte with the pickle
// torch.save 1.13 wrote for the same state dict (captured from
// python3-torch 1.13.1; see testdata/torch_small.pkl).
func TestPickleMatchesTorch(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "torch_small.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	dicts := []StateDict{{Key: "model", Tensors: []TensorSpec{
		{Name: "a.weight", DType: loader.F32, Shape: []int64{2, 3}},
		{Name: "b", DType: loader.BF16, Shape: []int64{}},
		{Name: "c", DType: loader.I64, Shape: []int64{0, 4}},
	}}}
	p, err := planFile("model_optim_rng", dicts, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.pickle, want) {
		t.Fatalf("data.pkl differs from torch.save's:\n got %q\nwant %q", p.pickle, want)
	}
}

func TestEncodeLong(t *testing.T) {
	// Expected encodings from CPython's pickle.encode_long.
	tests := []struct {
		v    int64
		want []byte
	}{
		{0, nil},
		{255, []byte{0xff, 0x00}},
		{1 << 31, []byte{0, 0, 0, 0x80, 0}},
		{1<<40 + 5, []byte{5, 0, 0, 0, 0, 1}},
		{-1, []byte{0xff}},
		{-256, []byte{0x00, 0xff}},
		{-1<<31 - 1, []byte{0xff, 0xff, 0xff, 0x7f, 0xff}},
	}
	for _, tc := range tests {
		got := encodeLong(big.NewInt(tc.v))
		if !bytes.Equal(got, tc.want) {
			t.Errorf("encode_long(%d) = % x, want % x", tc.v, got, tc.want)
		}
		if v := decodeLong(tc.want); v != any(tc.v) {
			t.Errorf("decodeLong(% x) = %v, want %d", tc.want, v, tc.v)
		}
	}
	// Ints beyond 32 bits are written as LONG1, smaller ones as BININT*.
	intTests := []struct {
		v    int64
		want []byte
	}{
		{7, []byte{opBinInt1, 7}},
		{300, []byte{opBinInt2, 0x2c, 0x01}},
		{70000, []byte{opBinInt, 0x70, 0x11, 0x01, 0x00}},
		{5_000_000_000, []byte{opLong1, 5, 0x00, 0xf2, 0x05, 0x2a, 0x01}},
	}
	for _, tc := range intTests {
		p := newPickleWriter()
		p.buf = nil
		p.int(tc.v)
		if !bytes.Equal(p.buf, tc.want) {
			t.Errorf("int(%d) = % x, want % x", tc.v, p.buf, tc.want)
		}
	}
}

func TestSequentialPartsMerge(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "x.pt"), []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "a", DType: loader.U8, Shape: []int64{4000}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := testTensorData(TensorSpec{DType: loader.U8, Shape: []int64{4000}}, 3)
	// Front half ascending, back half descending, middle last: every merge case.
	order := []int64{}
	for off := int64(0); off < 1600; off += 4 {
		order = append(order, off)
	}
	for off := int64(3996); off >= 2400; off -= 4 {
		order = append(order, off)
	}
	for off := int64(1600); off < 2400; off += 8 {
		order = append(order, off+4) // leave holes, then fill them
	}
	for off := int64(1600); off < 2400; off += 8 {
		order = append(order, off)
	}
	for _, off := range order {
		if err := w.WriteAt(0, off, data[off:off+4]); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.tensors[0].parts); n != 1 {
		t.Fatalf("%d parts after writing everything, want 1 merged part", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.VerifyRecords(); err != nil {
		t.Fatalf("merged CRC is wrong: %v", err)
	}
	got, err := f.ReadTensor(f.Tensors("model")[0])
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs: %v", err)
	}
}

func TestFailedWritePoisonsClose(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "x.pt"), []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "a", DType: loader.U8, Shape: []int64{8}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.file.Close() // make the next pwrite fail
	if err := w.WriteAt(0, 0, make([]byte, 8)); err == nil {
		t.Fatal("WriteAt on a closed file succeeded")
	}
	err = w.Close()
	if err == nil || !strings.Contains(err.Error(), "a write failed") || !strings.Contains(err.Error(), "model/a") {
		t.Fatalf("Close = %v, want the earlier write failure", err)
	}
}
