package core

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// Block-FP8 checkpoints (DeepSeek-V3/R1 and the -FP8 releases of other families) store a
// linear weight as F8_E4M3 bytes W [R, C] plus an F32 X.weight_scale_inv S [ceil(R/128),
// ceil(C/128)], with quantization_config {quant_method: fp8, weight_block_size: [128, 128]}.
// omnitui dequantizes such a weight to bf16 before the family's op, while streaming:
// bf16(float32(W[i, j]) × S[i/128, j/128]), rounded to nearest even. Megatron loads FP8
// parameters only through Transformer Engine's own formats, so there is no faithful FP8
// target to keep them in (--keep-fp8 is refused).

// FP8Block is the only block size omnitui dequantizes (that of every published release).
const FP8Block = ops.FP8Block

const scaleSuffix = "_scale_inv" // X.weight -> X.weight_scale_inv

// fp8 is the plan's record of a checkpoint's FP8 weights.
type fp8 struct {
	scaleOf map[int]int // weight tensor index -> its scale tensor index
	scales  map[int]bool
}

// fp8Prepare pairs FP8 weights with their scales and checks quantization_config; every
// problem is a plan error naming the tensors.
func (b *builder) fp8Prepare() {
	ts := b.in.Tensors
	b.fp8.scaleOf, b.fp8.scales = map[int]int{}, map[int]bool{}
	byName := make(map[string]int, len(ts))
	for i := range ts {
		byName[ts[i].Name] = i
	}
	var f8, orphan, noScale, badShape, badDType []string
	var orphanIdx []int
	for i := range ts {
		t := &ts[i]
		if isF8(t.DType) {
			f8 = append(f8, t.Name)
		}
		w, ok := strings.CutSuffix(t.Name, scaleSuffix)
		if !ok || !strings.HasSuffix(w, ".weight") {
			continue
		}
		wi, ok := byName[w]
		if !ok || !isF8(ts[wi].DType) {
			orphanIdx = append(orphanIdx, i)
			continue
		}
		b.fp8.scales[i] = true
		if t.DType != loader.F32 {
			badDType = append(badDType, fmt.Sprintf("%s (%s)", t.Name, t.DType))
			continue
		}
		ws := ts[wi].Shape
		if len(ws) != 2 || len(t.Shape) != 2 || t.Shape[0] != ceilDiv(ws[0], FP8Block) || t.Shape[1] != ceilDiv(ws[1], FP8Block) {
			want := "a 2-D weight"
			if len(ws) == 2 {
				want = shapeStr([]int64{ceilDiv(ws[0], FP8Block), ceilDiv(ws[1], FP8Block)})
			}
			badShape = append(badShape, fmt.Sprintf("%s is %s, weight %s needs %s", t.Name, shapeStr(t.Shape), shapeStr(ws), want))
			continue
		}
		b.fp8.scaleOf[wi] = i
	}
	for i := range ts {
		if isF8(ts[i].DType) {
			if _, ok := b.fp8.scaleOf[i]; !ok {
				noScale = append(noScale, ts[i].Name)
			}
		}
	}
	// A scale beside an unquantized weight is an FP8 error only in an FP8 checkpoint;
	// elsewhere it is an unmapped tensor like any other foreign one (--skip-unmapped).
	_, hasQ := b.in.Config.Get("quantization_config")
	if len(f8) > 0 || len(b.fp8.scales) > 0 || hasQ {
		for _, i := range orphanIdx {
			b.fp8.scales[i] = true
			orphan = append(orphan, ts[i].Name)
		}
	}
	if len(orphan) > 0 {
		b.errorf("fp8-scale-orphan", "", orphan, "%d FP8 scale tensor(s) have no FP8 weight of the same name beside them (X.weight_scale_inv needs an F8_E4M3 X.weight): %s. The checkpoint is incomplete or mixes a dequantized weight with its old scale; re-download it", len(orphan), listNames(orphan, 5))
	}
	if len(noScale) > 0 {
		b.errorf("fp8-no-scale", "", noScale, "%d FP8 weight(s) have no X.weight_scale_inv block scale, so their values cannot be recovered: %s. Re-download the checkpoint (every weight of a block-FP8 release has its scale)", len(noScale), listNames(noScale, 5))
	}
	if len(badDType) > 0 {
		b.errorf("fp8-scale-dtype", "", badDType, "FP8 block scales must be F32, as in the published releases: %s", listNames(badDType, 5))
	}
	if len(badShape) > 0 {
		b.errorf("fp8-scale-shape", "", badShape, "%d FP8 scale(s) do not have shape [ceil(rows/128), ceil(cols/128)] of their weight: %s. omnitui dequantizes 128×128 blocks only; the checkpoint is damaged or uses another block size", len(badShape), listNames(badShape, 3))
	}
	b.quantConfig(len(f8) > 0 || len(b.fp8.scales) > 0)
}

