package core

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// Rule is one converter op of a template. HF names are relative to the layer or expert
// prefix when they start with '.', else they are full names; "{}" matches any suffix.
type Rule struct {
	Op  OpKind
	HF  []string // op inputs, in op order (q,k,v / gate,up)
	MCA string   // Megatron name, relative like HF
}

// Display renders the rule's HF side compactly, e.g. ".self_attn.{q,k,v}_proj.weight".
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
	// grouped GEMM renames of expert weights
	GroupedLegacy map[string]string // pure expert name -> layer-level name (".linear_fc1.weight" -> ".mlp.experts.weight1")
	GroupedTE     map[string]string // pure expert name -> layer-level name prefix, expert index appended
	TEToLocal     map[string]string // TE norm names -> local-impl names
}

// Template describes one HF model type: config mapping, constants, converter ops and dist rules.
type Template struct {
	ModelType   string
	LayerPrefix string // HF prefix of decoder layers, e.g. "thinker.model.layers."
	MoEPrefix   string // HF infix of experts inside a layer, e.g. ".mlp.experts."
	Config      []ConfigKey
	// ConfigAlternatives are groups of HF config paths that name the same setting in
	// different transformers versions: a missing one is not reported while another
	// of its group is present (it is still left out of mca_config.json, as ROLL does).
	ConfigAlternatives [][]string
	Constants          []KV // Megatron fields whose value is fixed by the model family (JSON text)
	Rules              []Rule
	Dist               DistRules

	// Names of the HF config paths the plan reads dims from.
	DeepstackKey        string   // list whose length is the number of decoder layers deepstack needs on the first stage
	AudioOutputKey      string   // enable_audio_output
	AudioOutputPrefixes []string // Megatron name prefixes that exist only with audio output
	Components          []ComponentRule
	Required            Required
	// Shapes the Megatron model builds from the config, by Megatron name (relative to its
	// layer/expert prefix for layer tensors); a tensor of another shape would not load.
	Shapes map[string]ShapeRule
	// Extras label the non-layer modules a pipeline chunk can hold, by Megatron name prefix,
	// in display order.
	Extras []ComponentRule
	// UnmappedHints explain well-known foreign layouts when an unmapped name contains Contains.
	UnmappedHints []UnmappedHint
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
	MoE    []string // relative to each layer prefix, when the model has experts
	Expert []string // relative to each expert prefix
}

// ComponentRule names the top-level component of an HF tensor by prefix.
type ComponentRule struct {
	Prefix    string
	Component string
}

// Megatron name constants.
const (
	MCALayerPrefix = "decoder.layers."
	MCAMoEPrefix   = ".mlp.experts.local_experts."
	MCAEmbedding   = "embedding.word_embeddings.weight"
	MCAOutputLayer = "output_layer.weight"
)

// The registry is the only global state of omnitui; it is filled at init time and read-only after.
var registry = map[string]*Template{}

// Register adds a template; it panics on a duplicate model type (a programming error at init).
func Register(t *Template) {
	if _, dup := registry[t.ModelType]; dup {
		panic("core: template registered twice: " + t.ModelType)
	}
	registry[t.ModelType] = t
}

// LookupTemplate finds the template of a model type.
func LookupTemplate(modelType string) (*Template, error) {
	if t, ok := registry[modelType]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("model_type %q is not supported: omnitui converts %s; check config.json's \"model_type\"", modelType, strings.Join(ModelTypes(), ", "))
}

// ModelTypes lists the supported model types.
func ModelTypes() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Component names the top-level component of an HF tensor name ("thinker_text", "vision", ...).
func (t *Template) Component(hfName string) string {
	for _, c := range t.Components {
		if strings.HasPrefix(hfName, c.Prefix) {
			return c.Component
		}
	}
	return "other"
}

// Component names the top-level component of an HF tensor of any registered template
// (falls back to "other").
func Component(hfName string) string {
	for _, mt := range ModelTypes() {
		if c := registry[mt].Component(hfName); c != "other" {
			return c
		}
	}
	return "other"
}

// splitPrefix splits an HF name into its layer/expert prefix and the rest, like ROLL:
// "thinker.model.layers.3.mlp.experts.7.up_proj.weight" -> ("thinker.model.layers.3.mlp.experts.7", ".up_proj.weight", 3, 7).
// Names outside the layer prefix return ("", name, -1, -1).
func (t *Template) splitPrefix(name string) (prefix, rest string, layer, expert int) {
	layer, expert = -1, -1
	if !strings.HasPrefix(name, t.LayerPrefix) {
		return "", name, -1, -1
	}
	i := len(t.LayerPrefix)
	j := i
	for j < len(name) && name[j] >= '0' && name[j] <= '9' {
		j++
	}
	if j == i || j-i > 9 {
		return "", name, -1, -1
	}
	layer = atoi(name[i:j])
	prefix, rest = name[:j], name[j:]
	if t.MoEPrefix != "" && strings.HasPrefix(rest, t.MoEPrefix) {
		k := len(t.MoEPrefix)
		m := k
		for m < len(rest) && rest[m] >= '0' && rest[m] <= '9' {
			m++
		}
		if m > k && m-k <= 9 && (m == len(rest) || rest[m] == '.') {
			expert = atoi(rest[k:m])
			prefix, rest = name[:j+m], rest[m:]
		}
	}
	return prefix, rest, layer, expert
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// matchRule finds the rule and input slot for a name relative to its prefix.
// Matching is anchored: a rule name must equal rest, or for "{}" rules rest must
// start with the part before "{}" (the wildcard takes the remainder).
func (t *Template) matchRule(rest string) (rule, slot int, wildcard string, ok bool) {
	for ri, r := range t.Rules {
		for si, h := range r.HF {
			if h == rest {
				return ri, si, "", true
			}
		}
	}
	for ri, r := range t.Rules {
		for si, h := range r.HF {
			if i := strings.Index(h, "{}"); i >= 0 && strings.HasPrefix(rest, h[:i]) && strings.HasSuffix(rest, h[i+2:]) && len(rest) > len(h)-2 {
				return ri, si, rest[i : len(rest)-(len(h)-i-2)], true
			}
		}
	}
	return 0, 0, "", false
}

// mcaPrefix maps an HF layer/expert prefix to the Megatron one (global numbers kept).
func (t *Template) mcaPrefix(layer, expert int) string {
	if layer < 0 {
		return ""
	}
	if expert < 0 {
		return fmt.Sprintf("%s%d", MCALayerPrefix, layer)
	}
	return fmt.Sprintf("%s%d%s%d", MCALayerPrefix, layer, MCAMoEPrefix, expert)
}

// fnmatchAny reports whether name equals or fnmatch-matches one of the patterns.
func fnmatchAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if strings.ContainsAny(p, "*?[") {
			// path.Match's '*' stops at '/', which Megatron names never contain.
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
	}
	return false
}

// chunkExtras lists, in the template's order, the non-layer modules a chunk's entries hold
// ("embedding", "vision", "output_layer (tied)", ...).
func (t *Template) chunkExtras(entries []Entry, tied bool) []string {
	held := make([]bool, len(t.Extras))
	for _, e := range entries {
		if strings.HasPrefix(e.Name, MCALayerPrefix) {
			continue
		}
		for i, x := range t.Extras {
			if strings.HasPrefix(e.Name, x.Prefix) {
				held[i] = true
				break
			}
		}
	}
	var out []string
	for i, x := range t.Extras {
		if !held[i] {
			continue
		}
		label := x.Component
		if x.Prefix == MCAOutputLayer && tied {
			label += " (tied)"
		}
		out = append(out, label)
	}
	return out
}
