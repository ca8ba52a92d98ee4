package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// renameOp: one HF tensor becomes one Megatron tensor under a new name, bytes unchanged.
type renameOp struct{}

func init() { registerOp(OpRename, renameOp{}) }

func (renameOp) Shape(ins []*loader.TensorInfo, _ Dims) ([]int64, error) {
	return append([]int64(nil), ins[0].Shape...), nil
}

func (renameOp) CanSplit(s SplitKind) error {
	if s == SplitSwiGLU {
		return fmt.Errorf("a rename has one input, not a gate/up pair")
	}
	return nil
}

func (renameOp) StreamRows(g *Group) bool { return g.Split == SplitRow && len(g.Shape) == 2 }

func (renameOp) Spans(g *Group, d Dest, inLen []int64, inElem, _ int64) ([]span, bool) {
	switch {
	case g.Split == SplitDuplicated || (g.Split == SplitRow && d.TPSize == 1):
		return []span{{in: 0, n: inLen[0]}}, true
	case g.Split == SplitColumn:
		start, size, ok := ops.ChunkRange(int(g.Shape[0]), d.TPSize, d.TPRank)
		if !ok {
			return nil, false
		}
		rb := numel(g.Shape[1:]) * inElem
		return []span{{in: 0, off: int64(start) * rb, n: int64(size) * rb}}, true
	}
	return nil, false
}

func (renameOp) Slice(g *Group, d Dest, ins [][]byte, elem int, _ Dims, buf func(int) []byte) ([]byte, error) {
	switch g.Split {
	case SplitDuplicated:
		return ins[0], nil
	case SplitColumn:
		start, size, ok := ops.ChunkRange(int(g.Shape[0]), d.TPSize, d.TPRank)
		if !ok {
			return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
		}
		rb := int(numel(g.Shape[1:])) * elem
		return ins[0][start*rb : (start+size)*rb], nil
	case SplitRow:
		start, size, ok := ops.ChunkRange(int(g.Shape[1]), d.TPSize, d.TPRank)
		if !ok {
			return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
		}
		if d.TPSize == 1 {
			return ins[0], nil
		}
		out := buf(int(g.Shape[0]) * size * elem)
		return out, ops.SliceDim(out, ins[0], g.Shape, elem, 1, int64(start), int64(size))
	}
	return nil, noSlice(g)
}

func (renameOp) HFShapes(_ string, shape []int64, _ Dims) ([][]int64, error) {
	return [][]int64{shape}, nil
}

func (renameOp) Inverse(_ *Group, whole []byte, _ []int64, _ int, _ Dims) ([][]byte, error) {
	return [][]byte{whole}, nil
}

func (renameOp) Explain(*Group, Dims, int, int) []ExplainLine { return nil }
