package families

// The deepseek_v3 template: the semantics of ROLL's mcore_adapter deepseek_v3 converter,
// restated (see docs/families/deepseek_v3.md): multi-head latent attention (MLA), dense
// first layers (first_k_dense_replace), shared experts, the router's expert bias, and the
// MTP layer of every release. Also claims checkpoints of other model types built on the
// DeepseekV3ForCausalLM architecture (Kimi-K2: model_type kimi_k2).
//
// glm4_moe (glm4_moe.go) shares the dense-first-layer and MTP parts defined here.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func init() {
	family.Register(deepseekV3())
}

// Family dims and opt-outs shared with glm4_moe.
const (
	dsDenseLayersDim = "first_k_dense_replace" // dense layers before the MoE ones
	dsDropMTP        = family.OptDropMTP
)

func deepseekV3() *family.Template {
	return &family.Template{
		ModelType:     "deepseek_v3",
		Architectures: []string{"DeepseekV3ForCausalLM"},
		LayerPrefix:   "model.layers.",
		MoEPrefix:     ".mlp.experts.",
		Config: family.Prefixed("",
			[2]string{"max_position_embeddings", "max_sequence_length"},
			[2]string{"hidden_size", "hidden_size"},
			[2]string{"num_attention_heads", "num_attention_heads"},
			[2]string{"num_key_value_heads", "num_query_groups"},
			[2]string{"num_hidden_layers", "num_layers"},
			[2]string{"rms_norm_eps", "layernorm_epsilon"},
			[2]string{"vocab_size", "padded_vocab_size"},
			[2]string{"attention_dropout", "attention_dropout"},
			[2]string{"rope_theta", "rotary_base"},
			[2]string{"rope_parameters", "rope_parameters"},
			[2]string{"tie_word_embeddings", "tie_embeddings_and_output_weights"},
			[2]string{"v_head_dim", "v_head_dim"},
			[2]string{"qk_nope_head_dim", "qk_head_dim"},
			[2]string{"qk_rope_head_dim", "qk_pos_emb_head_dim"},
			[2]string{"q_lora_rank", "q_lora_rank"},
			[2]string{"kv_lora_rank", "kv_lora_rank"},
			[2]string{"moe_intermediate_size", "moe_ffn_hidden_size"},
			[2]string{"intermediate_size", "ffn_hidden_size"},
			[2]string{"n_routed_experts", "num_moe_experts"},
			[2]string{"num_experts_per_tok", "moe_router_topk"},
			[2]string{"scoring_func", "moe_router_score_function"},
			[2]string{"n_group", "moe_router_num_groups"},
			[2]string{"topk_group", "moe_router_group_topk"},
			[2]string{"routed_scaling_factor", "moe_router_topk_scaling_factor"},
			[2]string{"num_nextn_predict_layers", "mtp_num_layers"},
		),
		Constants: []family.KV{
			{Key: "swiglu", Value: "true"},
			{Key: "position_embedding_type", Value: `"rope"`},
			{Key: "normalization", Value: `"RMSNorm"`},
			{Key: "qk_layernorm", Value: "true"},
			{Key: "add_bias_linear", Value: "false"},
			{Key: "add_qkv_bias", Value: "false"},
			{Key: "hidden_dropout", Value: "0.0"},
			{Key: "rotary_percent", Value: "1.0"},
			{Key: "moe_router_load_balancing_type", Value: `"seq_aux_loss"`},
			{Key: "moe_router_enable_expert_bias", Value: "true"},
			{Key: "moe_router_pre_softmax", Value: "true"},
			{Key: "multi_latent_attention", Value: "true"},
			{Key: "mtp_loss_scaling_factor", Value: "0.3"},
		},
		Rules: append([]family.Rule{
			{Op: family.OpRename, HF: []string{"model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{"model.norm.weight"}, MCA: family.MCAFinalNorm},
			{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".input_layernorm.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
			// MLA: q through a low-rank pair (q_lora_rank) or one q_proj (q_lora_rank null)
			{Op: family.OpRename, HF: []string{".self_attn.q_a_proj.weight"}, MCA: ".self_attention.linear_q_down_proj.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.q_a_layernorm.weight"}, MCA: ".self_attention.linear_q_up_proj.layer_norm_weight"},
			{Op: family.OpRename, HF: []string{".self_attn.q_b_proj.weight"}, MCA: ".self_attention.linear_q_up_proj.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.q_proj.weight"}, MCA: ".self_attention.linear_q_proj.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.kv_a_proj_with_mqa.weight"}, MCA: ".self_attention.linear_kv_down_proj.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.kv_a_layernorm.weight"}, MCA: ".self_attention.linear_kv_up_proj.layer_norm_weight"},
			{Op: family.OpRename, HF: []string{".self_attn.kv_b_proj.weight"}, MCA: ".self_attention.linear_kv_up_proj.weight"},
		}, dsMoeRules()...),
		Dist: family.MergeDist(family.MLADist, family.TEMoEDist),
		// The MTP layer's embed_tokens and shared_head.head are MTP Copies (see MTP);
		// ROLL lists them as invalid keys too.
		Skip:     []string{".self_attn.rotary_emb.inv_freq"},
		Required: dsMoeRequired([]string{".input_layernorm.weight", ".post_attention_layernorm.weight", ".self_attn.kv_a_proj_with_mqa.weight", ".self_attn.kv_a_layernorm.weight", ".self_attn.kv_b_proj.weight", ".self_attn.o_proj.weight"}),
		Shapes:   dsMoeShapes(),
		Components: []family.ComponentRule{
			{Prefix: "model.", Component: "text", Label: "decoder"},
			{Prefix: "lm_head.", Component: "lm_head"},
		},
		Extras:  dsMoeExtras(),
		OptOuts: []family.OptOut{dsMtpOptOut()},
		MTP:     dsMtpSpec(),
		Hooks: family.Hooks{
			ReadDims:    dsDenseDims,
			MCAConfig:   deepseekMCAConfig,
			RenameMCA:   dsDenseRename,
			UnrenameMCA: dsDenseUnrename,
			MoELayer:    dsIsMoELayer,
		},
	}
}

