package core_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

// setMCAConfig overwrites keys of an mca checkpoint's mca_config.json (nil writes null).
func setMCAConfig(t *testing.T, dir string, kv map[string]any) {
	t.Helper()
	p := filepath.Join(dir, "mca_config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range kv {
		if _, ok := cfg[k]; !ok {
			t.Fatalf("mca_config.json has no %s", k)
		}
		cfg[k] = v
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSettingsReadFromNames: rank files written with one setting under an mca_config.json
// that records another are read as written (every setting the names reveal), with a
// naming-config-mismatch warning, and convert back to the original checkpoint.
func TestSettingsReadFromNames(t *testing.T) {
	six := func(o *fixture.TinyOptions) { o.Layers = 6 }
	for _, c := range []struct {
		name   string
		o      func(*fixture.TinyOptions)
		write  func(*core.Settings)
		config map[string]any // what mca_config.json is made to say
		check  func(core.Settings) bool
		says   []string // the warning quotes
	}{
		{"legacy-under-te", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.TP, s.EP = 2, 2 },
			map[string]any{"moe_use_legacy_grouped_gemm": false},
			func(s core.Settings) bool { return s.LegacyGrouped() && s.LegacyGroupedGEMM },
			[]string{"moe_use_legacy_grouped_gemm false", "legacy grouped-GEMM names", "Transformer Engine >= 1.9"}},
		{"te-under-legacy", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.EP = 2 },
			map[string]any{"moe_use_legacy_grouped_gemm": true},
			func(s core.Settings) bool { return s.TEGrouped() },
			[]string{"moe_use_legacy_grouped_gemm true", "Transformer Engine grouped-GEMM names"}},
		{"per-expert-under-grouped", nil, func(s *core.Settings) { s.EP = 2 },
			map[string]any{"moe_grouped_gemm": true},
			func(s core.Settings) bool { return !s.GroupedGEMM },
			[]string{"moe_grouped_gemm true", "per-expert names", "local_experts"}},
		{"local-norms-under-te", nil, func(s *core.Settings) { s.TransformerImpl = "local"; s.TP = 2 },
			map[string]any{"transformer_impl": "transformer_engine"},
			func(s core.Settings) bool { return s.TransformerImpl == "local" },
			[]string{`transformer_impl "transformer_engine"`, "local-implementation norm names", "input_layernorm"}},
		{"chunks-under-no-vpp", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) },
			map[string]any{"virtual_pipeline_model_parallel_size": nil},
			func(s core.Settings) bool { return s.VPP == 2 },
			[]string{"virtual_pipeline_model_parallel_size null", "2 model chunk(s)", "model0, model1"}},
		{"layout-under-uniform", six, func(s *core.Settings) { s.PP = 2; s.Layout = "Et*4|ttL" },
			map[string]any{"pipeline_model_parallel_layout": nil},
			func(s core.Settings) bool { return s.Layout == "Et*4|ttL" },
			[]string{"pipeline split (uniform)", "4, 2 per chunk", `"Et*4|ttL"`}},
		{"account-under-uniform", func(o *fixture.TinyOptions) { o.Layers = 5 }, func(s *core.Settings) { s.PP = 2; s.AccountEmbedding = true },
			map[string]any{"account_for_embedding_in_pipeline_split": false},
			func(s core.Settings) bool { return s.Layout == "Ett|t*3L" && !s.AccountEmbedding },
			[]string{"pipeline split (uniform)", "2, 3 per chunk", `"Ett|t*3L"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hf, out, _ := convertTiny(t, convCase{c.name, c.o, c.write})
			setMCAConfig(t, out, c.config)
			rp := reversePlan(t, out, false)
			if !c.check(rp.Settings) {
				t.Errorf("settings read: %+v", rp.Settings)
			}
			is, ok := issueOf(rp.Issues, "naming-config-mismatch")
			if !ok || is.Severity != core.SevWarning {
				t.Fatalf("no naming-config-mismatch warning: %+v", rp.Issues)
			}
			mustContain(t, "warning", is.Message, c.says...)
			sameHF(t, hf, toHF(t, out, core.ToHFOptions{}))
			verifyMatch(t, out, hf)
		})
	}
}

// TestNamesAgreeingWithConfigNoWarning: an omnitui output read back says nothing about naming.
func TestNamesAgreeingWithConfigNoWarning(t *testing.T) {
	for _, w := range []func(*core.Settings){
		func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 2 },
		func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local"; s.TP = 2 },
		func(s *core.Settings) { s.PP, s.VPP = 2, 1 },
	} {
		_, out, _ := convertTiny(t, convCase{"agree", nil, w})
		rp := reversePlan(t, out, false)
		for _, is := range rp.Issues {
			if strings.HasPrefix(is.Code, "naming") {
				t.Errorf("unexpected %s: %s", is.Code, is.Message)
			}
		}
	}
}
