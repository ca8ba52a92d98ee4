package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// nextGDNOp: Qwen3-Next's gated delta net input projections. in_proj_qkvz holds, per key
// head, [q (key dim); k (key dim); v; z (value heads per key head × value dim)], and
// in_proj_ba per key head [b; a] (value heads per key head rows each). Megatron's in_proj
// is [q; k; v; z; b; a], each over all heads in head order (ROLL's NextGDNConverOp), split
// over TP section by section.
type nextGDNOp struct{}

func init() { registerOp(OpNextGDN, nextGDNOp{}) }

func (nextGDNOp) SectionUnits(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return g.inProjUnits()
}

func (nextGDNOp) Sections(d Dims) []int64 {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	return g.inProjSections()
}

func (nextGDNOp) layout(d Dims) (rowLayout, error) {
	g, err := gdnOf(d)
	if err != nil {
		return nil, err
	}
	vpg := g.vHeads / g.qkHeads // value heads per key head
	per := 2*g.qkDim + 2*vpg*g.vDim
	var l rowLayout
	for _, part := range []struct {
		in     int
		stride int64
		off, n int64
	}{
		{0, per, 0, g.qkDim},                           // q
		{0, per, g.qkDim, g.qkDim},                     // k
		{0, per, 2 * g.qkDim, vpg * g.vDim},            // v
		{0, per, 2*g.qkDim + vpg*g.vDim, vpg * g.vDim}, // z
		{1, 2 * vpg, 0, vpg},                           // b
		{1, 2 * vpg, vpg, vpg},                         // a
	} {
		for h := int64(0); h < g.qkHeads; h++ {
			l = l.add(part.in, h*part.stride+part.off, part.n)
		}
	}
	return l, nil
}

func (nextGDNOp) hfShapes(d Dims, h int64) ([][]int64, error) {
	g, err := gdnOf(d)
	if err != nil {
		return nil, err
	}
	return [][]int64{{2*g.qkHeads*g.qkDim + 2*g.vHeads*g.vDim, h}, {2 * g.vHeads, h}}, nil
}

func (o nextGDNOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	h := int64(d.Hidden)
	want, err := o.hfShapes(d, h)
	if err != nil {
		return nil, err
	}
	why := "the gated delta net sizes (linear_num_key_heads, linear_num_value_heads, linear_key_head_dim, linear_value_head_dim) and hidden_size"
	if err := checkShapes([]string{ins[0].Name, ins[1].Name}, [][]int64{ins[0].Shape, ins[1].Shape}, want, why); err != nil {
		return nil, err
	}
	return []int64{want[0][0] + want[1][0], h}, nil
}

func (nextGDNOp) CanSplit(s SplitKind) error {
	if err := canSplitPerm(s, true); err != nil {
		return fmt.Errorf("gated delta net in_proj: %w", err)
	}
	return nil
}

func (nextGDNOp) StreamRows(*Group) bool { return false }

func (nextGDNOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

func (o nextGDNOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	l, err := o.layout(dims)
	if err != nil {
		return nil, err
	}
	return permSlice(l, g, d, ins, elem, o.Sections(dims), buf)
}

func (o nextGDNOp) HFShapes(name string, shape []int64, d Dims) ([][]int64, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s has shape %s, which is no 2-D in_proj", name, shapeStr(shape))
	}
	want, err := o.hfShapes(d, shape[1])
	if err != nil {
		return nil, err
	}
	if want[0][0]+want[1][0] != shape[0] {
		return nil, fmt.Errorf("%s has %d rows, but the gated delta net sizes need %d", name, shape[0], want[0][0]+want[1][0])
	}
	return want, nil
}

func (o nextGDNOp) Inverse(g *Group, whole []byte, inSize []int64, elem int, d Dims) ([][]byte, error) {
	l, err := o.layout(d)
	if err != nil {
		return nil, err
	}
	return permInverse(l, g, whole, inSize, elem)
}

func (o nextGDNOp) Explain(_ *Group, d Dims, tp, _ int) []ExplainLine {
	g, err := gdnOf(d)
	if err != nil {
		return nil
	}
	vpg := g.vHeads / g.qkHeads
	out := []ExplainLine{
		explainText("in_proj_qkvz", fmt.Sprintf("per key head (%d): q %d | k %d | v %d | z %d rows", g.qkHeads, g.qkDim, g.qkDim, vpg*g.vDim, vpg*g.vDim)),
		explainText("in_proj_ba", fmt.Sprintf("per key head: b %d | a %d rows", vpg, vpg)),
		explainText("in_proj", "[q; k; v; z; b; a], each over all heads in head order"),
	}
	if tp > 1 {
		out = append(out, explainText("TP split", fmt.Sprintf("each of the 6 sections chunked by %d: rank r holds [q_r; k_r; v_r; z_r; b_r; a_r]", tp)))
	}
	return out
}
