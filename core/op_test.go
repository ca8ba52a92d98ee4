package core

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

func TestChunkRowsIsTorchChunk(t *testing.T) {
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
			a, e := chunkRows(tc.n, tc.t, r)
			if a != w[0] || e != w[1] {
				t.Errorf("chunkRows(%d, %d, %d) = [%d, %d), want [%d, %d)", tc.n, tc.t, r, a, e, w[0], w[1])
			}
		}
	}
}

func TestEveryOpKindIsRegistered(t *testing.T) {
	for _, k := range []OpKind{OpRename, OpQKV, OpQKVBias, OpStack, OpExpertsGateUpT, OpExpertsDownT, OpExpertsGateUp, OpExpertsDown} {
		if _, err := LookupOp(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if _, err := LookupOp("fused_experts_of_the_future"); err == nil {
		t.Error("an unregistered op kind was found")
	}
}

// TestOpRoundTrip: for every op and split it supports, the TP slices (by Slice, and by Spans
// where the op streams) gathered back and inverted give the inputs again.
func TestOpRoundTrip(t *testing.T) {
	d := Dims{Hidden: 4, Heads: 4, Groups: 2, KVChannels: 2}
	const elem = 2
	fill := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	}
	info := func(name string, shape ...int64) *loader.TensorInfo {
		return &loader.TensorInfo{Name: name, DType: loader.BF16, Shape: shape, Size: numel(shape) * elem}
	}
	tests := []struct {
		op     OpKind
		ins    []*loader.TensorInfo
		splits []SplitKind
	}{
		{OpRename, []*loader.TensorInfo{info("w", 6, 4)}, []SplitKind{SplitDuplicated, SplitColumn}},
		{OpQKV, []*loader.TensorInfo{info("q", 8, 4), info("k", 4, 4), info("v", 4, 4)}, []SplitKind{SplitDuplicated, SplitColumn}},
		{OpQKVBias, []*loader.TensorInfo{info("q", 8), info("k", 4), info("v", 4)}, []SplitKind{SplitDuplicated, SplitColumn}},
		{OpStack, []*loader.TensorInfo{info("gate", 4, 3), info("up", 4, 3)}, []SplitKind{SplitDuplicated, SplitSwiGLU}},
	}
	for _, tc := range tests {
		op, _ := LookupOp(tc.op)
		shape, err := op.Shape(tc.ins, d)
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		hf, err := op.HFShapes("x", shape, d)
		if err != nil || len(hf) != len(tc.ins) {
			t.Fatalf("%s: HFShapes = %v, %v", tc.op, hf, err)
		}
		for k := range hf {
			if !equalShape(hf[k], tc.ins[k].Shape) {
				t.Errorf("%s: HFShapes[%d] = %v, want %v", tc.op, k, hf[k], tc.ins[k].Shape)
			}
		}
		raw := make([][]byte, len(tc.ins))
		var lens, sizes []int64
		for k, in := range tc.ins {
			raw[k] = fill(int(in.Size), byte(40*k))
			lens = append(lens, int64(len(raw[k])))
			sizes = append(sizes, in.Size)
		}
		for _, split := range tc.splits {
			t.Run(fmt.Sprintf("%s/%s", tc.op, split), func(t *testing.T) {
				if err := op.CanSplit(split); err != nil {
					t.Fatal(err)
				}
				g := &Group{Op: tc.op, Shape: shape, DType: loader.BF16, Split: split}
				tp := 2
				if split == SplitDuplicated {
					tp = 1
				}
				var parts [][]byte
				for r := 0; r < tp; r++ {
					dst := Dest{TPRank: r, TPSize: tp}
					var scratch []byte
					got, err := op.Slice(g, dst, raw, elem, d, func(n int) []byte { scratch = make([]byte, n); return scratch })
					if err != nil {
						t.Fatal(err)
					}
					if spans, ok := op.Spans(g, dst, lens, elem, elem); ok {
						viaSpans := make([]byte, len(got))
						for _, sp := range spans {
							copy(viaSpans[sp.dst:], raw[sp.in][sp.off:sp.off+sp.n])
						}
						if !bytes.Equal(viaSpans, got) {
							t.Errorf("rank %d: Spans and Slice disagree", r)
						}
					}
					parts = append(parts, append([]byte(nil), got...))
				}
				var back [][]byte
				if split == SplitSwiGLU {
					// the swiglu gather (reverse.go) regroups [gate_r; up_r] itself
					var gate, up []byte
					for _, p := range parts {
						gate, up = append(gate, p[:len(p)/2]...), append(up, p[len(p)/2:]...)
					}
					back = [][]byte{gate, up}
				} else {
					back, err = op.Inverse(g, bytes.Join(parts, nil), sizes, elem, d)
					if err != nil {
						t.Fatal(err)
					}
				}
				for k := range raw {
					if !bytes.Equal(back[k], raw[k]) {
						t.Errorf("input %d does not round-trip", k)
					}
				}
			})
		}
	}
}
