package pt

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// testTensorData returns deterministic bytes for a tensor; BOOL gets 0/1.
func testTensorData(spec TensorSpec, seed uint64) []byte {
	n, err := tensorBytes(spec.Shape, spec.DType.Size())
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
		if spec.DType == loader.BOOL {
			b[i] &= 1
		}
	}
	return b
}

// testDicts is a small checkpoint covering every writable dtype, scalars and
// zero-element tensors across two virtual-pipeline chunks.
func testDicts() []StateDict {
	return []StateDict{
		{Key: "model0", Tensors: []TensorSpec{
			{Name: "embedding.word_embeddings.weight", DType: loader.BF16, Shape: []int64{17, 8}},
			{Name: "f16", DType: loader.F16, Shape: []int64{3, 5}},
			{Name: "f32", DType: loader.F32, Shape: []int64{2, 3, 4}},
			{Name: "f64", DType: loader.F64, Shape: []int64{7}},
			{Name: "i64", DType: loader.I64, Shape: []int64{2, 2}},
			{Name: "i32", DType: loader.I32, Shape: []int64{1, 1, 1, 1, 3}},
			{Name: "i16", DType: loader.I16, Shape: []int64{9}},
			{Name: "i8", DType: loader.I8, Shape: []int64{4, 4}},
			{Name: "u8", DType: loader.U8, Shape: []int64{300}},
			{Name: "bool", DType: loader.BOOL, Shape: []int64{5, 2}},
		}},
		{Key: "model1", Tensors: []TensorSpec{
			{Name: "scalar.bf16", DType: loader.BF16, Shape: []int64{}},
			{Name: "scalar.i64", DType: loader.I64, Shape: nil},
			{Name: "empty", DType: loader.F32, Shape: []int64{0}},
			{Name: "empty2d", DType: loader.I64, Shape: []int64{0, 4}},
			{Name: "empty.mid", DType: loader.BF16, Shape: []int64{3, 0, 2}},
			{Name: "decoder.layers.0.mlp.linear_fc1.weight", DType: loader.BF16, Shape: []int64{64, 33}},
		}},
	}
}

type writtenFile struct {
	path  string
	dicts []StateDict
	data  [][]byte // by tensor number
}

// writeTestFile writes dicts with random bytes, splitting every tensor into
// random parts that several goroutines write in shuffled order.
func writeTestFile(t testing.TB, dir, name string, dicts []StateDict, opt Options) writtenFile {
	t.Helper()
	path := filepath.Join(dir, name)
	w, err := CreateWith(path, dicts, opt)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	wf := writtenFile{path: path, dicts: dicts}
	type job struct {
		tensor int
		off    int64
		data   []byte
	}
	var jobs []job
	rng := rand.New(rand.NewPCG(7, 9))
	for _, d := range dicts {
		for _, s := range d.Tensors {
			i := len(wf.data)
			b := testTensorData(s, uint64(i))
			wf.data = append(wf.data, b)
			for off := 0; off < len(b); {
				n := 1 + rng.IntN(len(b)-off)
				if rng.IntN(3) == 0 {
					n = min(n, 1+rng.IntN(5))
				}
				jobs = append(jobs, job{i, int64(off), b[off : off+n]})
				off += n
			}
		}
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	ch := make(chan job)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := w.WriteAt(j.tensor, j.off, j.data); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("WriteAt: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return wf
}

// checkReadBack opens wf.path with our reader and compares everything.
func checkReadBack(t *testing.T, wf writtenFile, verifyAll bool) {
	t.Helper()
	f, err := Open(wf.path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	var keys []string
	for _, d := range wf.dicts {
		keys = append(keys, d.Key)
	}
	if got := f.Dicts(); !equalStrings(got, keys) {
		t.Fatalf("Dicts() = %q, want %q", got, keys)
	}
	if got := f.Keys(); !equalStrings(got, keys) {
		t.Fatalf("Keys() = %q, want %q", got, keys)
	}
	n := 0
	for _, d := range wf.dicts {
		refs := f.Tensors(d.Key)
		if len(refs) != len(d.Tensors) {
			t.Fatalf("%s: %d tensors, want %d", d.Key, len(refs), len(d.Tensors))
		}
		for j, s := range d.Tensors {
			r := refs[j]
			if r.Name != s.Name || r.DType != s.DType || !equalInts(r.Shape, s.Shape) {
				t.Errorf("%s[%d] = %s %s %v, want %s %s %v", d.Key, j, r.Name, r.DType, r.Shape, s.Name, s.DType, s.Shape)
			}
			if !equalInts(r.Stride, contiguousStrides(s.Shape)) || r.StorageOffset != 0 {
				t.Errorf("%s: stride %v offset %d, want contiguous", s.Name, r.Stride, r.StorageOffset)
			}
			got, err := f.ReadTensor(r)
			if err != nil {
				t.Fatalf("ReadTensor(%s): %v", s.Name, err)
			}
			if !bytes.Equal(got, wf.data[n]) {
				t.Errorf("%s/%s: bytes differ (%d vs %d bytes)", d.Key, s.Name, len(got), len(wf.data[n]))
			}
			n++
		}
	}
	if !verifyAll {
		return
	}
	if err := f.VerifyRecords(); err != nil {
		t.Fatalf("VerifyRecords: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
