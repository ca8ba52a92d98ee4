package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// gdnConv1dOp: the gated delta net's depthwise conv1d weight [q|k|v channels, 1, kernel].
// The bytes are unchanged; ROLL's GDNConv1dConverOp only marks its q, k and v row
// sections, which the TP split (SplitSections) chunks one by one: rank r holds
// [q_r; k_r; v_r].
type gdnConv1dOp struct{}

func init() { registerOp(OpGDNConv1d, gdnConv1dOp{}) }

func (gdnConv1dOp) SectionUnits(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return []int64{g.qkDim, g.qkDim, g.vDim}
}

func (gdnConv1dOp) Sections(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return []int64{g.qkHeads * g.qkDim, g.qkHeads * g.qkDim, g.vHeads * g.vDim}
}

func (o gdnConv1dOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	g, err := gdnOf(d)
	if err != nil {
		return nil, err
	}
	rows := 2*g.qkHeads*g.qkDim + g.vHeads*g.vDim
	sh := ins[0].Shape
	if len(sh) != 3 || sh[0] != rows || sh[1] != 1 {
		return nil, fmt.Errorf("%s has shape %s but a depthwise conv1d over q, k and v channels (2·%d·%d + %d·%d) needs [%d, 1, linear_conv_kernel_dim]: config.json does not match the weights", ins[0].Name, shapeStr(sh), g.qkHeads, g.qkDim, g.vHeads, g.vDim, rows)
	}
	return append([]int64(nil), sh...), nil
}

func (gdnConv1dOp) CanSplit(s SplitKind) error {
	if err := canSplitPerm(s, true); err != nil {
		return fmt.Errorf("gated delta net conv1d: %w", err)
	}
	return nil
}

func (gdnConv1dOp) StreamRows(*Group) bool { return false }

func (gdnConv1dOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

func (o gdnConv1dOp) layout(g *Group) rowLayout {
	return rowLayout(nil).add(0, 0, g.Shape[0])
}

func (o gdnConv1dOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	return permSlice(o.layout(g), g, d, ins, elem, o.Sections(dims), buf)
}

func (gdnConv1dOp) HFShapes(_ string, shape []int64, _ Dims) ([][]int64, error) {
	return [][]int64{append([]int64(nil), shape...)}, nil
}

func (o gdnConv1dOp) Inverse(g *Group, whole []byte, inSize []int64, elem int, _ Dims) ([][]byte, error) {
	return permInverse(o.layout(g), g, whole, inSize, elem)
}

func (o gdnConv1dOp) Explain(_ *Group, d Dims, tp, _ int) []ExplainLine {
	s := o.Sections(d)
	if s == nil {
		return nil
	}
	out := []ExplainLine{explainText("sections", fmt.Sprintf("q %d | k %d | v %d channels, bytes unchanged", s[0], s[1], s[2]))}
	if tp > 1 {
		out = append(out, explainText("TP split", fmt.Sprintf("each section chunked by %d: rank r holds [q_r; k_r; v_r]", tp)))
	}
	return out
}
