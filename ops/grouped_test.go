package ops

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGroupedLegacyHandWorked(t *testing.T) {
	for _, elem := range elemSizes {
		// fc1 shards [R=2, hidden=3]: e0 = [[0 1 2] [3 4 5]], e1 = [[100 101 102] [103 104 105]].
		fc1 := [][]byte{enc(elem, seq(0, 6)...), enc(elem, seq(100, 6)...)}
		shape, err := GroupedLegacyWeight1Shape(2, []int64{2, 3})
		if err != nil || !slices.Equal(shape, []int64{3, 4}) {
			t.Fatalf("weight1 shape = %v, %v; want [3 4]", shape, err)
		}
		w1 := make([]byte, 12*elem)
		for e, src := range fc1 {
			slot, err := GroupedLegacySlot(w1, 2, e, 2, 3, elem)
			if err != nil {
				t.Fatal(err)
			}
			if err := GroupedLegacyPart(slot, src, 2, 3, elem); err != nil {
				t.Fatal(err)
			}
		}
		// e0.T = [[0 3] [1 4] [2 5]], e1.T likewise, back to back; viewed as [3, 4] the rows
		// are [0 3 1 4] [2 5 100 103] [101 104 102 105]: a reshape, not a cat along dim 1.
		want := []uint64{0, 3, 1, 4, 2, 5, 100, 103, 101, 104, 102, 105}
		if got := dec(elem, w1); !equalU64(got, want) {
			t.Errorf("elem %d weight1 = %v, want %v", elem, got, want)
		}

		// fc2 shards [hidden=3, C=2]: e0 = [[0 1] [2 3] [4 5]], e1 = [[100 101] [102 103] [104 105]].
		shape, err = GroupedLegacyWeight2Shape(2, []int64{3, 2})
		if err != nil || !slices.Equal(shape, []int64{4, 3}) {
			t.Fatalf("weight2 shape = %v, %v; want [4 3]", shape, err)
		}
		fc2 := [][]byte{enc(elem, seq(0, 6)...), enc(elem, seq(100, 6)...)}
		w2 := make([]byte, 12*elem)
		for e, src := range fc2 {
			slot, err := GroupedLegacySlot(w2, 2, e, 3, 2, elem)
			if err != nil {
				t.Fatal(err)
			}
			if err := GroupedLegacyPart(slot, src, 3, 2, elem); err != nil {
				t.Fatal(err)
			}
		}
		want = []uint64{0, 2, 4, 1, 3, 5, 100, 102, 104, 101, 103, 105}
		if got := dec(elem, w2); !equalU64(got, want) {
			t.Errorf("elem %d weight2 = %v, want %v", elem, got, want)
		}
		// Unpart gives each expert's shard back.
		for e, src := range fc2 {
			slot, _ := GroupedLegacySlot(w2, 2, e, 3, 2, elem)
			back := make([]byte, len(src))
			if err := GroupedLegacyUnpart(back, slot, 3, 2, elem); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, src) {
				t.Errorf("elem %d expert %d: unpart = %v, want %v", elem, e, dec(elem, back), dec(elem, src))
			}
		}
	}
}

func TestGroupedLegacyErrors(t *testing.T) {
	_, err := GroupedLegacySlot(make([]byte, 12), 2, 2, 2, 3, 1)
	wantErr(t, err, ErrArgument)
	_, err = GroupedLegacySlot(make([]byte, 11), 2, 0, 2, 3, 1)
	wantErr(t, err, ErrSize)
	_, err = GroupedLegacyWeight1Shape(0, []int64{2, 3})
	wantErr(t, err, ErrArgument)
	_, err = GroupedLegacyWeight2Shape(2, []int64{2, 3, 4})
	wantErr(t, err, ErrArgument)
	wantErr(t, GroupedLegacyPart(make([]byte, 5), make([]byte, 6), 2, 3, 1), ErrSize)
}

// refLegacy is torch.stack([p.T for p in parts]).view(...) computed from the definition:
// the stacked tensor S has S[e][j][i] = part_e[i][j]; a view keeps S's row-major order.
func refLegacy(parts [][]byte, rows, cols, elem int) []byte {
	out := make([]byte, len(parts)*rows*cols*elem)
	for l := 0; l < len(parts)*rows*cols; l++ {
		e := l / (rows * cols)
		j := (l % (rows * cols)) / rows // row of part_e.T
		i := l % rows                   // column of part_e.T
		s := i*cols + j
		copy(out[l*elem:(l+1)*elem], parts[e][s*elem:(s+1)*elem])
	}
	return out
}

// The full legacy path for fc1: per expert, SwiGLU TP shard then transpose into the
// expert's slot, against the reference stack/view of the reference shards.
func TestGroupedLegacyMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for it := 0; it < 100; it++ {
		experts := 1 + r.IntN(4)
		ffn, hidden := 1+r.IntN(9), 1+r.IntN(9)
		elem := elemSizes[r.IntN(4)]
		tp := 1 + r.IntN(3)
		if ChunkCount(ffn, tp) != tp {
			continue
		}
		shape := []int64{int64(ffn), int64(hidden)}
		gates, ups := make([][]byte, experts), make([][]byte, experts)
		for e := range experts {
			gates[e], ups[e] = randBytes(r, ffn*hidden*elem), randBytes(r, ffn*hidden*elem)
		}
		for rank := range tp {
			var refShards [][]byte
			for e := range experts {
				refShards = append(refShards, refSwiGLU(gates[e], ups[e], shape, elem, tp, rank))
			}
			rows := len(refShards[0]) / (hidden * elem)
			want := refLegacy(refShards, rows, hidden, elem)

			w1shape, err := GroupedLegacyWeight1Shape(experts, []int64{int64(rows), int64(hidden)})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, numel(w1shape)*elem)
			shard := make([]byte, rows*hidden*elem)
			for e := range experts {
				if err := SwiGLUShard(shard, gates[e], ups[e], shape, elem, tp, rank); err != nil {
					t.Fatal(err)
				}
				slot, err := GroupedLegacySlot(got, experts, e, rows, hidden, elem)
				if err != nil {
					t.Fatal(err)
				}
				if err := GroupedLegacyPart(slot, shard, rows, hidden, elem); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("weight1 experts=%d ffn=%d hidden=%d tp=%d rank=%d elem=%d differs from reference", experts, ffn, hidden, tp, rank, elem)
			}
		}
	}
}
