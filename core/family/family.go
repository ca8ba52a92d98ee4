// Package family holds what a model family is made of: its template data (config mapping,
// constants, converter rules, dist rules, shapes) and the hooks through which it adds
// family-specific behaviour to the generic plan, plus the registry families add themselves to.
//
// It is a leaf package: it imports nothing from core, so that core can import it and the
// families (package core/families, one file each) can import it without a cycle.
//
// Adding a family: write core/families/<model_type>.go with an init() calling
// family.Register(&family.Template{...}). Programs and tests that plan checkpoints
// blank-import github.com/omnitui/omnitui/core/families.
package family

import (
	"fmt"
	"sort"
	"strings"

	"github.com/omnitui/omnitui/loader"
)

// OpKind names a converter op; its behaviour is registered in core (one file per kind).
type OpKind string

// The op kinds core implements.
const (
	OpRename  OpKind = "rename"
	OpQKV     OpKind = "qkv"      // q,k,v weights fused per query group
	OpQKVBias OpKind = "qkv_bias" // q,k,v biases fused per query group
	OpStack   OpKind = "stack"    // gate and up kept as a pair for the swiglu split

	// Gated delta net / gated attention ops (qwen3_next, qwen3_5).
	OpGatedQKV     OpKind = "gated_qkv"     // q (with its output gate interleaved per head), k, v fused per query group
	OpGDNConv1d    OpKind = "gdn_conv1d"    // the delta net's depthwise conv1d, rows q|k|v split per section over TP
	OpNextGDN      OpKind = "next_gdn"      // in_proj_qkvz + in_proj_ba (grouped per key head) -> in_proj [q;k;v;z;b;a]
	OpQwen35GDN    OpKind = "qwen3_5_gdn"   // in_proj_qkv + in_proj_z + in_proj_b + in_proj_a -> in_proj [q;k;v;z;b;a]
	OpZeroCentered OpKind = "zero_centered" // RMSNorm weight w stored as w-1 (Megatron's zero-centered gamma)
	OpDrop         OpKind = "drop"          // tensors ROLL's template drops on purpose

	// Fused experts: one HF tensor [E, ...] holding every expert of a layer fans out into
	// E Megatron tensors, one per expert (the rule's MCA name is expert-relative, its HF
	// name layer-relative). "_t" kinds store each expert transposed ([E, in, out]) and
	// transpose it back; gate_up kinds hold [gate | up] halves along the output dim.
	OpExpertsGateUpT OpKind = "experts_gate_up_t" // [E, H, 2I] -> E x [gate; up] [2I, H] (qwen3_vl_moe)
	OpExpertsDownT   OpKind = "experts_down_t"    // [E, I, H] -> E x [H, I] (qwen3_vl_moe)
	OpExpertsGateUp  OpKind = "experts_gate_up"   // [E, 2I, H] -> E x [gate; up] [2I, H]
	OpExpertsDown    OpKind = "experts_down"      // [E, H, I] -> E x [H, I]
)

// Rule is one converter op of a template. HF names are relative to the layer or expert
// prefix when they start with '.', else they are full names; "{}" matches any suffix.
type Rule struct {
	Op  OpKind
	HF  []string // op inputs, in op order (q,k,v / gate,up)
	MCA string   // Megatron name, relative like HF
}

// Display renders the rule's HF side compactly, e.g. ".self_attn.q_proj.weight + ...".
func (r Rule) Display() string {
	if len(r.HF) == 1 {
		return r.HF[0]
	}
	return strings.Join(r.HF, " + ")
}

// ConfigKey maps one dotted HF config path to a Megatron config field.
type ConfigKey struct {
	HF  string
	MCA string
}

// Prefixed maps keys that sit under one HF config prefix (e.g. "text_config.") to Megatron
// fields; pairs are (hf, mca). Families with a flat config pass "".
func Prefixed(prefix string, pairs ...[2]string) []ConfigKey {
	out := make([]ConfigKey, len(pairs))
	for i, p := range pairs {
		out[i] = ConfigKey{HF: prefix + p[0], MCA: p[1]}
	}
	return out
}

// KV is one mca_config.json field; Value is JSON text.
type KV struct {
	Key   string
	Value string
}

// Megatron name constants.
const (
	MCALayerPrefix = "decoder.layers."
	MCAMoEPrefix   = ".mlp.experts.local_experts."
	MCAEmbedding   = "embedding.word_embeddings.weight"
	MCAOutputLayer = "output_layer.weight"
	MCAFinalNorm   = "decoder.final_layernorm.weight"
)

