package core_test

import (
	"encoding/json"
	"testing"

	"github.com/omnitui/omnitui/core"
)

func TestSettingsJSON(t *testing.T) {
	s := core.DefaultSettings()
	s.TP, s.PP, s.Layout, s.AccountLoss = 2, 4, "Et|tt|tt|tL", false
	s = s.WithOptOut("drop_audio_output", true)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"tp":2,"pp":4,"ep":1,"etp":0,"layout":"Et|tt|tt|tL","account_embedding":false,"account_loss":false,"moe_grouped_gemm":false,"moe_legacy_grouped_gemm":false,"transformer_impl":"transformer_engine","dtype":"keep","skip_unmapped":false,"allow_uneven":false,"drop_audio_output":true}`
	if string(b) != want {
		t.Errorf("settings JSON\n got %s\nwant %s", b, want)
	}
	var back core.Settings
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Errorf("round trip: %+v, want %+v", back, s)
	}
	s.VPP = 2
	b, _ = json.Marshal(s)
	if err := json.Unmarshal(b, &back); err != nil || back.VPP != 2 {
		t.Errorf("vpp does not round-trip: %s", b)
	}
}

func TestMergeSettings(t *testing.T) {
	src := core.DefaultSettings()
	src.TP, src.PP, src.VPP, src.EP, src.ETP, src.GroupedGEMM, src.DType = 2, 4, 2, 2, 2, true, "keep"
	src = src.Normalized()
	flags := core.DefaultSettings()
	flags.TP, flags.PP, flags.DType = 4, 1, "bf16"
	flags = flags.WithOptOut("ignore_deepstack", true)
	tests := []struct {
		name  string
		given []string
		check func(core.Settings) bool
	}{
		{"nothing given keeps the source, opt-outs and dtype from the flags", nil, func(s core.Settings) bool {
			return s.TP == 2 && s.PP == 4 && s.VPP == 2 && s.EP == 2 && s.GroupedGEMM && s.DType == "bf16" && s.OptOut("ignore_deepstack")
		}},
		{"--tp makes ETP follow", []string{"tp"}, func(s core.Settings) bool { return s.TP == 4 && s.ETP == 4 && s.PP == 4 }},
		{"a pipeline flag replaces the split, PP kept", []string{"account-loss"}, func(s core.Settings) bool {
			return s.PP == 4 && s.VPP == 0 && !s.AccountLoss
		}},
		{"--pp replaces PP and unsets VPP", []string{"pp"}, func(s core.Settings) bool { return s.PP == 1 && s.VPP == 0 }},
	}
	for _, tc := range tests {
		given := map[string]bool{}
		for _, g := range tc.given {
			given[g] = true
		}
		s := core.MergeSettings(src, flags, func(f string) bool { return given[f] })
		if !tc.check(s) {
			t.Errorf("%s: got %+v", tc.name, s)
		}
	}
}

// Every flag and JSON key is declared once: no two settings share one.
func TestSettingsTableUnique(t *testing.T) {
	flags, names := map[string]bool{}, map[string]bool{}
	for _, sp := range core.SettingSpecs(nil) {
		if flags[sp.Flag] || names[sp.Name] {
			t.Errorf("setting %s (--%s) declared twice", sp.Name, sp.Flag)
		}
		flags[sp.Flag], names[sp.Name] = true, true
	}
	if !names["drop_audio_output"] || !names["ignore_deepstack"] {
		t.Error("the registered family's opt-outs are not settings")
	}
}
