package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// gatedQKVOp: gated attention's q_proj holds, per head, the query rows then the output
// gate rows ([q_h; gate_h], 2·head_dim rows per head); Megatron's linear_qkv with
// attention_output_gate holds per query group [q heads; gate heads; k; v]. ROLL's
// GatedQKVConverOp. Split over TP by rows (torch.chunk), like the plain fused QKV.
type gatedQKVOp struct{}

func init() { registerOp(OpGatedQKV, gatedQKVOp{}) }

func (gatedQKVOp) layout(d Dims) (rowLayout, error) {
	nh, ng, kc := int64(d.Heads), int64(d.Groups), int64(d.KVChannels)
	if nh <= 0 || ng <= 0 || kc <= 0 || nh%ng != 0 {
		return nil, fmt.Errorf("num_attention_heads %d must be a positive multiple of num_key_value_heads %d (head_dim %d)", nh, ng, kc)
	}
	qpg := nh / ng
	var l rowLayout
	for g := int64(0); g < ng; g++ {
		for j := int64(0); j < qpg; j++ { // queries of the group's heads
			l = l.add(0, (g*qpg+j)*2*kc, kc)
		}
		for j := int64(0); j < qpg; j++ { // then their gates
			l = l.add(0, (g*qpg+j)*2*kc+kc, kc)
		}
		l = l.add(1, g*kc, kc)
		l = l.add(2, g*kc, kc)
	}
	return l, nil
}

func (gatedQKVOp) hfShapes(d Dims, h int64) [][]int64 {
	nh, ng, kc := int64(d.Heads), int64(d.Groups), int64(d.KVChannels)
	return [][]int64{{2 * nh * kc, h}, {ng * kc, h}, {ng * kc, h}}
}

func (o gatedQKVOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	if _, err := o.layout(d); err != nil {
		return nil, err
	}
	h := int64(d.Hidden)
	got := [][]int64{ins[0].Shape, ins[1].Shape, ins[2].Shape}
	why := fmt.Sprintf("%d heads × head_dim %d with an output gate (q and gate rows per head), %d groups and hidden %d", d.Heads, d.KVChannels, d.Groups, h)
	if err := checkShapes([]string{ins[0].Name, ins[1].Name, ins[2].Name}, got, o.hfShapes(d, h), why); err != nil {
		return nil, err
	}
	return []int64{int64(2*d.Heads+2*d.Groups) * int64(d.KVChannels), h}, nil
}

func (gatedQKVOp) CanSplit(s SplitKind) error {
	if err := canSplitPerm(s, false); err != nil {
		return fmt.Errorf("gated q/k/v: %w", err)
	}
	return nil
}

func (gatedQKVOp) StreamRows(*Group) bool { return false }

func (gatedQKVOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

func (o gatedQKVOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	l, err := o.layout(dims)
	if err != nil {
		return nil, err
	}
	return permSlice(l, g, d, ins, elem, nil, buf)
}

func (o gatedQKVOp) HFShapes(name string, shape []int64, d Dims) ([][]int64, error) {
	want := int64(2*d.Heads+2*d.Groups) * int64(d.KVChannels)
	if len(shape) != 2 || shape[0] != want {
		return nil, fmt.Errorf("%s has shape %s, but %d gated heads in %d groups of %d channels need %d rows", name, shapeStr(shape), d.Heads, d.Groups, d.KVChannels, want)
	}
	return o.hfShapes(d, shape[1]), nil
}

func (o gatedQKVOp) Inverse(g *Group, whole []byte, inSize []int64, elem int, d Dims) ([][]byte, error) {
	l, err := o.layout(d)
	if err != nil {
		return nil, err
	}
	return permInverse(l, g, whole, inSize, elem)
}

func (gatedQKVOp) Explain(_ *Group, d Dims, tp, _ int) []ExplainLine {
	if d.Groups <= 0 || d.Heads <= 0 {
		return nil
	}
	qpg := d.Heads / d.Groups
	out := []ExplainLine{
		explainText("q_proj", fmt.Sprintf("per head [q %d; gate %d] rows (query and its output gate interleaved)", d.KVChannels, d.KVChannels)),
		explainText("interleave", fmt.Sprintf("per group: q×%d | gate×%d | k | v; %d groups", qpg, qpg, d.Groups)),
	}
	if tp > 1 {
		out = append(out, explainMuted("TP split", fmt.Sprintf("rows chunked by %d (torch.chunk), %d groups per rank when %d divides them", tp, d.Groups/max(tp, 1), tp)))
	}
	return out
}
