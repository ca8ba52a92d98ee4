package ops

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// gate holds 0, 1, 2, ... and up 100, 101, ...; rows of the [4, 2] tensors are
// gate g0=[0 1] g1=[2 3] g2=[4 5] g3=[6 7], up u0=[100 101] ... u3=[106 107].
func TestSwiGLUShardHandWorked(t *testing.T) {
	tests := []struct {
		shape    []int64
		tp, rank int
		want     []uint64
	}{
		{[]int64{4, 2}, 1, 0, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 102, 103, 104, 105, 106, 107}},
		{[]int64{4, 2}, 2, 0, []uint64{0, 1, 2, 3, 100, 101, 102, 103}}, // g0 g1 u0 u1
		{[]int64{4, 2}, 2, 1, []uint64{4, 5, 6, 7, 104, 105, 106, 107}}, // g2 g3 u2 u3
		{[]int64{4, 2}, 4, 0, []uint64{0, 1, 100, 101}},
		{[]int64{4, 2}, 4, 1, []uint64{2, 3, 102, 103}},
		{[]int64{4, 2}, 4, 2, []uint64{4, 5, 104, 105}},
		{[]int64{4, 2}, 4, 3, []uint64{6, 7, 106, 107}},
		// uneven: 5 rows at TP 2 -> chunks of 3 and 2
		{[]int64{5, 1}, 2, 0, []uint64{0, 1, 2, 100, 101, 102}},
		{[]int64{5, 1}, 2, 1, []uint64{3, 4, 103, 104}},
		// 5 rows at TP 4 -> chunks 2, 2, 1 (and no chunk 3)
		{[]int64{5, 1}, 4, 2, []uint64{4, 104}},
		// 1-D
		{[]int64{4}, 2, 1, []uint64{2, 3, 102, 103}},
	}
	for _, tt := range tests {
		for _, elem := range elemSizes {
			t.Run(fmt.Sprintf("%v/tp%d/r%d/elem%d", tt.shape, tt.tp, tt.rank, elem), func(t *testing.T) {
				n := numel(tt.shape)
				gate, up := enc(elem, seq(0, n)...), enc(elem, seq(100, n)...)
				shape, err := SwiGLUShardShape(tt.shape, tt.tp, tt.rank)
				if err != nil {
					t.Fatal(err)
				}
				if numel(shape) != len(tt.want) || !slices.Equal(shape[1:], tt.shape[1:]) {
					t.Fatalf("SwiGLUShardShape = %v for %d elements", shape, len(tt.want))
				}
				dst := make([]byte, len(tt.want)*elem)
				if err := SwiGLUShard(dst, gate, up, tt.shape, elem, tt.tp, tt.rank); err != nil {
					t.Fatal(err)
				}
				if got := dec(elem, dst); !equalU64(got, tt.want) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestSwiGLUErrors(t *testing.T) {
	gate, up := make([]byte, 5), make([]byte, 5)
	wantErr(t, SwiGLUShard(make([]byte, 0), gate, up, []int64{5, 1}, 1, 4, 3), ErrArgument) // no chunk 3
	_, err := SwiGLUShardShape([]int64{5, 1}, 4, 3)
	wantErr(t, err, ErrArgument)
	wantErr(t, SwiGLUShard(make([]byte, 6), gate, up[:4], []int64{5, 1}, 1, 2, 0), ErrSize)
	wantErr(t, SwiGLUShard(make([]byte, 5), gate, up, []int64{5, 1}, 1, 2, 0), ErrSize)
	wantErr(t, SwiGLUShard(make([]byte, 6), gate, up, []int64{}, 1, 2, 0), ErrArgument)
	wantErr(t, SwiGLUMerge(gate, up, [][]byte{make([]byte, 6)}, []int64{5, 1}, 1, 2), ErrArgument)
	shards := [][]byte{make([]byte, 4), make([]byte, 4), make([]byte, 2), nil}
	wantErr(t, SwiGLUMerge(gate, up, shards, []int64{5, 1}, 1, 4), ErrArgument) // torch.chunk gives only 3
	wantErr(t, SwiGLUMerge(gate, up, [][]byte{make([]byte, 6), make([]byte, 3)}, []int64{5, 1}, 1, 2), ErrSize)
}

// refSwiGLU is cat(chunk(gate, tp)[rank], chunk(up, tp)[rank]) from the reference narrow.
func refSwiGLU(gate, up []byte, shape []int64, elem, tp, rank int) []byte {
	sizes := refChunkSizes(int(shape[0]), tp)
	start := 0
	for _, s := range sizes[:rank] {
		start += s
	}
	g := refNarrow(gate, shape, elem, 0, int64(start), int64(sizes[rank]))
	u := refNarrow(up, shape, elem, 0, int64(start), int64(sizes[rank]))
	return append(g, u...)
}

func TestSwiGLUMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 300; it++ {
		shape := []int64{int64(1 + r.IntN(12))}
		for range r.IntN(3) {
			shape = append(shape, int64(1+r.IntN(4)))
		}
		elem := []int{1, 2, 4, 8, 3}[r.IntN(5)]
		tp := 1 + r.IntN(5)
		n := numel(shape) * elem
		gate, up := randBytes(r, n), randBytes(r, n)
		var shards [][]byte
		for rank := range len(refChunkSizes(int(shape[0]), tp)) {
			want := refSwiGLU(gate, up, shape, elem, tp, rank)
			got := make([]byte, len(want))
			if err := SwiGLUShard(got, gate, up, shape, elem, tp, rank); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("SwiGLUShard %v elem %d tp %d rank %d differs from reference", shape, elem, tp, rank)
			}
			shards = append(shards, got)
		}
		if len(shards) != tp {
			continue // torch.chunk gave fewer chunks: no TP checkpoint to merge
		}
		g2, u2 := make([]byte, n), make([]byte, n)
		if err := SwiGLUMerge(g2, u2, shards, shape, elem, tp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g2, gate) || !bytes.Equal(u2, up) {
			t.Fatalf("SwiGLUMerge of %v tp %d does not give gate and up back", shape, tp)
		}
	}
}
