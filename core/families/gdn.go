package families

// Building blocks shared by the hybrid gated-delta-net families (Qwen3-Next, Qwen3.5):
// layers are either gated full attention (q_proj holds query and output gate) or gated
// delta net linear attention, chosen per layer by config.json's layer_types (or every
// full_attention_interval-th layer). This file names no family; each family file picks
// the parts its ROLL template has.

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// Megatron names of the gated delta net.
const (
	mcaInProj     = ".self_attention.in_proj.weight"
	mcaInProjNorm = ".self_attention.in_proj.layer_norm_weight"
	mcaConv1d     = ".self_attention.conv1d.weight"
	mcaDTBias     = ".self_attention.dt_bias"
	mcaALog       = ".self_attention.A_log"
	mcaOutNorm    = ".self_attention.out_norm.weight"
	mcaOutProj    = ".self_attention.out_proj.weight"

	gdnLayerTypes  = "layer_types" // Dims extra: []string, one per decoder layer
	linearAttn     = "linear_attention"
	fullAttn       = "full_attention"
	gdnMTPLayers   = "mtp_num_layers" // Dims extra: MTP layers the config declares
	hfMTPPrefix    = "mtp."
	mcaMTPLayer0   = "mtp.layers.0"
	mcaMTPInner    = mcaMTPLayer0 + ".mtp_model_layer"
	gdnIntervalKey = "full_attention_interval"
)

// gdnKeys are the (hf, mca) config pairs of the gated delta net that ROLL maps.
var gdnKeys = [][2]string{
	{"linear_conv_kernel_dim", "linear_conv_kernel_dim"},
	{"linear_key_head_dim", "linear_key_head_dim"},
	{"linear_value_head_dim", "linear_value_head_dim"},
	{"linear_num_key_heads", "linear_num_key_heads"},
	{"linear_num_value_heads", "linear_num_value_heads"},
	{gdnIntervalKey, "linear_attention_freq"},
	// layer_types -> layer_types is ROLL's mapping too, but mca_config.json always gets it
	// (writeLayerTypes): from config.json, or derived as ROLL's config class derives it
}

// gatedAttnRules: gated full attention (ROLL's GatedQKVConverOp) with q/k norms.
var gatedAttnRules = []family.Rule{
	{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: mcaQKVNorm},
	{Op: family.OpGatedQKV, HF: []string{hfQ, hfK, hfV}, MCA: mcaQKV},
	{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: mcaProj},
	{Op: family.OpRename, HF: []string{".self_attn.q_norm.weight"}, MCA: mcaQNorm},
	{Op: family.OpRename, HF: []string{".self_attn.k_norm.weight"}, MCA: mcaKNorm},
}

// gdnRules: the gated delta net's tensors other than its input projections (which differ
// between the families).
var gdnRules = []family.Rule{
	{Op: family.OpGDNConv1d, HF: []string{".linear_attn.conv1d.weight"}, MCA: mcaConv1d},
	{Op: family.OpRename, HF: []string{".linear_attn.dt_bias"}, MCA: mcaDTBias},
	{Op: family.OpRename, HF: []string{".linear_attn.A_log"}, MCA: mcaALog},
	{Op: family.OpZeroCentered, HF: []string{".linear_attn.norm.weight"}, MCA: mcaOutNorm},
	{Op: family.OpRename, HF: []string{".linear_attn.out_proj.weight"}, MCA: mcaOutProj},
}

// sharedExpertRules: Qwen-style shared expert with its sigmoid gate.
var sharedExpertRules = []family.Rule{
	{Op: family.OpRename, HF: []string{".mlp.shared_expert.down_proj.weight"}, MCA: mcaShFC2},
	{Op: family.OpRename, HF: []string{".mlp.shared_expert_gate.weight"}, MCA: mcaShGate},
	{Op: family.OpStack, HF: []string{".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight"}, MCA: mcaShFC1},
}

