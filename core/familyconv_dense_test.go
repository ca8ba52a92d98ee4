package core_test

// Conversion cases of the dense-decoder and their MoE families (llama, mistral, qwen2,
// qwen3, seed_oss, qwen2_moe, qwen3_moe, mixtral) for TestFamilyConversions.

import (
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
