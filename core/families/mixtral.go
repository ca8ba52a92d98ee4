package families

// The mixtral template: ROLL's mcore_adapter mixtral converter restated. Experts live
// under block_sparse_moe.experts.E with w1 (gate), w3 (up), w2 (down), sized by
// intermediate_size (ROLL maps no moe_intermediate_size); the router is
// block_sparse_moe.gate. ROLL registers only the default dist config; the TE grouped-GEMM
// names are merged as for every family with experts.

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(&family.Template{
		ModelType:   "mixtral",
		LayerPrefix: "model.layers.",
		MoEPrefix:   ".block_sparse_moe.experts.",
		Config: textKeys(
			[2]string{"attention_bias", "add_qkv_bias"},
			[2]string{"head_dim", "kv_channels"},
			[2]string{"intermediate_size", "ffn_hidden_size"},
			[2]string{"num_local_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"router_aux_loss_coef", "moe_aux_loss_coeff"}),
		Constants: moeConstants(false),
		Rules: rules(globalRules, attnRules, qkNormRules, []family.Rule{qkvBiasRule},
			expertRules(".w1.weight", ".w3.weight", ".w2.weight", ".block_sparse_moe.gate.weight")),
		Dist: family.MergeDist(family.DefaultDist, family.TEMoEDist),
		Skip: []string{invFreq},
		Required: decoderRequired(nil, []string{".block_sparse_moe.gate.weight"},
			[]string{".w1.weight", ".w2.weight", ".w3.weight"}),
		Shapes:        decoderShapes(expertShapes(func(d family.Dims) int { return d.FFN }, "intermediate_size")),
		Components:    decoderComponents,
		Extras:        moeExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
	})
}
