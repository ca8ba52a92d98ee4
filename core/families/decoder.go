package families

// Building blocks shared by the decoder-only text families (llama-style layers under
// "model.layers."): the config keys ROLL maps, the rules of attention and MLP, the tensor
// shapes Megatron builds, and the head_dim / attention-bias hooks. This file names no
// family; each family file picks the parts its ROLL template has.

import (
	"fmt"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// Megatron-relative names used by the decoder families.
const (
	mcaQKV      = ".self_attention.linear_qkv.weight"
	mcaQKVBias  = ".self_attention.linear_qkv.bias"
	mcaQKVNorm  = ".self_attention.linear_qkv.layer_norm_weight"
	mcaProj     = ".self_attention.linear_proj.weight"
	mcaQNorm    = ".self_attention.q_layernorm.weight"
	mcaKNorm    = ".self_attention.k_layernorm.weight"
	mcaFC1Norm  = ".mlp.linear_fc1.layer_norm_weight"
	mcaPreMLP   = ".pre_mlp_layernorm.weight"
	mcaDenseFC1 = ".mlp.linear_fc1.weight"
	mcaDenseFC2 = ".mlp.linear_fc2.weight"
	mcaRouter   = ".mlp.router.weight"
	mcaExpFC1   = ".linear_fc1.weight"
	mcaExpFC2   = ".linear_fc2.weight"
	mcaShFC1    = ".mlp.shared_experts.linear_fc1.weight"
	mcaShFC2    = ".mlp.shared_experts.linear_fc2.weight"
	mcaShGate   = ".mlp.shared_experts.gate_weight"

	hfQ = ".self_attn.q_proj.weight"
	hfK = ".self_attn.k_proj.weight"
	hfV = ".self_attn.v_proj.weight"

	invFreq = ".self_attn.rotary_emb.inv_freq" // rotary buffers older checkpoints saved: no weights
)

// textKeys are the (hf, mca) config pairs every decoder family of ROLL maps.
func textKeys(extra ...[2]string) []family.ConfigKey {
	base := [][2]string{
		{"max_position_embeddings", "max_sequence_length"},
		{"hidden_size", "hidden_size"},
		{"num_attention_heads", "num_attention_heads"},
		{"num_key_value_heads", "num_query_groups"},
		{"num_hidden_layers", "num_layers"},
		{"rms_norm_eps", "layernorm_epsilon"},
		{"vocab_size", "padded_vocab_size"},
		{"attention_dropout", "attention_dropout"},
		{"rope_theta", "rotary_base"},
		{"rope_parameters", "rope_parameters"},
		{"tie_word_embeddings", "tie_embeddings_and_output_weights"},
	}
	return family.Prefixed("", append(base, extra...)...)
}

// decoderConstants are ROLL's constant_mca_config entries shared by the decoder families;
// more are appended per family.
func decoderConstants(more ...family.KV) []family.KV {
	return append([]family.KV{
		{Key: "swiglu", Value: "true"},
		{Key: "position_embedding_type", Value: `"rope"`},
		{Key: "normalization", Value: `"RMSNorm"`},
		{Key: "add_bias_linear", Value: "false"},
		{Key: "rotary_percent", Value: "1.0"},
	}, more...)
}

// Rule sets.
var (
	globalRules = []family.Rule{
		{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
		{Op: family.OpRename, HF: []string{"model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
		{Op: family.OpRename, HF: []string{"model.norm.weight"}, MCA: family.MCAFinalNorm},
	}
	attnRules = []family.Rule{
		{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: mcaQKVNorm},
		{Op: family.OpQKV, HF: []string{hfQ, hfK, hfV}, MCA: mcaQKV},
		{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: mcaProj},
	}
	qkvBiasRule = family.Rule{Op: family.OpQKVBias, HF: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, MCA: mcaQKVBias}
	qkNormRules = []family.Rule{
		{Op: family.OpRename, HF: []string{".self_attn.q_norm.weight"}, MCA: mcaQNorm},
		{Op: family.OpRename, HF: []string{".self_attn.k_norm.weight"}, MCA: mcaKNorm},
	}
	// denseMLPRules: the MLP with its norm fused into linear_fc1 (TE layer spec).
	denseMLPRules = []family.Rule{
		{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: mcaFC1Norm},
		{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: mcaDenseFC1},
		{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: mcaDenseFC2},
	}
)

// rules concatenates rule sets.
func rules(sets ...[]family.Rule) []family.Rule {
	var out []family.Rule
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

func hiddenVec(d family.Dims) []int64 { return []int64{int64(d.Hidden)} }
func kvVec(d family.Dims) []int64     { return []int64{int64(d.KVChannels)} }

// decoderShapes are the shapes Megatron builds for the shared names (dense MLP sized by
// ffn_hidden_size); families add their MoE shapes.
func decoderShapes(more map[string]family.ShapeRule) map[string]family.ShapeRule {
	vh := func(d family.Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }
	m := map[string]family.ShapeRule{
		family.MCAEmbedding:   {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAOutputLayer: {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAFinalNorm:   {Shape: hiddenVec, From: "hidden_size"},
		mcaQKVNorm:            {Shape: hiddenVec, From: "hidden_size"},
		mcaFC1Norm:            {Shape: hiddenVec, From: "hidden_size"},
		mcaPreMLP:             {Shape: hiddenVec, From: "hidden_size"},
		mcaProj: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.Heads * d.KVChannels)} },
			From: "hidden_size × num_attention_heads·head_dim"},
		mcaQNorm: {Shape: kvVec, From: "head_dim"},
		mcaKNorm: {Shape: kvVec, From: "head_dim"},
		mcaDenseFC1: {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.FFN), int64(d.Hidden)} },
			From: "2·intermediate_size × hidden_size"},
		mcaDenseFC2: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.FFN)} },
			From: "hidden_size × intermediate_size"},
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}