// dsMoeRules are the MLP, expert, router and MTP rules deepseek_v3 and glm4_moe share.
func dsMoeRules() []family.Rule {
	return []family.Rule{
		{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".pre_mlp_layernorm.weight"},
		// dense layers
		{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: ".mlp.linear_fc1.weight"},
		{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: ".mlp.linear_fc2.weight"},
		// router
		{Op: family.OpRename, HF: []string{".mlp.gate.weight"}, MCA: ".mlp.router.weight"},
		{Op: family.OpRename, HF: []string{".mlp.gate.e_score_correction_bias"}, MCA: ".mlp.router.expert_bias"},
		// routed experts (relative to the expert prefix)
		{Op: family.OpStack, HF: []string{".gate_proj.weight", ".up_proj.weight"}, MCA: ".linear_fc1.weight"},
		{Op: family.OpRename, HF: []string{".down_proj.weight"}, MCA: ".linear_fc2.weight"},
		// shared experts
		{Op: family.OpStack, HF: []string{".mlp.shared_experts.gate_proj.weight", ".mlp.shared_experts.up_proj.weight"}, MCA: ".mlp.shared_experts.linear_fc1.weight"},
		{Op: family.OpRename, HF: []string{".mlp.shared_experts.down_proj.weight"}, MCA: ".mlp.shared_experts.linear_fc2.weight"},
		// MTP layer's own tensors
		{Op: family.OpRename, HF: []string{".enorm.weight"}, MCA: ".enorm.weight"},
		{Op: family.OpRename, HF: []string{".hnorm.weight"}, MCA: ".hnorm.weight"},
		{Op: family.OpRename, HF: []string{".eh_proj.weight"}, MCA: ".eh_proj.weight"},
		{Op: family.OpRename, HF: []string{".shared_head.norm.weight"}, MCA: ".final_layernorm.weight"},
	}
}

