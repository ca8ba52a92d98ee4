package families

// The qwen3_vl template (and, through qwen3VLFamily, qwen3_vl_moe's text/vision part):
// ROLL's mcore_adapter qwen3_vl converter restated. Nested config (text_config.*,
// vision_config), q/k norms, the vision tower (with its deepstack mergers) renamed
// wholesale to vision_model.*.
//
// Deepstack: the vision tower feeds len(vision_config.deepstack_visual_indexes) decoder
// layers besides the embedding, and ROLL's Qwen3-VL model build asserts that the first
// pipeline chunk holds at least that many layers; ROLL's converter does not check it.

import (
	"fmt"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(qwen3VLFamily(false))
}

// Qwen3-VL's own dims, opt-out and config path.
const (
	vlDeepstack       = "deepstack_layers" // len(vision_config.deepstack_visual_indexes)
	vlDeepstackKey    = "vision_config.deepstack_visual_indexes"
	vlIgnoreDeepstack = "ignore_deepstack"
	// ROLL's default when vision_config lacks the key ([8, 16, 24]).
	vlDeepstackDefault = 3
)

// qwen3VLText are the text keys; attention_bias and head_dim come in with Qwen3.
var qwen3VLText = append([][2]string{
	{"attention_bias", "add_qkv_bias"},
	{"head_dim", "kv_channels"},
}, vlTextKeys...)

// qwen3VLMoEText adds the MoE keys of qwen3_vl_moe.
var qwen3VLMoEText = append(append([][2]string(nil), qwen3VLText...),
	[2]string{"moe_intermediate_size", "moe_ffn_hidden_size"},
	[2]string{"decoder_sparse_step", "moe_layer_freq"},
	[2]string{"num_experts", "num_moe_experts"},
	[2]string{"num_experts_per_tok", "moe_router_topk"},
	[2]string{"router_aux_loss_coef", "moe_aux_loss_coeff"},
)

