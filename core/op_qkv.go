package core

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// qkvOp: q, k and v projections fused per query group ([q×heads/groups; k; v] for each group),
// as Megatron's linear_qkv holds them. bias is the same op over the 1-D biases.
type qkvOp struct{ bias bool }

func init() { registerOp(OpQKV, qkvOp{}) }

func (o qkvOp) Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error) {
	nh, ng, kc, h := int64(d.Heads), int64(d.Groups), int64(d.KVChannels), int64(d.Hidden)
	want := [][]int64{{nh * kc, h}, {ng * kc, h}, {ng * kc, h}}
	if o.bias {
		want = [][]int64{{nh * kc}, {ng * kc}, {ng * kc}}
	}
	for k, in := range ins {
		if !equalShape(in.Shape, want[k]) {
			return nil, fmt.Errorf("%s has shape %s but heads %d × head_dim %d (groups %d) and hidden %d need %s: config.json does not match the weights", in.Name, shapeStr(in.Shape), nh, kc, ng, h, shapeStr(want[k]))
		}
	}
	if o.bias {
		return []int64{(nh + 2*ng) * kc}, nil
	}
	return []int64{(nh + 2*ng) * kc, h}, nil
}

func (qkvOp) CanSplit(s SplitKind) error {
	if s == SplitDuplicated || s == SplitColumn {
		return nil
	}
	return fmt.Errorf("fused q/k/v is split by rows (column-parallel) or kept whole, not %s", s)
}

func (qkvOp) StreamRows(*Group) bool { return false }

func (qkvOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

// rowBytes is the byte size of one fused row (one element for biases).
func (o qkvOp) rowBytes(g *Group, elem int) int {
	if o.bias {
		return elem
	}
	return int(numel(g.Shape[1:])) * elem
}

func (o qkvOp) Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(int) []byte) ([]byte, error) {
	rb := o.rowBytes(g, elem)
	switch g.Split {
	case SplitDuplicated:
		out := buf(int(g.Shape[0]) * rb)
		return out, ops.FuseQKV(out, ins[0], ins[1], ins[2], dims.Heads, dims.Groups, dims.KVChannels, rb)
	case SplitColumn:
		start, size, ok := ops.ChunkRange(int(g.Shape[0]), d.TPSize, d.TPRank)
		if !ok {
			return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
		}
		out := buf(size * rb)
		return out, ops.FuseQKVRows(out, ins[0], ins[1], ins[2], dims.Heads, dims.Groups, dims.KVChannels, rb, start, size)
	}
	return nil, noSlice(g)
}

func (qkvOp) HFShapes(name string, shape []int64, d Dims) ([][]int64, error) {
	nh, ng, kc := d.Heads, d.Groups, d.KVChannels
	want := int64((nh + 2*ng) * kc)
	if len(shape) == 0 || shape[0] != want {
		rows := int64(0)
		if len(shape) > 0 {
			rows = shape[0]
		}
		return nil, fmt.Errorf("%s has %d rows, but %d heads in %d groups of %d channels need %d", name, rows, nh, ng, kc, want)
	}
	out := make([][]int64, 3)
	for k, rows := range []int64{int64(nh * kc), int64(ng * kc), int64(ng * kc)} {
		sh := append([]int64(nil), shape...)
		sh[0] = rows
		out[k] = sh
	}
	return out, nil
}

func (o qkvOp) Inverse(g *Group, whole []byte, inSize []int64, elem int, d Dims) ([][]byte, error) {
	out := make([][]byte, 3)
	for k := range out {
		out[k] = make([]byte, inSize[k])
	}
	if err := ops.SplitQKV(out[0], out[1], out[2], whole, d.Heads, d.Groups, d.KVChannels, o.rowBytes(g, elem)); err != nil {
		return nil, err
	}
	return out, nil
}

func (qkvOp) Explain(_ *Group, d Dims, tp, width int) []ExplainLine {
	if d.Groups <= 0 || d.Heads <= 0 {
		return nil
	}
	qpg := d.Heads / d.Groups
	inter := ExplainLine{Label: "interleave"}
	n := 0
	for gi := 0; gi < d.Groups; gi++ {
		if gi > 0 {
			inter.Parts = append(inter.Parts, ExplainPart{Text: " ‖ ", Muted: true})
			n += len(" ‖ ")
		}
		t := fmt.Sprintf("g%d: q×%d | k | v", gi, qpg)
		inter.Parts = append(inter.Parts, ExplainPart{Text: t})
		n += len(t)
		if n > width*3 {
			inter.Parts = append(inter.Parts, ExplainPart{Text: " …"})
			break
		}
	}
	out := []ExplainLine{inter, explainMuted("", fmt.Sprintf("per group (%d q heads + k + v) × %d = %d rows; %d groups",
		qpg, d.KVChannels, (qpg+2)*d.KVChannels, d.Groups))}
	if tp > 1 {
		var parts []string
		if d.Groups%tp == 0 {
			per := d.Groups / tp
			for r := 0; r < tp; r++ {
				parts = append(parts, fmt.Sprintf("r%d: g%d–g%d", r, r*per, (r+1)*per-1))
			}
		} else {
			rows := int64(d.Groups * (qpg + 2) * d.KVChannels)
			for r := 0; r < tp; r++ {
				a, e := chunkRows(rows, tp, r)
				parts = append(parts, fmt.Sprintf("r%d: rows [%d,%d)", r, a, e))
			}
		}
		out = append(out, explainText("TP split", strings.Join(parts, " · ")))
	}
	return out
}