// quantConfig checks config.json's quantization_config: only block FP8 with 128×128 blocks
// is dequantized; any other method is refused by name.
func (b *builder) quantConfig(hasFP8 bool) {
	q, ok := b.in.Config.Get("quantization_config")
	if !ok || q.Kind == loader.JSONNull {
		if hasFP8 {
			b.warnf("fp8-no-quant-config", nil, "the checkpoint has FP8 weights and scales but config.json has no quantization_config: they are dequantized as block FP8 (128×128), the only form omnitui knows")
		}
		return
	}
	str := func(key string) string {
		if n, ok := q.Get(key); ok {
			if s, err := n.Str(); err == nil {
				return s
			}
			return string(n.Compact())
		}
		return ""
	}
	method := str("quant_method")
	if method != "fp8" {
		b.errorf("quantized", "", nil, "config.json quantization_config has quant_method %q: omnitui converts unquantized weights and dequantizes block FP8 (quant_method fp8) only. Convert the model's bf16 release, or dequantize it with the tool that made it", method)
		return
	}
	if f := str("fmt"); f != "" && f != "e4m3" && f != "e5m2" {
		b.errorf("quantized", "", nil, "config.json quantization_config fmt %q is not e4m3 or e5m2: omnitui cannot dequantize it", f)
	}
	bs, ok := q.Get("weight_block_size")
	if !ok || bs.Kind == loader.JSONNull {
		b.errorf("quantized", "", nil, "config.json quantization_config (fp8) has no weight_block_size: omnitui dequantizes per-block FP8 with [128, 128] blocks only (per-tensor or per-channel FP8 has no weight_scale_inv blocks)")
		return
	}
	if string(bs.Compact()) != "[128,128]" {
		b.errorf("quantized", "", nil, "config.json quantization_config weight_block_size is %s: omnitui dequantizes [128, 128] blocks only (the block size of every published block-FP8 release)", string(bs.Compact()))
	}
}

func isF8(d loader.DType) bool { return d == loader.F8E4M3 || d == loader.F8E5M2 }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// fp8Scale reports whether tensor i is an FP8 scale (it travels with its weight's group).
func (b *builder) fp8Scale(i int) bool { return b.fp8.scales[i] }

// fp8Group records the scales of a group's FP8 inputs; false when the group cannot be made.
func (b *builder) fp8Group(g *Group, ins []*loader.TensorInfo) bool {
	any := false
	for _, ti := range g.Inputs {
		if _, ok := b.fp8.scaleOf[ti]; ok {
			any = true
		}
	}
	if !any {
		return true
	}
	g.Scales = make([]int, len(g.Inputs))
	for k, ti := range g.Inputs {
		si, ok := b.fp8.scaleOf[ti]
		if !ok {
			b.noteError("fp8-mixed", "", g.HFNames, "an op mixes FP8 and unquantized inputs: every input of an op must be FP8 with scales, or none; the checkpoint is inconsistent")
			return false
		}
		g.Scales[k] = si
	}
	if b.p.Settings.KeepFP8 {
		return true // refused once in run; the group is still planned so that the plan shows it
	}
	_ = ins
	return true
}

