package families

// The qwen2 template: ROLL's mcore_adapter qwen2 converter restated. Dense decoder whose
// attention always has QKV biases (add_qkv_bias is a constant, not a config key) and no
// head_dim key (kv_channels = hidden_size / num_attention_heads).

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(&family.Template{
		ModelType:   "qwen2",
		LayerPrefix: "model.layers.",
		Config:      textKeys([2]string{"intermediate_size", "ffn_hidden_size"}),
		Constants: decoderConstants(
			family.KV{Key: "add_qkv_bias", Value: "true"},
			family.KV{Key: "hidden_dropout", Value: "0.0"}),
		Rules:         rules(globalRules, attnRules, []family.Rule{qkvBiasRule}, denseMLPRules),
		Dist:          family.DefaultDist,
		Skip:          []string{invFreq},
		Required:      decoderRequired(denseMLPNames, nil, nil),
		Shapes:        decoderShapes(nil),
		Components:    decoderComponents,
		Extras:        decoderExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
	})
}
