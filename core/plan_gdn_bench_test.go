package core_test

// Real-scale plans of the hybrid gated-delta-net families: sparse fixtures with the real
// headers of Qwen3-Next-80B-A3B (with its MTP block) and Qwen3.5-397B-A17B (fused experts,
// vision tower). Target: planning takes at most 1 s per 30,000 tensors.

import (
	"path/filepath"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// gdnRealScale writes a real-scale sparse release (8 shards) and opens it.
func gdnRealScale(tb testing.TB, spec fixture.ReleaseSpec) *loader.Checkpoint {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), spec.ModelType)
	if err := fixture.WriteReleaseSparse(dir, spec, fixture.ReleaseOptions{Shards: 8}); err != nil {
		tb.Fatalf("WriteReleaseSparse: %v", err)
	}
	return openCk(tb, dir)
}

var gdnRealScales = []struct {
	name    string
	spec    func() fixture.ReleaseSpec
	tensors int // HF tensors of the release
	set     func(*core.Settings)
	ranks   int
}{
	// 48 layers × (512 experts × 3 + router + shared expert 3 + its gate + 2 norms = 1543)
	// + 36 delta nets × 7 + 12 gated attentions × 6 + embedding, norm, lm_head (3)
	// + MTP block (fc, 3 norms, a layer of 6 + 1541 + 2) = 74064 + 324 + 3 + 1553
	{"qwen3_next-80b-a3b", fixture.Qwen3NextRealScale, 75944, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 4, 8 }, 64},
	// 60 layers × (router, gate_up_proj, down_proj, shared expert 3 + gate, 2 norms = 9)
	// + 45 delta nets × 9 + 15 gated attentions × 6 + 3 + vision (27 blocks × 12 + 9)
	// = 540 + 495 + 3 + 333
	{"qwen3_5_moe-397b-a17b", fixture.Qwen35MoERealScale, 1371, func(s *core.Settings) { s.TP, s.PP, s.EP = 4, 4, 16 }, 256},
}

// TestGDNRealScalePlans: the real releases plan without errors, every tensor converted
// (Qwen3-Next's MTP block dropped, as ROLL drops it).
func TestGDNRealScalePlans(t *testing.T) {
	if testing.Short() {
		t.Skip("real-scale fixtures")
	}
	for _, rs := range gdnRealScales {
		t.Run(rs.name, func(t *testing.T) {
			ck := gdnRealScale(t, rs.spec())
			if len(ck.Tensors) != rs.tensors {
				t.Errorf("%d HF tensors, want %d", len(ck.Tensors), rs.tensors)
			}
			p, err := core.BuildPlan(ck, settingsWith(rs.set))
			if err != nil {
				t.Fatal(err)
			}
			if p.HasErrors() {
				t.Fatalf("plan errors: %v", p.Errors())
			}
			if len(p.Ranks) != rs.ranks {
				t.Errorf("%d rank files, want %d", len(p.Ranks), rs.ranks)
			}
		})
	}
}

// BenchmarkPlanGDNRealScale measures planning each real release.
func BenchmarkPlanGDNRealScale(b *testing.B) {
	for _, rs := range gdnRealScales {
		b.Run(rs.name, func(b *testing.B) {
			ck := gdnRealScale(b, rs.spec())
			s := settingsWith(rs.set)
			b.ReportAllocs()
			b.ResetTimer()
			groups := 0
			for i := 0; i < b.N; i++ {
				p, err := core.BuildPlan(ck, s)
				if err != nil || p.HasErrors() {
					b.Fatalf("plan: %v %v", err, p.Errors())
				}
				groups = len(p.Groups)
			}
			// fused experts fan out: Qwen3.5's 1,371 HF tensors are ~62,000 Megatron tensors
			b.ReportMetric(float64(len(ck.Tensors)), "tensors")
			b.ReportMetric(float64(groups), "groups")
		})
	}
}
