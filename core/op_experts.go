package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// expertsOp: one HF tensor holding every expert of a layer, [E, a, b], fans out into E
// Megatron tensors (a Fanout op; the executor hands Slice one expert's [a, b] piece).
//
//   - transposed: the HF expert is stored [in, out] and becomes its transpose [b, a]
//     (qwen3_vl_moe: gate_up_proj [E, H, 2I] -> [2I, H], down_proj [E, I, H] -> [H, I]);
//     otherwise it is kept as is (fused [E, 2I, H] / [E, H, I] exporters).
//   - stack: the expert's Megatron rows are [gate; up], halves of 2I rows, split over TP
//     as the swiglu pair (rank r holds [gate_r; up_r]), as the stack op; otherwise the
//     expert is one linear split like a rename (row-parallel for down).
type expertsOp struct {
	kind       OpKind
	stack      bool
	transposed bool
}

func init() {
	for _, o := range []expertsOp{
		{kind: OpExpertsGateUpT, stack: true, transposed: true},
		{kind: OpExpertsDownT, transposed: true},
		{kind: OpExpertsGateUp, stack: true},
		{kind: OpExpertsDown},
	} {
		registerOp(o.kind, o)
	}
}

func (o expertsOp) what() string {
	if o.stack {
		return "fused gate/up experts"
	}
	return "fused experts"
}

// Parts: one piece per expert; the fused tensor must hold num_experts of them.
func (o expertsOp) Parts(ins []*loader.TensorInfo, d Dims) (int, error) {
	if len(ins[0].Shape) != 3 {
		return 0, fmt.Errorf("%s %s must be 3-D [experts, ...] to hold %s", ins[0].Name, shapeStr(ins[0].Shape), o.what())
	}
	e := ins[0].Shape[0]
	if d.Experts <= 0 || e != int64(d.Experts) {
		return 0, fmt.Errorf("%s holds %d experts but the config has num_experts %d: the config does not match the weights", ins[0].Name, e, d.Experts)
	}
	return int(e), nil
}

// Shape is one expert's Megatron shape.
func (o expertsOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	if _, err := o.Parts(ins, d); err != nil {
		return nil, err
	}
	a, b := ins[0].Shape[1], ins[0].Shape[2]
	out := []int64{a, b}
	if o.transposed {
		out = []int64{b, a}
	}
	if o.stack && out[0]%2 != 0 {
		return nil, fmt.Errorf("%s %s: each expert's gate/up dim (%d) must be even to hold gate and up halves", ins[0].Name, shapeStr(ins[0].Shape), out[0])
	}
	return out, nil
}

func (o expertsOp) CanSplit(s SplitKind) error {
	if o.stack {
		if s == SplitDuplicated || s == SplitSwiGLU {
			return nil
		}
		return fmt.Errorf("fused gate/up experts are split as a gate/up pair (swiglu) or kept whole, not %s", s)
	}
	if s == SplitSwiGLU {
		return fmt.Errorf("a fused expert projection is no gate/up pair")
	}
	return nil
}

// StreamRows: an expert kept as stored, split by columns, streams by blocks of rows.
func (o expertsOp) StreamRows(g *Group) bool {
	return !o.transposed && !o.stack && g.Split == SplitRow && len(g.Shape) == 2
}

// Spans: an expert kept as stored is a plain copy of its piece's rows (relative to the piece).
func (o expertsOp) Spans(g *Group, d Dest, inLen []int64, inElem, outElem int64) ([]span, bool) {
	if o.transposed || len(g.Shape) != 2 {
		return nil, false
	}
	rb := g.Shape[1] * inElem
	switch {
	case g.Split == SplitDuplicated || (g.Split == SplitRow && d.TPSize == 1):
		return []span{{in: 0, n: inLen[0]}}, true
	case g.Split == SplitColumn && !o.stack:
		start, size, ok := ops.ChunkRange(int(g.Shape[0]), d.TPSize, d.TPRank)
		if !ok {
			return nil, false
		}
		return []span{{in: 0, off: int64(start) * rb, n: int64(size) * rb}}, true
	case g.Split == SplitSwiGLU && o.stack:
		half := g.Shape[0] / 2
		start, size, ok := ops.ChunkRange(int(half), d.TPSize, d.TPRank)
		if !ok {
			return nil, false
		}
		n := int64(size) * rb
		return []span{{in: 0, off: int64(start) * rb, n: n}, {in: 0, off: (half + int64(start)) * rb, n: n, dst: n / inElem * outElem}}, true
	}
	return nil, false
}

