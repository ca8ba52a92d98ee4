package core

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// TestExpertsFanout checks the fused-expert ops element by element against their
// definition (ROLL's qwen3_vl_moe split: expert e of gate_up_proj [E, H, 2I] is transposed
// to [2I, H] and its rows [0, I) are gate, [I, 2I) up; down_proj [E, I, H] becomes [H, I];
// the untransposed kinds keep [E, 2I, H] / [E, H, I] experts as stored), for every TP
// slice, by Slice and by Spans where offered, and the reverse (Inverse of the gathered
// expert) gives the piece back.
func TestExpertsFanout(t *testing.T) {
	const E, H, I, elem = 3, 4, 6, 2
	d := Dims{Hidden: H, Experts: E, MoEFFN: I}
	tests := []struct {
		op     OpKind
		shape  []int64 // fused HF shape
		mega   []int64 // one expert's Megatron shape
		splits []SplitKind
	}{
		{OpExpertsGateUpT, []int64{E, H, 2 * I}, []int64{2 * I, H}, []SplitKind{SplitDuplicated, SplitSwiGLU}},
		{OpExpertsDownT, []int64{E, I, H}, []int64{H, I}, []SplitKind{SplitDuplicated, SplitRow, SplitColumn}},
		{OpExpertsGateUp, []int64{E, 2 * I, H}, []int64{2 * I, H}, []SplitKind{SplitDuplicated, SplitSwiGLU}},
		{OpExpertsDown, []int64{E, H, I}, []int64{H, I}, []SplitKind{SplitDuplicated, SplitRow, SplitColumn}},
	}
	for _, tc := range tests {
		op, err := LookupOp(tc.op)
		if err != nil {
			t.Fatal(err)
		}
		fo, ok := op.(Fanout)
		if !ok {
			t.Fatalf("%s is no Fanout", tc.op)
		}
		in := &loader.TensorInfo{Name: "fused", DType: loader.BF16, Shape: tc.shape, Size: numel(tc.shape) * elem}
		if n, err := fo.Parts([]*loader.TensorInfo{in}, d); err != nil || n != E {
			t.Fatalf("%s: Parts = %d, %v", tc.op, n, err)
		}
		shape, err := op.Shape([]*loader.TensorInfo{in}, d)
		if err != nil || !equalShape(shape, tc.mega) {
			t.Fatalf("%s: Shape = %v, %v; want %v", tc.op, shape, err, tc.mega)
		}
		if hf, err := op.HFShapes("x", shape, d); err != nil || !equalShape(hf[0], tc.shape) {
			t.Fatalf("%s: HFShapes = %v, %v", tc.op, hf, err)
		}
		// element value = its flat index in the fused tensor
		raw := make([]byte, in.Size)
		for i := 0; i < len(raw)/elem; i++ {
			binary.LittleEndian.PutUint16(raw[i*elem:], uint16(i))
		}
		a, b := tc.shape[1], tc.shape[2]
		transposed := tc.op == OpExpertsGateUpT || tc.op == OpExpertsDownT
		// want(e, row, col): Megatron element (row, col) of expert e, by definition
		want := func(e, row, col int64) uint16 {
			if transposed {
				return uint16(e*a*b + col*b + row)
			}
			return uint16(e*a*b + row*b + col)
		}
		rows, cols := tc.mega[0], tc.mega[1]
		for _, split := range tc.splits {
			t.Run(fmt.Sprintf("%s/%s", tc.op, split), func(t *testing.T) {
				if err := op.CanSplit(split); err != nil {
					t.Fatal(err)
				}
				tp := 2
				if split == SplitDuplicated {
					tp = 1
				}
				for e := 0; e < E; e++ {
					g := &Group{Op: tc.op, Shape: shape, DType: loader.BF16, Split: split, Piece: e, Pieces: E, Expert: e}
					off, n := pieceRange(g, in.Size)
					piece := raw[off : off+n]
					var parts [][]byte
					for r := 0; r < tp; r++ {
						dst := Dest{TPRank: r, TPSize: tp}
						got, err := op.Slice(g, dst, [][]byte{piece}, elem, d, func(n int) []byte { return make([]byte, n) })
						if err != nil {
							t.Fatal(err)
						}
						// the definition of this TP slice
						var exp []uint16
						switch split {
						case SplitDuplicated:
							for i := int64(0); i < rows; i++ {
								for j := int64(0); j < cols; j++ {
									exp = append(exp, want(int64(e), i, j))
								}
							}
						case SplitColumn:
							x, z := chunkRows(rows, tp, r)
							for i := x; i < z; i++ {
								for j := int64(0); j < cols; j++ {
									exp = append(exp, want(int64(e), i, j))
								}
							}
						case SplitRow:
							x, z := chunkRows(cols, tp, r)
							for i := int64(0); i < rows; i++ {
								for j := x; j < z; j++ {
									exp = append(exp, want(int64(e), i, j))
								}
							}
						case SplitSwiGLU:
							half := rows / 2
							x, z := chunkRows(half, tp, r)
							for _, base := range []int64{0, half} { // gate then up
								for i := x; i < z; i++ {
									for j := int64(0); j < cols; j++ {
										exp = append(exp, want(int64(e), base+i, j))
									}
								}
							}
						}
						if len(got) != len(exp)*elem {
							t.Fatalf("expert %d rank %d: %d bytes, want %d", e, r, len(got), len(exp)*elem)
						}
						for i, v := range exp {
							if g := binary.LittleEndian.Uint16(got[i*elem:]); g != v {
								t.Fatalf("expert %d rank %d element %d = %d, want %d", e, r, i, g, v)
							}
						}
						if spans, ok := op.Spans(g, dst, []int64{n}, elem, elem); ok {
							via := make([]byte, len(got))
							for _, sp := range spans {
								copy(via[sp.dst:], piece[sp.off:sp.off+sp.n])
							}
							if !bytes.Equal(via, got) {
								t.Errorf("expert %d rank %d: Spans and Slice disagree", e, r)
							}
						} else if !transposed && split != SplitRow {
							t.Errorf("expert %d: a stored-as-is %s slice should stream by spans", e, split)
						}
						parts = append(parts, got)
					}
					// reverse: the expert's whole Megatron tensor, inverted, is its piece
					whole := gatherWhole(t, parts, split, shape, tp)
					back, err := op.Inverse(g, whole, []int64{in.Size}, elem, d)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(back[0], piece) {
						t.Errorf("expert %d does not round-trip", e)
					}
				}
			})
		}
	}
}

