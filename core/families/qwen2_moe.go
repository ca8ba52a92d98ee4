package families

// The qwen2_moe template: ROLL's mcore_adapter qwen2_moe converter restated. QKV biases
// always; routed experts sized by moe_intermediate_size, which ROLL maps to ffn_hidden_size;
// one shared expert (its own shared_expert_intermediate_size) with a sigmoid gate
// shared_expert_gate [1, hidden]. Dense layers (mlp_only_layers, decoder_sparse_step > 1)
// are refused: ROLL's ffn_hidden_size is the expert size, so Megatron would build them
// with the wrong width (docs/families/qwen2_moe.md).

import (
	"fmt"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

const sharedFFNKey = "shared_expert_intermediate_size"

func init() {
	shared := func(d family.Dims) int64 { return int64(d.ExtraInt(sharedFFNKey)) }
	shapes := expertShapes(func(d family.Dims) int { return d.FFN }, "moe_intermediate_size")
	shapes[mcaShFC1] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{2 * shared(d), int64(d.Hidden)} }, From: "2·shared_expert_intermediate_size × hidden_size"}
	shapes[mcaShFC2] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), shared(d)} }, From: "hidden_size × shared_expert_intermediate_size"}
	shapes[mcaShGate] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{1, int64(d.Hidden)} }, From: "1 × hidden_size"}
	family.Register(&family.Template{
		ModelType:   "qwen2_moe",
		LayerPrefix: "model.layers.",
		MoEPrefix:   ".mlp.experts.",
		Config: textKeys(
			[2]string{"moe_intermediate_size", "ffn_hidden_size"},
			[2]string{"decoder_sparse_step", "moe_layer_freq"},
			[2]string{"num_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"router_aux_loss_coef", "moe_aux_loss_coeff"},
			[2]string{"shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"}),
		Constants: moeConstants(true,
			family.KV{Key: "add_qkv_bias", Value: "true"},
			family.KV{Key: "moe_use_shared_expert_gate", Value: "true"}),
		Rules: rules(globalRules, attnRules, []family.Rule{qkvBiasRule},
			expertRules(".gate_proj.weight", ".up_proj.weight", ".down_proj.weight", ".mlp.gate.weight"),
			[]family.Rule{
				{Op: family.OpStack, HF: []string{".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight"}, MCA: mcaShFC1},
				{Op: family.OpRename, HF: []string{".mlp.shared_expert.down_proj.weight"}, MCA: mcaShFC2},
				{Op: family.OpRename, HF: []string{".mlp.shared_expert_gate.weight"}, MCA: mcaShGate},
			}),
		Dist: moeDist,
		Skip: []string{invFreq},
		Required: decoderRequired(nil,
			[]string{".mlp.gate.weight", ".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight",
				".mlp.shared_expert.down_proj.weight", ".mlp.shared_expert_gate.weight"},
			[]string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"}),
		Shapes:        decoderShapes(shapes),
		Components:    decoderComponents,
		Extras:        moeExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
		Hooks:         family.Hooks{ReadDims: qwen2MoeDims},
	})
}

// qwen2MoeDims reads the shared expert size and refuses dense layers.
func qwen2MoeDims(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	if n, ok := cfg.Get(sharedFFNKey); ok && n.Kind != loader.JSONNull {
		v, err := n.Int()
		if err != nil || v < 0 || v > 1<<30 {
			return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json %s must be a whole number, found %s: fix config.json", sharedFFNKey, n.Compact())}}
		}
		d.SetExtra(sharedFFNKey, int(v))
	}
	if issues := readSparsity(cfg, d); len(issues) > 0 {
		return issues
	}
	if dense := denseLayers(*d); len(dense) > 0 {
		return []family.Issue{{Severity: family.SevError, Code: "dense-layers",
			Message: fmt.Sprintf("config.json makes %d layer(s) dense (mlp_only_layers / decoder_sparse_step), e.g. layer %d: ROLL's qwen2_moe mapping gives Megatron moe_intermediate_size as ffn_hidden_size, so those dense MLPs (intermediate_size wide) cannot be represented; omnitui converts only qwen2_moe checkpoints whose every layer is MoE", len(dense), dense[0])}}
	}
	return nil
}