// decoderComponents / decoderExtras: the Overview breakdown and chunk labels.
var (
	decoderComponents = []family.ComponentRule{
		{Prefix: "model.embed_tokens.", Component: "embedding"},
		{Prefix: "model.layers.", Component: "decoder", Label: "decoder layers"},
		{Prefix: "model.norm.", Component: "final_norm", Label: "final norm"},
		{Prefix: "lm_head.", Component: "lm_head", Label: "lm head"},
	}
	decoderExtras = []family.ComponentRule{
		{Prefix: family.MCAEmbedding, Component: "embedding"},
		{Prefix: family.MCAOutputLayer, Component: "output_layer"},
		{Prefix: family.MCAFinalNorm, Component: "final_layernorm"},
	}
)

// decoderRequired: what every decoder layer needs; families add MoE / norms.
func decoderRequired(layer []string, moe, expert []string) family.Required {
	return family.Required{
		Global: []string{"model.embed_tokens.weight", "model.norm.weight"},
		LMHead: "lm_head.weight",
		Layer:  append([]string{".input_layernorm.weight", ".post_attention_layernorm.weight", hfQ, hfK, hfV, ".self_attn.o_proj.weight"}, layer...),
		Bias:   []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"},
		MoE:    moe,
		Expert: expert,
	}
}

// denseMLPNames are the HF tensors of a dense gated MLP (relative to a layer).
var denseMLPNames = []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"}

// oProjBiasHint explains an o_proj bias, which no Megatron layer of these families holds.
var oProjBiasHint = family.UnmappedHint{
	Contains: ".self_attn.o_proj.bias",
	Hint:     "this checkpoint has output-projection biases (self_attn.o_proj.bias, attention_bias true in transformers' llama-style modeling), but the Megatron layer mcore_adapter builds has none (add_bias_linear false) and ROLL's converter stops on them; dropping them would change the model's outputs, so omnitui does not convert it. Use a checkpoint without o_proj biases",
}

// readHeadDim sets kv_channels from head_dim where the config has one (templates whose
// ROLL mapping lacks head_dim would otherwise assume hidden_size/num_attention_heads, which
// Mistral-Nemo-style configs break).
func readHeadDim(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	n, ok := cfg.Get("head_dim")
	if !ok || n.Kind == loader.JSONNull {
		return nil
	}
	v, err := n.Int()
	if err != nil || v <= 0 || v > 1<<20 {
		return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json head_dim must be a positive whole number (%v): fix config.json", n.Compact())}}
	}
	d.KVChannels = int(v)
	return nil
}

// writeHeadDim records head_dim as kv_channels in mca_config.json when config.json has it.
func writeHeadDim(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	if n, ok := cfg.Get("head_dim"); ok && n.Kind != loader.JSONNull {
		kv["kv_channels"] = string(n.Compact())
	}
	return nil
}

// refuseAttentionBias is a plan error for attention_bias true in a family whose ROLL
// template has no bias op (ROLL stops on the first q_proj.bias).
func refuseAttentionBias(modelType string) func(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	return func(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
		out := readHeadDim(cfg, d)
		if n, ok := cfg.Get("attention_bias"); ok && n.Kind != loader.JSONNull {
			if b, err := n.Bool(); err == nil && b {
				out = append(out, family.Issue{Severity: family.SevError, Code: "attention-bias",
					Message: fmt.Sprintf("config.json sets attention_bias true, but ROLL's %s template converts no attention biases (its converter stops on self_attn.q_proj.bias) and Megatron's %s layer has no output-projection bias: omnitui does not convert it. Use a checkpoint with attention_bias false, or one of a family with QKV biases (e.g. qwen2)", modelType, modelType)})
			}
		}
		return out
	}
}
