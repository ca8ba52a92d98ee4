package core

import (
	"errors"
	"path"
	"sort"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// The template types live in the leaf package core/family (families import it without
// importing core); these aliases keep core's API in one place.
type (
	Template      = family.Template
	Rule          = family.Rule
	ConfigKey     = family.ConfigKey
	DistRules     = family.DistRules
	UnmappedHint  = family.UnmappedHint
	ShapeRule     = family.ShapeRule
	Required      = family.Required
	ComponentRule = family.ComponentRule
	KV            = family.KV
	Dims          = family.Dims
	OpKind        = family.OpKind
	Severity      = family.Severity
	Issue         = family.Issue
	Stage         = family.Stage
)

// Megatron name constants, op kinds and severities (see core/family).
const (
	MCALayerPrefix = family.MCALayerPrefix
	MCAMoEPrefix   = family.MCAMoEPrefix
	MCAEmbedding   = family.MCAEmbedding
	MCAOutputLayer = family.MCAOutputLayer

	OpRename  = family.OpRename
	OpQKV     = family.OpQKV
	OpQKVBias = family.OpQKVBias
	OpStack   = family.OpStack

	OpGatedQKV     = family.OpGatedQKV
	OpGDNConv1d    = family.OpGDNConv1d
	OpNextGDN      = family.OpNextGDN
	OpQwen35GDN    = family.OpQwen35GDN
	OpZeroCentered = family.OpZeroCentered
	OpDrop         = family.OpDrop

	OpExpertsGateUpT = family.OpExpertsGateUpT
	OpExpertsDownT   = family.OpExpertsDownT
	OpExpertsGateUp  = family.OpExpertsGateUp
	OpExpertsDown    = family.OpExpertsDown

	SevError   = family.SevError
	SevWarning = family.SevWarning
)

// LookupTemplate finds the template of a model type; the error (a *family.NoTemplateError)
// names the model types that have one.
func LookupTemplate(modelType string) (*Template, error) {
	return family.Lookup(modelType)
}

// ModelTypes lists the model types omnitui has templates for.
func ModelTypes() []string { return family.ModelTypes() }

// IsNoTemplate reports whether err says a model type has no template.
func IsNoTemplate(err error) bool {
	var nt *family.NoTemplateError
	return errors.As(err, &nt)
}

// ComponentForConfig is ComponentFor for a config.json, so that a model type matched by
// architecture gets its family's components.
func ComponentForConfig(cfg *loader.JSONNode) func(hfName string) string {
	if cfg != nil {
		if t, _, _, err := TemplateFor(cfg, "config.json"); err == nil {
			return t.Component
		}
	}
	return family.GenericComponent
}

// ComponentFor classifies HF tensor names into the model family's components (the
// Overview's breakdown); a model type without a template gets the names' first elements.
func ComponentFor(modelType string) func(hfName string) string {
	if t, err := family.Lookup(modelType); err == nil {
		return t.Component
	}
	return family.GenericComponent
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
func chunkExtras(t *Template, entries []Entry, tied bool) []string {
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
		label := x.Name()
		if x.Prefix == MCAOutputLayer && tied {
			label += " (tied)"
		}
		out = append(out, label)
	}
	return out
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// ComponentOrder lists the Overview's component rows for a model type: the family's
// components then "other"; without a template, the components present (first name
// elements) by bytes, largest first, "other" last.
func ComponentOrder(modelType string, bytes map[string]int64) []string {
	if t, err := family.Lookup(modelType); err == nil {
		return t.ComponentKeys()
	}
	keys := make([]string, 0, len(bytes))
	for k := range bytes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if (a == "other") != (b == "other") {
			return b == "other"
		}
		if bytes[a] != bytes[b] {
			return bytes[a] > bytes[b]
		}
		return a < b
	})
	return keys
}

// ComponentTitle is a component's display name for a model type.
func ComponentTitle(modelType, key string) string {
	if t, err := family.Lookup(modelType); err == nil {
		return t.ComponentLabel(key)
	}
	return key
}
