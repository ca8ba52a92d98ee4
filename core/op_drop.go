package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// dropOp: tensors a template leaves out on purpose (ROLL's DropConverOp). The plan lists
// them as dropped (issue "template-drop") and makes no Megatron tensor of them; every
// other method refuses, since no group of this kind reaches the executor.
type dropOp struct{}

func init() { registerOp(OpDrop, dropOp{}) }

// Dropper is implemented by ops whose inputs the plan leaves out.
type Dropper interface{ Drops() bool }

func (dropOp) Drops() bool { return true }

var errDropped = fmt.Errorf("a dropped tensor has no Megatron form (this is a bug in omnitui; please report it)")

func (dropOp) Shape(ins []*loader.TensorInfo, _ Dims) ([]int64, error) {
	return append([]int64(nil), ins[0].Shape...), nil
}
func (dropOp) CanSplit(SplitKind) error                                 { return errDropped }
func (dropOp) StreamRows(*Group) bool                                   { return false }
func (dropOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }
func (dropOp) Slice(*Group, Dest, [][]byte, int, Dims, func(int) []byte) ([]byte, error) {
	return nil, errDropped
}
func (dropOp) HFShapes(string, []int64, Dims) ([][]int64, error)            { return nil, errDropped }
func (dropOp) Inverse(*Group, []byte, []int64, int, Dims) ([][]byte, error) { return nil, errDropped }
func (dropOp) Explain(*Group, Dims, int, int) []ExplainLine {
	return []ExplainLine{explainText("dropped", "left out, as ROLL's template drops it")}
}
