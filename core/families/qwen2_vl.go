package families

// The qwen2_vl template (and, through qwen2VLFamily, qwen2_5_vl): ROLL's mcore_adapter
// qwen2_vl converter restated. A dense Qwen2 text model with QKV bias and a vision tower
// renamed wholesale to vision_model.*.
//
// Releases have a flat config.json (transformers builds text_config from the top-level
// keys, which is what ROLL reads as text_config.*): the mapping names text_config.* and
// the ConfigPath hook reads a config without text_config at the top level.
//
// Two HF namings exist: the release's (model.layers.*, model.embed_tokens, model.norm,
// visual.*, lm_head) and that of transformers >= 4.52 (model.language_model.*,
// model.visual.*, lm_head). ROLL's template knows only the first and stops on the second;
// omnitui converts both to the same Megatron tensors (see Layouts).

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(qwen2VLFamily("qwen2_vl"))
}

// vlLayouts are the two HF namings of the Qwen VL families; the rules use the first.
// old = the original release names, new = transformers >= 4.52.
func vlLayouts(rulesNew bool) []family.HFLayout {
	pairs := [][2]string{
		{"model.layers.", "model.language_model.layers."},
		{"model.embed_tokens.", "model.language_model.embed_tokens."},
		{"model.norm.", "model.language_model.norm."},
		{"visual.", "model.visual."},
	}
	oldL := family.HFLayout{Name: "old", Help: "model.layers.*, visual.* (original releases)"}
	newL := family.HFLayout{Name: "new", Help: "model.language_model.*, model.visual.* (transformers >= 4.52)"}
	if rulesNew {
		for _, p := range pairs {
			oldL.Prefixes = append(oldL.Prefixes, [2]string{p[1], p[0]})
		}
		return []family.HFLayout{newL, oldL}
	}
	newL.Prefixes = pairs
	return []family.HFLayout{oldL, newL}
}

// vlTextKeys are the text-model config keys ROLL's VisionTemplate reads under text_config.
var vlTextKeys = [][2]string{
	{"max_position_embeddings", "max_sequence_length"},
	{"hidden_size", "hidden_size"},
	{"num_attention_heads", "num_attention_heads"},
	{"num_key_value_heads", "num_query_groups"},
	{"num_hidden_layers", "num_layers"},
	{"rms_norm_eps", "layernorm_epsilon"},
	{"vocab_size", "padded_vocab_size"},
	{"intermediate_size", "ffn_hidden_size"},
	{"attention_dropout", "attention_dropout"},
	{"rope_theta", "rotary_base"},
	{"rope_scaling", "rope_scaling"},
	{"rope_parameters", "rope_parameters"},
}

// vlTopKeys are read at the top level (token ids, the vision config, tied embeddings).
var vlTopKeys = []string{
	"tie_word_embeddings", "vision_start_token_id", "vision_end_token_id", "vision_token_id",
	"image_token_id", "video_token_id", "vision_config",
}

func vlConfig(text [][2]string) []family.ConfigKey {
	cfg := family.Prefixed("text_config.", text...)
	for _, k := range vlTopKeys {
		mca := k
		if k == "tie_word_embeddings" {
			mca = "tie_embeddings_and_output_weights"
		}
		cfg = append(cfg, family.ConfigKey{HF: k, MCA: mca})
	}
	return cfg
}

