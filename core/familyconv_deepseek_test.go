package core_test

// Conversion cases of deepseek_v3 and glm4_moe for TestFamilyConversions (torch reference,
// round trip, reshard, verify). The FP8 and MTP forms, which the torch reference does not
// restate, are checked by core/deepseek_test.go.

import "github.com/omnitui/omnitui/core"

func init() {
	moe := []famCase{
		{Name: "tp1"},
		{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{Name: "ep2-te-grouped", Settings: func(s *core.Settings) { s.EP, s.GroupedGEMM = 2, true }},
		{Name: "ep2-legacy-grouped", Settings: func(s *core.Settings) { s.EP, s.GroupedGEMM, s.LegacyGroupedGEMM = 2, true, true }},
		{Name: "local-tp2", Settings: func(s *core.Settings) { s.TP, s.TransformerImpl = 2, "local" }},
		{Name: "pp2-vpp2", Settings: func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
	}
	addFamCases(forFamily("deepseek_v3", nil, "", moe)...)
	addFamCases(forFamily("deepseek_v3", []string{"no_yarn", "no_qlora"}, "no-qlora-", moe[:2])...)
	addFamCases(forFamily("deepseek_v3", []string{"dense0", "tied"}, "dense0-tied-", moe[:2])...)
	addFamCases(forFamily("glm4_moe", nil, "", moe)...)
	addFamCases(forFamily("glm4_moe", []string{"no_qknorm"}, "air-", moe[:2])...)
	addFamCases(famCase{Family: "deepseek_v3", Variants: []string{"fp8"}, Name: "keep-fp8-refused", Settings: func(s *core.Settings) { s.KeepFP8 = true }, PlanError: "keep-fp8"})
}
