package core_test

// Conversion cases of the dense-decoder and their MoE families (llama, mistral, qwen2,
// qwen3, seed_oss, qwen2_moe, qwen3_moe, mixtral) for TestFamilyConversions.

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// denseSettings are the parallel settings every dense family is converted with.
func denseSettings() []famCase {
	return []famCase{
		{Name: "tp1"},
		{Name: "tp2", Settings: func(s *core.Settings) { s.TP = 2 }},
		{Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
		{Name: "pp2-vpp2", Settings: func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
		{Name: "local-impl-tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2; s.TransformerImpl = "local" }},
		{Name: "pp2-account-embedding-loss-layout", Settings: func(s *core.Settings) { s.PP = 2; s.Layout = "Et|tttL" }},
		{Name: "f32-to-bf16-tp2", Options: func(o *fixture.ReleaseOptions) { o.DType = loader.F32 }, Settings: func(s *core.Settings) { s.TP = 2; s.DType = "bf16" }},
		{Name: "single-shard-pp4", Options: func(o *fixture.ReleaseOptions) { o.Shards = 1 }, Settings: func(s *core.Settings) { s.PP = 4 }},
	}
}

// forFamily stamps family and variants onto cases.
func forFamily(family string, variants []string, prefix string, cs []famCase) []famCase {
	out := make([]famCase, len(cs))
	for i, c := range cs {
		c.Family, c.Variants = family, variants
		c.Name = prefix + c.Name
		out[i] = c
	}
	return out
}

func init() {
	tiedTP2PP2 := []famCase{
		{Name: "tp1"},
		{Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
	}
	// llama
	addFamCases(forFamily("llama", nil, "", denseSettings())...)
	addFamCases(forFamily("llama", []string{"tied"}, "tied-", tiedTP2PP2)...)
	addFamCases(forFamily("llama", []string{"tied_lm"}, "tied-lm-", tiedTP2PP2)...)
	addFamCases(forFamily("llama", []string{"inv_freq", "no_head_dim"}, "inv-freq-", tiedTP2PP2)...)
	addFamCases(famCase{Family: "llama", Variants: []string{"bias"}, Name: "attention-bias-refused", PlanError: "attention-bias"})
}

// moeSettings are the parallel settings every MoE family is converted with.
func moeSettings() []famCase {
	return []famCase{
		{Name: "tp1"},
		{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{Name: "grouped-te-ep2-tp2", Settings: func(s *core.Settings) { s.GroupedGEMM = true; s.EP, s.TP = 2, 2 }},
		{Name: "grouped-legacy-ep4-tp2", Settings: func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }},
		{Name: "grouped-local-impl-ep2", Settings: func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local"; s.EP = 2 }},
		{Name: "local-impl-tp2-ep2", Settings: func(s *core.Settings) { s.TransformerImpl = "local"; s.TP, s.EP = 2, 2 }},
		{Name: "pp2-vpp2-ep2", Settings: func(s *core.Settings) { s.PP, s.VPP, s.EP = 2, 2, 2 }},
		{Name: "ep8", Settings: func(s *core.Settings) { s.EP = 8 }},
		{Name: "f32-to-bf16-ep2", Options: func(o *fixture.ReleaseOptions) { o.DType = loader.F32 }, Settings: func(s *core.Settings) { s.EP = 2; s.DType = "bf16" }},
	}
}

func init() {
	tp2pp2 := func(s *core.Settings) { s.TP, s.PP = 2, 2 }
	tiedCases := func(family string) []famCase {
		var out []famCase
		out = append(out, forFamily(family, []string{"tied"}, "tied-", []famCase{{Name: "tp2-pp2", Settings: tp2pp2}})...)
		out = append(out, forFamily(family, []string{"tied_lm"}, "tied-lm-", []famCase{{Name: "pp2", Settings: func(s *core.Settings) { s.PP = 2 }}})...)
		return out
	}
	for _, f := range []string{"mistral", "qwen2", "qwen3", "seed_oss"} {
		addFamCases(forFamily(f, nil, "", denseSettings())...)
		addFamCases(tiedCases(f)...)
	}
	addFamCases(forFamily("mistral", []string{"nemo"}, "nemo-", []famCase{{Name: "tp2-pp2", Settings: tp2pp2}, {Name: "tp1"}})...)
	addFamCases(forFamily("mistral", []string{"inv_freq"}, "inv-freq-", []famCase{{Name: "tp2", Settings: func(s *core.Settings) { s.TP = 2 }}})...)
	addFamCases(
		famCase{Family: "mistral", Variants: []string{"bias"}, Name: "attention-bias-refused", PlanError: "attention-bias"},
		famCase{Family: "qwen3", Variants: []string{"bias"}, Name: "o-proj-bias-refused", PlanError: "unmapped-layout"},
		famCase{Family: "qwen3", Variants: []string{"bias"}, Name: "o-proj-bias-refused-skip-unmapped", PlanError: "unmapped-layout",
			Settings: func(s *core.Settings) { s.SkipUnmapped = true }},
		famCase{Family: "seed_oss", Variants: []string{"out_bias"}, Name: "out-bias-refused", PlanError: "attention-out-bias"},
		famCase{Family: "qwen3_moe", Variants: []string{"bias"}, Name: "o-proj-bias-refused", PlanError: "unmapped-layout"},
		famCase{Family: "qwen2_moe", Variants: []string{"mlp_only"}, Name: "dense-layer-refused", PlanError: "dense-layers"},
	)
	for _, f := range []string{"qwen2_moe", "qwen3_moe", "mixtral"} {
		addFamCases(forFamily(f, nil, "", moeSettings())...)
		addFamCases(tiedCases(f)...)
	}
	// qwen3_moe dense layers among MoE layers (ROLL crashes; omnitui converts)
	addFamCases(forFamily("qwen3_moe", []string{"mlp_only"}, "mlp-only-", []famCase{
		{Name: "tp1"},
		{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{Name: "grouped-legacy-ep2", Settings: func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 2 }},
		{Name: "local-impl-tp2", Settings: func(s *core.Settings) { s.TransformerImpl = "local"; s.TP = 2 }},
	})...)
	addFamCases(forFamily("qwen3_moe", []string{"sparse_step2"}, "sparse-step2-", []famCase{
		{Name: "grouped-te-ep2-tp2", Settings: func(s *core.Settings) { s.GroupedGEMM = true; s.EP, s.TP = 2, 2 }},
		{Name: "pp2-vpp2", Settings: func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
	})...)
}

// TestDenseFamiliesSkipInvFreq: every dense-group family leaves out the rotary inv_freq
// buffers older checkpoints carry (F32, one per layer) and lists each of them as skipped.
func TestDenseFamiliesSkipInvFreq(t *testing.T) {
	for _, f := range []string{"llama", "mistral", "qwen2", "qwen3", "seed_oss", "qwen2_moe", "qwen3_moe", "mixtral"} {
		t.Run(f, func(t *testing.T) {
			spec, err := fixture.Release(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for l := 0; l < 4; l++ {
				n := fmt.Sprintf("model.layers.%d.self_attn.rotary_emb.inv_freq", l)
				spec.AddAs(n, loader.F32, 8)
				want = append(want, n)
			}
			hf := filepath.Join(t.TempDir(), "hf")
			if err := fixture.WriteRelease(hf, spec, fixture.ReleaseOptions{Seed: 1}); err != nil {
				t.Fatal(err)
			}
			_, p := planHF(t, hf, core.DefaultSettings())
			if p.HasErrors() {
				t.Fatalf("plan errors: %+v", p.Errors())
			}
			var listed []string
			for _, is := range p.Issues {
				if is.Code == "not-a-weight" {
					listed = append(listed, is.Tensors...)
				}
			}
			if !slices.Equal(listed, want) {
				t.Errorf("skipped tensors listed %v, want %v", listed, want)
			}
		})
	}
}
