package core

// The qwen3_omni_moe template: the semantics of ROLL's mcore_adapter qwen3_omni converter,
// restated (see ../shared/docs/mcore-conversion.md for the contract).

func init() {
	Register(qwen3OmniMoe())
}

func qwen3OmniMoe() *Template {
	// Text-model keys live under thinker_config.text_config.
	text := []ConfigKey{
		{"max_position_embeddings", "max_sequence_length"},
		{"hidden_size", "hidden_size"},
		{"attention_bias", "add_qkv_bias"},
		{"head_dim", "kv_channels"},
		{"num_attention_heads", "num_attention_heads"},
		{"num_key_value_heads", "num_query_groups"},
		{"num_hidden_layers", "num_layers"},
		{"rms_norm_eps", "layernorm_epsilon"},
		{"vocab_size", "padded_vocab_size"},
		{"attention_dropout", "attention_dropout"},
		{"rope_theta", "rotary_base"},
		{"rope_scaling", "rope_scaling"},
		{"rope_parameters", "rope_parameters"},
		{"intermediate_size", "ffn_hidden_size"},
		{"tie_word_embeddings", "tie_embeddings_and_output_weights"},
		{"moe_intermediate_size", "moe_ffn_hidden_size"},
		{"decoder_sparse_step", "moe_layer_freq"},
		{"num_experts", "num_moe_experts"},
		{"num_experts_per_tok", "moe_router_topk"},
		{"router_aux_loss_coef", "moe_aux_loss_coeff"},
	}
	// Keys under thinker_config (token ids and encoder configs).
	thinker := []string{
		"audio_token_id", "audio_start_token_id", "image_token_id", "video_token_id",
		"vision_start_token_id", "position_id_per_seconds", "vision_config", "audio_config",
	}
	// Top-level keys.
	top := []string{"enable_audio_output", "talker_config", "code2wav_config"}

	var cfg []ConfigKey
	for _, k := range text {
		cfg = append(cfg, ConfigKey{HF: "thinker_config.text_config." + k.HF, MCA: k.MCA})
	}
	for _, k := range thinker {
		cfg = append(cfg, ConfigKey{HF: "thinker_config." + k, MCA: k})
	}
	for _, k := range top {
		cfg = append(cfg, ConfigKey{HF: k, MCA: k})
	}

	return &Template{
		// The released config.json has rope_scaling; transformers ≥ 5 saves rope_parameters.
		ConfigAlternatives: [][]string{{"thinker_config.text_config.rope_scaling", "thinker_config.text_config.rope_parameters"}},
		ModelType:          "qwen3_omni_moe",
		LayerPrefix:        "thinker.model.layers.",
		MoEPrefix:          ".mlp.experts.",
		Config:             cfg,
		Constants: []KV{
			{"swiglu", "true"},
			{"position_embedding_type", `"mrope"`},
			{"normalization", `"RMSNorm"`},
			{"add_bias_linear", "false"},
			{"hidden_dropout", "0.0"},
			{"rotary_percent", "1.0"},
			{"moe_router_load_balancing_type", `"aux_loss"`},
			{"moe_router_pre_softmax", "false"},
			{"qk_layernorm", "true"},
		},
		Rules: []Rule{
			{OpRename, []string{"thinker.model.embed_tokens.weight"}, MCAEmbedding},
			{OpRename, []string{"thinker.model.norm.weight"}, "decoder.final_layernorm.weight"},
			{OpRename, []string{"thinker.lm_head.weight"}, MCAOutputLayer},
			{OpRename, []string{".input_layernorm.weight"}, ".self_attention.linear_qkv.layer_norm_weight"},
			{OpQKV, []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, ".self_attention.linear_qkv.weight"},
			{OpQKVBias, []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, ".self_attention.linear_qkv.bias"},
			{OpRename, []string{".self_attn.o_proj.weight"}, ".self_attention.linear_proj.weight"},
			{OpRename, []string{".self_attn.q_norm.weight"}, ".self_attention.q_layernorm.weight"},
			{OpRename, []string{".self_attn.k_norm.weight"}, ".self_attention.k_layernorm.weight"},
			{OpRename, []string{".post_attention_layernorm.weight"}, ".pre_mlp_layernorm.weight"},
			{OpRename, []string{".mlp.gate.weight"}, ".mlp.router.weight"},
			{OpStack, []string{".gate_proj.weight", ".up_proj.weight"}, ".linear_fc1.weight"},
			{OpRename, []string{".down_proj.weight"}, ".linear_fc2.weight"},
			{OpRename, []string{"thinker.visual.{}"}, "vision_model.{}"},
			{OpRename, []string{"thinker.audio_tower.{}"}, "audio_model.{}"},
			{OpRename, []string{"talker.{}"}, "talker.{}"},
			{OpRename, []string{"code2wav.{}"}, "code2wav.{}"},
		},
		Dist: DistRules{
			PreProcess:  []string{MCAEmbedding, "vision_model.*", "audio_model.*"},
			PostProcess: []string{MCAOutputLayer, "decoder.final_layernorm.weight", "talker.*", "code2wav.*"},
			Duplicated: []string{
				".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
				"decoder.final_layernorm.weight", ".mlp.router.weight", ".pre_mlp_layernorm.weight",
				".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
				".mlp.shared_experts.gate_weight",
				"vision_model.*", "audio_model.*", "talker.*", "code2wav.*",
			},
			Column: []string{MCAEmbedding, MCAOutputLayer, ".self_attention.linear_qkv.weight", ".mlp.linear_fc1.weight", ".linear_fc1.weight"},
			Row:    []string{".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight", ".mlp.shared_experts.linear_fc2.weight"},
			SwiGLU: []string{".mlp.linear_fc1.weight", ".linear_fc1.weight", ".mlp.shared_experts.linear_fc1.weight"},
			GroupedLegacy: map[string]string{
				".linear_fc1.weight": ".mlp.experts.weight1",
				".linear_fc2.weight": ".mlp.experts.weight2",
			},
			GroupedTE: map[string]string{
				".linear_fc1.weight": ".mlp.experts.linear_fc1.weight",
				".linear_fc2.weight": ".mlp.experts.linear_fc2.weight",
			},
			TEToLocal: map[string]string{
				".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
				".mlp.linear_fc1.layer_norm_weight":            ".pre_mlp_layernorm.weight",
				".pre_mlp_layernorm.weight":                    ".pre_mlp_layernorm.weight",
			},
		},
		DeepstackKey:        "thinker_config.vision_config.deepstack_visual_indexes",
		AudioOutputKey:      "enable_audio_output",
		AudioOutputPrefixes: []string{"talker.", "code2wav."},
		Shapes: map[string]ShapeRule{
			MCAEmbedding:                     {func(d Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }, "vocab_size × hidden_size"},
			MCAOutputLayer:                   {func(d Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }, "vocab_size × hidden_size"},
			"decoder.final_layernorm.weight": {hiddenVec, "hidden_size"},
			".self_attention.linear_qkv.layer_norm_weight": {hiddenVec, "hidden_size"},
			".pre_mlp_layernorm.weight":                    {hiddenVec, "hidden_size"},
			".self_attention.linear_proj.weight": {func(d Dims) []int64 {
				return []int64{int64(d.Hidden), int64(d.Heads * d.KVChannels)}
			}, "hidden_size × num_attention_heads·head_dim"},
			".self_attention.q_layernorm.weight": {kvVec, "head_dim"},
			".self_attention.k_layernorm.weight": {kvVec, "head_dim"},
			".mlp.router.weight":                 {func(d Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, "num_experts × hidden_size"},
			".linear_fc1.weight":                 {func(d Dims) []int64 { return []int64{2 * int64(d.MoEFFN), int64(d.Hidden)} }, "2·moe_intermediate_size × hidden_size"},
			".linear_fc2.weight":                 {func(d Dims) []int64 { return []int64{int64(d.Hidden), int64(d.MoEFFN)} }, "hidden_size × moe_intermediate_size"},
		},
		Extras: []ComponentRule{
			{MCAEmbedding, "embedding"}, {"vision_model.", "vision"}, {"audio_model.", "audio"},
			{MCAOutputLayer, "output_layer"}, {"decoder.final_layernorm.", "final_layernorm"},
			{"talker.", "talker"}, {"code2wav.", "code2wav"},
		},
		UnmappedHints: []UnmappedHint{{
			Contains: ".mlp.experts.gate_up_proj",
			Hint:     "this checkpoint stores experts fused (mlp.experts.gate_up_proj / down_proj), the transformers >= 5 runtime layout written by save_pretrained(save_original_format=False); ROLL's converter reads the per-expert layout of the published release. Re-save it with transformers' default save_pretrained (original format) and convert that",
		}},
		Required: Required{
			Global: []string{"thinker.model.embed_tokens.weight", "thinker.model.norm.weight"},
			LMHead: "thinker.lm_head.weight",
			Layer: []string{".input_layernorm.weight", ".post_attention_layernorm.weight",
				".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
				".self_attn.o_proj.weight", ".self_attn.q_norm.weight", ".self_attn.k_norm.weight"},
			Bias:   []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"},
			MoE:    []string{".mlp.gate.weight"},
			Expert: []string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"},
		},
		Components: []ComponentRule{
			{"thinker.visual.", "vision"},
			{"thinker.audio_tower.", "audio"},
			{"thinker.", "thinker_text"},
			{"talker.", "talker"},
			{"code2wav.", "code2wav"},
		},
	}
}

func hiddenVec(d Dims) []int64 { return []int64{int64(d.Hidden)} }
func kvVec(d Dims) []int64     { return []int64{int64(d.KVChannels)} }