// Severity of a plan issue.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Issue is a rule a plan breaks (error) or something worth knowing (warning).
type Issue struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`    // stable identifier, e.g. "tp-divisibility"
	Message  string   `json:"message"` // what is wrong and what to change
	Tensors  []string `json:"tensors,omitempty"`
	OptOut   string   `json:"opt_out,omitempty"` // flag that accepts it, if any
}

// TensorsBrief names the issue's tensors for a one-line summary: the first n
// and a count of the rest ("3 tensors: a, b, c" or "40 tensors, e.g. a, b, c
// and 37 more"). It is "" when the message already names the only tensors.
func (is Issue) TensorsBrief(n int) string {
	if len(is.Tensors) == 0 || (len(is.Tensors) <= n && strings.Contains(is.Message, is.Tensors[0])) {
		return ""
	}
	if len(is.Tensors) <= n {
		return fmt.Sprintf("%d tensor(s): %s", len(is.Tensors), strings.Join(is.Tensors, ", "))
	}
	return fmt.Sprintf("%d tensors, e.g. %s and %d more", len(is.Tensors), strings.Join(is.Tensors[:n], ", "), len(is.Tensors)-n)
}

// Stage is one (pp, vp) model chunk of the pipeline with the global decoder layers it holds.
type Stage struct {
	PP    int `json:"pp"`
	VP    int `json:"vp"`
	First int `json:"first"` // first global layer
	Count int `json:"count"` // number of decoder layers
}

// UnmappedHint says what to do about a recognisable family of unmapped tensor names.
type UnmappedHint struct {
	Contains string
	Hint     string
}

// ShapeRule is the shape a Megatron tensor must have, and the config keys it comes from.
type ShapeRule struct {
	Shape func(Dims) []int64
	From  string // e.g. "vocab_size × hidden_size"
}

// Required lists the HF tensors the Megatron model cannot do without.
type Required struct {
	Global []string // full names
	LMHead string   // needed unless embeddings are tied
	Layer  []string // relative to each layer prefix
	Bias   []string // relative to each layer prefix, when the attention has biases
	MoE    []string // relative to each layer prefix, on layers with experts
	Expert []string // relative to each expert prefix
	// Dense are relative to each layer prefix of a model with experts whose layer is dense
	// (Hooks.MoELayer says false), e.g. a dense MLP among MoE layers.
	Dense []string
}

// ComponentRule names a component by name prefix (HF names for Components, Megatron names
// for Extras).
type ComponentRule struct {
	Prefix    string
	Component string // key, e.g. "vision"
	Label     string // shown in the UI; "" = Component
}

// Name is the label shown for the component.
func (c ComponentRule) Name() string {
	if c.Label != "" {
		return c.Label
	}
	return c.Component
}

// OptOut is a family-specific switch that accepts one of the family's plan errors. It becomes
// a CLI flag, a plan-JSON settings key and a Placement toggle; Settings.OptOuts[Name] holds it.
type OptOut struct {
	Name  string // key in Settings.OptOuts and plan JSON settings (snake_case), e.g. "skip_foo"
	Flag  string // CLI flag without dashes, e.g. "skip-foo"
	Help  string // one line for --help
	Label string // Placement form label
	// Codes are the issue codes this opt-out is about (the Placement form points at it).
	Codes []string
	// FixElsewhere maps an error code to the generic setting that really fixes it
	// (e.g. "pp"): the Placement form points errors of that code there instead.
	FixElsewhere map[string]string
	// Reverse: the reverse conversion turns it on (it converts what the files hold,
	// whether or not Megatron could load that layout).
	Reverse bool
}

// Optional is a part of the model that exists only when the config enables it; with the
// part disabled its weights are an error unless the opt-out drops them.
type Optional struct {
	Prefixes  []string        // Megatron name prefixes of the part
	Present   func(Dims) bool // whether the config enables it
	OptOut    string          // OptOut.Name that drops it
	ErrorCode string          // issue code when present in the weights but disabled
	ErrorMsg  string
	DropCode  string // warning code when dropped
	DropMsg   string
	// CarryCode and CarryMsg: the warning when a checkpoint read back (Megatron -> HF,
	// verify, reshard) holds the part although the config disables it, and it is carried
	// as it is ("" = a generic message).
	CarryCode string
	CarryMsg  string
}

// Hooks are the family-specific steps of planning. Every hook is optional.
type Hooks struct {
	// ReadDims reads family dims from config.json into d.Extra (after the generic dims).
	// Error issues stop the plan.
	ReadDims func(cfg *loader.JSONNode, d *Dims) []Issue
	// CheckStages checks the pipeline split against the family's needs; optOut reports
	// whether the user gave one of the family's opt-outs.
	CheckStages func(d Dims, stages []Stage, optOut func(name string) bool) []Issue
	// MCAConfig computes extra mca_config.json fields from config.json (JSON text values),
	// e.g. deepseek's rope_scaling → rotary_scaling_factor; it may overwrite mapped keys.
	MCAConfig func(cfg *loader.JSONNode, kv map[string]string) []Issue
	// RenameMCA rewrites a layer-relative Megatron name after the rule rename (forward);
	// layer is the global decoder layer (-1 outside layers), expert -1 outside experts.
	RenameMCA func(rel string, layer, expert int, d Dims) string
	// UnrenameMCA is RenameMCA's inverse, applied by the reverse before rule matching.
	UnrenameMCA func(rel string, layer, expert int, d Dims) string
	// ConfigPath maps a mapped config path (ConfigKey.HF) to where this config.json holds it,
	// e.g. the top level of a flat release config whose runtime class builds text_config
	// from those keys. Returning hf unchanged is the default.
	ConfigPath func(cfg *loader.JSONNode, hf string) string
	// MoELayer says whether a decoder layer of a model with experts is an MoE layer (nil:
	// every layer is); dense layers need Required.Dense instead of Required.MoE/Expert.
	MoELayer func(layer int, d Dims) bool
}

// ConfigPath is where config.json cfg holds the mapped path hf (see Hooks.ConfigPath).
func (t *Template) ConfigPath(cfg *loader.JSONNode, hf string) string {
	if h := t.Hooks.ConfigPath; h != nil && cfg != nil {
		return h(cfg, hf)
	}
	return hf
}

// FlatFallback is a Hooks.ConfigPath for families whose runtime config nests keys under
// prefix (e.g. "text_config.") but whose releases may keep them flat: a config.json
// without the nested object is read at the top level.
func FlatFallback(prefix string) func(cfg *loader.JSONNode, hf string) string {
	obj := strings.TrimSuffix(prefix, ".")
	return func(cfg *loader.JSONNode, hf string) string {
		rest, ok := strings.CutPrefix(hf, prefix)
		if !ok {
			return hf
		}
		if n, found := cfg.Get(obj); found && n.Kind == loader.JSONObject {
			return hf
		}
		return rest
	}
}

// MTPSpec describes a family's multi-token-prediction (MTP) layers as the HF release stores
// them: extra decoder layers at index num_hidden_layers + k (k < Dims.MTPLayers), each a full
// decoder layer plus its own tensors. Megatron-Core holds them on the last pipeline stage as
// mtp.layers.k.{Own...} and mtp.layers.k.<inner>.<decoder-layer names>.
type MTPSpec struct {
	// Own are the MTP-only Megatron names, relative to mtp.layers.k (e.g. ".enorm.weight");
	// every other tensor of the layer belongs to the inner decoder layer.
	Own []string
	// Copies are HF names, relative to the MTP layer, that the release stores as copies of a
	// global tensor and Megatron shares (left out going to Megatron; written back as copies
	// of that tensor by the reverse), mapped to the Megatron name they copy.
	Copies map[string]string
	// OptOut is the family opt-out (OptOut.Name) that leaves the MTP layers out.
	OptOut string
}

// Template describes one HF model type: config mapping, constants, converter ops, dist
// rules, and the family's hooks.
type Template struct {
	ModelType   string
	LayerPrefix string // HF prefix of decoder layers, e.g. "model.layers."
	MoEPrefix   string // HF infix of experts inside a layer, e.g. ".mlp.experts."
	Config      []ConfigKey
	// ConfigAlternatives are groups of HF config paths that name the same setting in
	// different transformers versions: a missing one is not reported while another
	// of its group is present (it is still left out of mca_config.json, as ROLL does).
	ConfigAlternatives [][]string
	Constants          []KV // Megatron fields whose value is fixed by the model family (JSON text)
	Rules              []Rule
	Dist               DistRules
	// Skip lists HF name suffixes that are not weights and are left out (ROLL's hf_invalid_keys).
	Skip     []string
	Required Required
	// Shapes the Megatron model builds from the config, by Megatron name (relative to its
	// layer/expert prefix for layer tensors); a tensor of another shape would not load.
	Shapes map[string]ShapeRule
	// Components break the HF tensors down for the Overview, by HF name prefix (the longest
	// matching prefix wins), in display order.
	Components []ComponentRule
	// Extras label the non-layer modules a pipeline chunk can hold, by Megatron name prefix,
	// in display order.
	Extras []ComponentRule
	// UnmappedHints explain well-known foreign layouts when an unmapped name contains Contains.
	UnmappedHints []UnmappedHint
	OptOuts       []OptOut
	Optional      []Optional
	// Layouts are the HF namings the family's checkpoints come in; the rules use the first
	// (nil: one naming).
	Layouts []HFLayout
	Hooks   Hooks
	// Architectures are the HF `architectures` names the family covers: a checkpoint whose
	// model_type has no template of its own is claimed by the family naming its architecture
	// (e.g. kimi_k2 with DeepseekV3ForCausalLM).
	Architectures []string
	// MTP is set for families whose releases carry multi-token-prediction layers.
	MTP *MTPSpec
}

// Component names the top-level component of an HF tensor name by the longest matching
// prefix; "other" when none matches.
func (t *Template) Component(hfName string) string {
	best, n := "other", -1
	for _, c := range t.Components {
		if len(c.Prefix) > n && strings.HasPrefix(hfName, c.Prefix) {
			best, n = c.Component, len(c.Prefix)
		}
	}
	return best
}

// ComponentLabel is the label of a component key ("" → the key itself).
func (t *Template) ComponentLabel(key string) string {
	for _, c := range t.Components {
		if c.Component == key {
			return c.Name()
		}
	}
	return key
}

// ComponentKeys lists the template's component keys in order, then "other".
func (t *Template) ComponentKeys() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range t.Components {
		if !seen[c.Component] {
			seen[c.Component] = true
			out = append(out, c.Component)
		}
	}
	if !seen["other"] {
		out = append(out, "other")
	}
	return out
}

// FindOptOut returns the template's opt-out of that name.
func (t *Template) FindOptOut(name string) (OptOut, bool) {
	for _, o := range t.OptOuts {
		if o.Name == name {
			return o, true
		}
	}
	return OptOut{}, false
}

// GenericComponent is the Overview breakdown without a template: the first name element.
func GenericComponent(hfName string) string {
	if i := strings.IndexByte(hfName, '.'); i > 0 {
		return hfName[:i]
	}
	return hfName
}

// The registry is the only global state of omnitui; it is filled at init time and read-only after.
var registry = map[string]*Template{}

// Register adds a template; it panics on a duplicate or empty model type or an unknown
// opt-out reference (programming errors at init).
func Register(t *Template) {
	if t.ModelType == "" {
		panic("family: template without ModelType")
	}
	if _, dup := registry[t.ModelType]; dup {
		panic("family: template registered twice: " + t.ModelType)
	}
	for _, o := range t.Optional {
		if _, ok := t.FindOptOut(o.OptOut); !ok && o.OptOut != "" {
			panic(fmt.Sprintf("family: %s optional part names unknown opt-out %q", t.ModelType, o.OptOut))
		}
	}
	registry[t.ModelType] = t
}

// Lookup finds the template of a model type.
func Lookup(modelType string) (*Template, error) {
	if t, ok := registry[modelType]; ok {
		return t, nil
	}
	return nil, &NoTemplateError{ModelType: modelType}
}

// LookupArchitecture finds the template that covers one of the architectures (in order).
func LookupArchitecture(archs []string) (*Template, string, bool) {
	for _, a := range archs {
		for _, t := range Templates() {
			for _, x := range t.Architectures {
				if x == a {
					return t, a, true
				}
			}
		}
	}
	return nil, "", false
}

// NoTemplateError says a model type has no template.
type NoTemplateError struct{ ModelType string }

func (e *NoTemplateError) Error() string {
	have := strings.Join(ModelTypes(), ", ")
	if have == "" {
		have = "(none registered)"
	}
	return fmt.Sprintf("no template for model_type %q; omnitui has templates for: %s", e.ModelType, have)
}

// ModelTypes lists the registered model types, sorted.
func ModelTypes() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Templates lists the registered templates in model-type order.
func Templates() []*Template {
	var out []*Template
	for _, mt := range ModelTypes() {
		out = append(out, registry[mt])
	}
	return out
}

// AllOptOuts lists every registered family's opt-outs, once per name, in model-type order
// (for CLI flags and --help, which exist before a checkpoint is opened).
func AllOptOuts() []OptOut {
	var out []OptOut
	seen := map[string]bool{}
	for _, t := range Templates() {
		for _, o := range t.OptOuts {
			if !seen[o.Name] {
				seen[o.Name] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// TB is the part of testing.TB that RegisterForTest needs.
type TB interface {
	Helper()
	Cleanup(func())
}

// RegisterForTest registers a template for the duration of one test (it is removed when
// the test ends), so that tests can plan model families of their own. Tests that use it
// must not run in parallel with tests that read the registry.
func RegisterForTest(t TB, tmpl *Template) {
	t.Helper()
	Register(tmpl)
	t.Cleanup(func() { delete(registry, tmpl.ModelType) })
}
