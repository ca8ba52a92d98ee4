package families

// The seed_oss template: ROLL's mcore_adapter seed_oss converter restated. Dense decoder
// with QKV biases but no output-projection bias (attention_out_bias false), head_dim mapped
// (Seed-OSS-36B: 80 × 128 ≠ 5120), no q/k norm. ROLL maps the HF key hidden_dropout to
// residual_dropout; releases name it residual_dropout, so the key is missing there, as in ROLL.

import (
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(&family.Template{
		ModelType:   "seed_oss",
		LayerPrefix: "model.layers.",
		Config: textKeys(
			[2]string{"attention_bias", "add_qkv_bias"},
			[2]string{"head_dim", "kv_channels"},
			[2]string{"intermediate_size", "ffn_hidden_size"},
			[2]string{"hidden_dropout", "residual_dropout"}),
		Constants:  decoderConstants(family.KV{Key: "qk_layernorm", Value: "false"}),
		Rules:      rules(globalRules, attnRules, []family.Rule{qkvBiasRule}, denseMLPRules),
		Dist:       family.DefaultDist,
		Skip:       []string{invFreq},
		Required:   decoderRequired(denseMLPNames, nil, nil),
		Shapes:     decoderShapes(nil),
		Components: decoderComponents,
		Extras:     decoderExtras,
		UnmappedHints: []family.UnmappedHint{{
			Contains: ".self_attn.o_proj.bias",
			Hint:     "this checkpoint has output-projection biases (self_attn.o_proj.bias, attention_out_bias true), which Seed-OSS releases do not have and the Megatron layer mcore_adapter builds cannot hold (add_bias_linear false): omnitui does not convert it. Use a checkpoint with attention_out_bias false",
		}},
		Hooks: family.Hooks{ReadDims: seedOSSDims},
	})
}

// seedOSSDims refuses attention_out_bias true with a message naming the key.
func seedOSSDims(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	if n, ok := cfg.Get("attention_out_bias"); ok && n.Kind != loader.JSONNull {
		if b, err := n.Bool(); err == nil && b {
			return []family.Issue{{Severity: family.SevError, Code: "attention-out-bias",
				Message: "config.json sets attention_out_bias true: Megatron's layer has no output-projection bias (add_bias_linear false) and ROLL's seed_oss template converts none, so omnitui does not convert it. Use a checkpoint with attention_out_bias false"}}
		}
	}
	return nil
}
