package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// Benchmarks on MB-sized inputs shaped like Qwen3-Omni layers (bf16 unless noted).
// Throughput is reported over the bytes written.

func BenchmarkFuseQKV(b *testing.B) {
	const nh, ng, d, hidden, elem = 32, 4, 128, 1024, 2 // q 8 MiB, k and v 1 MiB each
	r := rand.New(rand.NewPCG(1, 1))
	rb := hidden * elem
	q, k, v := randBytes(r, nh*d*rb), randBytes(r, ng*d*rb), randBytes(r, ng*d*rb)
	dst := make([]byte, (nh+2*ng)*d*rb)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		if err := FuseQKV(dst, q, k, v, nh, ng, d, rb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSwiGLUShard(b *testing.B) {
	shape := []int64{768, 2048} // moe_intermediate_size × hidden: 3 MiB each for gate and up
	r := rand.New(rand.NewPCG(2, 2))
	n := numel(shape) * 2
	gate, up := randBytes(r, n), randBytes(r, n)
	for _, tp := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("tp%d", tp), func(b *testing.B) {
			s, _ := SwiGLUShardShape(shape, tp, 0)
			dst := make([]byte, numel(s)*2)
			b.SetBytes(int64(len(dst)))
			for b.Loop() {
				if err := SwiGLUShard(dst, gate, up, shape, 2, tp, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRowParallelShard(b *testing.B) {
	shape := []int64{2048, 768} // down_proj: hidden × moe_intermediate_size
	r := rand.New(rand.NewPCG(3, 3))
	src := randBytes(r, numel(shape)*2)
	dst := make([]byte, len(src)/2)
	b.SetBytes(int64(len(dst)))
	for b.Loop() {
		if err := RowParallelShard(dst, src, shape, 2, 2, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTranspose2D(b *testing.B) {
	for _, c := range []struct{ rows, cols, elem int }{{1536, 2048, 2}, {1536, 2048, 4}, {1537, 2047, 2}, {1024, 1024, 1}, {512, 1024, 8}} {
		b.Run(fmt.Sprintf("%dx%d/elem%d", c.rows, c.cols, c.elem), func(b *testing.B) {
			r := rand.New(rand.NewPCG(4, 4))
			src := randBytes(r, c.rows*c.cols*c.elem)
			dst := make([]byte, len(src))
			b.SetBytes(int64(len(dst)))
			for b.Loop() {
				if err := Transpose2D(dst, src, c.rows, c.cols, c.elem); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// weightLike fills a dtype-t buffer with n values drawn like trained weights, N(0, 0.02).
func weightLike(r *rand.Rand, t loader.DType, n int) []byte {
	b := make([]byte, n*t.Size())
	for i := range n {
		v := r.NormFloat64() * 0.02
		f := math.Float32bits(float32(v))
		switch t {
		case loader.F64:
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		case loader.F32:
			binary.LittleEndian.PutUint32(b[4*i:], f)
		case loader.BF16:
			binary.LittleEndian.PutUint16(b[2*i:], F32ToBF16Bits(f))
		case loader.F16:
			binary.LittleEndian.PutUint16(b[2*i:], F32ToF16Bits(f))
		}
	}
	return b
}

func BenchmarkCast(b *testing.B) {
	const n = 1 << 20 // elements
	pairs := [][2]loader.DType{
		{loader.F32, loader.BF16}, {loader.BF16, loader.F32}, {loader.F32, loader.F16}, {loader.F16, loader.F32},
		{loader.BF16, loader.F16}, {loader.F16, loader.BF16}, {loader.F64, loader.F32}, {loader.F64, loader.BF16},
	}
	for _, p := range pairs {
		b.Run(fmt.Sprintf("%s-%s", p[0], p[1]), func(b *testing.B) {
			src := weightLike(rand.New(rand.NewPCG(5, 5)), p[0], n)
			dst := make([]byte, n*p[1].Size())
			b.SetBytes(int64(len(dst)))
			for b.Loop() {
				if err := Cast(dst, p[1], src, p[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
