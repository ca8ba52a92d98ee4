package families

// Building blocks shared by the decoder families with routed experts (llama-style layers,
// experts under a per-family infix): MoE config keys, rules, shapes and the reading of
// mlp_only_layers / decoder_sparse_step. Names no family.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// moeDist is what ROLL registers for MoE families (default + shared experts) plus the TE
// grouped-GEMM names, which omnitui reads only in that mode.
var moeDist = family.MergeDist(family.DefaultDist, family.SharedMoEDist, family.TEMoEDist)

// moeConstants are ROLL's router constants; preSoftmax differs per family.
func moeConstants(preSoftmax bool, more ...family.KV) []family.KV {
	return decoderConstants(append([]family.KV{
		{Key: "hidden_dropout", Value: "0.0"},
		{Key: "moe_router_load_balancing_type", Value: `"aux_loss"`},
		{Key: "moe_router_pre_softmax", Value: strconv.FormatBool(preSoftmax)},
	}, more...)...)
}

// expertRules: routed experts (relative to the expert prefix) with their router.
func expertRules(gate, up, down, router string) []family.Rule {
	return []family.Rule{
		{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: mcaPreMLP},
		{Op: family.OpStack, HF: []string{gate, up}, MCA: mcaExpFC1},
		{Op: family.OpRename, HF: []string{down}, MCA: mcaExpFC2},
		{Op: family.OpRename, HF: []string{router}, MCA: mcaRouter},
	}
}

// expertShapes: router, expert fc1/fc2 sized by ffn (a Dims field chosen per family).
func expertShapes(ffn func(family.Dims) int, from string) map[string]family.ShapeRule {
	return map[string]family.ShapeRule{
		mcaRouter: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Experts), int64(d.Hidden)} }, From: "num_experts × hidden_size"},
		mcaExpFC1: {Shape: func(d family.Dims) []int64 { return []int64{2 * int64(ffn(d)), int64(d.Hidden)} }, From: "2·" + from + " × hidden_size"},
		mcaExpFC2: {Shape: func(d family.Dims) []int64 { return []int64{int64(d.Hidden), int64(ffn(d))} }, From: "hidden_size × " + from},
	}
}

var moeExtras = decoderExtras

// denseLayersKey is the family dim listing the dense (non-MoE) decoder layers.
const denseLayersKey = "dense_layers"

// readSparsity reads which layers are MoE the way transformers' Qwen MoE models decide it:
// layer i is MoE unless i is in mlp_only_layers, and only when (i+1) % decoder_sparse_step
// == 0. It records the dense layers in d.Extra[dense_layers] ([]int, nil when none).
func readSparsity(cfg *loader.JSONNode, d *family.Dims) []family.Issue {
	bad := func(format string, a ...any) []family.Issue {
		return []family.Issue{{Severity: family.SevError, Code: "config-type", Message: fmt.Sprintf(format, a...)}}
	}
	step := 1
	if n, ok := cfg.Get("decoder_sparse_step"); ok && n.Kind != loader.JSONNull {
		v, err := n.Int()
		if err != nil || v < 1 || v > 1<<20 {
			return bad("config.json decoder_sparse_step must be a whole number of at least 1, found %s: fix config.json", n.Compact())
		}
		step = int(v)
	}
	only := map[int]bool{}
	if n, ok := cfg.Get("mlp_only_layers"); ok && n.Kind != loader.JSONNull {
		if n.Kind != loader.JSONArray {
			return bad("config.json mlp_only_layers must be a list of layer indexes, found %s", n.KindName())
		}
		for _, c := range n.Children {
			v, err := c.Int()
			if err != nil || v < 0 || v >= int64(max(d.Layers, 1)) {
				return bad("config.json mlp_only_layers holds %s, which is no layer index below num_hidden_layers %d: fix config.json", c.Compact(), d.Layers)
			}
			only[int(v)] = true
		}
	}
	var dense []int
	for l := 0; l < d.Layers && d.Experts > 0; l++ {
		if only[l] || (l+1)%step != 0 {
			dense = append(dense, l)
		}
	}
	if len(dense) > 0 {
		d.SetExtra(denseLayersKey, dense)
	}
	return nil
}

// denseLayers lists the dense layers readSparsity found.
func denseLayers(d family.Dims) []int {
	v, _ := d.Extra[denseLayersKey].([]int)
	return v
}

func isDense(layer int, d family.Dims) bool {
	for _, l := range denseLayers(d) {
		if l == layer {
			return true
		}
	}
	return false
}

// moeLayerFreq writes moe_layer_freq: decoder_sparse_step as ROLL does when every layer is
// MoE, else Megatron's explicit per-layer list when some layers
// are dense ("[1, 0, 1, ...]"; ROLL passes decoder_sparse_step, an int, which Megatron
// reads as "every N-th layer counted from 0", not transformers' (i+1) % N == 0 rule).
func moeLayerFreq(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
	var d family.Dims
	if n, ok := cfg.Get("num_hidden_layers"); ok {
		v, _ := n.Int()
		d.Layers = int(min(max(v, 0), 1<<20))
	}
	d.Experts = 1
	if issues := readSparsity(cfg, &d); len(issues) > 0 {
		return nil // the plan reports them through ReadDims
	}
	dense := denseLayers(d)
	if len(dense) == 0 {
		if n, ok := cfg.Get("decoder_sparse_step"); ok {
			kv["moe_layer_freq"] = string(n.Compact()) // as ROLL maps it
		}
		return nil
	}
	parts := make([]string, d.Layers)
	for i := range parts {
		parts[i] = "1"
	}
	for _, l := range dense {
		parts[l] = "0"
	}
	kv["moe_layer_freq"] = "[" + strings.Join(parts, ", ") + "]"
	return nil
}
