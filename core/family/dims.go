package family

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Dims are the model dimensions the plan needs, read from config.json through the template.
// Extra holds the family's own dims (set by Hooks.ReadDims); they are written to plan JSON
// after the generic ones, sorted by key.
type Dims struct {
	Hidden     int            `json:"hidden_size"`
	Heads      int            `json:"num_attention_heads"`
	Groups     int            `json:"num_query_groups"`
	KVChannels int            `json:"kv_channels"`
	Layers     int            `json:"num_layers"`
	Vocab      int            `json:"padded_vocab_size"`
	FFN        int            `json:"ffn_hidden_size"`
	MoEFFN     int            `json:"moe_ffn_hidden_size"`
	Experts    int            `json:"num_moe_experts"` // 0 = dense
	Tied       bool           `json:"tie_embeddings_and_output_weights"`
	MTPLayers  int            `json:"mtp_num_layers,omitempty"` // multi-token-prediction layers after the decoder
	Extra      map[string]any `json:"-"`
}

// Dims.Extra keys of the gated delta net (linear attention) that its op kinds read; the
// families that have one set them from config.json.
const (
	DimLinearKeyHeads   = "linear_num_key_heads"
	DimLinearValueHeads = "linear_num_value_heads"
	DimLinearKeyDim     = "linear_key_head_dim"
	DimLinearValueDim   = "linear_value_head_dim"
)

// OptDropMTP is the one opt-out of every family with multi-token-prediction (MTP) layers
// (DropMTPOptOut, flag --drop-mtp): the MTP weights are left out and mca_config.json's
// mtp_num_layers is 0. Dims.MTPLayers (the mapped mtp_num_layers) counts the MTP layers;
// while it is > 0 and MTP is not dropped, the embedding also lands on the last stage.
const OptDropMTP = "drop_mtp"

// DropMTPOptOut is the shared --drop-mtp opt-out; families with MTP layers list it.
var DropMTPOptOut = OptOut{Name: OptDropMTP, Flag: "drop-mtp", Label: "drop MTP",
	Help:  "leave the multi-token-prediction (MTP) layers out and write mtp_num_layers 0",
	Codes: []string{"mtp-disabled", "mtp-dropped", "mtp-weights-missing"}}

// SetExtra records a family dim.
func (d *Dims) SetExtra(key string, v any) {
	if d.Extra == nil {
		d.Extra = map[string]any{}
	}
	d.Extra[key] = v
}

// ExtraInt reads an integer family dim (0 when absent).
func (d Dims) ExtraInt(key string) int {
	v, _ := d.Extra[key].(int)
	return v
}

// ExtraBool reads a boolean family dim (def when absent).
func (d Dims) ExtraBool(key string, def bool) bool {
	if v, ok := d.Extra[key].(bool); ok {
		return v
	}
	return def
}

