package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// qwen35GDNOp: Qwen3.5's gated delta net input projections, stored apart: in_proj_qkv
// [q; k; v], in_proj_z, in_proj_b, in_proj_a. Megatron's in_proj is their concatenation
// [q; k; v; z; b; a] (ROLL's Qwen3_5_GDNConverOp), split over TP section by section.
type qwen35GDNOp struct{}

func init() { registerOp(OpQwen35GDN, qwen35GDNOp{}) }

func (qwen35GDNOp) SectionUnits(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return g.inProjUnits()
}

func (qwen35GDNOp) Sections(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return g.inProjSections()
}

func (qwen35GDNOp) hfShapes(d Dims, h int64) ([][]int64, error) {
	g, err := gdnOf(d)
	if err != nil {
		return nil, err
	}
	return [][]int64{{2*g.qkHeads*g.qkDim + g.vHeads*g.vDim, h}, {g.vHeads * g.vDim, h}, {g.vHeads, h}, {g.vHeads, h}}, nil
}

func (o qwen35GDNOp) layout(d Dims) (rowLayout, error) {
	want, err := o.hfShapes(d, 1)
	if err != nil {
		return nil, err
	}
	var l rowLayout
	for k, w := range want {
		l = l.add(k, 0, w[0])
	}
	return l, nil
}

func (o qwen35GDNOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	h := int64(d.Hidden)
	want, err := o.hfShapes(d, h)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ins))
	got := make([][]int64, len(ins))
	rows := int64(0)
	for k, in := range ins {
		names[k], got[k] = in.Name, in.Shape
		rows += want[k][0]
	}
	why := "the gated delta net sizes (linear_num_key_heads, linear_num_value_heads, linear_key_head_dim, linear_value_head_dim) and hidden_size"
	if err := checkShapes(names, got, want, why); err != nil {
		return nil, err
	}
	return []int64{rows, h}, nil
}

func (qwen35GDNOp) CanSplit(s SplitKind) error {
	if err := canSplitPerm(s, true); err != nil {
		return fmt.Errorf("gated delta net in_proj: %w", err)
	}
	return nil
}

func (qwen35GDNOp) StreamRows(*Group) bool { return false }

func (qwen35GDNOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

func (o qwen35GDNOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	l, err := o.layout(dims)
	if err != nil {
		return nil, err
	}
	return permSlice(l, g, d, ins, elem, o.Sections(dims), buf)
}

func (o qwen35GDNOp) HFShapes(name string, shape []int64, d Dims) ([][]int64, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s has shape %s, which is no 2-D in_proj", name, shapeStr(shape))
	}
	want, err := o.hfShapes(d, shape[1])
	if err != nil {
		return nil, err
	}
	if rows := want[0][0] + want[1][0] + want[2][0] + want[3][0]; rows != shape[0] {
		return nil, fmt.Errorf("%s has %d rows, but the gated delta net sizes need %d", name, shape[0], rows)
	}
	return want, nil
}

func (o qwen35GDNOp) Inverse(g *Group, whole []byte, inSize []int64, elem int, d Dims) ([][]byte, error) {
	l, err := o.layout(d)
	if err != nil {
		return nil, err
	}
	return permInverse(l, g, whole, inSize, elem)
}

func (o qwen35GDNOp) Explain(_ *Group, d Dims, tp, _ int) []ExplainLine {
	s := o.Sections(d)
	if s == nil {
		return nil
	}
	out := []ExplainLine{
		explainText("in_proj", fmt.Sprintf("[in_proj_qkv (q %d | k %d | v %d); in_proj_z %d; in_proj_b %d; in_proj_a %d]", s[0], s[1], s[2], s[3], s[4], s[5])),
	}
	if tp > 1 {
		out = append(out, explainText("TP split", fmt.Sprintf("each of the 6 sections chunked by %d: rank r holds [q_r; k_r; v_r; z_r; b_r; a_r]", tp)))
	}
	return out
}