// gdnShapes are the shapes Megatron builds for the gated delta net and gated attention.
func gdnShapes(more map[string]family.ShapeRule) map[string]family.ShapeRule {
	ex := func(d family.Dims, k string) int64 { return int64(d.ExtraInt(k)) }
	vHeads := func(d family.Dims) []int64 { return []int64{ex(d, family.DimLinearValueHeads)} }
	m := decoderShapes(map[string]family.ShapeRule{
		mcaDTBias:  {Shape: vHeads, From: "linear_num_value_heads"},
		mcaALog:    {Shape: vHeads, From: "linear_num_value_heads"},
		mcaOutNorm: {Shape: func(d family.Dims) []int64 { return []int64{ex(d, family.DimLinearValueDim)} }, From: "linear_value_head_dim"},
		mcaOutProj: {Shape: func(d family.Dims) []int64 {
			return []int64{int64(d.Hidden), ex(d, family.DimLinearValueHeads) * ex(d, family.DimLinearValueDim)}
		}, From: "hidden_size × linear_num_value_heads·linear_value_head_dim"},
		mcaInProjNorm: {Shape: hiddenVec, From: "hidden_size"},
	})
	for k, v := range more {
		m[k] = v
	}
	return m
}

// moeShapes are the routed and shared expert shapes.
var moeShapes = map[string]family.ShapeRule{
	mcaRouter: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, From: "num_experts × hidden_size"},
	mcaExpFC1: {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(d.MoEFFN), int64(d.Hidden)} }, From: "2·moe_intermediate_size × hidden_size"},
	mcaExpFC2: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(d.MoEFFN)} }, From: "hidden_size × moe_intermediate_size"},
	mcaShGate: {Shape: func(d family.Dims) []int64 { return []int64{1, int64(d.Hidden)} }, From: "1 × hidden_size"},
}

// readGDNDims reads the gated delta net sizes and the type of every layer from the text
// config (prefix "" or "text_config."); attention_bias true is refused as ROLL has no bias
// op for these families.
func readGDNDims(modelType, prefix string) func(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	return func(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
		var out []family.Issue
		bad := func(format string, a ...any) {
			out = append(out, family.Issue{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf(format, a...)})
		}
		for _, k := range []string{family.DimLinearKeyHeads, family.DimLinearValueHeads, family.DimLinearKeyDim, family.DimLinearValueDim} {
			n, ok := cfg.Get(prefix + k)
			if !ok || n.Kind == loader.JSONNull {
				bad("config.json lacks %s%s, which the gated delta net layers need: use the checkpoint's own config.json", prefix, k)
				continue
			}
			v, err := n.Int()
			if err != nil || v <= 0 || v > 1<<20 {
				bad("config.json %s%s must be a positive whole number (%s): fix config.json", prefix, k, n.Compact())
				continue
			}
			d.SetExtra(k, int(v))
		}
		if hk, hv := d.ExtraInt(family.DimLinearKeyHeads), d.ExtraInt(family.DimLinearValueHeads); hk > 0 && hv%hk != 0 {
			bad("config.json %slinear_num_value_heads %d is not a multiple of linear_num_key_heads %d: fix config.json", prefix, hv, hk)
		}
		types, err := layerTypes(cfg, prefix, d.Layers)
		if err != nil {
			bad("%v", err)
		} else {
			d.SetExtra(gdnLayerTypes, types)
		}
		if n, ok := cfg.Get(prefix + "attention_bias"); ok && n.Kind != loader.JSONNull {
			if b, err := n.Bool(); err == nil && b {
				out = append(out, family.Issue{Severity: family.SevError, Code: "attention-bias",
					Message: fmt.Sprintf("config.json sets attention_bias true, but ROLL's %s template converts no attention biases (its converter stops on self_attn.q_proj.bias): omnitui does not convert it. Use a checkpoint with attention_bias false", modelType)})
			}
		}
		return out
	}
}