func dsMoeRequired(layer []string) family.Required {
	return family.Required{
		Global: []string{"model.embed_tokens.weight", "model.norm.weight"},
		LMHead: "lm_head.weight",
		Layer:  layer,
		MoE:    []string{".mlp.gate.weight", ".mlp.gate.e_score_correction_bias"},
		Expert: []string{".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"},
		Dense:  []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.down_proj.weight"},
	}
}

func dsMoeShapes() map[string]family.ShapeRule {
	vh := func(d family.Dims) []int64 { return []int64{int64(d.Vocab), int64(d.Hidden)} }
	return map[string]family.ShapeRule{
		family.MCAEmbedding:         {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAOutputLayer:       {Shape: vh, From: "vocab_size × hidden_size"},
		family.MCAFinalNorm:         {Shape: hiddenVec, From: "hidden_size"},
		".pre_mlp_layernorm.weight": {Shape: hiddenVec, From: "hidden_size"},
		".mlp.router.weight":        {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, From: "n_routed_experts × hidden_size"},
		".mlp.router.expert_bias":   {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts)} }, From: "n_routed_experts"},
		".linear_fc1.weight":        {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.MoEFFN), int64(d.Hidden)} }, From: "2·moe_intermediate_size × hidden_size"},
		".linear_fc2.weight":        {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.MoEFFN)} }, From: "hidden_size × moe_intermediate_size"},
		".mlp.linear_fc1.weight":    {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.FFN), int64(d.Hidden)} }, From: "2·intermediate_size × hidden_size"},
		".mlp.linear_fc2.weight":    {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.FFN)} }, From: "hidden_size × intermediate_size"},
		".enorm.weight":             {Shape: hiddenVec, From: "hidden_size"},
		".hnorm.weight":             {Shape: hiddenVec, From: "hidden_size"},
		".eh_proj.weight":           {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), 2 * int64(d.Hidden)} }, From: "hidden_size × 2·hidden_size"},
	}
}

func dsMoeExtras() []family.ComponentRule {
	return []family.ComponentRule{
		{Prefix: family.MCAEmbedding, Component: "embedding"},
		{Prefix: family.MCAOutputLayer, Component: "output_layer"},
		{Prefix: "decoder.final_layernorm.", Component: "final_layernorm"},
		{Prefix: "mtp.", Component: "mtp", Label: "MTP layers"},
	}
}

func dsMtpOptOut() family.OptOut { return family.DropMTPOptOut }

func dsMtpSpec() *family.MTPSpec {
	return &family.MTPSpec{
		Own:    []string{".enorm.weight", ".hnorm.weight", ".eh_proj.weight", ".final_layernorm.weight"},
		Copies: map[string]string{".embed_tokens.weight": family.MCAEmbedding, ".shared_head.head.weight": family.MCAOutputLayer},
		OptOut: dsDropMTP,
	}
}

// dsDenseDims reads first_k_dense_replace (the dense layers before the MoE ones).
func dsDenseDims(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	k := 0
	if n, ok := cfg.Get("first_k_dense_replace"); ok && n.Kind != loader.JSONNull {
		v, err := n.Int()
		if err != nil || v < 0 {
			return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json first_k_dense_replace = %s: it must be a whole number of dense layers", n.Raw)}}
		}
		k = int(v)
	}
	d.SetExtra(dsDenseLayersDim, k)
	if k > 0 && k >= d.Layers {
		return []family.Issue{{Severity: family.SevError, Code: "config-range", Message: fmt.Sprintf("config.json first_k_dense_replace %d is not below num_hidden_layers %d: every layer would be dense (ROLL's converter asserts this too); fix config.json", k, d.Layers)}}
	}
	return nil
}

func dsIsMoELayer(layer int, d family.Dims) bool { return layer >= d.ExtraInt(dsDenseLayersDim) }

// Dense layers use Transformer Engine's fused norm + fc1: their pre-MLP norm is stored as
// mlp.linear_fc1.layer_norm_weight (ROLL's add_hf_weight rename).
const (
	dsPreMLPNorm   = ".pre_mlp_layernorm.weight"
	dsFusedFC1Norm = ".mlp.linear_fc1.layer_norm_weight"
)