// megatron is the expert's piece in Megatron orientation ([rows, cols] = g.Shape).
func (o expertsOp) megatron(g *Group, piece []byte, elem int) ([]byte, error) {
	if len(g.Shape) != 2 || int64(len(piece)) != numel(g.Shape)*int64(elem) {
		return nil, fmt.Errorf("%s: expert piece of %d bytes does not hold %s", g.Name, len(piece), shapeStr(g.Shape))
	}
	if !o.transposed {
		return piece, nil
	}
	out := make([]byte, len(piece))
	// stored [cols, rows]
	return out, ops.Transpose2D(out, piece, int(g.Shape[1]), int(g.Shape[0]), elem)
}

func (o expertsOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	m, err := o.megatron(g, ins[0], elem)
	if err != nil {
		return nil, err
	}
	if o.stack {
		h := len(m) / 2
		return stackOp{}.Slice(g, d, [][]byte{m[:h], m[h:]}, elem, dims, buf)
	}
	return renameOp{}.Slice(g, d, [][]byte{m}, elem, dims, buf)
}

// HFShapes: the whole fused tensor, [E, a, b], from one expert's Megatron shape.
func (o expertsOp) HFShapes(name string, shape []int64, d Dims) ([][]int64, error) {
	if len(shape) != 2 || d.Experts <= 0 || (o.stack && shape[0]%2 != 0) {
		return nil, fmt.Errorf("%s has shape %s, which is no expert of %s (num_moe_experts %d)", name, shapeStr(shape), o.what(), d.Experts)
	}
	e := int64(d.Experts)
	if o.transposed {
		return [][]int64{{e, shape[1], shape[0]}}, nil
	}
	return [][]int64{{e, shape[0], shape[1]}}, nil
}

// Inverse turns one expert's whole Megatron tensor back into its piece of the fused input.
func (o expertsOp) Inverse(g *Group, whole []byte, _ []int64, elem int, _ Dims) ([][]byte, error) {
	if len(g.Shape) != 2 || int64(len(whole)) != numel(g.Shape)*int64(elem) {
		return nil, fmt.Errorf("expert tensor of %d bytes is not %s", len(whole), shapeStr(g.Shape))
	}
	if !o.transposed {
		return [][]byte{whole}, nil
	}
	out := make([]byte, len(whole))
	if err := ops.Transpose2D(out, whole, int(g.Shape[0]), int(g.Shape[1]), elem); err != nil {
		return nil, err
	}
	return [][]byte{out}, nil
}

func (o expertsOp) Explain(g *Group, _ Dims, tp, _ int) []ExplainLine {
	if len(g.Shape) != 2 {
		return nil
	}
	src := fmt.Sprintf("expert %d of %d: [%d, %d] stored", g.Piece, max(g.Pieces, 1), g.Shape[0], g.Shape[1])
	if o.transposed {
		src = fmt.Sprintf("expert %d of %d: stored [%d, %d], transposed to [%d, %d]", g.Piece, max(g.Pieces, 1), g.Shape[1], g.Shape[0], g.Shape[0], g.Shape[1])
	}
	out := []ExplainLine{explainText("fan-out", src)}
	if !o.stack {
		return out
	}
	rows := g.Shape[0] / 2
	out = append(out, explainText("layout", fmt.Sprintf("gate = rows [0:%d], up = rows [%d:%d]; rank r holds [gate_r; up_r], chunked by %d", rows, rows, 2*rows, tp)))
	for r := 0; r < tp && r < 8; r++ {
		a, e := chunkRows(rows, tp, r)
		out = append(out, explainText("", fmt.Sprintf("r%d: gate[%d:%d] ; up[%d:%d]", r, a, e, a, e)))
	}
	if tp > 8 {
		out = append(out, explainMuted("", fmt.Sprintf("… %d more ranks", tp-8)))
	}
	return out
}