func qwen3VLFamily(moe bool) *family.Template {
	mt, text := "qwen3_vl", qwen3VLText
	if moe {
		mt, text = "qwen3_vl_moe", qwen3VLMoEText
	}
	rules := []family.Rule{
		{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
		{Op: family.OpRename, HF: []string{"model.language_model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
		{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".self_attention.linear_qkv.layer_norm_weight"},
		{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
		{Op: family.OpRename, HF: []string{".self_attn.q_norm.weight"}, MCA: ".self_attention.q_layernorm.weight"},
		{Op: family.OpRename, HF: []string{".self_attn.k_norm.weight"}, MCA: ".self_attention.k_layernorm.weight"},
		{Op: family.OpRename, HF: []string{"model.language_model.norm.weight"}, MCA: family.MCAFinalNorm},
	}
	shapes := vlTextShapes()
	shapes[".self_attention.q_layernorm.weight"] = family.ShapeRule{Shape: kvVec, From: "head_dim"}
	shapes[".self_attention.k_layernorm.weight"] = family.ShapeRule{Shape: kvVec, From: "head_dim"}
	required := family.Required{
		Global: []string{"model.language_model.embed_tokens.weight", "model.language_model.norm.weight"},
		LMHead: "lm_head.weight",
		Layer: []string{".input_layernorm.weight", ".post_attention_layernorm.weight",
			".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
			".self_attn.o_proj.weight", ".self_attn.q_norm.weight", ".self_attn.k_norm.weight"},
		Bias: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"},
	}
	dist := family.MergeDist(family.DefaultDist, vlDist)
	moePrefix := ""
	if moe {
		moePrefix = ".mlp.experts."
		rules = append(rules,
			family.Rule{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".pre_mlp_layernorm.weight"},
			// experts fused per layer: gate_up_proj [E, H, 2I], down_proj [E, I, H], each
			// expert transposed (ROLL's SplitStackConverOp / SplitConverOp)
			family.Rule{Op: family.OpExpertsGateUpT, HF: []string{".mlp.experts.gate_up_proj"}, MCA: ".linear_fc1.weight"},
			family.Rule{Op: family.OpExpertsDownT, HF: []string{".mlp.experts.down_proj"}, MCA: ".linear_fc2.weight"},
			family.Rule{Op: family.OpRename, HF: []string{".mlp.gate.weight"}, MCA: ".mlp.router.weight"},
		)
		shapes[".pre_mlp_layernorm.weight"] = family.ShapeRule{Shape: hiddenVec, From: "hidden_size"}
		shapes[".mlp.router.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, From: "num_experts × hidden_size"}
		shapes[".linear_fc1.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.MoEFFN), int64(d.Hidden)} }, From: "2·moe_intermediate_size × hidden_size"}
		shapes[".linear_fc2.weight"] = family.ShapeRule{Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.MoEFFN)} }, From: "hidden_size × moe_intermediate_size"}
		required.MoE = []string{".mlp.gate.weight", ".mlp.experts.gate_up_proj", ".mlp.experts.down_proj"}
		dist = family.MergeDist(family.DefaultDist, family.SharedMoEDist, family.TEMoEDist, vlDist)
	} else {
		rules = append(rules,
			family.Rule{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".mlp.linear_fc1.layer_norm_weight"},
			family.Rule{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: ".mlp.linear_fc1.weight"},
			family.Rule{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: ".mlp.linear_fc2.weight"},
		)
		shapes = vlDenseShapes(shapes)
		required.Layer = append(required.Layer, ".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight")
	}
	rules = append(rules,
		family.Rule{Op: family.OpQKV, HF: []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, MCA: ".self_attention.linear_qkv.weight"},
		family.Rule{Op: family.OpQKVBias, HF: []string{".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"}, MCA: ".self_attention.linear_qkv.bias"},
		family.Rule{Op: family.OpRename, HF: []string{"model.visual.{}"}, MCA: "vision_model.{}"},
	)
	return &family.Template{
		ModelType:   mt,
		LayerPrefix: "model.language_model.layers.",
		MoEPrefix:   moePrefix,
		Config:      vlConfig(text),
		Constants: []family.KV{
			{Key: "swiglu", Value: "true"},
			{Key: "position_embedding_type", Value: `"mrope"`},
			{Key: "normalization", Value: `"RMSNorm"`},
			{Key: "add_bias_linear", Value: "false"},
			{Key: "hidden_dropout", Value: "0.0"},
			{Key: "rotary_percent", Value: "1.0"},
			{Key: "qk_layernorm", Value: "true"},
		},
		Rules:      rules,
		Dist:       dist,
		Skip:       []string{"rotary_emb.inv_freq"},
		Shapes:     shapes,
		Required:   required,
		Components: vlComponents(),
		Extras:     vlExtras(),
		Layouts:    vlLayouts(true),
		OptOuts: []family.OptOut{{
			Name: vlIgnoreDeepstack, Flag: "ignore-deepstack", Label: "ignore deepstack",
			Help:         "allow a first stage with fewer layers than vision deepstack needs",
			Codes:        []string{"deepstack-first-stage"},
			FixElsewhere: map[string]string{"deepstack-first-stage": "pp"},
			Reverse:      true,
		}},
		Hooks: family.Hooks{ReadDims: qwen3VLDims, CheckStages: qwen3VLStages},
	}
}

// qwen3VLDims reads how many decoder layers vision deepstack feeds.
func qwen3VLDims(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	deep := 0
	if vc, ok := cfg.Get("vision_config"); ok && vc.Kind == loader.JSONObject {
		deep = vlDeepstackDefault
		if n, found := cfg.Get(vlDeepstackKey); found && n.Kind != loader.JSONNull {
			if n.Kind != loader.JSONArray {
				return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json %s must be a list of layer indexes, found %s", vlDeepstackKey, n.KindName())}}
			}
			deep = len(n.Children)
		}
	}
	d.SetExtra(vlDeepstack, deep)
	return nil
}

// qwen3VLStages: the first pipeline chunk must hold the layers vision deepstack feeds.
func qwen3VLStages(d family.Dims, st []family.Stage, optOut func(string) bool) []family.Issue {
	need := d.ExtraInt(vlDeepstack)
	have, ok := family.FirstChunkLayers(st)
	if need <= 0 || !ok || have >= need {
		return nil
	}
	msg := fmt.Sprintf("the first pipeline stage holds %d decoder layer(s) but vision deepstack feeds %d (len of vision_config.deepstack_visual_indexes): Qwen3-VL's model build in mcore_adapter rejects this and ROLL's converter does not check it. Give the first stage at least %d layers (fewer PP/VPP stages or a --layout), or pass --ignore-deepstack", have, need, need)
	if optOut(vlIgnoreDeepstack) {
		return []family.Issue{{Severity: family.SevWarning, Code: "deepstack-first-stage", Message: msg}}
	}
	return []family.Issue{{Severity: family.SevError, Code: "deepstack-first-stage", Message: msg, OptOut: "--ignore-deepstack"}}
}
