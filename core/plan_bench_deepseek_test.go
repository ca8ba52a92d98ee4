package core_test

// Plans of the real-scale deepseek_v3 / glm4_moe releases (sparse fixtures with the
// published anatomy: DeepSeek-V3 as released in block FP8 with its MTP layer, 91,991
// tensors; GLM-4.5 and GLM-4.5-Air with their MTP layers) at the layouts they are trained
// with.

import (
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

// DeepSeek-V3's 61 layers over 16 stages: the embedding and 3 dense layers first, 4 layers
// per middle stage, 2 layers and the loss last (Megatron's published recipe shape).
var dsV3Layout = "Et*3|" + strings.Repeat("t*4|", 14) + "t*2L"

var realDeepseekLayouts = []struct {
	name, release string
	tp, pp, ep    int
	layout        string
	grouped       bool
}{
	{"deepseek-v3-tp8-pp16-ep64", fixture.RealDeepSeekV3, 8, 16, 64, dsV3Layout, true},
	{"deepseek-v3-tp1-pp16-ep8", fixture.RealDeepSeekV3, 1, 16, 8, dsV3Layout, false},
	{"glm-4.5-tp8-pp4-ep32", fixture.RealGLM45, 8, 4, 32, "", true},
	{"glm-4.5-air-tp4-pp2-ep16", fixture.RealGLM45Air, 4, 2, 16, "", true},
}

func realDeepseekSettings(tp, pp, ep int, layout string, grouped bool) core.Settings {
	return settingsWith(func(s *core.Settings) {
		s.TP, s.PP, s.EP, s.Layout, s.GroupedGEMM = tp, pp, ep, layout, grouped
	})
}

// TestPlanRealScaleDeepseek: the real-scale releases plan without errors at their usual
// layouts; every HF tensor is placed (FP8 scales with their weights), the FP8 weights are
// dequantized, and the MTP layer sits on the last stage.
func TestPlanRealScaleDeepseek(t *testing.T) {
	for _, c := range realDeepseekLayouts {
		t.Run(c.name, func(t *testing.T) {
			ck := openRealRelease(t, c.release)
			p, err := core.BuildPlan(ck, realDeepseekSettings(c.tp, c.pp, c.ep, c.layout, c.grouped))
			if err != nil {
				t.Fatal(err)
			}
			if p.HasErrors() {
				t.Fatalf("plan errors: %+v", p.Errors())
			}
			if len(p.Ranks) != c.tp*c.pp*c.ep {
				t.Errorf("%d rank files, want %d", len(p.Ranks), c.tp*c.pp*c.ep)
			}
			copies := 0
			for i, g := range p.TensorGroup {
				if g < 0 {
					if strings.HasSuffix(p.Tensors[i].Name, ".embed_tokens.weight") || strings.HasSuffix(p.Tensors[i].Name, ".shared_head.head.weight") {
						copies++ // the MTP layer's stored copies, left out on purpose
						continue
					}
					t.Fatalf("%s is not placed", p.Tensors[i].Name)
				}
			}
			if copies != 2 {
				t.Errorf("%d MTP copies left out, want 2", copies)
			}
			n, _, _, _ := p.FP8Bytes()
			if c.release == fixture.RealDeepSeekV3 && n != 45808 {
				t.Errorf("%d FP8 weights dequantized, want 45808", n)
			}
			for _, g := range p.Groups {
				if g.MTP == "" {
					continue
				}
				for _, d := range g.Dests {
					if r := p.Ranks[d.Rank]; r.PP != c.pp-1 {
						t.Fatalf("MTP tensor %s on pp %d", d.Name, r.PP)
					}
				}
			}
		})
	}
}

// BenchmarkPlanRealScaleDeepseek reports the time per 30,000 HF tensors (target: ≤ 1 s).
func BenchmarkPlanRealScaleDeepseek(b *testing.B) {
	for _, c := range realDeepseekLayouts {
		b.Run(c.name, func(b *testing.B) {
			ck := openRealRelease(b, c.release)
			s := realDeepseekSettings(c.tp, c.pp, c.ep, c.layout, c.grouped)
			p, _ := benchPlan(b, ck, s)
			n := float64(len(ck.Tensors))
			b.ReportMetric(n, "tensors")
			b.ReportMetric(float64(p.TotalEntries()), "entries")
		})
	}
}
