package core_test

// Plans of real-scale decoder releases (sparse fixtures with the published anatomy of
// Qwen3-235B-A22B and Llama-3.1-405B) at the layouts they are trained with.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// realFamilyLayouts are the usual training layouts of the real-scale releases: Megatron's
// published recipes put Qwen3-235B-A22B on TP4 PP8 EP8 and Llama-3.1-405B on TP8 PP16; the
// layer counts (94, 126) then need the embedding and loss counted as pipeline layers.
var realFamilyLayouts = []struct {
	name, release string
	tp, pp, ep    int
	grouped       bool
}{
	{"qwen3-235b-tp4-pp8-ep8", fixture.RealQwen3_235B, 4, 8, 8, false},
	{"qwen3-235b-tp4-pp8-ep8-grouped", fixture.RealQwen3_235B, 4, 8, 8, true},
	{"qwen3-235b-tp2-pp4-ep32", fixture.RealQwen3_235B, 2, 4, 32, true},
	{"llama-405b-tp8-pp16", fixture.RealLlama405B, 8, 16, 1, false},
	{"llama-405b-tp8-pp8", fixture.RealLlama405B, 8, 8, 1, false},
}

func openRealRelease(tb testing.TB, name string) *loader.Checkpoint {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), name)
	if err := fixture.WriteRealScaleRelease(dir, name); err != nil {
		tb.Fatal(err)
	}
	return openCk(tb, dir)
}

func realFamilySettings(tp, pp, ep int, grouped bool) core.Settings {
	return settingsWith(func(s *core.Settings) {
		s.TP, s.PP, s.EP = tp, pp, ep
		s.AccountEmbedding, s.AccountLoss = true, true
		s.GroupedGEMM = grouped
	})
}

// TestPlanRealScaleFamilies: the real-scale releases plan without errors at their usual
// layouts, with one rank file per (TP, PP, EP) rank and every HF tensor placed.
func TestPlanRealScaleFamilies(t *testing.T) {
	cks := map[string]*loader.Checkpoint{}
	for _, c := range realFamilyLayouts {
		if cks[c.release] == nil {
			cks[c.release] = openRealRelease(t, c.release)
		}
	}
	for _, c := range realFamilyLayouts {
		t.Run(c.name, func(t *testing.T) {
			ck := cks[c.release]
			p, err := core.BuildPlan(ck, realFamilySettings(c.tp, c.pp, c.ep, c.grouped))
			if err != nil {
				t.Fatal(err)
			}
			if p.HasErrors() {
				t.Fatalf("plan errors: %+v", p.Errors())
			}
			if len(p.Ranks) != c.tp*c.pp*c.ep {
				t.Errorf("%d rank files, want %d", len(p.Ranks), c.tp*c.pp*c.ep)
			}
			for i, g := range p.TensorGroup {
				if g < 0 {
					t.Fatalf("%s is not placed", p.Tensors[i].Name)
				}
			}
		})
	}
}

// BenchmarkPlanRealScaleFamilies measures building the plan of each real-scale release at
// its usual layout and reports the time per 30,000 HF tensors (target: at most 1 s).
func BenchmarkPlanRealScaleFamilies(b *testing.B) {
	for _, c := range realFamilyLayouts {
		b.Run(c.name, func(b *testing.B) {
			ck := openRealRelease(b, c.release)
			s := realFamilySettings(c.tp, c.pp, c.ep, c.grouped)
			p, _ := benchPlan(b, ck, s)
			n := float64(len(ck.Tensors))
			b.ReportMetric(n, "tensors")
			b.ReportMetric(float64(p.TotalEntries()), "entries")
		})
	}
}

// benchPlan builds the plan b.N times and reports the time per 30,000 HF tensors (the
// families' plan target: at most 1 s); it returns the last plan and the time per build.
func benchPlan(b *testing.B, ck *loader.Checkpoint, s core.Settings) (*core.Plan, time.Duration) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var p *core.Plan
	for i := 0; i < b.N; i++ {
		var err error
		if p, err = core.BuildPlan(ck, s); err != nil {
			b.Fatal(err)
		}
	}
	perOp := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	if p.HasErrors() {
		b.Fatalf("plan errors: %+v", p.Errors())
	}
	b.ReportMetric(float64(perOp.Nanoseconds())/float64(len(ck.Tensors))*30000, "ns/30k-tensors")
	return p, perOp
}
