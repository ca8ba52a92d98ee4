package families

// The qwen3_5 template: ROLL's mcore_adapter qwen3_5 converter restated (see
// ../../shared/docs/mcore-conversion.md and docs/families/qwen3_5.md). Qwen3.5 is a
// vision-language model: its text model (model.language_model.*) is a hybrid of gated
// attention and gated delta net layers with a dense MLP, its config nests the text keys
// under text_config (token ids, vision_config and tie_word_embeddings stay on top), the
// vision tower (model.visual.*) is renamed wholesale, and the release's MTP block (mtp.*)
// is converted onto the last pipeline stage under mtp.layers.0.

import (
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() { family.Register(qwen3_5Template("qwen3_5", false)) }

// qwen35Config is ROLL's config mapping for qwen3_5 (moe adds the expert keys): text keys
// under text_config, the rest on top.
func qwen35Config(moe bool) []family.ConfigKey {
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
		{"intermediate_size", "ffn_hidden_size"},
	}
	if moe {
		text = append(text,
			[2]string{"moe_intermediate_size", "moe_ffn_hidden_size"},
			[2]string{"decoder_sparse_step", "moe_layer_freq"},
			[2]string{"num_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"router_aux_loss_coef", "moe_aux_loss_coeff"},
			[2]string{"shared_expert_intermediate_size", "moe_shared_expert_intermediate_size"},
		)
	}
	text = append(text, [2]string{"rope_parameters", "rope_parameters"})
	text = append(text, gdnKeys...)
	text = append(text, [2]string{"mtp_num_hidden_layers", "mtp_num_layers"})
	out := family.Prefixed("text_config.", text...)
	for _, k := range []string{"tie_word_embeddings", "vision_start_token_id", "vision_end_token_id", "vision_token_id", "image_token_id", "video_token_id", "vision_config"} {
		mca := k
		if k == "tie_word_embeddings" {
			mca = "tie_embeddings_and_output_weights"
		}
		out = append(out, family.ConfigKey{HF: k, MCA: mca})
	}
	return out
}

// qwen35Constants are ROLL's constant_mca_config of qwen3_5 (moe adds the router's).
func qwen35Constants(moe bool) []family.KV {
	kv := []family.KV{
		{Key: "swiglu", Value: "true"},
		{Key: "position_embedding_type", Value: `"mrope"`},
		{Key: "normalization", Value: `"RMSNorm"`},
		{Key: "add_bias_linear", Value: "false"},
		{Key: "hidden_dropout", Value: "0.0"},
		{Key: "qk_layernorm", Value: "true"},
		{Key: "layernorm_zero_centered_gamma", Value: "true"},
		{Key: "hetereogenous_dist_checkpoint", Value: "true"},
		{Key: "attention_output_gate", Value: "true"},
		{Key: "experimental_attention_variant", Value: `"gated_delta_net"`},
		{Key: "mtp_loss_scaling_factor", Value: "0.3"},
	}
	if moe {
		kv = append(kv,
			family.KV{Key: "moe_router_load_balancing_type", Value: `"aux_loss"`},
			family.KV{Key: "moe_router_pre_softmax", Value: "false"},
			family.KV{Key: "moe_shared_expert_gate", Value: "true"},
		)
	}
	return kv
}

const (
	qwen35Layers = "model.language_model.layers."
	qwen35MTPKey = "text_config.mtp_num_hidden_layers"
)

// qwen3_5Template builds qwen3_5 (dense MLP) or, with moe, the shared parts of qwen3_5_moe
// (whose file adds the expert rules).
func qwen3_5Template(modelType string, moe bool) *family.Template {
	qwen35GDN := family.Rule{Op: family.OpQwen35GDN, HF: []string{".linear_attn.in_proj_qkv.weight", ".linear_attn.in_proj_z.weight",
		".linear_attn.in_proj_b.weight", ".linear_attn.in_proj_a.weight"}, MCA: mcaInProj}
	var mlp []family.Rule
	dist := family.MergeDist(family.DefaultDist, family.GDNDist)
	if moe {
		mlp = append([]family.Rule{
			{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: mcaPreMLP},
			{Op: family.OpRename, HF: []string{".mlp.gate.weight"}, MCA: mcaRouter},
		}, sharedExpertRules...)
		dist = family.MergeDist(family.DefaultDist, family.SharedMoEDist, family.GDNDist, family.TEMoEDist)
	} else {
		mlp = denseMLPRules
	}
	layer := rules(gatedAttnRules, []family.Rule{qwen35GDN}, gdnRules, mlp)
	t := &family.Template{
		ModelType:   modelType,
		LayerPrefix: qwen35Layers,
		Config:      qwen35Config(moe),
		Constants:   qwen35Constants(moe),
		Rules: rules([]family.Rule{
			{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{"model.language_model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{"model.language_model.norm.weight"}, MCA: family.MCAFinalNorm},
			{Op: family.OpRename, HF: []string{"model.visual.{}"}, MCA: "vision_model.{}"},
		}, layer, mtpRules(layer)),
		Dist: family.MergeDist(dist, family.DistRules{
			PreProcess: []string{"vision_model.*"},
			Duplicated: []string{"vision_model.*"},
		}, mtpDist(dist)),
		Skip: []string{invFreq},
		Required: family.Required{
			Global: []string{"model.language_model.embed_tokens.weight", "model.language_model.norm.weight"},
			LMHead: "lm_head.weight",
			Layer:  []string{".input_layernorm.weight", ".post_attention_layernorm.weight"},
		},
		Shapes: gdnShapes(nil),
		Components: []family.ComponentRule{
			{Prefix: "model.language_model.embed_tokens.", Component: "embedding"},
			{Prefix: qwen35Layers, Component: "decoder", Label: "decoder layers"},
			{Prefix: "model.language_model.norm.", Component: "final_norm", Label: "final norm"},
			{Prefix: "lm_head.", Component: "lm_head", Label: "lm head"},
			{Prefix: "model.visual.", Component: "vision"},
			{Prefix: hfMTPPrefix, Component: "mtp", Label: "MTP"},
		},
		Extras: append(append([]family.ComponentRule(nil), decoderExtras...),
			family.ComponentRule{Prefix: "vision_model.", Component: "vision"},
			family.ComponentRule{Prefix: "mtp.", Component: "mtp", Label: "MTP"}),
		OptOuts:  []family.OptOut{dropMTPOptOut},
		Optional: []family.Optional{mtpOptional(qwen35MTPKey)},
		Hooks: family.Hooks{
			ReadDims: func(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
				out := readGDNDims(modelType, "text_config.")(cfg, d)
				return append(out, readMTP(cfg, qwen35MTPKey, d)...)
			},
			MCAConfig:   writeLayerTypes("text_config."),
			RenameMCA:   renameGDN,
			UnrenameMCA: unrenameGDN,
		},
	}
	if !moe {
		t.Required.Layer = append(t.Required.Layer, ".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight")
	}
	return t
}
