package families

// The qwen3_omni_moe template: the semantics of ROLL's mcore_adapter qwen3_omni converter,
// restated (see ../../shared/docs/mcore-conversion.md for the contract). Everything that is
// Qwen3-Omni's own lives here: the thinker/talker/code2wav layout, the vision deepstack rule
// and the optional audio output.

import (
	"fmt"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(qwen3OmniMoe())
}

// Qwen3-Omni's own dims, opt-outs and config paths.
const (
	omniDeepstack       = "deepstack_layers"    // len(vision_config.deepstack_visual_indexes)
	omniAudioOut        = "enable_audio_output" // whether talker and code2wav exist
	omniDeepstackKey    = "thinker_config.vision_config.deepstack_visual_indexes"
	omniAudioOutKey     = "enable_audio_output"
	omniDropAudio       = "drop_audio_output"
	omniIgnoreDeepstack = "ignore_deepstack"
)

func qwen3OmniMoe() *family.Template {
	// Text-model keys live under thinker_config.text_config.
	text := [][2]string{
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

	var cfg []family.ConfigKey
	cfg = append(cfg, family.Prefixed("thinker_config.text_config.", text...)...)
	for _, k := range thinker {
		cfg = append(cfg, family.ConfigKey{HF: "thinker_config." + k, MCA: k})
	}
	for _, k := range top {
		cfg = append(cfg, family.ConfigKey{HF: k, MCA: k})
	}

	return &family.Template{
		ModelType:   "qwen3_omni_moe",
		LayerPrefix: "thinker.model.layers.",
		MoEPrefix:   ".mlp.experts.",
		Config:      cfg,
		Constants: []family.KV{
			{Key: "swiglu", Value: "true"},
			{Key: "position_embedding_type", Value: `"mrope"`},
			{Key: "normalization", Value: `"RMSNorm"`},
			{Key: "add_bias_linear", Value: "false"},
			{Key: "hidden_dropout", Value: "0.0"},
			{Key: "rotary_percent", Value: "1.0"},
			{Key: "moe_router_load_balancing_type", Value: `"aux_loss"`},
			{Key: "moe_router_pre_softmax", Value: "false"},
			{Key: "qk_layernorm", Value: "true"},
		},
		Rules: []family.Rule{
			{Op: family.OpRename, HF: []string{"thinker.model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{"thinker.model.norm.weight"}, MCA: "decoder.final_layernorm.weight"},
			{Op: family.OpRename, HF: []string{"thinker.lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".self_attention.linear_qkv.layer_norm_weight"},
			{Op: family.OpQKV, HF: []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, MCA: ".self_attention.linear_qkv.weight"},
			{Op: family.OpQKVBias, HF: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, MCA: ".self_attention.linear_qkv.bias"},
			{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.q_norm.weight"}, MCA: ".self_attention.q_layernorm.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.k_norm.weight"}, MCA: ".self_attention.k_layernorm.weight"},
			{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".pre_mlp_layernorm.weight"},
			{Op: family.OpRename, HF: []string{".mlp.gate.weight"}, MCA: ".mlp.router.weight"},
			{Op: family.OpStack, HF: []string{".gate_proj.weight", ".up_proj.weight"}, MCA: ".linear_fc1.weight"},
			{Op: family.OpRename, HF: []string{".down_proj.weight"}, MCA: ".linear_fc2.weight"},
			{Op: family.OpRename, HF: []string{"thinker.visual.{}"}, MCA: "vision_model.{}"},
			{Op: family.OpRename, HF: []string{"thinker.audio_tower.{}"}, MCA: "audio_model.{}"},
			{Op: family.OpRename, HF: []string{"talker.{}"}, MCA: "talker.{}"},
			{Op: family.OpRename, HF: []string{"code2wav.{}"}, MCA: "code2wav.{}"},
		},
		Dist: family.MergeDist(family.DefaultDist, family.SharedMoEDist, family.TEMoEDist, family.DistRules{
			PreProcess:  []string{"vision_model.*", "audio_model.*"},
			PostProcess: []string{"talker.*", "code2wav.*"},
			Duplicated:  []string{"vision_model.*", "audio_model.*", "talker.*", "code2wav.*"},
		}),
		Shapes: map[string]family.ShapeRule{
			family.MCAEmbedding:                            {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }, From: "vocab_size × hidden_size"},
			family.MCAOutputLayer:                          {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }, From: "vocab_size × hidden_size"},
			"decoder.final_layernorm.weight":               {Shape: hiddenVec, From: "hidden_size"},
			".self_attention.linear_qkv.layer_norm_weight": {Shape: hiddenVec, From: "hidden_size"},
			".pre_mlp_layernorm.weight":                    {Shape: hiddenVec, From: "hidden_size"},
			".self_attention.linear_proj.weight": {Shape: func(d family.Dims) []int64 {
				return []int64{int64(d.Hidden), int64(d.Heads * d.KVChannels)}
			}, From: "hidden_size × num_attention_heads·head_dim"},
			".self_attention.q_layernorm.weight": {Shape: kvVec, From: "head_dim"},
			".self_attention.k_layernorm.weight": {Shape: kvVec, From: "head_dim"},
			".mlp.router.weight":                 {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, From: "num_experts × hidden_size"},
			".linear_fc1.weight":                 {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.MoEFFN), int64(d.Hidden)} }, From: "2·moe_intermediate_size × hidden_size"},
			".linear_fc2.weight":                 {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.MoEFFN)} }, From: "hidden_size × moe_intermediate_size"},
		},
		Extras: []family.ComponentRule{
			{Prefix: family.MCAEmbedding, Component: "embedding"}, {Prefix: "vision_model.", Component: "vision"},
			{Prefix: "audio_model.", Component: "audio"}, {Prefix: family.MCAOutputLayer, Component: "output_layer"},
			{Prefix: "decoder.final_layernorm.", Component: "final_layernorm"},
			{Prefix: "talker.", Component: "talker"}, {Prefix: "code2wav.", Component: "code2wav"},
		},
		UnmappedHints: []family.UnmappedHint{{
			Contains: ".mlp.experts.gate_up_proj",
			Hint:     "this checkpoint stores experts fused (mlp.experts.gate_up_proj / down_proj), the transformers >= 5 runtime layout written by save_pretrained(save_original_format=False); ROLL's converter reads the per-expert layout of the published release. Re-save it with transformers' default save_pretrained (original format) and convert that",
		}},
		Required: family.Required{
			Global: []string{"thinker.model.embed_tokens.weight", "thinker.model.norm.weight"},
			LMHead: "thinker.lm_head.weight",
			Layer: []string{".input_layernorm.weight", ".post_attention_layernorm.weight",
				".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
				".self_attn.o_proj.weight", ".self_attn.q_norm.weight", ".self_attn.k_norm.weight"},
			Bias:   []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"},
			MoE:    []string{".mlp.gate.weight"},
			Expert: []string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"},
		},
		Components: []family.ComponentRule{
			{Prefix: "thinker.", Component: "thinker_text", Label: "thinker text"},
			{Prefix: "thinker.visual.", Component: "vision"},
			{Prefix: "thinker.audio_tower.", Component: "audio"},
			{Prefix: "talker.", Component: "talker"},
			{Prefix: "code2wav.", Component: "code2wav"},
		},
		OptOuts: []family.OptOut{
			{Name: omniDropAudio, Flag: "drop-audio-output", Label: "drop audio output",
				Help:  "leave out talker/code2wav when enable_audio_output is false",
				Codes: []string{"audio-output-disabled", "audio-output-dropped"}},
			{Name: omniIgnoreDeepstack, Flag: "ignore-deepstack", Label: "ignore deepstack",
				Help:         "allow a first stage with fewer layers than vision deepstack needs",
				Codes:        []string{"deepstack-first-stage"},
				FixElsewhere: map[string]string{"deepstack-first-stage": "pp"},
				Reverse:      true},
		},
		Optional: []family.Optional{{
			Prefixes:  []string{"talker.", "code2wav."},
			Present:   func(d family.Dims) bool { return d.ExtraBool(omniAudioOut, true) },
			OptOut:    omniDropAudio,
			ErrorCode: "audio-output-disabled",
			ErrorMsg:  "config.json sets enable_audio_output to false, so mcore_adapter builds no talker/code2wav and its loader would reject these weights (ROLL writes them anyway): pass --drop-audio-output to leave them out, or set enable_audio_output to true",
			DropCode:  "audio-output-dropped",
			DropMsg:   "enable_audio_output is false: talker/code2wav weights are left out (--drop-audio-output)",
		}},
		Hooks: family.Hooks{ReadDims: omniDims, CheckStages: omniStages},
	}
}

