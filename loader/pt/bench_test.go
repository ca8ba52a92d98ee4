package pt

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// BenchmarkWrite measures the writer end to end (Create, concurrent WriteAt of
// 4 MiB parts, Close with fsync) for 64 tensors of 4 MiB each.
func BenchmarkWrite(b *testing.B) {
	const tensors, size, part = 64, 4 << 20, 1 << 20
	var specs []TensorSpec
	for i := 0; i < tensors; i++ {
		specs = append(specs, TensorSpec{Name: fmt.Sprintf("layers.%d.weight", i), DType: loader.BF16, Shape: []int64{size / 2}})
	}
	dicts := []StateDict{{Key: "model", Tensors: specs}}
	buf := make([]byte, part)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	dir := b.TempDir()
	b.SetBytes(tensors * size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := Create(filepath.Join(dir, "model_optim_rng.pt"), dicts)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for t := g; t < tensors; t += 4 {
					for off := size - part; off >= 0; off -= part { // back to front
						if err := w.WriteAt(t, int64(off), buf); err != nil {
							b.Error(err)
							return
						}
					}
				}
			}(g)
		}
		wg.Wait()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadView measures gathering a column slice (a TP shard saved as a
// view) out of a 2048x2048 BF16 storage.
func BenchmarkReadView(b *testing.B) {
	dir := b.TempDir()
	wf := writeTestFile(b, dir, "x.pt", []StateDict{{Key: "model", Tensors: []TensorSpec{{Name: "w", DType: loader.BF16, Shape: []int64{2048, 2048}}}}}, Options{})
	f, err := Open(wf.path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ref := f.Tensors("model")[0]
	ref.Shape = []int64{2048, 1024}
	ref.StorageOffset = 1024
	b.SetBytes(2048 * 1024 * 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.ReadTensor(ref); err != nil {
			b.Fatal(err)
		}
	}
}
