package families

// The glm4_moe template (GLM-4.5, GLM-4.5-Air): the semantics of ROLL's mcore_adapter
// glm4_moe converter, restated (see docs/families/glm4_moe.md): fused QKV with bias,
// head_dim·heads ≠ hidden, partial rotary, dense first layers, shared experts, the router's
// expert bias and the MTP layer. Beyond ROLL: GLM-4.5's q/k norms (use_qk_norm), on which
// ROLL crashes. The dense-layer and MTP parts are deepseek_v3's (deepseek_v3.go).

import (
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(glm4Moe())
}

func glm4Moe() *family.Template {
	return &family.Template{
		ModelType:     "glm4_moe",
		Architectures: []string{"Glm4MoeForCausalLM"},
		LayerPrefix:   "model.layers.",
		MoEPrefix:     ".mlp.experts.",
		Config: family.Prefixed("",
			[2]string{"max_position_embeddings", "max_sequence_length"},
			[2]string{"hidden_size", "hidden_size"},
			[2]string{"attention_bias", "add_qkv_bias"},
			[2]string{"head_dim", "kv_channels"},
			[2]string{"num_attention_heads", "num_attention_heads"},
			[2]string{"num_key_value_heads", "num_query_groups"},
			[2]string{"num_hidden_layers", "num_layers"},
			[2]string{"rms_norm_eps", "layernorm_epsilon"},
			[2]string{"vocab_size", "padded_vocab_size"},
			[2]string{"attention_dropout", "attention_dropout"},
			[2]string{"rope_theta", "rotary_base"},
			[2]string{"rope_parameters", "rope_parameters"},
			[2]string{"intermediate_size", "ffn_hidden_size"},
			[2]string{"tie_word_embeddings", "tie_embeddings_and_output_weights"},
			[2]string{"moe_intermediate_size", "moe_ffn_hidden_size"},
			[2]string{"decoder_sparse_step", "moe_layer_freq"},
			[2]string{"n_routed_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"num_nextn_predict_layers", "mtp_num_layers"},
		),
		Constants: []family.KV{
			{Key: "swiglu", Value: "true"},
			{Key: "position_embedding_type", Value: `"rope"`},
			{Key: "normalization", Value: `"RMSNorm"`},
			{Key: "add_bias_linear", Value: "false"},
			{Key: "hidden_dropout", Value: "0.0"},
			{Key: "rotary_percent", Value: "0.5"},
			{Key: "moe_router_load_balancing_type", Value: `"seq_aux_loss"`},
			{Key: "moe_router_pre_softmax", Value: "false"},
			{Key: "qk_layernorm", Value: "false"},
			{Key: "moe_router_enable_expert_bias", Value: "true"},
			{Key: "moe_router_score_function", Value: `"sigmoid"`},
			{Key: "mtp_loss_scaling_factor", Value: "0.3"},
		},
		Rules: append([]family.Rule{
			{Op: family.OpRename, HF: []string{"model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{"model.norm.weight"}, MCA: family.MCAFinalNorm},
			{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".self_attention.linear_qkv.layer_norm_weight"},
			{Op: family.OpQKV, HF: []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, MCA: ".self_attention.linear_qkv.weight"},
			{Op: family.OpQKVBias, HF: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, MCA: ".self_attention.linear_qkv.bias"},
			{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
			// GLM-4.5 (use_qk_norm: true); not in ROLL's template, which crashes on them
			{Op: family.OpRename, HF: []string{".self_attn.q_norm.weight"}, MCA: ".self_attention.q_layernorm.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.k_norm.weight"}, MCA: ".self_attention.k_layernorm.weight"},
		}, dsMoeRules()...),
		Dist: family.MergeDist(family.DefaultDist, family.MTPDist, family.DistRules{
			Duplicated: []string{".mlp.router.expert_bias"},
			Row:        []string{".self_attention.linear_proj.weight", ".mlp.shared_experts.linear_fc2.weight", ".linear_fc2.weight", ".mlp.linear_fc2.weight"},
			SwiGLU:     []string{".mlp.shared_experts.linear_fc1.weight", ".linear_fc1.weight", ".mlp.linear_fc1.weight"},
		}, family.TEMoEDist),
		Skip: []string{".self_attn.rotary_emb.inv_freq"},
		Required: func() family.Required {
			r := dsMoeRequired([]string{".input_layernorm.weight", ".post_attention_layernorm.weight",
				".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight", ".self_attn.o_proj.weight"})
			r.Bias = []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}
			return r
		}(),
		Shapes: func() map[string]family.ShapeRule {
			m := dsMoeShapes()
			m[".self_attention.linear_qkv.layer_norm_weight"] = family.ShapeRule{Shape: hiddenVec, From: "hidden_size"}
			m[".self_attention.linear_proj.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 {
				return []int64{int64(d.Hidden), int64(d.Heads * d.KVChannels)}
			}, From: "hidden_size × num_attention_heads·head_dim"}
			m[".self_attention.q_layernorm.weight"] = family.ShapeRule{Shape: kvVec, From: "head_dim"}
			m[".self_attention.k_layernorm.weight"] = family.ShapeRule{Shape: kvVec, From: "head_dim"}
			return m
		}(),
		Components: []family.ComponentRule{
			{Prefix: "model.", Component: "text", Label: "decoder"},
			{Prefix: "lm_head.", Component: "lm_head"},
		},
		Extras:  dsMoeExtras(),
		OptOuts: []family.OptOut{dsMtpOptOut()},
		MTP:     dsMtpSpec(),
		Hooks: family.Hooks{
			ReadDims:    dsDenseDims,
			MCAConfig:   glmMCAConfig,
			RenameMCA:   dsDenseRename,
			UnrenameMCA: dsDenseUnrename,
			MoELayer:    dsIsMoELayer,
		},
	}
}

// glmMCAConfig computes ROLL's derived glm4_moe keys: rotary_percent from
// partial_rotary_factor (rope_parameters' wins), the router scaling factor, the shared-expert
// width and moe_layer_freq; plus qk_layernorm from use_qk_norm (omnitui's addition: GLM-4.5
// has q/k norms, which ROLL's template does not convert).
func glmMCAConfig(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	prf := ""
	if n, ok := cfg.Get("partial_rotary_factor"); ok && n.Kind != loader.JSONNull {
		prf = string(n.Compact())
	}
	if rp, ok := cfg.Get("rope_parameters"); ok && rp.Kind == loader.JSONObject {
		if n, ok := rp.Get("partial_rotary_factor"); ok {
			prf = string(n.Compact())
		}
	}
	if prf != "" && prf != "null" {
		kv["rotary_percent"] = prf
	}
	if n, ok := cfg.Get("routed_scaling_factor"); ok && n.Kind != loader.JSONNull {
		kv["moe_router_topk_scaling_factor"] = string(n.Compact())
	}
	if n, ok := cfg.Get("use_qk_norm"); ok && dsTruthy(n) {
		kv["qk_layernorm"] = "true"
	}
	return dsMoeMCAConfig(cfg, kv)
}
