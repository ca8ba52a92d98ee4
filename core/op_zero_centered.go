package core

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// zeroCenteredOp: an RMSNorm weight w that Megatron keeps zero-centered
// (layernorm_zero_centered_gamma): forward w−1, reverse w+1, computed as torch computes
// `w - 1` on a tensor of that dtype (ROLL's ZeroCenteredRMSNormConverOp): bf16 and fp16
// through float32 then rounded to nearest even, float32 and float64 in their own precision.
// The reverse gives the input back exactly for weights in [0.5, 2] (where w−1 is exact);
// weights far below that lose low bits, as they do in ROLL.
type zeroCenteredOp struct{}

func init() { registerOp(OpZeroCentered, zeroCenteredOp{}) }

func (zeroCenteredOp) Shape(ins []*loader.TensorInfo, _ Dims) ([]int64, error) {
	return append([]int64(nil), ins[0].Shape...), nil
}

func (zeroCenteredOp) CanSplit(s SplitKind) error {
	if s == SplitDuplicated {
		return nil
	}
	return fmt.Errorf("a zero-centered norm weight is kept whole on every rank, not split as %s", s)
}

func (zeroCenteredOp) StreamRows(*Group) bool { return false }

func (zeroCenteredOp) Spans(*Group, Dest, []int64, int64, int64) ([]span, bool) { return nil, false }

// addOne adds delta (±1) to every element of src, into dst, in dtype dt.
func addOne(dst, src []byte, dt loader.DType, delta float32) error {
	le := binary.LittleEndian
	switch dt {
	case loader.BF16:
		for i := 0; i+1 < len(src); i += 2 {
			f := math.Float32frombits(ops.BF16ToF32Bits(le.Uint16(src[i:]))) + delta
			le.PutUint16(dst[i:], ops.F32ToBF16Bits(math.Float32bits(f)))
		}
	case loader.F16:
		for i := 0; i+1 < len(src); i += 2 {
			f := math.Float32frombits(ops.F16ToF32Bits(le.Uint16(src[i:]))) + delta
			le.PutUint16(dst[i:], ops.F32ToF16Bits(math.Float32bits(f)))
		}
	case loader.F32:
		for i := 0; i+3 < len(src); i += 4 {
			f := math.Float32frombits(le.Uint32(src[i:])) + delta
			le.PutUint32(dst[i:], math.Float32bits(f))
		}
	case loader.F64:
		for i := 0; i+7 < len(src); i += 8 {
			f := math.Float64frombits(le.Uint64(src[i:])) + float64(delta)
			le.PutUint64(dst[i:], math.Float64bits(f))
		}
	default:
		return fmt.Errorf("a zero-centered norm weight must be a floating-point tensor (bf16, fp16, fp32, fp64), not %s", dt)
	}
	return nil
}

func (zeroCenteredOp) Slice(g *Group, d Dest, ins [][]byte, _ int, _ Dims, buf func(int) []byte) ([]byte, error) {
	if g.Split != SplitDuplicated {
		return nil, noSlice(g)
	}
	out := buf(len(ins[0]))
	return out, addOne(out, ins[0], g.DType, -1)
}

func (zeroCenteredOp) HFShapes(_ string, shape []int64, _ Dims) ([][]int64, error) {
	return [][]int64{append([]int64(nil), shape...)}, nil
}

func (zeroCenteredOp) Inverse(g *Group, whole []byte, _ []int64, _ int, _ Dims) ([][]byte, error) {
	out := make([]byte, len(whole))
	return [][]byte{out}, addOne(out, whole, g.DType, 1)
}

func (zeroCenteredOp) Explain(g *Group, _ Dims, _, _ int) []ExplainLine {
	return []ExplainLine{
		explainText("values", fmt.Sprintf("w − 1 (zero-centered gamma), computed in %s as torch does; back: w + 1", g.DType)),
		explainMuted("", "exact both ways for weights in [0.5, 2]"),
	}
}