// omniDims reads enable_audio_output and the number of deepstack layers.
func omniDims(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	var out []family.Issue
	audio := true
	if n, found := cfg.Get(omniAudioOutKey); found && n.Kind != loader.JSONNull {
		v, err := n.Bool()
		if err != nil {
			out = append(out, family.Issue{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json %s: %v: it must be true or false", omniAudioOutKey, err)})
		} else {
			audio = v
		}
	}
	d.SetExtra(omniAudioOut, audio)
	deep := 0
	if n, found := cfg.Get(omniDeepstackKey); found && n.Kind != loader.JSONNull {
		if n.Kind != loader.JSONArray {
			out = append(out, family.Issue{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json %s must be a list of layer indexes, found %s", omniDeepstackKey, n.KindName())})
		} else {
			deep = len(n.Children)
		}
	}
	d.SetExtra(omniDeepstack, deep)
	return out
}

// omniStages: vision deepstack feeds the first decoder layers, so the first stage must hold them.
func omniStages(d family.Dims, st []family.Stage, optOut func(string) bool) []family.Issue {
	need := d.ExtraInt(omniDeepstack)
	if need <= 0 || len(st) == 0 {
		return nil
	}
	first := st[0]
	for _, x := range st {
		if x.PP == 0 && x.VP == 0 {
			first = x
		}
	}
	if first.Count >= need {
		return nil
	}
	msg := fmt.Sprintf("the first pipeline stage holds %d decoder layer(s) but vision deepstack feeds %d (len of vision_config.deepstack_visual_indexes): Qwen3-Omni's model build rejects this and ROLL's converter does not check it. Give the first stage at least %d layers (fewer PP/VPP stages or a --layout), or pass --ignore-deepstack", first.Count, need, need)
	if optOut(omniIgnoreDeepstack) {
		return []family.Issue{{Severity: family.SevWarning, Code: "deepstack-first-stage", Message: msg}}
	}
	return []family.Issue{{Severity: family.SevError, Code: "deepstack-first-stage", Message: msg, OptOut: "--ignore-deepstack"}}
}
