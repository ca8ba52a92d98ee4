package core_test

// The plan of the real-scale sparse fixture: 28,010 tensors with the real headers of
// Qwen3-Omni-30B-A3B-Instruct (data regions are holes, never read by a plan).

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

func openRealScale(tb testing.TB) *loader.Checkpoint {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "instruct")
	if err := fixture.WriteRealScale(dir, fixture.VariantInstruct); err != nil {
		tb.Fatalf("WriteRealScale: %v", err)
	}
	return openCk(tb, dir)
}

func realScaleSettings(tp, pp, ep int) core.Settings {
	return settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = tp, pp, ep })
}

// BenchmarkPlanRealScale measures building the plan of the real model at TP 2, PP 4, EP 8.
func BenchmarkPlanRealScale(b *testing.B) {
	ck := openRealScale(b)
	s := realScaleSettings(2, 4, 8)
	b.ReportAllocs()
	b.ResetTimer()
	var p *core.Plan
	for i := 0; i < b.N; i++ {
		var err error
		p, err = core.BuildPlan(ck, s)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if p.HasErrors() || len(p.Ranks) != 64 {
		b.Fatalf("unexpected plan: %d errors, %d rank files", len(p.Errors()), len(p.Ranks))
	}
}

// realDup is how many copies of a tensor's bytes the output holds, restated from the
// contract for the real model (untied, TP split layer weights, EP split experts, ETP = TP):
// an expert weight is split over TP on one EP rank (1 copy in all); other split weights are
// split over TP and repeated on every EP rank (EP copies); duplicated weights are whole on
// every TP and EP rank (TP*EP copies).
func realDup(name string, tp, ep int64) int64 {
	if strings.HasPrefix(name, "thinker.model.layers.") {
		switch {
		case strings.Contains(name, ".mlp.experts."):
			return 1
		case strings.Contains(name, ".self_attn.q_proj."), strings.Contains(name, ".self_attn.k_proj."),
			strings.Contains(name, ".self_attn.v_proj."), strings.Contains(name, ".self_attn.o_proj."):
			return ep
		}
		return tp * ep // norms and the router
	}
	switch name {
	case "thinker.model.embed_tokens.weight", "thinker.lm_head.weight":
		return ep
	}
	return tp * ep // final norm, vision, audio, talker, code2wav
}

func TestPlanRealScale(t *testing.T) {
	ck := openRealScale(t)
	if len(ck.Tensors) != 28010 {
		t.Fatalf("the real-scale fixture has %d tensors, want 28010", len(ck.Tensors))
	}
	const tp, pp, ep = 2, 4, 8
	p := buildPlan(t, ck, realScaleSettings(tp, pp, ep))
	requireNoErrors(t, p)
	for _, is := range p.Issues {
		if is.Code != "config-key-missing" {
			t.Errorf("unexpected issue %s/%s: %s", is.Severity, is.Code, is.Message)
		}
	}

	// every tensor is in exactly one group, or named by an issue
	reported := map[string]bool{}
	for _, is := range p.Issues {
		for _, n := range is.Tensors {
			reported[n] = true
		}
	}
	uses := make([]int, len(p.Tensors))
	for gi, g := range p.Groups {
		for _, ti := range g.Inputs {
			uses[ti]++
			if p.TensorGroup[ti] != gi {
				t.Errorf("%s is input of group %d but TensorGroup says %d", p.Tensors[ti].Name, gi, p.TensorGroup[ti])
			}
		}
	}
	for i, n := range uses {
		name := p.Tensors[i].Name
		if n > 1 || (n == 0 && !reported[name]) {
			t.Errorf("%s is in %d groups and reported %v", name, n, reported[name])
		}
	}

	// rank files and total bytes
	if len(p.Ranks) != tp*pp*ep {
		t.Errorf("%d rank files, want %d", len(p.Ranks), tp*pp*ep)
	}
	var in, want int64
	var nVis, nAud, nTalk, nC2W int
	for _, ti := range ck.Tensors {
		in += ti.Size
		want += ti.Size * realDup(ti.Name, tp, ep)
		switch {
		case strings.HasPrefix(ti.Name, "thinker.visual."):
			nVis++
		case strings.HasPrefix(ti.Name, "thinker.audio_tower."):
			nAud++
		case strings.HasPrefix(ti.Name, "talker."):
			nTalk++
		case strings.HasPrefix(ti.Name, "code2wav."):
			nC2W++
		}
	}
	if got := p.TotalBytes(); got != want {
		t.Errorf("output bytes %d, want %d (input %d)", got, want, in)
	}
	t.Logf("input %.2f GB -> output %.2f GB over %d rank files", float64(in)/1e9, float64(want)/1e9, len(p.Ranks))

	// per-rank tensor counts: 48 layers over 4 stages; per layer 7 attention/norm/router
	// tensors and fc1+fc2 of 128/8 local experts
	perLayer := 7 + 2*128/ep
	for _, rf := range p.Ranks {
		n := 48 / pp * perLayer
		if rf.PP == 0 {
			n += 1 + nVis + nAud
		}
		if rf.PP == pp-1 {
			n += 2 + nTalk + nC2W
		}
		if rf.Tensors != n {
			t.Errorf("%s holds %d tensors, want %d", rf.Path, rf.Tensors, n)
		}
	}

	// deepstack needs 3 layers (len of [8, 16, 24]) on the first stage
	for _, c := range []struct {
		name string
		s    func(*core.Settings)
		code string // "" = no error
	}{
		{"pp16", func(s *core.Settings) { s.PP = 16 }, ""},
		{"pp8-vpp2", func(s *core.Settings) { s.PP, s.VPP = 8, 2 }, ""},
		{"pp24", func(s *core.Settings) { s.PP = 24 }, "deepstack-first-stage"},
		{"pp12-vpp2", func(s *core.Settings) { s.PP, s.VPP = 12, 2 }, "deepstack-first-stage"},
		{"pp16-account-embedding", func(s *core.Settings) { s.PP = 16; s.AccountEmbedding = true }, "pipeline-split"},
		{"pp2-layout", func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|t*46L" }, "deepstack-first-stage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := realScaleSettings(tp, 1, ep)
			c.s(&s)
			p := buildPlan(t, ck, s)
			if c.code == "" {
				requireNoErrors(t, p)
				return
			}
			errs := p.Errors()
			if len(errs) != 1 || errs[0].Code != c.code {
				t.Fatalf("errors %+v, want one %s", errs, c.code)
			}
			if c.code == "deepstack-first-stage" {
				mustContain(t, "deepstack", errs[0].Message, "feeds 3", "--ignore-deepstack")
			}
		})
	}
}

