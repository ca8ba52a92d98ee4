package families

// The llama template: ROLL's mcore_adapter llama converter restated (see
// ../../shared/docs/mcore-conversion.md). Dense decoder; ROLL maps no head_dim and has no
// QKV-bias op. omnitui differs deliberately in two places (docs/families/llama.md):
// head_dim, when config.json has it, becomes kv_channels (ROLL's checkpoint would assume
// hidden/heads), and attention_bias true is a plan error (ROLL crashes on the biases).

import "github.com/omnitui/omnitui/core/family"

func init() { family.Register(llamaTemplate("llama")) }

// llamaTemplate is llama's template; mistral's ROLL template is the same but for the
// missing rope_scaling key.
func llamaTemplate(modelType string) *family.Template {
	keys := [][2]string{{"intermediate_size", "ffn_hidden_size"}, {"attention_bias", "add_qkv_bias"}}
	if modelType == "llama" {
		keys = append(keys, [2]string{"rope_scaling", "rope_scaling"})
	}
	return &family.Template{
		ModelType:     modelType,
		LayerPrefix:   "model.layers.",
		Config:        textKeys(keys...),
		Constants:     decoderConstants(family.KV{Key: "hidden_dropout", Value: "0.0"}),
		Rules:         rules(globalRules, attnRules, denseMLPRules),
		Dist:          family.DefaultDist,
		Skip:          []string{invFreq},
		Required:      decoderRequired(denseMLPNames, nil, nil),
		Shapes:        decoderShapes(nil),
		Components:    decoderComponents,
		Extras:        decoderExtras,
		UnmappedHints: []family.UnmappedHint{oProjBiasHint},
		Hooks:         family.Hooks{ReadDims: refuseAttentionBias(modelType), MCAConfig: writeHeadDim},
	}
}
