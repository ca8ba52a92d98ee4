package core_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

// planDoc is the plan JSON as a consumer reads it (README "Plan JSON", schema 2).
type planDoc struct {
	Schema int `json:"schema"`
	Ranks  []struct {
		Path   string `json:"path"`
		Chunks []struct {
			Key     string `json:"key"`
			Entries []struct {
				Name  string  `json:"name"`
				DType string  `json:"dtype"`
				Shape []int64 `json:"shape"`
				Bytes int64   `json:"bytes"`
				Parts *int    `json:"parts"`
			} `json:"entries"`
		} `json:"chunks"`
	} `json:"ranks"`
	Groups []struct {
		Op     string   `json:"op"`
		HF     []string `json:"hf"`
		MCA    string   `json:"mca"`
		Shape  []int64  `json:"shape"`
		Layer  *int     `json:"layer"`
		Expert *int     `json:"expert"`
		TPOf   *int     `json:"tp_of"`
		Piece  int      `json:"piece"`
		Pieces int      `json:"pieces"`
		Dests  [][]int  `json:"dests"`
	} `json:"groups"`
	Summary struct {
		OutTensors int `json:"out_tensors"`
	} `json:"summary"`
}

// Every destination of the plan is recoverable from the JSON's references: its rank file,
// chunk, entry (whose name is the destination's, and whose shape is the slice's unless the
// slice is stacked transposed), TP slice and count, legacy part and transpose; fields left
// out stand for their documented defaults.
func TestPlanJSONReferencesEveryDest(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	for _, c := range []struct {
		name string
		f    func(*core.Settings)
	}{
		{"tp2-pp2-ep2", func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"tp1-pp2-ep4", func(s *core.Settings) { s.PP, s.EP = 2, 4 }},
		{"legacy-grouped-ep2-tp2", func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 2, 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(c.f))
			requireNoErrors(t, p)
			var buf bytes.Buffer
			if err := p.WriteJSON(&buf, "src"); err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 || !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
				t.Errorf("compact JSON should be one line, has %d newlines", n)
			}
			var d planDoc
			if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
				t.Fatalf("plan JSON does not parse: %v", err)
			}
			if d.Schema != core.PlanJSONSchema || core.PlanJSONSchema != 2 {
				t.Errorf("schema %d, want 2", d.Schema)
			}
			if len(d.Groups) != len(p.Groups) || len(d.Ranks) != len(p.Ranks) {
				t.Fatalf("%d groups, %d ranks; plan has %d, %d", len(d.Groups), len(d.Ranks), len(p.Groups), len(p.Ranks))
			}
			entries, transposed := 0, 0
			for ri, rf := range p.Ranks {
				for ci, ch := range rf.Chunks {
					for ei, e := range ch.Entries {
						je := d.Ranks[ri].Chunks[ci].Entries[ei]
						parts := 1
						if je.Parts != nil {
							parts = *je.Parts
						}
						if je.Name != e.Name || je.DType != string(e.DType) || !slices.Equal(je.Shape, e.Shape) || je.Bytes != e.Bytes || parts != e.Parts {
							t.Errorf("entry %d/%d/%d: %+v, plan has %+v", ri, ci, ei, je, e)
						}
						entries++
					}
				}
			}
			if entries != d.Summary.OutTensors {
				t.Errorf("%d entries, summary says %d", entries, d.Summary.OutTensors)
			}
			for gi, g := range p.Groups {
				jg := d.Groups[gi]
				orDefault := func(v *int, def int) int {
					if v == nil {
						return def
					}
					return *v
				}
				if jg.MCA != g.Name || !slices.Equal(jg.HF, g.HFNames) || !slices.Equal(jg.Shape, g.Shape) ||
					orDefault(jg.Layer, -1) != g.Layer || orDefault(jg.Expert, -1) != g.Expert {
					t.Errorf("group %d: %+v, plan has %s %v layer %d expert %d", gi, jg, g.Name, g.Shape, g.Layer, g.Expert)
				}
				if len(jg.Dests) != len(g.Dests) {
					t.Fatalf("group %s: %d dests, plan has %d", g.Name, len(jg.Dests), len(g.Dests))
				}
				for di, dst := range g.Dests {
					ref := jg.Dests[di]
					part, tr := 0, 0
					if len(ref) == 6 {
						part, tr = ref[4], ref[5]
					} else if len(ref) != 4 {
						t.Fatalf("dest %v: want 4 or 6 numbers", ref)
					}
					if ref[0] != dst.Rank || ref[1] != dst.Chunk || ref[2] != dst.Entry || ref[3] != dst.TPRank ||
						part != dst.Part || (tr == 1) != dst.Transpose || orDefault(jg.TPOf, 1) != dst.TPSize {
						t.Errorf("group %s dest %d: %v tp_of %v, plan has %+v", g.Name, di, ref, jg.TPOf, dst)
					}
					e := d.Ranks[ref[0]].Chunks[ref[1]].Entries[ref[2]]
					if e.Name != dst.Name {
						t.Errorf("group %s dest %d names entry %q, plan says %q", g.Name, di, e.Name, dst.Name)
					}
					if dst.Transpose {
						transposed++
					} else if !slices.Equal(e.Shape, dst.Shape) {
						t.Errorf("group %s dest %d: entry shape %v, slice shape %v", g.Name, di, e.Shape, dst.Shape)
					}
				}
			}
			if strings.Contains(c.name, "legacy") != (transposed > 0) {
				t.Errorf("%d transposed destinations", transposed)
			}
		})
	}
}

// --json-indent's layout is json.Indent's, byte for byte, and holds the same document.
func TestPlanJSONIndentMatchesJSONIndent(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }))
	var compact, indented, want bytes.Buffer
	if err := p.WriteJSON(&compact, "a <src> \"dir\"\u2028"); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteJSONIndent(&indented, "a <src> \"dir\"\u2028", "  "); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&want, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(indented.Bytes(), want.Bytes()) {
		a, b := indented.String(), want.String()
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Errorf("indented output differs from json.Indent at byte %d: %q vs %q", i, a[max(0, i-40):min(len(a), i+40)], b[max(0, i-40):min(len(b), i+40)])
	}
	if !strings.Contains(indented.String(), "\n  \"schema\": 2,\n") || !strings.Contains(indented.String(), "[]") {
		t.Errorf("indented output lacks the expected layout:\n%.400s", indented.String())
	}
}

// A fan-out op's groups (Qwen3-VL's fused experts, one group per expert) carry their piece
// and piece count; other groups leave both out.
func TestPlanJSONFanoutPieces(t *testing.T) {
	ck := openRealRelease(t, fixture.RealQwen3VL235B)
	p := buildPlan(t, ck, realFamilySettings(1, 1, 1, false))
	requireNoErrors(t, p)
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf, "vl"); err != nil {
		t.Fatal(err)
	}
	var d planDoc
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	fanned := 0
	for gi, g := range p.Groups {
		if d.Groups[gi].Piece != g.Piece || d.Groups[gi].Pieces != g.Pieces {
			t.Fatalf("group %s: piece %d of %d, plan has %d of %d", g.Name, d.Groups[gi].Piece, d.Groups[gi].Pieces, g.Piece, g.Pieces)
		}
		if g.Pieces > 0 {
			fanned++
		}
	}
	if n := bytes.Count(buf.Bytes(), []byte(`"pieces":`)); fanned == 0 || n != fanned {
		t.Errorf("%d fan-out groups, %d pieces fields", fanned, n)
	}
}