func dsDenseRename(rel string, layer, expert int, d family.Dims) string {
	if layer >= 0 && layer < d.Layers && !dsIsMoELayer(layer, d) && rel == dsPreMLPNorm {
		return dsFusedFC1Norm
	}
	return rel
}

func dsDenseUnrename(rel string, layer, expert int, d family.Dims) string {
	if layer >= 0 && layer < d.Layers && !dsIsMoELayer(layer, d) && rel == dsFusedFC1Norm {
		return dsPreMLPNorm
	}
	return rel
}

// deepseekMCAConfig computes ROLL's derived keys: the rope (yarn) parameters from
// rope_scaling, the shared-expert width, and moe_layer_freq from first_k_dense_replace.
func deepseekMCAConfig(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	var out []family.Issue
	rs, ok := cfg.Get("rope_scaling")
	if !ok || rs.Kind == loader.JSONNull {
		rs, ok = cfg.Get("rope_parameters")
	}
	if ok && rs.Kind == loader.JSONObject && len(rs.Children) > 0 {
		// ROLL copies only dsTruthy values (a 0 or null field keeps Megatron's default).
		take := func(hf, mca string) {
			if n, ok := rs.Get(hf); ok && dsTruthy(n) {
				kv[mca] = string(n.Compact())
			}
		}
		// ROLL passes this as max_position_embeddings, which megatron-core >= 0.14 renamed
		// original_max_position_embeddings (MLATransformerConfig); ROLL then crashes on every
		// yarn release. omnitui writes the field under its current name.
		take("original_max_position_embeddings", "original_max_position_embeddings")
		if n, ok := rs.Get("type"); ok && dsTruthy(n) {
			if s, _ := n.Str(); s != "yarn" {
				out = append(out, family.Issue{Severity: family.SevError, Code: "rope-scaling", Message: fmt.Sprintf("config.json rope_scaling type %s: Megatron's multi-latent attention supports yarn scaling only (ROLL asserts the same); use the release's config.json", n.Raw)})
			}
			kv["rope_type"] = string(n.Compact())
		}
		take("factor", "rotary_scaling_factor")
		take("mscale_all_dim", "mscale_all_dim")
		take("mscale", "mscale")
		take("beta_fast", "beta_fast")
		take("beta_slow", "beta_slow")
	} else {
		kv["rope_type"] = `"rope"`
		kv["rotary_scaling_factor"] = "1.0"
	}
	return append(out, dsMoeMCAConfig(cfg, kv)...)
}

// dsMoeMCAConfig: moe_shared_expert_intermediate_size and moe_layer_freq (deepseek_v3 and
// glm4_moe compute them alike).
func dsMoeMCAConfig(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	num := func(key string) (int64, bool) {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return 0, false
		}
		v, err := n.Int()
		return v, err == nil
	}
	if ns, ok := num("n_shared_experts"); ok && ns > 0 {
		if mi, ok := num("moe_intermediate_size"); ok {
			kv["moe_shared_expert_intermediate_size"] = strconv.FormatInt(ns*mi, 10)
		}
	}
	// first_k_dense_replace 0 (all layers MoE) leaves moe_layer_freq to Megatron's default 1;
	// ROLL crashes on it (moe_layer_freq.count on an int), omnitui converts it.
	if k, ok := num("first_k_dense_replace"); ok && k > 0 {
		if l, ok := num("num_hidden_layers"); ok && k < l && l <= 1<<20 {
			parts := make([]string, l)
			for i := range parts {
				parts[i] = "1"
				if int64(i) < k {
					parts[i] = "0"
				}
			}
			kv["moe_layer_freq"] = "[" + strings.Join(parts, ",") + "]"
		}
	}
	return nil
}

// dsTruthy is Python truthiness of a JSON value.
func dsTruthy(n *loader.JSONNode) bool {
	switch n.Kind {
	case loader.JSONNull:
		return false
	case loader.JSONBool:
		b, _ := n.Bool()
		return b
	case loader.JSONNumber:
		f, err := strconv.ParseFloat(string(n.Compact()), 64)
		return err != nil || f != 0
	case loader.JSONString:
		return n.Raw != `""`
	default:
		return len(n.Children) > 0
	}
}
