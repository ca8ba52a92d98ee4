package core_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// hooksFamily is Qwen3-Omni's template under another model type, with every generic hook a
// new family can use: a skipped non-weight, a computed mca key, and a dense-first-layer
// rename (deepseek_v3 renames layer 0's pre_mlp_layernorm to the fused fc1 norm) with its
// inverse.
func hooksFamily(t *testing.T) *family.Template {
	t.Helper()
	base, err := core.LookupTemplate("qwen3_omni_moe")
	if err != nil {
		t.Fatal(err)
	}
	tm := *base
	tm.ModelType = "hooks_test"
	tm.Skip = []string{"code2wav.code_embedding.weight"}
	tm.Hooks.MCAConfig = func(cfg *loader.JSONNode, kv map[string]string) []family.Issue {
		n, ok := cfg.Get("thinker_config.text_config.moe_intermediate_size")
		if !ok {
			return []family.Issue{{Severity: family.SevError, Code: "config-required", Message: "no moe_intermediate_size"}}
		}
		v, _ := n.Int()
		kv["moe_shared_expert_intermediate_size"] = strconv.FormatInt(2*v, 10)
		return nil
	}
	const from, to = ".pre_mlp_layernorm.weight", ".mlp.linear_fc1.layer_norm_weight"
	tm.Hooks.RenameMCA = func(rel string, layer, expert int, d family.Dims) string {
		if layer == 0 && rel == from {
			return to
		}
		return rel
	}
	tm.Hooks.UnrenameMCA = func(rel string, layer, expert int, d family.Dims) string {
		if layer == 0 && rel == to {
			return from
		}
		return rel
	}
	return &tm
}

func TestFamilyHooks(t *testing.T) {
	family.RegisterForTest(t, hooksFamily(t))
	o := fixture.DefaultTiny()
	hf := filepath.Join(t.TempDir(), "hooks")
	if err := fixture.WriteTinyAs(hf, o, "hooks_test"); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	p, err := core.BuildPlan(ck, core.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("plan errors: %v", p.Errors())
	}
	names := map[string]bool{}
	for _, g := range p.Groups {
		names[g.Name] = true
	}
	// the name hook renamed layer 0 only
	if !names["decoder.layers.0.mlp.linear_fc1.layer_norm_weight"] || names["decoder.layers.0.pre_mlp_layernorm.weight"] {
		t.Error("layer 0's pre_mlp_layernorm was not renamed by the family's RenameMCA")
	}
	if !names["decoder.layers.1.pre_mlp_layernorm.weight"] {
		t.Error("layer 1's pre_mlp_layernorm was renamed too")
	}
	// the skipped non-weight is left out with a warning, not an error
	i, ok := ck.ByName["code2wav.code_embedding.weight"]
	if !ok {
		t.Fatal("the fixture lacks code2wav.code_embedding.weight")
	}
	if p.TensorGroup[i] != -1 {
		t.Error("a Skip tensor was converted")
	}
	warned := false
	for _, is := range p.Issues {
		warned = warned || (is.Code == "not-a-weight" && is.Severity == core.SevWarning)
	}
	if !warned {
		t.Error("no not-a-weight warning for the skipped tensor")
	}
	// the computed mca key
	found := ""
	for _, kv := range p.MCAConfig {
		if kv.Key == "moe_shared_expert_intermediate_size" {
			found = kv.Value
		}
	}
	if want := strconv.Itoa(2 * o.MoEFFN); found != want {
		t.Errorf("moe_shared_expert_intermediate_size = %q, want %q", found, want)
	}

	// forward, then back: the inverse name hook maps the renamed tensor back
	out := filepath.Join(t.TempDir(), "mca")
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	back := toHF(t, out, core.ToHFOptions{})
	bk, err := loader.OpenHF(back)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if _, ok := bk.ByName["thinker.model.layers.0.post_attention_layernorm.weight"]; !ok {
		t.Error("the reverse did not undo the rename of layer 0's norm")
	}
	if len(bk.Tensors) != len(ck.Tensors)-1 {
		t.Errorf("back to HF: %d tensors, want %d (all but the skipped one)", len(bk.Tensors), len(ck.Tensors)-1)
	}
}

// An opt-out of another family is reported as not applying, not silently taken.
func TestForeignOptOutWarns(t *testing.T) {
	tm := hooksFamily(t)
	tm.OptOuts = nil
	tm.Optional = nil
	tm.Hooks.CheckStages = nil
	family.RegisterForTest(t, tm)
	hf := filepath.Join(t.TempDir(), "hooks")
	if err := fixture.WriteTinyAs(hf, fixture.DefaultTiny(), "hooks_test"); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	p, err := core.BuildPlan(ck, core.DefaultSettings().WithOptOut("ignore_deepstack", true))
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range p.Issues {
		if is.Code == "opt-out-not-applicable" && is.Severity == core.SevWarning {
			return
		}
	}
	t.Errorf("no opt-out-not-applicable warning: %v", p.Issues)
}