// vlTextShapes are the Megatron shapes of the attention and norms of the Qwen VL text models.
func vlTextShapes() map[string]family.ShapeRule {
	vh := func(d family.Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }
	return map[string]family.ShapeRule{
		family.MCAEmbedding:                            {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAOutputLayer:                          {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAFinalNorm:                            {Shape: hiddenVec, From: "hidden_size"},
		".self_attention.linear_qkv.layer_norm_weight": {Shape: hiddenVec, From: "hidden_size"},
		".self_attention.linear_qkv.weight": {Shape: func(d family.Dims) []int64 {
			return []int64{int64((d.Heads + 2*d.Groups) * d.KVChannels), int64(d.Hidden)}
		}, From: "(num_attention_heads + 2·num_key_value_heads)·head_dim × hidden_size"},
		".self_attention.linear_proj.weight": {Shape: func(d family.Dims) []int64 {
			return []int64{int64(d.Hidden), int64(d.Heads * d.KVChannels)}
		}, From: "hidden_size × num_attention_heads·head_dim"},
	}
}

// vlDenseShapes adds the dense MLP.
func vlDenseShapes(m map[string]family.ShapeRule) map[string]family.ShapeRule {
	m[".mlp.linear_fc1.layer_norm_weight"] = family.ShapeRule{Shape: hiddenVec, From: "hidden_size"}
	m[".mlp.linear_fc1.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.FFN), int64(d.Hidden)} }, From: "2·intermediate_size × hidden_size"}
	m[".mlp.linear_fc2.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.FFN)} }, From: "hidden_size × intermediate_size"}
	return m
}

// vlComponents break both namings down for the Overview.
func vlComponents() []family.ComponentRule {
	return []family.ComponentRule{
		{Prefix: "model.", Component: "text", Label: "language model"},
		{Prefix: "lm_head.", Component: "text", Label: "language model"},
		{Prefix: "visual.", Component: "vision", Label: "vision tower"},
		{Prefix: "model.visual.", Component: "vision", Label: "vision tower"},
	}
}

func vlExtras() []family.ComponentRule {
	return []family.ComponentRule{
		{Prefix: family.MCAEmbedding, Component: "embedding"}, {Prefix: "vision_model.", Component: "vision"},
		{Prefix: family.MCAOutputLayer, Component: "output_layer"},
		{Prefix: family.MCAFinalNorm, Component: "final_layernorm"},
	}
}

// vlDist is ROLL's registration for the VL families: the default rules plus the vision
// tower on the first stage, whole on every TP rank.
var vlDist = family.DistRules{
	PreProcess: []string{"vision_model.*"},
	Duplicated: []string{"vision_model.*"},
}

func qwen2VLFamily(modelType string) *family.Template {
	return &family.Template{
		ModelType:   modelType,
		LayerPrefix: "model.layers.",
		Config:      vlConfig(vlTextKeys),
		Constants: []family.KV{
			{Key: "swiglu", Value: "true"},
			{Key: "position_embedding_type", Value: `"mrope"`},
			{Key: "normalization", Value: `"RMSNorm"`},
			{Key: "add_bias_linear", Value: "false"},
			{Key: "add_qkv_bias", Value: "true"},
			{Key: "hidden_dropout", Value: "0.0"},
			{Key: "rotary_percent", Value: "1.0"},
		},
		Rules: []family.Rule{
			{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{"model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".self_attention.linear_qkv.layer_norm_weight"},
			{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
			{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".mlp.linear_fc1.layer_norm_weight"},
			{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: ".mlp.linear_fc2.weight"},
			{Op: family.OpRename, HF: []string{"model.norm.weight"}, MCA: family.MCAFinalNorm},
			{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: ".mlp.linear_fc1.weight"},
			{Op: family.OpQKV, HF: []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, MCA: ".self_attention.linear_qkv.weight"},
			{Op: family.OpQKVBias, HF: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, MCA: ".self_attention.linear_qkv.bias"},
			{Op: family.OpRename, HF: []string{"visual.{}"}, MCA: "vision_model.{}"},
		},
		Dist:   family.MergeDist(family.DefaultDist, vlDist),
		Skip:   []string{"rotary_emb.inv_freq"},
		Shapes: vlDenseShapes(vlTextShapes()),
		Required: family.Required{
			Global: []string{"model.embed_tokens.weight", "model.norm.weight"},
			LMHead: "lm_head.weight",
			Layer: []string{".input_layernorm.weight", ".post_attention_layernorm.weight",
				".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
				".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias",
				".self_attn.o_proj.weight", ".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"},
		},
		Components: vlComponents(),
		Extras:     vlExtras(),
		Layouts:    vlLayouts(false),
		Hooks:      family.Hooks{ConfigPath: family.FlatFallback("text_config.")},
	}
}
