package ops

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestTranspose2DHandWorked(t *testing.T) {
	tests := []struct {
		rows, cols int
		want       []uint64 // transpose of a matrix holding 0, 1, 2, ...
	}{
		{2, 3, []uint64{0, 3, 1, 4, 2, 5}},          // [[0 1 2] [3 4 5]] -> [[0 3] [1 4] [2 5]]
		{3, 2, []uint64{0, 2, 4, 1, 3, 5}},          // [[0 1] [2 3] [4 5]] -> [[0 2 4] [1 3 5]]
		{1, 4, []uint64{0, 1, 2, 3}},                // a row vector becomes a column, same bytes
		{4, 1, []uint64{0, 1, 2, 3}},                // and back
		{3, 3, []uint64{0, 3, 6, 1, 4, 7, 2, 5, 8}}, // square
		{0, 3, nil},
	}
	for _, tt := range tests {
		for _, elem := range []int{1, 2, 3, 4, 8} {
			src := enc(elem, seq(0, tt.rows*tt.cols)...)
			dst := make([]byte, len(src))
			if err := Transpose2D(dst, src, tt.rows, tt.cols, elem); err != nil {
				t.Fatal(err)
			}
			if got := dec(elem, dst); !equalU64(got, tt.want) && len(tt.want) != 0 {
				t.Errorf("%dx%d elem %d: got %v, want %v", tt.rows, tt.cols, elem, got, tt.want)
			}
		}
	}
}

func TestTranspose2DErrors(t *testing.T) {
	wantErr(t, Transpose2D(make([]byte, 12), make([]byte, 10), 2, 3, 2), ErrSize)
	wantErr(t, Transpose2D(make([]byte, 14), make([]byte, 12), 2, 3, 2), ErrSize)
	wantErr(t, Transpose2D(make([]byte, 12), make([]byte, 12), -2, 3, 2), ErrArgument)
	wantErr(t, Transpose2D(make([]byte, 12), make([]byte, 12), 2, 3, 0), ErrArgument)
	wantErr(t, Transpose2D(nil, nil, 1<<40, 1<<40, 2), ErrArgument)
}

// Shapes around and across the tile size, every element size, against the reference;
// transposing twice gives the original.
func TestTranspose2DMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	dims := []int{1, 2, 3, 63, 64, 65, 127, 130}
	for it := 0; it < 120; it++ {
		rows, cols := dims[r.IntN(len(dims))], dims[r.IntN(len(dims))]
		if it%3 == 0 {
			rows, cols = 1+r.IntN(200), 1+r.IntN(200)
		}
		elem := []int{1, 2, 4, 8, 3, 6}[r.IntN(6)]
		t.Run(fmt.Sprintf("%dx%d/elem%d", rows, cols, elem), func(t *testing.T) {
			src := randBytes(r, rows*cols*elem)
			got := make([]byte, len(src))
			if err := Transpose2D(got, src, rows, cols, elem); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, refTranspose(src, rows, cols, elem)) {
				t.Fatal("differs from reference")
			}
			back := make([]byte, len(src))
			if err := Transpose2D(back, got, cols, rows, elem); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, src) {
				t.Fatal("transposing twice does not give the original")
			}
		})
	}
}
