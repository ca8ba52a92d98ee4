package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// stackOp: gate and up projections kept as a pair [gate; up] for the swiglu split, where
// TP rank r holds [gate_r; up_r].
type stackOp struct{}

func init() { registerOp(OpStack, stackOp{}) }

func (stackOp) Shape(ins []*loader.TensorInfo, _ Dims) ([]int64, error) {
	if len(ins[0].Shape) != 2 || !equalShape(ins[0].Shape, ins[1].Shape) {
		return nil, fmt.Errorf("%s %s and %s %s must be 2-D with the same shape to be stacked", ins[0].Name, shapeStr(ins[0].Shape), ins[1].Name, shapeStr(ins[1].Shape))
	}
	return []int64{2 * ins[0].Shape[0], ins[0].Shape[1]}, nil
}

func (stackOp) CanSplit(s SplitKind) error {
	if s == SplitDuplicated || s == SplitSwiGLU {
		return nil
	}
	return fmt.Errorf("a gate/up pair is split as a pair (swiglu) or kept whole, not %s", s)
}

func (stackOp) StreamRows(*Group) bool { return false }

func (stackOp) Spans(g *Group, d Dest, inLen []int64, inElem, outElem int64) ([]span, bool) {
	switch g.Split {
	case SplitSwiGLU:
		start, size, ok := ops.ChunkRange(int(g.Shape[0]/2), d.TPSize, d.TPRank)
		if !ok {
			return nil, false
		}
		rb := numel(g.Shape[1:]) * inElem
		n := int64(size) * rb
		outN := n / inElem * outElem
		return []span{{in: 0, off: int64(start) * rb, n: n}, {in: 1, off: int64(start) * rb, n: n, dst: outN}}, true
	case SplitDuplicated:
		a := span{in: 0, n: inLen[0]}
		b := span{in: 1, n: inLen[1], dst: inLen[0] / inElem * outElem}
		return []span{a, b}, true
	}
	return nil, false
}

func (stackOp) Slice(g *Group, d Dest, ins [][]byte, elem int, _ Dims, buf func(int) []byte) ([]byte, error) {
	switch g.Split {
	case SplitDuplicated:
		out := buf(len(ins[0]) + len(ins[1]))
		copy(out, ins[0])
		copy(out[len(ins[0]):], ins[1])
		return out, nil
	case SplitSwiGLU:
		half := g.Shape[0] / 2
		start, size, ok := ops.ChunkRange(int(half), d.TPSize, d.TPRank)
		if !ok {
			return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
		}
		rb := int(numel(g.Shape[1:])) * elem
		gate := ins[0][start*rb : (start+size)*rb]
		up := ins[1][start*rb : (start+size)*rb]
		out := buf(len(gate) + len(up))
		copy(out, gate)
		copy(out[len(gate):], up)
		return out, nil
	}
	return nil, noSlice(g)
}

func (stackOp) HFShapes(name string, shape []int64, _ Dims) ([][]int64, error) {
	if len(shape) == 0 || shape[0]%2 != 0 {
		return nil, fmt.Errorf("%s has shape %s, which is no stacked gate/up pair", name, shapeStr(shape))
	}
	h := append([]int64(nil), shape...)
	h[0] /= 2
	return [][]int64{h, append([]int64(nil), h...)}, nil
}

func (stackOp) Inverse(_ *Group, whole []byte, _ []int64, _ int, _ Dims) ([][]byte, error) {
	n := len(whole)
	return [][]byte{whole[:n/2], whole[n/2:]}, nil
}

func (stackOp) Explain(g *Group, _ Dims, tp, _ int) []ExplainLine {
	if len(g.Shape) == 0 {
		return nil
	}
	rows := g.Shape[0] / 2
	out := []ExplainLine{explainText("layout", fmt.Sprintf("rank r holds [gate_r; up_r], gate and up %d rows each, chunked by %d", rows, tp))}
	for r := 0; r < tp && r < 8; r++ {
		a, e := chunkRows(rows, tp, r)
		out = append(out, explainText("", fmt.Sprintf("r%d: gate[%d:%d] ; up[%d:%d]", r, a, e, a, e)))
	}
	if tp > 8 {
		out = append(out, explainMuted("", fmt.Sprintf("… %d more ranks", tp-8)))
	}
	return out
}
