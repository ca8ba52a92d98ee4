package families

// The qwen3 template: ROLL's mcore_adapter qwen3 converter restated. Dense decoder with
// q/k RMSNorm (qk_layernorm), head_dim mapped to kv_channels (Qwen3-8B: 32 × 128 ≠ 4096),
// optional QKV biases (attention_bias).

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(&family.Template{
		ModelType:   "qwen3",
		LayerPrefix: "model.layers.",
		Config: textKeys(
			[2]string{"attention_bias", "add_qkv_bias"},
			[2]string{"head_dim", "kv_channels"},
			[2]string{"intermediate_size", "ffn_hidden_size"}),
		Constants: decoderConstants(
			family.KV{Key: "hidden_dropout", Value: "0.0"},
			family.KV{Key: "qk_layernorm", Value: "true"}),
		Rules:         rules(globalRules, attnRules, qkNormRules, []family.Rule{qkvBiasRule}, denseMLPRules),
		Dist:          family.DefaultDist,
		Skip:          []string{invFreq},
		Required:      decoderRequired(append([]string{".self_attn.q_norm.weight", ".self_attn.k_norm.weight"}, denseMLPNames...), nil, nil),
		Shapes:        decoderShapes(nil),
		Components:    decoderComponents,
		Extras:        decoderExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
	})
}