// layerTypes is config.json's layer_types, or the pattern full_attention_interval gives
// (every interval-th layer full attention, the rest linear), as transformers and ROLL
// derive it.
func layerTypes(cfg *loader.JSONNode, prefix string, layers int) ([]string, error) {
	if n, ok := cfg.Get(prefix + "layer_types"); ok && n.Kind != loader.JSONNull {
		if n.Kind != loader.JSONArray || len(n.Children) != layers {
			return nil, fmt.Errorf("config.json %slayer_types must list one type per layer (%d), found %s: fix config.json", prefix, layers, n.Compact())
		}
		out := make([]string, layers)
		for i, c := range n.Children {
			s, err := c.Str()
			if err != nil || (s != linearAttn && s != fullAttn) {
				return nil, fmt.Errorf("config.json %slayer_types[%d] is %s; each must be %q or %q: fix config.json", prefix, i, c.Compact(), linearAttn, fullAttn)
			}
			out[i] = s
		}
		return out, nil
	}
	interval := int64(4) // transformers' default
	if n, ok := cfg.Get(prefix + gdnIntervalKey); ok && n.Kind != loader.JSONNull {
		v, err := n.Int()
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("config.json %s%s must be a positive whole number (%s): fix config.json", prefix, gdnIntervalKey, n.Compact())
		}
		interval = v
	}
	out := make([]string, layers)
	for i := range out {
		out[i] = linearAttn
		if int64(i+1)%interval == 0 {
			out[i] = fullAttn
		}
	}
	return out, nil
}

// isLinear reports whether a global decoder layer is a gated delta net layer.
func isLinear(d family.Dims, layer int) bool {
	types, _ := d.Extra[gdnLayerTypes].([]string)
	return layer >= 0 && layer < len(types) && types[layer] == linearAttn
}

// renameGDN: a linear layer's input norm is fused into its in_proj, not linear_qkv (ROLL's
// templates rename it by layer type).
func renameGDN(rel string, layer, _ int, d family.Dims) string {
	if rel == mcaQKVNorm && isLinear(d, layer) {
		return mcaInProjNorm
	}
	return rel
}

func unrenameGDN(rel string, layer, _ int, d family.Dims) string {
	if rel == mcaInProjNorm && isLinear(d, layer) {
		return mcaQKVNorm
	}
	return rel
}

// writeLayerTypes records layer_types in mca_config.json: config.json's, or the ones
// full_attention_interval implies (ROLL's config class fills them in the same way).
func writeLayerTypes(prefix string) func(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	return func(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
		n, ok := cfg.Get(prefix + "num_hidden_layers")
		if !ok {
			return nil
		}
		layers, err := n.Int()
		if err != nil || layers <= 0 || layers > 1<<20 {
			return nil // the dims check reports it
		}
		types, err := layerTypes(cfg, prefix, int(layers))
		if err != nil {
			return nil // ReadDims reports it
		}
		kv["layer_types"] = `["` + strings.Join(types, `","`) + `"]`
		return nil
	}
}

// mtpRules are the rules of a multi-token-prediction block as ROLL's Qwen3.5 template maps
// it: the release's mtp.fc / mtp.norm / mtp.pre_fc_norm_{embedding,hidden} become
// mtp.layers.0.{eh_proj,final_layernorm,enorm,hnorm}, and the decoder layer under
// mtp.layers.0 (layer rules given) lands under mtp.layers.0.mtp_model_layer, the name
// Megatron-Core ≥ 0.17 gives the MTP block's inner layer. Full names: the MTP block is no
// decoder layer and sits on the last pipeline stage.
func mtpRules(layer []family.Rule) []family.Rule {
	out := []family.Rule{
		{Op: family.OpRename, HF: []string{"mtp.fc.weight"}, MCA: mcaMTPLayer0 + ".eh_proj.weight"},
		{Op: family.OpRename, HF: []string{"mtp.norm.weight"}, MCA: mcaMTPLayer0 + ".final_layernorm.weight"},
		{Op: family.OpRename, HF: []string{"mtp.pre_fc_norm_embedding.weight"}, MCA: mcaMTPLayer0 + ".enorm.weight"},
		{Op: family.OpRename, HF: []string{"mtp.pre_fc_norm_hidden.weight"}, MCA: mcaMTPLayer0 + ".hnorm.weight"},
	}
	for _, r := range layer {
		hf := make([]string, len(r.HF))
		for i, h := range r.HF {
			hf[i] = "mtp.layers.0" + h
		}
		out = append(out, family.Rule{Op: r.Op, HF: hf, MCA: mcaMTPInner + r.MCA})
	}
	return out
}