// FP8Bytes sums, over the groups that dequantize FP8, the bytes of the FP8 weights, of their
// scales, and of the bf16 they become (what the plan and the Mapping view show).
func (p *Plan) FP8Bytes() (tensors int, f8, scales, bf16 int64) {
	for _, g := range p.Groups {
		for k, si := range g.Scales {
			w := &p.Tensors[g.Inputs[k]]
			tensors++
			f8 += w.Size
			scales += p.Tensors[si].Size
			bf16 += w.NumEl() * 2
		}
	}
	return
}

// DequantLabel is what the plan and the Mapping view say about a dequantized group.
const DequantLabel = "FP8 → bf16 (block 128×128)"

// ScaleError says an FP8 scale tensor holds a value that cannot be dequantized (NaN, Inf).
type ScaleError struct {
	Tensor string
	Err    error
}

func (e *ScaleError) Error() string {
	return fmt.Sprintf("%s: %v; nothing was written (re-download the checkpoint)", e.Tensor, e.Err)
}

// CheckFP8Scales reads every FP8 scale the plan uses (they are small: 1/16384 of their
// weights) and refuses NaN or infinite ones before anything is written.
func CheckFP8Scales(src TensorSource, p *Plan) error {
	for _, g := range p.Groups {
		for k, si := range g.Scales {
			w := &p.Tensors[g.Inputs[k]]
			if len(w.Shape) != 2 {
				continue
			}
			raw, err := src.TensorData(si)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p.Tensors[si].Name, err)
			}
			_, err = ops.FP8Scales(raw, w.Shape[0], w.Shape[1])
			// A scale is smaller than a page: reading it maps the pages around it (the
			// kernel's fault-around), which releasing the scale alone cannot drop. Release its
			// neighbours too, or checking 1,000s of scales would keep ~64 KB each resident.
			src.Release(si)
			src.Release(g.Inputs[k])
			if si+1 < len(p.Tensors) {
				src.Release(si + 1)
			}
			if si > 0 {
				src.Release(si - 1)
			}
			if err != nil {
				return &ScaleError{Tensor: p.Tensors[si].Name, Err: err}
			}
		}
	}
	return nil
}

// FP8Pairs finds the block-FP8 weights of a tensor list with a well-formed F32 scale beside
// them (weight index -> scale index); the plan reports every malformed pair.
func FP8Pairs(ts []loader.TensorInfo) map[int]int {
	byName := make(map[string]int, len(ts))
	for i := range ts {
		byName[ts[i].Name] = i
	}
	out := map[int]int{}
	for i := range ts {
		w, ok := strings.CutSuffix(ts[i].Name, scaleSuffix)
		if !ok || ts[i].DType != loader.F32 {
			continue
		}
		wi, ok := byName[w]
		if !ok || !isF8(ts[wi].DType) || len(ts[wi].Shape) != 2 || len(ts[i].Shape) != 2 {
			continue
		}
		if ts[i].Shape[0] == ceilDiv(ts[wi].Shape[0], FP8Block) && ts[i].Shape[1] == ceilDiv(ts[wi].Shape[1], FP8Block) {
			out[wi] = i
		}
	}
	return out
}

// dequantWhole dequantizes FP8 weight wi of ck (its bytes b) with scale si to bf16.
func dequantWhole(ck *loader.Checkpoint, wi, si int, b []byte) ([]byte, error) {
	w := &ck.Tensors[wi]
	raw, err := ck.TensorData(si)
	if err != nil {
		return nil, err
	}
	sc, err := ops.FP8Scales(raw, w.Shape[0], w.Shape[1])
	ck.Release(si)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Tensors[si].Name, err)
	}
	out := make([]byte, 2*len(b))
	n := int64(len(b))
	if err := ops.DequantFP8Block(out, b, w.DType, sc, w.Shape[0], w.Shape[1], 0, n); err != nil {
		return nil, fmt.Errorf("%s: %w", w.Name, err)
	}
	return out, nil
}
