package loader

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestTensorDataConcurrent(t *testing.T) {
	dir := t.TempDir()
	shards, _ := hfMake(t, dir)
	c, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, s := range shards {
		for _, w := range s {
			want[w.Name] = w.Data
		}
	}
	// Many goroutines hit every tensor (and so race on the lazy mapping of
	// each shard); run with -race.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				for i := range c.Tensors {
					j := (i + g) % len(c.Tensors)
					got, err := c.TensorData(j)
					if err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, want[c.Tensors[j].Name]) {
						errs <- errors.New("wrong data for " + c.Tensors[j].Name)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.TensorData(0); !errors.Is(err, ErrClosed) {
		t.Errorf("TensorData after Close: %v, want ErrClosed", err)
	}
}

func TestTensorDataEdgeCases(t *testing.T) {
	dir := t.TempDir()
	hfMake(t, dir)
	c, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	empty, err := c.TensorData(c.ByName["empty"])
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("0-byte tensor: %v (nil=%v), %v", empty, empty == nil, err)
	}
	for _, i := range []int{-1, len(c.Tensors)} {
		if _, err := c.TensorData(i); err == nil {
			t.Errorf("TensorData(%d) succeeded", i)
		}
	}
	// The view is capacity-limited: appending cannot scribble over the next tensor.
	d, err := c.TensorData(c.ByName["thinker.model.layers.0.w"])
	if err != nil {
		t.Fatal(err)
	}
	if cap(d) != len(d) {
		t.Errorf("cap %d != len %d", cap(d), len(d))
	}

	// A shard replaced after opening is detected when it is first mapped.
	s := c.Tensors[c.ByName["a.scalar"]].Shard
	if err := os.WriteFile(c.Shards[s].Path, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.TensorData(c.ByName["a.scalar"])
	stCheckFileError(t, err, c.Shards[s].Path, "", ErrCorrupt, "changed since the checkpoint was opened")
}

// A hand-built Checkpoint (no OpenHF) works too: the mapping state is lazy.
func TestTensorDataHandBuiltCheckpoint(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := WriteSafetensors(p, []WriteTensor{{Name: "x", DType: U8, Shape: []int64{8}, Data: data}}, nil); err != nil {
		t.Fatal(err)
	}
	h, err := ReadSafetensorsHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checkpoint{Shards: []Shard{{Name: "x.safetensors", Path: p, Size: h.FileSize}}, Tensors: h.Tensors}
	closed := false
	c.closers = append(c.closers, func() error { closed = true; return nil })
	got, err := c.TensorData(0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("TensorData = %v, %v", got, err)
	}
	if err := c.Close(); err != nil || !closed {
		t.Errorf("Close = %v, closers run = %v", err, closed)
	}
	bad := &Checkpoint{Shards: []Shard{{Path: p, Size: h.FileSize}}, Tensors: []TensorInfo{{Name: "y", DType: U8, Shard: 0, Offset: h.FileSize - 2, Size: 4}}}
	defer bad.Close()
	_, err = bad.TensorData(0)
	stCheckFileError(t, err, p, "y", ErrCorrupt, "outside the")
}

// A shard far beyond 4 GiB (a sparse 70 GB file) maps whole, and data past
// the 64 GiB mark is read correctly; the hole reads as zeros.
func TestTensorDataHugeSparseShard(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "huge.safetensors")
	const bigElems = 35_000_000_000 // BF16: 70 GB
	specs := []WriteTensorSpec{
		{Name: "big", DType: BF16, Shape: []int64{bigElems}, Sparse: true},
		{Name: "z", DType: BF16, Shape: []int64{4}},
	}
	w, err := NewSafetensorsWriter(p, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := []byte{9, 8, 7, 6, 5, 4, 3, 2}
	if err := w.WriteTensor("z", z); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Skipf("file system cannot hold a 70 GB sparse file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenHF(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	zi := c.ByName["z"]
	if off := c.Tensors[zi].Offset; off < 2*bigElems {
		t.Fatalf("z at offset %d, expected past the big tensor", off)
	}
	got, err := c.TensorData(zi)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, z) {
		t.Errorf("z = %v, want %v", got, z)
	}
	big, err := c.TensorData(c.ByName["big"])
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(big)) != 2*bigElems {
		t.Fatalf("big has %d bytes", len(big))
	}
	for _, off := range []int64{0, 1 << 32, 2*bigElems - 1} {
		if big[off] != 0 {
			t.Errorf("hole byte %d = %d, want 0", off, big[off])
		}
	}
	if c.TotalBytes() != 2*bigElems+8 || c.TotalParams() != bigElems+4 {
		t.Errorf("TotalBytes %d TotalParams %d", c.TotalBytes(), c.TotalParams())
	}
}