// mtpDist places the MTP block (mtp.*) on the last pipeline stage and splits its inner
// layer's tensors over TP by the decoder layer's rules (given).
func mtpDist(layer family.DistRules) family.DistRules {
	inner := func(list []string) []string {
		var out []string
		for _, p := range list {
			if strings.HasPrefix(p, ".") {
				out = append(out, mcaMTPInner+p)
			}
		}
		return out
	}
	outer := func(list []string) []string {
		out := make([]string, len(list))
		for i, p := range list {
			out[i] = mcaMTPLayer0 + p
		}
		return out
	}
	local := map[string]string{}
	for te, loc := range layer.TEToLocal {
		local[mcaMTPInner+te] = mcaMTPInner + loc
	}
	return family.DistRules{
		PostProcess: []string{"mtp.*"},
		Duplicated:  append(inner(layer.Duplicated), outer(family.MTPDist.Duplicated)...),
		Column:      append(inner(layer.Column), outer(family.MTPDist.Column)...),
		Row:         inner(layer.Row),
		SwiGLU:      inner(layer.SwiGLU),
		Sections:    inner(layer.Sections),
		TEToLocal:   local,
	}
}

// readMTP records the MTP layers the text config declares (key: the config path) and
// refuses more than one, which ROLL's template cannot name (it maps mtp.layers.0 only).
func readMTP(cfg *loader.JSONNode, key string, d *family.Dims) []family.Issue {
	n, ok := cfg.Get(key)
	if !ok || n.Kind == loader.JSONNull {
		return nil
	}
	v, err := n.Int()
	if err != nil || v < 0 || v > 64 {
		return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf("config.json %s must be a small whole number (%s): fix config.json", key, n.Compact())}}
	}
	if v > 1 {
		return []family.Issue{{Severity: family.SevError, Code: "mtp-layers", Message: fmt.Sprintf("config.json %s is %d, but the release layout maps one MTP layer (mtp.layers.0) and ROLL's converter names only that one: omnitui does not guess where the others go. Use a checkpoint with one MTP layer", key, v)}}
	}
	return nil // the count is Dims.MTPLayers, read from the mapped mtp_num_layers
}

// mtpOptional: MTP weights in a checkpoint whose config declares no MTP layer.
func mtpOptional(key string) family.Optional {
	return family.Optional{
		Prefixes:  []string{"mtp."},
		Present:   func(d family.Dims) bool { return d.MTPLayers > 0 },
		OptOut:    optDropMTP,
		ErrorCode: "mtp-disabled",
		ErrorMsg:  "the checkpoint has multi-token-prediction (mtp.*) weights but config.json " + key + " is 0 or absent, so Megatron builds no MTP layer (ROLL drops them without a word): pass --drop-mtp to leave them out, or set " + key + " to 1",
		DropCode:  "mtp-dropped",
		DropMsg:   "MTP weights are left out: config.json declares no MTP layer (--drop-mtp)",
	}
}

// the shared MTP opt-out (--drop-mtp), also needed where the config declares no MTP layer
const optDropMTP = family.OptDropMTP

var dropMTPOptOut = family.DropMTPOptOut
