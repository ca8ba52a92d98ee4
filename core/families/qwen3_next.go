package families

// The qwen3_next template: ROLL's mcore_adapter qwen3_next converter restated (see
// ../../shared/docs/mcore-conversion.md and docs/families/qwen3_next.md). Hybrid decoder:
// every layer is gated full attention or a gated delta net (layer_types, or every
// full_attention_interval-th layer full), with routed experts, a shared expert and its
// gate. Qwen3-Next's fused in_proj_qkvz / in_proj_ba are regrouped into Megatron's
// [q; k; v; z; b; a] in_proj.
//
// Where omnitui differs from ROLL on purpose: ROLL's template sets linear_attention_type,
// which no released megatron-core accepts (it crashes); omnitui writes the key Megatron
// reads, experimental_attention_variant, which is what ROLL's template writes once that
// name is corrected. The release's mtp.* tensors are left out, as ROLL drops them.

import "github.com/omnitui/omnitui/core/family"

func init() { family.Register(qwen3Next()) }

func qwen3Next() *family.Template {
	keys := [][2]string{
		{"attention_bias", "add_qkv_bias"},
		{"head_dim", "kv_channels"},
		{"intermediate_size", "ffn_hidden_size"},
		{"moe_intermediate_size", "moe_ffn_hidden_size"},
		{"decoder_sparse_step", "moe_layer_freq"},
		{"num_experts", "num_moe_experts"},
		{"num_experts_per_tok", "moe_router_topk"},
		{"router_aux_loss_coef", "moe_aux_loss_coeff"},
		{"shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"},
	}
	return &family.Template{
		ModelType:   "qwen3_next",
		LayerPrefix: "model.layers.",
		MoEPrefix:   ".mlp.experts.",
		Config:      textKeys(append(keys, gdnKeys...)...),
		Constants: decoderConstants(
			family.KV{Key: "hidden_dropout", Value: "0.0"},
			family.KV{Key: "moe_router_load_balancing_type", Value: `"aux_loss"`},
			family.KV{Key: "moe_router_pre_softmax", Value: "false"},
			family.KV{Key: "qk_layernorm", Value: "true"},
			family.KV{Key: "moe_shared_expert_gate", Value: "true"},
			family.KV{Key: "layernorm_zero_centered_gamma", Value: "true"},
			family.KV{Key: "hetereogenous_dist_checkpoint", Value: "true"},
			family.KV{Key: "attention_output_gate", Value: "true"},
			family.KV{Key: "experimental_attention_variant", Value: `"gated_delta_net"`},
		),
		Rules: rules(globalRules, gatedAttnRules, []family.Rule{
			{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: mcaPreMLP},
			{Op: family.OpRename, HF: []string{".mlp.gate.weight"}, MCA: mcaRouter},
			{Op: family.OpStack, HF: []string{".gate_proj.weight", ".up_proj.weight"}, MCA: mcaExpFC1},
			{Op: family.OpRename, HF: []string{".down_proj.weight"}, MCA: mcaExpFC2},
			{Op: family.OpNextGDN, HF: []string{".linear_attn.in_proj_qkvz.weight", ".linear_attn.in_proj_ba.weight"}, MCA: mcaInProj},
		}, sharedExpertRules, gdnRules, []family.Rule{
			// ROLL's template drops the release's multi-token-prediction weights (DropConverOp)
			{Op: family.OpDrop, HF: []string{hfMTPPrefix + "{}"}, MCA: ""},
		}),
		Dist: family.MergeDist(family.DefaultDist, family.SharedMoEDist, family.GDNDist, family.TEMoEDist),
		Skip: []string{invFreq},
		Required: family.Required{
			Global: []string{"model.embed_tokens.weight", "model.norm.weight"},
			LMHead: "lm_head.weight",
			Layer:  []string{".input_layernorm.weight", ".post_attention_layernorm.weight"},
			MoE: []string{".mlp.gate.weight", ".mlp.shared_expert_gate.weight", ".mlp.shared_expert.gate_proj.weight",
				".mlp.shared_expert.up_proj.weight", ".mlp.shared_expert.down_proj.weight"},
			Expert: []string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"},
		},
		Shapes:     gdnShapes(moeShapes),
		Components: append(append([]family.ComponentRule(nil), decoderComponents...), family.ComponentRule{Prefix: hfMTPPrefix, Component: "mtp", Label: "MTP (dropped)"}),
		Extras:     decoderExtras,
		Hooks: family.Hooks{
			ReadDims:    readGDNDims("qwen3_next", ""),
			MCAConfig:   writeLayerTypes(""),
			RenameMCA:   renameGDN,
			UnrenameMCA: unrenameGDN,
		},
	}
}
