package core_test

import (
	"slices"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

func TestAllowedSizesAreTheOnesThePlanAccepts(t *testing.T) {
	// Qwen3-Omni-like dims: 48 layers, 32 heads, 4 groups, 128 experts, deepstack 3.
	d := core.Dims{Heads: 32, Groups: 4, Vocab: 151936, MoEFFN: 768, Experts: 128, Layers: 48}
	d.SetExtra("deepstack_layers", 3)
	omni, err := core.LookupTemplate("qwen3_omni_moe")
	if err != nil {
		t.Fatal(err)
	}
	s := core.DefaultSettings()
	tests := []struct {
		name    string
		s       core.Settings
		setting string
		want    []int
	}{
		{"tp divides heads, vocab, groups", s, "tp", []int{1, 2, 4, 8, 16, 32}},
		{"ep divides experts", s, "ep", []int{1, 2, 4, 8, 16, 32, 64, 128}},
		{"etp follows tp", func() core.Settings { s := s; s.TP = 4; return s }(), "etp", []int{4}},
		{"pp: every stage has layers, the first has 3 for deepstack", s, "pp", []int{1, 2, 3, 4, 6, 8, 12, 16}}, // uniform split: PP divides 48, 3+ layers first
		{"vpp needs pp > 1", s, "vpp", []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := core.AllowedSizes(omni, d, tc.s, tc.setting)
			if !slices.Equal(got, tc.want) {
				t.Errorf("AllowedSizes(%s) = %v, want %v", tc.setting, got, tc.want)
			}
		})
	}
	// vpp at pp 4: 48 layers over 4×v chunks, the first holding at least 3.
	s4 := s
	s4.PP = 4
	if got := core.AllowedSizes(omni, d, s4, "vpp"); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("vpp at pp 4: %v", got)
	}
}

// The sizes allowed are exactly those whose plan has no error about that size.
func TestAllowedSizesAgreeWithBuildPlan(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	base := core.DefaultSettings()
	p := buildPlan(t, ck, base)
	omni, err := core.LookupTemplate(p.ModelType)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string][]string{
		"tp":  {"tp-divisibility", "bad-size"},
		"ep":  {"ep-divisibility", "bad-size"},
		"pp":  {"pipeline-split", "deepstack-first-stage", "bad-size"},
		"vpp": {"pipeline-split", "deepstack-first-stage", "vpp-without-pp", "layout", "bad-size"},
	}
	for _, pp := range []int{1, 2} {
		for setting, bad := range codes {
			s := base
			s.PP = pp
			allowed := core.AllowedSizes(omni, p.Dims, s, setting)
			for v := 1; v <= 12; v++ {
				t2 := s
				switch setting {
				case "tp":
					t2.TP = v
				case "ep":
					t2.EP = v
				case "pp":
					t2.PP = v
				case "vpp":
					t2.VPP = v
				}
				q, err := core.BuildPlan(ck, t2)
				if err != nil {
					t.Fatal(err)
				}
				planOK := true
				for _, is := range q.Issues {
					// vpp 1 at pp 1 is only a warning, but Megatron rejects it: not a step.
					if (is.Severity == core.SevError && slices.Contains(bad, is.Code)) || is.Code == "vpp-at-pp1" {
						planOK = false
					}
				}
				if slices.Contains(allowed, v) != planOK {
					t.Errorf("pp %d, %s %d: allowed %v, but the plan's errors say ok=%v (%+v)", pp, setting, v, allowed, planOK, q.Issues)
				}
			}
		}
	}
}
