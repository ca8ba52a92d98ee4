package mapping

import "testing"

func TestChunkIsTorchChunk(t *testing.T) {
	// torch.chunk(62 rows, 4) gives 16, 16, 16, 14; (10, 4) gives 3, 3, 3, 1.
	tests := []struct {
		n    int64
		t    int
		want [][2]int64
	}{
		{62, 4, [][2]int64{{0, 16}, {16, 32}, {32, 48}, {48, 62}}},
		{10, 4, [][2]int64{{0, 3}, {3, 6}, {6, 9}, {9, 10}}},
		{8, 2, [][2]int64{{0, 4}, {4, 8}}},
	}
	for _, tc := range tests {
		for r, w := range tc.want {
			a, e := chunk(tc.n, tc.t, r)
			if a != w[0] || e != w[1] {
				t.Errorf("chunk(%d, %d, %d) = [%d, %d), want [%d, %d)", tc.n, tc.t, r, a, e, w[0], w[1])
			}
		}
	}
}
