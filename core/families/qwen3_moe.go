package families

// The qwen3_moe template: ROLL's mcore_adapter qwen3_moe converter restated (q/k norm,
// head_dim, routed experts without a shared expert), plus what ROLL lacks: dense layers
// among the MoE ones (mlp_only_layers, decoder_sparse_step > 1), on which ROLL's converter
// crashes. omnitui converts them to the Megatron names of a dense MLP layer:
// .mlp.linear_fc1.weight (gate and up stacked, swiglu TP split), .mlp.linear_fc2.weight and
// the post-attention norm fused as .mlp.linear_fc1.layer_norm_weight (local impl:
// .pre_mlp_layernorm.weight), and writes moe_layer_freq as the explicit per-layer list
// (docs/families/qwen3_moe.md). decoder_sparse_step → moe_layer_freq is therefore written by
// the MCAConfig hook, not the key table (the reverse would otherwise copy the list back into
// decoder_sparse_step).

import (
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(&family.Template{
		ModelType:   "qwen3_moe",
		LayerPrefix: "model.layers.",
		MoEPrefix:   ".mlp.experts.",
		Config: textKeys(
			[2]string{"attention_bias", "add_qkv_bias"},
			[2]string{"head_dim", "kv_channels"},
			[2]string{"intermediate_size", "ffn_hidden_size"},
			[2]string{"moe_intermediate_size", "moe_ffn_hidden_size"},
			[2]string{"num_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"router_aux_loss_coef", "moe_aux_loss_coeff"}),
		Constants: moeConstants(false, family.KV{Key: "qk_layernorm", Value: "true"}),
		Rules: rules(globalRules, attnRules, qkNormRules, []family.Rule{qkvBiasRule},
			expertRules(".gate_proj.weight", ".up_proj.weight", ".down_proj.weight", ".mlp.gate.weight"),
			[]family.Rule{
				// dense layers among MoE layers (not in ROLL's template)
				{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: mcaDenseFC1},
				{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: mcaDenseFC2},
			}),
		Dist: moeDist,
		Skip: []string{invFreq},
		Required: func() family.Required {
			r := decoderRequired([]string{".self_attn.q_norm.weight", ".self_attn.k_norm.weight"},
				[]string{".mlp.gate.weight"}, []string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"})
			r.Dense = denseMLPNames
			return r
		}(),
		Shapes:        decoderShapes(expertShapes(func(d family.Dims) int { return d.MoEFFN }, "moe_intermediate_size")),
		Components:    decoderComponents,
		Extras:        moeExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
		Hooks: family.Hooks{
			ReadDims:    func(cfg *loader.JSONNode, d *family.Dims) []family.Issue { return readSparsity(cfg, d) },
			MCAConfig:   moeLayerFreq,
			MoELayer:    func(layer int, d family.Dims) bool { return !isDense(layer, d) },
			RenameMCA:   denseNormRename,
			UnrenameMCA: denseNormUnrename,
		},
	})
}

// denseNormRename: on a dense layer the post-attention norm is fused into linear_fc1 (TE
// layer spec of a dense MLP), not the MoE layer's separate pre_mlp_layernorm.
func denseNormRename(rel string, layer, expert int, d family.Dims) string {
	if rel == mcaPreMLP && expert < 0 && isDense(layer, d) {
		return mcaFC1Norm
	}
	return rel
}

// denseNormUnrename inverts denseNormRename (no rule of the family produces linear_fc1's
// norm, so the name alone identifies a dense layer's post-attention norm).
func denseNormUnrename(rel string, layer, expert int, d family.Dims) string {
	if rel == mcaFC1Norm && expert < 0 {
		return mcaPreMLP
	}
	return rel
}
