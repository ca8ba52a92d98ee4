package core_test

// Plans of the real-scale Qwen3-VL-235B-A22B release (qwen3_vl_moe: fused experts fanned
// out per expert, 27-block vision tower with deepstack) at its usual training layouts.

import (
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

// realVLLayouts: Qwen3-VL-235B-A22B trains like Qwen3-235B-A22B (TP4 PP8 EP8, embedding
// and loss counted as pipeline layers, so 94 layers give 12 per stage, 11 on the first:
// enough for the 3 deepstack layers).
var realVLLayouts = []struct {
	name       string
	tp, pp, ep int
	grouped    bool
}{
	{"qwen3-vl-235b-tp4-pp8-ep8", 4, 8, 8, false},
	{"qwen3-vl-235b-tp4-pp8-ep8-grouped", 4, 8, 8, true},
}

// TestPlanRealScaleVL: the release plans without errors, every HF tensor placed, and each
// fused expert tensor fans out into 128 groups, one per expert, spread over EP ranks.
func TestPlanRealScaleVL(t *testing.T) {
	ck := openRealRelease(t, fixture.RealQwen3VL235B)
	for _, c := range realVLLayouts {
		t.Run(c.name, func(t *testing.T) {
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
			fused := 0
			for i, g := range p.TensorGroup {
				if g < 0 {
					t.Fatalf("%s is not placed", p.Tensors[i].Name)
				}
				if p.Groups[g].Pieces > 0 {
					fused++
					for e := 0; e < 128; e++ {
						pg := p.Groups[g+e]
						if pg.Piece != e || pg.Expert != e || pg.Pieces != 128 {
							t.Fatalf("%s: group %d is piece %d of %d, expert %d; want piece/expert %d of 128", p.Tensors[i].Name, g+e, pg.Piece, pg.Pieces, pg.Expert, e)
						}
					}
				}
			}
			if fused != 2*94 {
				t.Errorf("%d fused expert tensors, want %d", fused, 2*94)
			}
		})
	}
}

// BenchmarkPlanRealScaleVL reports the time per 30,000 HF tensors of planning the release
// and per 30,000 op groups (target: at most 1 s per 30,000). Each fused tensor becomes 128
// groups (~18 groups per HF tensor), so the per-group figure is the one comparable with
// per-expert releases such as Qwen3-235B-A22B, which does the same Megatron-side work.
func BenchmarkPlanRealScaleVL(b *testing.B) {
	ck := openRealRelease(b, fixture.RealQwen3VL235B)
	for _, c := range realVLLayouts {
		b.Run(c.name, func(b *testing.B) {
			s := realFamilySettings(c.tp, c.pp, c.ep, c.grouped)
			p, perOp := benchPlan(b, ck, s)
			n := float64(len(ck.Tensors))
			// the Megatron side: a fused tensor is 128 op groups, as many as Qwen3-235B's
			// per-expert release has HF tensors
			b.ReportMetric(float64(perOp.Nanoseconds())/float64(len(p.Groups))*30000, "ns/30k-groups")
			b.ReportMetric(n, "tensors")
			b.ReportMetric(float64(len(p.Groups)), "groups")
			b.ReportMetric(float64(p.TotalEntries()), "entries")
		})
	}
}
