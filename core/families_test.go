package core_test

import (
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/core/family"
)

// TestEveryFamily checks what every registered template must satisfy, so that a new family
// file is checked by adding it: its ops exist, every rule's Megatron tensor has a TP split
// rule, its opt-outs become well-formed settings, and it names its components.
func TestEveryFamily(t *testing.T) {
	if len(family.Templates()) == 0 {
		t.Fatal("no family is registered (blank-import core/families)")
	}
	for _, tm := range family.Templates() {
		t.Run(tm.ModelType, func(t *testing.T) {
			if tm.LayerPrefix == "" || !strings.HasSuffix(tm.LayerPrefix, ".") {
				t.Errorf("LayerPrefix %q must end in '.'", tm.LayerPrefix)
			}
			d := tm.Dist
			for _, r := range tm.Rules {
				if _, err := core.LookupOp(r.Op); err != nil {
					t.Errorf("rule %s: %v", r.Display(), err)
				}
				if r.Op == core.OpDrop { // dropped on purpose: no Megatron tensor, no split
					if len(r.HF) == 0 || r.MCA != "" {
						t.Errorf("drop rule %s must have inputs and no Megatron name", r.Display())
					}
					continue
				}
				if len(r.HF) == 0 || r.MCA == "" {
					t.Errorf("rule %s has no inputs or no Megatron name", r.Display())
				}
				name := strings.ReplaceAll(r.MCA, "{}", "x.weight")
				if strings.HasSuffix(name, ".bias") { // biases split like their weights, as in ROLL
					name = strings.TrimSuffix(name, ".bias") + ".weight"
				}
				split := 0
				for _, set := range [][]string{d.SwiGLU, d.Sections, d.Duplicated, d.Column, d.Row} {
					if matchAny(name, set) {
						split++
					}
				}
				if split == 0 {
					t.Errorf("rule %s: %s has no TP split rule (Dist.Duplicated/Column/Row/SwiGLU/Sections)", r.Display(), r.MCA)
				}
			}
			specs := map[string]bool{}
			for _, sp := range core.SettingSpecs(tm) {
				specs[sp.Name] = true
			}
			for _, o := range tm.OptOuts {
				if o.Name == "" || o.Flag == "" || o.Help == "" || o.Label == "" || len(o.Codes) == 0 {
					t.Errorf("opt-out %+v lacks a name, flag, help, label or issue codes", o)
				}
				if !specs[o.Name] {
					t.Errorf("opt-out %s is not a setting", o.Name)
				}
			}
			for _, opt := range tm.Optional {
				if opt.Present == nil || len(opt.Prefixes) == 0 || opt.ErrorCode == "" || opt.DropCode == "" {
					t.Errorf("optional part %v is incomplete", opt.Prefixes)
				}
			}
			if len(tm.Components) == 0 || len(tm.Extras) == 0 {
				t.Error("no Components (Overview breakdown) or Extras (chunk labels)")
			}
			if len(tm.Required.Global) == 0 || len(tm.Required.Layer) == 0 {
				t.Error("Required names no tensors")
			}
		})
	}
}

// matchAny is fnmatch over Megatron names as the plan does it ('*' within a name).
func matchAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if i := strings.IndexByte(p, '*'); i >= 0 && strings.HasPrefix(name, p[:i]) && strings.HasSuffix(name, p[i+1:]) {
			return true
		}
	}
	return false
}
