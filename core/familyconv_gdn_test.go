package core_test

// Conversion cases of the hybrid gated-delta-net families (qwen3_next, qwen3_5,
// qwen3_5_moe) for TestFamilyConversions.

import (
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// gdnSettings are the parallel settings the hybrid families are converted with (the tiny
// delta nets have 2 key heads, so TP is at most 2).
func gdnSettings(moe bool) []famCase {
	cs := []famCase{
		{Name: "tp1"},
		{Name: "tp2", Settings: func(s *core.Settings) { s.TP = 2 }},
		{Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
		{Name: "pp2-vpp2", Settings: func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
		{Name: "local-impl-tp2", Settings: func(s *core.Settings) { s.TP = 2; s.TransformerImpl = "local" }},
		{Name: "f32-to-bf16-tp2", Options: func(o *fixture.ReleaseOptions) { o.DType = loader.F32 }, Settings: func(s *core.Settings) { s.TP = 2; s.DType = "bf16" }},
	}
	if moe {
		cs = append(cs,
			famCase{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
			famCase{Name: "ep2-grouped-te", Settings: func(s *core.Settings) { s.EP = 2; s.GroupedGEMM = true }},
			famCase{Name: "ep2-grouped-legacy", Settings: func(s *core.Settings) { s.EP = 2; s.GroupedGEMM = true; s.LegacyGroupedGEMM = true }},
		)
	}
	return cs
}

func init() {
	addFamCases(forFamily("qwen3_next", nil, "", gdnSettings(true))...)
	addFamCases(forFamily("qwen3_next", []string{"mtp", "layer_types"}, "mtp-", []famCase{
		{Name: "tp1"}, {Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
	})...)
	addFamCases(forFamily("qwen3_next", []string{"tied"}, "tied-", []famCase{
		{Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
	})...)
	addFamCases(famCase{Family: "qwen3_next", Name: "tp4-refused", Settings: func(s *core.Settings) { s.TP = 4 }, PlanError: "tp-divisibility"})
}

func init() {
	addFamCases(forFamily("qwen3_5", nil, "", gdnSettings(false))...)
	addFamCases(forFamily("qwen3_5", []string{"tied", "no_interval"}, "tied-", []famCase{
		{Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
	})...)
	addFamCases(forFamily("qwen3_5", []string{"no_mtp"}, "no-mtp-", []famCase{
		{Name: "pp2", Settings: func(s *core.Settings) { s.PP = 2 }},
	})...)
	addFamCases(
		famCase{Family: "qwen3_5", Variants: []string{"mtp_off"}, Name: "mtp-off-refused", PlanError: "mtp-disabled"},
		famCase{Family: "qwen3_5", Variants: []string{"mtp_off"}, Name: "mtp-off-dropped", Settings: func(s *core.Settings) { *s = s.WithOptOut("drop_mtp", true) }},
	)
}

func init() {
	addFamCases(forFamily("qwen3_5_moe", []string{"no_mtp"}, "", gdnSettings(true))...)
	// (per-expert releases convert too, but map back to the release's fused form, so they
	// are checked against ROLL by the oracle instead of a byte-identical round trip)
	addFamCases(forFamily("qwen3_5_moe", []string{"no_mtp", "tied"}, "tied-", []famCase{
		{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
	})...)
	// the MTP block's experts: ROLL crashes on fused ones; omnitui refuses both forms (not placed yet)
	addFamCases(famCase{Family: "qwen3_5_moe", Name: "mtp-experts-refused", PlanError: "unmapped"})
}