// gatherWhole joins TP slices of a 2-D bf16 tensor as the reverse does.
func gatherWhole(t *testing.T, parts [][]byte, split SplitKind, shape []int64, tp int) []byte {
	t.Helper()
	rows, cols := shape[0], shape[1]
	switch split {
	case SplitDuplicated:
		return parts[0]
	case SplitColumn:
		return bytes.Join(parts, nil)
	case SplitRow:
		var out []byte
		for i := int64(0); i < rows; i++ {
			for r := 0; r < tp; r++ {
				x, z := chunkRows(cols, tp, r)
				w := (z - x) * 2
				out = append(out, parts[r][i*w:(i+1)*w]...)
			}
		}
		return out
	case SplitSwiGLU:
		var gate, up []byte
		for _, p := range parts {
			gate, up = append(gate, p[:len(p)/2]...), append(up, p[len(p)/2:]...)
		}
		return append(gate, up...)
	}
	t.Fatalf("no gather for %s", split)
	return nil
}

// TestFanoutRejectsWrongExperts: a fused tensor whose expert count is not num_experts, or
// that is not 3-D, is a plan error, not a silent mis-split.
func TestFanoutRejectsWrongExperts(t *testing.T) {
	op, _ := LookupOp(OpExpertsGateUpT)
	for _, shape := range [][]int64{{4, 8, 12}, {8, 12}, {3, 8, 11}} {
		in := &loader.TensorInfo{Name: "fused", DType: loader.BF16, Shape: shape, Size: numel(shape) * 2}
		if _, err := op.Shape([]*loader.TensorInfo{in}, Dims{Experts: 3}); err == nil {
			t.Errorf("shape %v with 3 experts was accepted", shape)
		}
	}
}