// TestPlanRealScaleSettings checks the real model under a few more settings: the total
// bytes follow the duplication rule whatever the pipeline split.
func TestPlanRealScaleSettings(t *testing.T) {
	ck := openRealScale(t)
	for _, c := range []struct{ tp, pp, ep int }{{1, 1, 1}, {4, 2, 16}, {8, 3, 4}} {
		t.Run(fmt.Sprintf("tp%d-pp%d-ep%d", c.tp, c.pp, c.ep), func(t *testing.T) {
			p := buildPlan(t, ck, realScaleSettings(c.tp, c.pp, c.ep))
			if c.tp == 8 {
				// 4 query groups < TP 8: converted with a warning
				requireIssue(t, p, "groups-lt-tp", core.SevWarning)
			}
			requireNoErrors(t, p)
			var want int64
			for _, ti := range ck.Tensors {
				want += ti.Size * realDup(ti.Name, int64(c.tp), int64(c.ep))
			}
			if p.TotalBytes() != want {
				t.Errorf("output bytes %d, want %d", p.TotalBytes(), want)
			}
			if len(p.Ranks) != c.tp*c.pp*c.ep {
				t.Errorf("%d rank files", len(p.Ranks))
			}
		})
	}
}

// BenchmarkPlanJSONRealScale measures streaming the plan JSON of the real model at TP 4,
// PP 4, EP 8 (352,576 destinations); the plan is built once, outside the timing.
// Target (issue 11): with the plan build, under 1 s and 300 MB RSS, output under 60 MB
// (testdata/bench/plan_json.sh measures the whole command).
func BenchmarkPlanJSONRealScale(b *testing.B) {
	ck := openRealScale(b)
	p, err := core.BuildPlan(ck, realScaleSettings(4, 4, 8))
	if err != nil || p.HasErrors() {
		b.Fatalf("plan: %v %v", err, p.Errors())
	}
	var n countWriter
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n = 0
		if err := p.WriteJSON(&n, "real"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/1e6, "MB/doc")
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// BenchmarkPlanDeepSeekSized builds the plan of a synthetic layout of DeepSeek-V3's size
// (about 87k HF tensors: 64 MoE layers of 448 experts, tiny dims) at TP 8, PP 16, EP 64
// (8,192 rank files) and reports the heap the plan holds. Target (issue 11): under 3 s
// and under 1 GB.
func BenchmarkPlanDeepSeekSized(b *testing.B) {
	o := fixture.DefaultTiny()
	o.Hidden, o.Heads, o.Groups, o.HeadDim, o.Layers, o.Experts, o.MoEFFN, o.FFN, o.Vocab = 64, 8, 8, 8, 64, 448, 16, 64, 64
	o.Vision, o.Audio, o.Talker, o.Code2Wav, o.EnableAudioOutput, o.Deepstack, o.Tokenizer, o.Shards = false, false, false, false, false, nil, false, 8
	ck := openTinyCk(b, o)
	s := settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = 8, 16, 64 })
	b.ReportAllocs()
	b.ResetTimer()
	var p *core.Plan
	for i := 0; i < b.N; i++ {
		p = nil
		var err error
		if p, err = core.BuildPlan(ck, s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if p.HasErrors() || len(p.Ranks) != 8192 {
		b.Fatalf("unexpected plan: %v, %d rank files", p.Errors(), len(p.Ranks))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	dests := 0
	for _, g := range p.Groups {
		dests += len(g.Dests)
	}
	runtime.KeepAlive(p)
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := float64(before.HeapAlloc - after.HeapAlloc)
	b.ReportMetric(held/1e6, "MB-plan")
	b.ReportMetric(held/float64(dests), "B/dest")
	b.ReportMetric(float64(dests), "dests")
	b.ReportMetric(float64(len(ck.Tensors)), "hf-tensors")
}
