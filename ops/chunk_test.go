package ops

import (
	"errors"
	"slices"
	"testing"
)

// Expected chunk lists are torch.chunk results worked out by hand (and checked against
// torch itself in TestAgainstTorch when it is installed).
func TestChunkRangeTable(t *testing.T) {
	type ch struct{ start, size int }
	tests := []struct {
		n, parts int
		want     []ch
	}{
		{8, 1, []ch{{0, 8}}},
		{8, 2, []ch{{0, 4}, {4, 4}}},
		{8, 4, []ch{{0, 2}, {2, 2}, {4, 2}, {6, 2}}},
		{5, 4, []ch{{0, 2}, {2, 2}, {4, 1}}},                 // fewer chunks than parts
		{3, 4, []ch{{0, 1}, {1, 1}, {2, 1}}},                 // fewer chunks than parts
		{62, 4, []ch{{0, 16}, {16, 16}, {32, 16}, {48, 14}}}, // uneven vocab from the contract
		{10, 4, []ch{{0, 3}, {3, 3}, {6, 3}, {9, 1}}},
		{9, 6, []ch{{0, 2}, {2, 2}, {4, 2}, {6, 2}, {8, 1}}},
		{7, 3, []ch{{0, 3}, {3, 3}, {6, 1}}},
		{1, 3, []ch{{0, 1}}},
		{0, 3, []ch{{0, 0}, {0, 0}, {0, 0}}}, // torch returns parts empty chunks
	}
	for _, tt := range tests {
		if got := ChunkCount(tt.n, tt.parts); got != len(tt.want) {
			t.Errorf("ChunkCount(%d, %d) = %d, want %d", tt.n, tt.parts, got, len(tt.want))
		}
		for idx := -1; idx <= tt.parts+1; idx++ {
			s, z, ok := ChunkRange(tt.n, tt.parts, idx)
			if idx >= 0 && idx < len(tt.want) {
				if !ok || s != tt.want[idx].start || z != tt.want[idx].size {
					t.Errorf("ChunkRange(%d, %d, %d) = (%d, %d, %v), want (%d, %d, true)", tt.n, tt.parts, idx, s, z, ok, tt.want[idx].start, tt.want[idx].size)
				}
			} else if ok {
				t.Errorf("ChunkRange(%d, %d, %d) = (%d, %d, true), want ok=false (no such chunk)", tt.n, tt.parts, idx, s, z)
			}
		}
	}
}

func TestChunkRangeInvalid(t *testing.T) {
	for _, c := range [][3]int{{-1, 2, 0}, {4, 0, 0}, {4, -2, 0}, {4, 2, -1}} {
		if _, _, ok := ChunkRange(c[0], c[1], c[2]); ok {
			t.Errorf("ChunkRange%v ok, want false", c)
		}
	}
	if ChunkCount(4, 0) != 0 || ChunkCount(-1, 2) != 0 {
		t.Errorf("ChunkCount of invalid args is not 0")
	}
}

// Every (n, parts) up to 64×17 against the independent greedy reference.
func TestChunkRangeMatchesReference(t *testing.T) {
	for n := 0; n <= 64; n++ {
		for parts := 1; parts <= 17; parts++ {
			ref := refChunkSizes(n, parts)
			var got []int
			next := 0
			for idx := 0; ; idx++ {
				s, z, ok := ChunkRange(n, parts, idx)
				if !ok {
					break
				}
				if s != next && n > 0 {
					t.Fatalf("ChunkRange(%d, %d, %d) starts at %d, want %d (contiguous)", n, parts, idx, s, next)
				}
				next = s + z
				got = append(got, z)
			}
			if !slices.Equal(got, ref) {
				t.Fatalf("chunks of %d into %d = %v, torch.chunk gives %v", n, parts, got, ref)
			}
		}
	}
}

func TestChunkShape(t *testing.T) {
	got, start, err := ChunkShape([]int64{62, 8}, 0, 4, 3)
	if err != nil || !slices.Equal(got, []int64{14, 8}) || start != 48 {
		t.Errorf("ChunkShape([62 8], 0, 4, 3) = %v, %d, %v; want [14 8], 48", got, start, err)
	}
	got, start, err = ChunkShape([]int64{3, 10}, 1, 4, 2)
	if err != nil || !slices.Equal(got, []int64{3, 3}) || start != 6 {
		t.Errorf("ChunkShape([3 10], 1, 4, 2) = %v, %d, %v; want [3 3], 6", got, start, err)
	}
	_, _, err = ChunkShape([]int64{5, 2}, 0, 4, 3)
	wantErr(t, err, ErrArgument)
	_, _, err = ChunkShape([]int64{5, 2}, 2, 4, 0)
	wantErr(t, err, ErrArgument)
	_, _, err = ChunkShape([]int64{-5, 2}, 0, 4, 0)
	if !errors.Is(err, ErrArgument) {
		t.Errorf("negative dim: err = %v, want ErrArgument", err)
	}
}
