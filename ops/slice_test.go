package ops

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSliceDimHandWorked(t *testing.T) {
	tests := []struct {
		name        string
		shape       []int64
		dim         int
		start, size int64
		want        []uint64 // element values; the source holds 0, 1, 2, ...
	}{
		// [[0 1 2] [3 4 5]]
		{"2x3 dim1 [1:3]", []int64{2, 3}, 1, 1, 2, []uint64{1, 2, 4, 5}},
		{"2x3 dim0 [1:2]", []int64{2, 3}, 0, 1, 1, []uint64{3, 4, 5}},
		{"2x3 dim1 empty", []int64{2, 3}, 1, 3, 0, nil},
		// [[[0 1 2] [3 4 5]] [[6 7 8] [9 10 11]]]
		{"2x2x3 dim1 [1:2]", []int64{2, 2, 3}, 1, 1, 1, []uint64{3, 4, 5, 9, 10, 11}},
		{"2x2x3 dim2 [2:3]", []int64{2, 2, 3}, 2, 2, 1, []uint64{2, 5, 8, 11}},
		{"2x2x3 dim2 [0:2]", []int64{2, 2, 3}, 2, 0, 2, []uint64{0, 1, 3, 4, 6, 7, 9, 10}},
		{"1-D [2:5]", []int64{6}, 0, 2, 3, []uint64{2, 3, 4}},
	}
	for _, tt := range tests {
		for _, elem := range elemSizes {
			t.Run(fmt.Sprintf("%s/elem%d", tt.name, elem), func(t *testing.T) {
				src := enc(elem, seq(0, numel(tt.shape))...)
				shape, err := SlicedShape(tt.shape, tt.dim, tt.size)
				if err != nil {
					t.Fatal(err)
				}
				n, err := NumBytes(shape, elem)
				if err != nil {
					t.Fatal(err)
				}
				dst := make([]byte, n)
				if err := SliceDim(dst, src, tt.shape, elem, tt.dim, tt.start, tt.size); err != nil {
					t.Fatal(err)
				}
				if got := dec(elem, dst); !equalU64(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestParallelShardsHandWorked(t *testing.T) {
	// [[0 1 2 3] [4 5 6 7] [8 9 10 11]]
	shape := []int64{3, 4}
	tests := []struct {
		name     string
		row      bool
		tp, rank int
		want     []uint64
	}{
		{"row tp2 r0", true, 2, 0, []uint64{0, 1, 4, 5, 8, 9}},
		{"row tp2 r1", true, 2, 1, []uint64{2, 3, 6, 7, 10, 11}},
		{"row tp3 r0", true, 3, 0, []uint64{0, 1, 4, 5, 8, 9}}, // chunk 4 by 3: sizes 2,2
		{"row tp4 r3", true, 4, 3, []uint64{3, 7, 11}},
		{"col tp1 r0", false, 1, 0, seq(0, 12)},
		{"col tp2 r0", false, 2, 0, []uint64{0, 1, 2, 3, 4, 5, 6, 7}}, // chunk 3 by 2: sizes 2,1
		{"col tp2 r1", false, 2, 1, []uint64{8, 9, 10, 11}},
		{"col tp3 r2", false, 3, 2, []uint64{8, 9, 10, 11}},
	}
	for _, tt := range tests {
		for _, elem := range elemSizes {
			src := enc(elem, seq(0, 12)...)
			dst := make([]byte, len(tt.want)*elem)
			var err error
			if tt.row {
				err = RowParallelShard(dst, src, shape, elem, tt.tp, tt.rank)
			} else {
				err = ColumnParallelShard(dst, src, shape, elem, tt.tp, tt.rank)
			}
			if err != nil {
				t.Fatalf("%s elem %d: %v", tt.name, elem, err)
			}
			if got := dec(elem, dst); !equalU64(got, tt.want) {
				t.Errorf("%s elem %d: got %v, want %v", tt.name, elem, got, tt.want)
			}
		}
	}
	// chunk(4 cols, 3) has only 2 chunks: rank 2 does not exist.
	wantErr(t, RowParallelShard(make([]byte, 0), enc(1, seq(0, 12)...), shape, 1, 3, 2), ErrArgument)
	wantErr(t, RowParallelShard(make([]byte, 4), enc(1, seq(0, 4)...), []int64{4}, 1, 2, 0), ErrArgument)
}

func TestSliceDimErrors(t *testing.T) {
	src := make([]byte, 24)
	shape := []int64{2, 3}
	tests := []struct {
		name        string
		dst, src    []byte
		elem, dim   int
		start, size int64
		want        error
	}{
		{"dim out of range", make([]byte, 8), src, 4, 2, 0, 1, ErrArgument},
		{"negative dim", make([]byte, 8), src, 4, -1, 0, 1, ErrArgument},
		{"range past end", make([]byte, 16), src, 4, 1, 2, 2, ErrArgument},
		{"negative start", make([]byte, 8), src, 4, 1, -1, 1, ErrArgument},
		{"elem 0", make([]byte, 8), src, 0, 1, 0, 1, ErrArgument},
		{"short src", make([]byte, 8), src[:20], 4, 1, 0, 1, ErrSize},
		{"long dst", make([]byte, 12), src, 4, 1, 0, 1, ErrSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, SliceDim(tt.dst, tt.src, shape, tt.elem, tt.dim, tt.start, tt.size), tt.want)
		})
	}
}

// Random shapes of rank 1–4, every dim, random ranges, every element size: SliceDim
// and ChunkDim against the element-by-element reference.
func TestSliceDimMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 400; it++ {
		rank := 1 + r.IntN(4)
		shape := make([]int64, rank)
		for d := range shape {
			shape[d] = int64(r.IntN(7)) // zeros included
		}
		elem := []int{1, 2, 3, 4, 8}[r.IntN(5)]
		dim := r.IntN(rank)
		start := int64(r.IntN(int(shape[dim]) + 1))
		size := int64(r.IntN(int(shape[dim]-start) + 1))
		src := randBytes(r, numel(shape)*elem)
		want := refNarrow(src, shape, elem, dim, start, size)
		got := make([]byte, len(want))
		if err := SliceDim(got, src, shape, elem, dim, start, size); err != nil {
			t.Fatalf("SliceDim(%v, elem %d, dim %d, [%d:+%d]): %v", shape, elem, dim, start, size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("SliceDim(%v, elem %d, dim %d, [%d:+%d]) differs from reference", shape, elem, dim, start, size)
		}

		parts := 1 + r.IntN(5)
		sizes := refChunkSizes(int(shape[dim]), parts)
		var off int64
		var chunks [][]byte
		var chunkShapes [][]int64
		for idx, sz := range sizes {
			want := refNarrow(src, shape, elem, dim, off, int64(sz))
			got := make([]byte, len(want))
			if err := ChunkDim(got, src, shape, elem, dim, parts, idx); err != nil {
				t.Fatalf("ChunkDim(%v, dim %d, %d parts, %d): %v", shape, dim, parts, idx, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ChunkDim(%v, dim %d, %d parts, %d) differs from reference", shape, dim, parts, idx)
			}
			cs, _ := SlicedShape(shape, dim, int64(sz))
			chunks, chunkShapes = append(chunks, got), append(chunkShapes, cs)
			off += int64(sz)
		}
		// torch.cat of all chunks gives the tensor back.
		back := make([]byte, len(src))
		if err := ConcatDim(back, chunks, chunkShapes, elem, dim); err != nil {
			t.Fatalf("ConcatDim(%v): %v", chunkShapes, err)
		}
		if !bytes.Equal(back, src) {
			t.Fatalf("ConcatDim of the %d chunks of %v along %d is not the original", len(chunks), shape, dim)
		}
	}
}

func TestConcatDimHandWorked(t *testing.T) {
	a := enc(2, 0, 1, 2, 3) // [[0 1] [2 3]]
	b := enc(2, 10, 11)     // [[10] [11]]
	dst := make([]byte, 6*2)
	if err := ConcatDim(dst, [][]byte{a, b}, [][]int64{{2, 2}, {2, 1}}, 2, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := dec(2, dst), []uint64{0, 1, 10, 2, 3, 11}; !equalU64(got, want) {
		t.Errorf("cat dim 1 = %v, want %v", got, want)
	}
	wantErr(t, ConcatDim(dst, [][]byte{a, b}, [][]int64{{2, 2}, {1, 2}}, 2, 1), ErrArgument)
	wantErr(t, ConcatDim(dst[:10], [][]byte{a, b}, [][]int64{{2, 2}, {2, 1}}, 2, 1), ErrSize)
	wantErr(t, ConcatDim(dst, nil, nil, 2, 0), ErrArgument)
}

func TestDim0ByteRange(t *testing.T) {
	off, n, err := Dim0ByteRange([]int64{62, 3}, 2, 48, 14)
	if err != nil || off != 48*3*2 || n != 14*3*2 {
		t.Errorf("Dim0ByteRange = %d, %d, %v; want 288, 84", off, n, err)
	}
	_, _, err = Dim0ByteRange([]int64{62, 3}, 2, 48, 15)
	wantErr(t, err, ErrArgument)
	_, _, err = Dim0ByteRange(nil, 2, 0, 0)
	wantErr(t, err, ErrArgument)
}

func TestShapeHelpers(t *testing.T) {
	if n, err := NumBytes([]int64{3, 4}, 2); err != nil || n != 24 {
		t.Errorf("NumBytes([3 4], 2) = %d, %v", n, err)
	}
	if n, err := NumElements(nil); err != nil || n != 1 {
		t.Errorf("NumElements(scalar) = %d, %v; want 1", n, err)
	}
	_, err := NumElements([]int64{1 << 40, 1 << 40})
	wantErr(t, err, ErrArgument)
	_, err = NumBytes([]int64{2}, 0)
	wantErr(t, err, ErrArgument)
	s, err := SlicedShape([]int64{4, 5}, 1, 2)
	if err != nil || !slices.Equal(s, []int64{4, 2}) {
		t.Errorf("SlicedShape = %v, %v", s, err)
	}
	_, err = SlicedShape([]int64{4, 5}, 1, -1)
	wantErr(t, err, ErrArgument)
}