// MarshalJSON writes the generic dims, then the family's, sorted by key.
func (d Dims) MarshalJSON() ([]byte, error) {
	type plain Dims
	base, err := json.Marshal(plain(d))
	if err != nil || len(d.Extra) == 0 {
		return base, err
	}
	keys := make([]string, 0, len(d.Extra))
	for k := range d.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Write(base[:len(base)-1])
	for _, k := range keys {
		kj, _ := json.Marshal(k)
		vj, err := json.Marshal(d.Extra[k])
		if err != nil {
			return nil, err
		}
		b.WriteByte(',')
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DistRules say where Megatron tensors go: pipeline stage extras and TP split.
// Patterns are matched against the name with its layer/expert prefix removed
// (fnmatch-style, '*' matches anything).
type DistRules struct {
	PreProcess  []string // first stage
	PostProcess []string // last stage
	Duplicated  []string
	Column      []string
	Row         []string
	SwiGLU      []string
	// Sections are ROLL's gdn_weights: tensors stacked from row sections, each section
	// split over TP on its own (see core.SplitSections).
	Sections []string
	// grouped GEMM renames of expert weights
	GroupedLegacy map[string]string // pure expert name -> layer-level name (".linear_fc1.weight" -> ".mlp.experts.weight1")
	GroupedTE     map[string]string // pure expert name -> layer-level name prefix, expert index appended
	TEToLocal     map[string]string // TE norm names -> local-impl names
}

// MergeDist combines rule sets, later sets adding to earlier ones (lists appended without
// duplicates, map entries of later sets winning), as ROLL merges its dist configs.
func MergeDist(sets ...DistRules) DistRules {
	var out DistRules
	list := func(dst *[]string, src []string) {
		for _, s := range src {
			dup := false
			for _, x := range *dst {
				if x == s {
					dup = true
					break
				}
			}
			if !dup {
				*dst = append(*dst, s)
			}
		}
	}
	mp := func(dst *map[string]string, src map[string]string) {
		if len(src) == 0 {
			return
		}
		if *dst == nil {
			*dst = map[string]string{}
		}
		for k, v := range src {
			(*dst)[k] = v
		}
	}
	for _, s := range sets {
		list(&out.PreProcess, s.PreProcess)
		list(&out.PostProcess, s.PostProcess)
		list(&out.Duplicated, s.Duplicated)
		list(&out.Column, s.Column)
		list(&out.Row, s.Row)
		list(&out.SwiGLU, s.SwiGLU)
		list(&out.Sections, s.Sections)
		mp(&out.GroupedLegacy, s.GroupedLegacy)
		mp(&out.GroupedTE, s.GroupedTE)
		mp(&out.TEToLocal, s.TEToLocal)
	}
	return out
}

// The shared dist rule sets below restate ROLL's generic ones (converter/dist_converter.py,
// without the LoRA entries); families build theirs with MergeDist, as ROLL's do with
// merge_configs (e.g. qwen3_moe: MergeDist(DefaultDist, SharedMoEDist, TEMoEDist)).

// DefaultDist is ROLL's default_dist_config: embedding, output layer, final norm, attention,
// dense MLP and routed experts (legacy grouped-GEMM names), TE → local norm names.
var DefaultDist = DistRules{
	PreProcess:  []string{MCAEmbedding},
	PostProcess: []string{MCAOutputLayer, MCAFinalNorm},
	Duplicated: []string{
		".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
		MCAFinalNorm, ".mlp.router.weight", ".pre_mlp_layernorm.weight",
		".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
	},
	Column: []string{MCAEmbedding, MCAOutputLayer, ".self_attention.linear_qkv.weight", ".mlp.linear_fc1.weight", ".linear_fc1.weight"},
	Row:    []string{".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight"},
	SwiGLU: []string{".mlp.linear_fc1.weight", ".linear_fc1.weight"},
	GroupedLegacy: map[string]string{
		".linear_fc1.weight": ".mlp.experts.weight1",
		".linear_fc2.weight": ".mlp.experts.weight2",
	},
	TEToLocal: map[string]string{
		".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
		".mlp.linear_fc1.layer_norm_weight":            ".pre_mlp_layernorm.weight",
	},
}

// TEMoEDist is ROLL's te_moe_config: the Transformer-Engine grouped-GEMM expert names. ROLL
// merges it into every family's config when TE grouped GEMM is on; omnitui reads GroupedTE
// only in that mode, so families with experts merge it unconditionally.
var TEMoEDist = DistRules{
	GroupedTE: map[string]string{
		".linear_fc1.weight": ".mlp.experts.linear_fc1.weight",
		".linear_fc2.weight": ".mlp.experts.linear_fc2.weight",
	},
}

// SharedMoEDist is ROLL's shared_moe_dist_config: shared experts and their gate.
var SharedMoEDist = DistRules{
	Duplicated: []string{".mlp.shared_experts.gate_weight"},
	Row:        []string{".mlp.shared_experts.linear_fc2.weight"},
	SwiGLU:     []string{".mlp.shared_experts.linear_fc1.weight"},
	TEToLocal:  map[string]string{".pre_mlp_layernorm.weight": ".pre_mlp_layernorm.weight"},
}

// GDNDist is ROLL's gdn_dist_config: the gated delta net (linear attention) layers.
var GDNDist = DistRules{
	Duplicated: []string{".self_attention.out_norm.weight", ".self_attention.in_proj.layer_norm_weight"},
	Column:     []string{".self_attention.dt_bias", ".self_attention.A_log"},
	Row:        []string{".self_attention.out_proj.weight"},
	Sections:   []string{".self_attention.in_proj.weight", ".self_attention.conv1d.weight"},
}

// MTPDist is ROLL's mtp_config: multi-token-prediction layers.
var MTPDist = DistRules{
	Duplicated: []string{".enorm.weight", ".hnorm.weight", ".final_layernorm.weight"},
	Column:     []string{".eh_proj.weight"},
}

// MLADist is ROLL's mla_dist_config (multi-head latent attention, deepseek_v3), which
// already includes MTPDist.
var MLADist = MergeDist(DistRules{
	PreProcess:  []string{MCAEmbedding},
	PostProcess: []string{MCAOutputLayer, MCAFinalNorm},
	Duplicated: []string{
		".self_attention.q_layernorm.weight", ".input_layernorm.weight", MCAFinalNorm,
		".pre_mlp_layernorm.weight", ".self_attention.kv_layernorm.weight", ".mlp.router.weight",
		".mlp.router.expert_bias", ".mlp.linear_fc1.layer_norm_weight",
		".self_attention.linear_q_up_proj.layer_norm_weight", ".self_attention.linear_kv_up_proj.layer_norm_weight",
	},
	Column: []string{
		MCAEmbedding, MCAOutputLayer,
		".self_attention.linear_q_down_proj.weight", ".self_attention.linear_q_up_proj.weight",
		".self_attention.linear_q_proj.weight", ".self_attention.linear_kv_down_proj.weight",
		".self_attention.linear_kv_up_proj.weight",
	},
	Row:    []string{".self_attention.linear_proj.weight", ".mlp.shared_experts.linear_fc2.weight", ".linear_fc2.weight", ".mlp.linear_fc2.weight"},
	SwiGLU: []string{".mlp.shared_experts.linear_fc1.weight", ".linear_fc1.weight", ".mlp.linear_fc1.weight"},
	GroupedLegacy: map[string]string{
		".linear_fc1.weight": ".mlp.experts.weight1",
		".linear_fc2.weight": ".mlp.experts.weight2",
	},
}, MTPDist)
