package tui_test

import (
	"bytes"
	"image/color"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/configview"
	"github.com/omnitui/omnitui/tui/mapping"
	"github.com/omnitui/omnitui/tui/placement"
	"github.com/omnitui/omnitui/tui/weights"
)

func TestViewSwitching(t *testing.T) {
	tests := []struct {
		script string
		want   common.ViewID
	}{
		{"", common.ViewOverview},
		{"2", common.ViewConfig},
		{"3", common.ViewWeights},
		{"4", common.ViewMapping},
		{"5", common.ViewPlacement},
		{"c", common.ViewConvert},
		{"tab", common.ViewConfig},
		{"tab tab tab tab tab", common.ViewOverview}, // wraps around the five views
		{"shift+tab", common.ViewPlacement},
		{"5 tab", common.ViewOverview},
		{"c shift+tab", common.ViewPlacement},
		{"3 c esc", common.ViewWeights},                      // esc goes back
		{"3 c enter type:12345 esc esc", common.ViewWeights}, // typing in the path field: digits are text; esc ends the edit, esc again goes back
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			m := newApp(t)
			resize(m, 100, 30)
			press(m, tc.script)
			if m.Active() != tc.want {
				t.Fatalf("after %q the active view is %s, want %s", tc.script, m.Active().Name(), tc.want.Name())
			}
		})
	}
}

func TestWeightsFilterCountsTensors(t *testing.T) {
	ck := openExample(t)
	count := func(pred func(string) bool) int {
		n := 0
		for _, ti := range ck.Tensors {
			if pred(ti.Name) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name   string
		filter string
		want   int
	}{
		{"substring", "q_proj", count(func(s string) bool { return strings.Contains(s, "q_proj") })},
		{"substring is case-insensitive", "Q_PROJ", count(func(s string) bool { return strings.Contains(s, "q_proj") })},
		{"glob", "*.experts.*.down_proj.weight", count(func(s string) bool {
			return strings.Contains(s, ".experts.") && strings.HasSuffix(s, ".down_proj.weight")
		})},
		{"glob anchored at the start", "thinker.*", count(func(s string) bool { return strings.HasPrefix(s, "thinker.") })},
		{"no match", "no_such_tensor", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == 0 && tc.filter != "no_such_tensor" {
				t.Fatalf("the example should have tensors for %q", tc.filter)
			}
			m := newAppFor(t, ck, examplePath)
			resize(m, 100, 30)
			press(m, "3 / type:"+tc.filter+" enter")
			w := m.Component(common.ViewWeights).(*weights.Model)
			if got := w.Tree().Matches(); got != tc.want {
				t.Fatalf("filter %q matches %d tensors, want %d", tc.filter, got, tc.want)
			}
			want := common.Plural(tc.want, "tensor")
			if tc.want == 0 {
				want = "no tensors"
			}
			if v := m.Screen(); !strings.Contains(v, want) {
				t.Fatalf("the filter line should say %q:\n%s", want, v)
			}
			// Every visible leaf matches.
			tr := w.Tree()
			for i := 0; i < tr.Rows(); i++ {
				n := tr.Row(i)
				if n.IsLeaf() && tc.filter == "q_proj" && !strings.Contains(n.Path, "q_proj") {
					t.Errorf("visible leaf %s does not match", n.Path)
				}
			}
		})
	}
}

func TestWeightsFoldsNumberedRuns(t *testing.T) {
	ck := openExample(t)
	m := newAppFor(t, ck, examplePath)
	w := m.Component(common.ViewWeights).(*weights.Model)
	tests := []struct{ path, label string }{
		{"thinker.model.layers", "layers [0–3] ×4"},
		{"thinker.model.layers.2.mlp.experts", "experts [0–7] ×8"},
		{"thinker.model.layers.2", "2"},
		{"thinker.model", "model"},
	}
	for _, tc := range tests {
		n := w.Tree().Find(tc.path)
		if n == nil {
			t.Fatalf("no node %s", tc.path)
		}
		if n.Label != tc.label {
			t.Errorf("%s is labelled %q, want %q", tc.path, n.Label, tc.label)
		}
	}
	// The folded node's totals are the sum over its tensors.
	var bytes int64
	tensors := 0
	for _, ti := range ck.Tensors {
		if strings.HasPrefix(ti.Name, "thinker.model.layers.") {
			bytes += ti.Size
			tensors++
		}
	}
	n := w.Tree().Find("thinker.model.layers")
	if n.Size != bytes {
		t.Errorf("layers node holds %d bytes, want %d", n.Size, bytes)
	}
	resize(m, 100, 30)
	press(m, "3 / type:thinker.model.layers enter")
	w.Tree().Reveal(n)
	if v := m.Screen(); !strings.Contains(v, "×"+common.Count(int64(tensors))) {
		t.Errorf("the layers row should show ×%d tensors:\n%s", tensors, v)
	}
}

func TestWeightsExpandCollapseAndLeafDetail(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "3")
	w := m.Component(common.ViewWeights).(*weights.Model)
	tr := w.Tree()
	before := tr.Rows()
	sel := tr.Selected()
	if sel == nil || sel.IsLeaf() || !sel.Expanded {
		t.Fatalf("the first row should be an expanded folder, got %+v", sel)
	}
	press(m, "enter")
	if tr.Rows() != before-len(sel.Children) {
		t.Fatalf("collapsing %s: %d rows, want %d", sel.Path, tr.Rows(), before-len(sel.Children))
	}
	press(m, "space")
	if tr.Rows() != before {
		t.Fatalf("expanding again: %d rows, want %d", tr.Rows(), before)
	}
	// A leaf shows dtype, shape, bytes, shard and offsets.
	press(m, "/ type:thinker.model.embed_tokens.weight enter")
	ck := m.Context().Ck
	ti := ck.Tensors[ck.ByName["thinker.model.embed_tokens.weight"]]
	v := m.Screen()
	for _, want := range []string{
		string(ti.DType), common.Shape(ti.Shape), ck.Shards[ti.Shard].Name,
		"[" + common.Count(ti.Offset) + ", " + common.Count(ti.Offset+ti.Size) + ")",
		"embedding.word_embeddings.weight",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("leaf detail lacks %q:\n%s", want, v)
		}
	}
	if m.Context().Selected != ck.ByName["thinker.model.embed_tokens.weight"] {
		t.Errorf("selecting a leaf should select the tensor app-wide")
	}
}

func TestPlacementChangesRebuildThePlan(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	ctx := m.Context()
	gen := ctx.PlanGen
	press(m, "5 right")
	if ctx.Settings.TP != 2 || ctx.Plan.Settings.TP != 2 || ctx.PlanGen == gen {
		t.Fatalf("→ on TP should rebuild the plan at TP 2 (settings %d, plan %d)", ctx.Settings.TP, ctx.Plan.Settings.TP)
	}
	if len(ctx.Plan.Ranks) != 2 || !strings.Contains(m.Screen(), "mp_rank_01") {
		t.Fatalf("TP 2 should give 2 rank files, got %d:\n%s", len(ctx.Plan.Ranks), m.Screen())
	}
	// → skips TP 3, which does not divide the example's 4 heads: 2 → 4.
	press(m, "right")
	if ctx.Settings.TP != 4 || ctx.HasErrors() {
		t.Fatalf("→ from TP 2 should step to 4, the next size the rules allow (TP %d, errors %v)", ctx.Settings.TP, ctx.HasErrors())
	}
	if press(m, "right"); ctx.Settings.TP != 4 {
		t.Fatalf("→ at the largest allowed TP should stay, got TP %d", ctx.Settings.TP)
	}
	// Typed, TP 3 is taken: an error, shown at TP, beside the last valid preview.
	press(m, "enter ctrl+u type:3 enter")
	if !ctx.HasErrors() {
		t.Fatal("TP 3 should be a plan error on the example")
	}
	var tpIssue *core.Issue
	for i := range ctx.Plan.Issues {
		if ctx.Plan.Issues[i].Code == "tp-divisibility" {
			tpIssue = &ctx.Plan.Issues[i]
		}
	}
	if tpIssue == nil {
		t.Fatalf("no tp-divisibility issue in %+v", ctx.Plan.Issues)
	}
	v := m.Screen()
	marked := false
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(l, "› TP ") && strings.Contains(l, "✗") {
			marked = true
		}
	}
	if !marked {
		t.Errorf("the TP field should carry the error mark:\n%s", v)
	}
	if !strings.Contains(v, "TP: "+tpIssue.Message[:20]) {
		t.Errorf("the issue should be shown, attributed to TP:\n%s", v)
	}
	if !strings.Contains(v, "✗ 1 error") {
		t.Errorf("the status line should count the error:\n%s", v)
	}
	// ← steps down through the allowed sizes below 3: 2, then 1; the error goes.
	press(m, "left")
	if ctx.Settings.TP != 2 || ctx.HasErrors() {
		t.Fatalf("← from TP 3 should step to 2: TP %d", ctx.Settings.TP)
	}
	press(m, "left")
	if ctx.Settings.TP != 1 || ctx.HasErrors() {
		t.Fatalf("TP back to 1 should clear the errors: %+v", ctx.Plan.Issues)
	}
}

func TestPlacementTypedValuesAndLayout(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	ctx := m.Context()
	// PP 2 by typing it.
	press(m, "5 down enter ctrl+u type:2 enter")
	if ctx.Settings.PP != 2 || len(ctx.Plan.Stages) != 2 {
		t.Fatalf("typing PP 2: settings PP %d, %d stages", ctx.Settings.PP, len(ctx.Plan.Stages))
	}
	// A layout putting 1 layer on the first stage and 3 on the second.
	press(m, "down down down down enter type:Et|tttL enter")
	if ctx.Settings.Layout != "Et|tttL" {
		t.Fatalf("layout = %q", ctx.Settings.Layout)
	}
	if m.Component(common.ViewPlacement).(*placement.Model).Capturing() {
		t.Fatal("enter should end the edit")
	}
	counts := []int{}
	for _, s := range ctx.Plan.Stages {
		counts = append(counts, s.Count)
	}
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 3 {
		t.Fatalf("stages for Et|tttL: %v (issues %+v)", counts, ctx.Plan.Issues)
	}
	if !strings.Contains(m.Screen(), "L1–3 (3)") {
		t.Errorf("the grid should show layers 1–3 on pp1:\n%s", m.Screen())
	}
	// Not a number: the old value stays.
	press(m, "home enter ctrl+u type:x enter")
	if ctx.Settings.TP != 1 {
		t.Fatalf("typing x for TP changed it to %d", ctx.Settings.TP)
	}
	// esc abandons an edit.
	press(m, "enter type:8 esc")
	if ctx.Settings.TP != 1 {
		t.Fatalf("esc should abandon the edit, TP is %d", ctx.Settings.TP)
	}
}

func TestSelectionIsSharedAcrossViews(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	press(m, "3 / type:thinker.model.layers.2.self_attn.k_proj.weight enter 4")
	mp := m.Component(common.ViewMapping).(*mapping.Model)
	sel := mp.Tree().Selected()
	if sel == nil || sel.Path != "decoder.layers.2.self_attention.linear_qkv.weight" {
		t.Fatalf("mapping should show the QKV group of the selected k_proj, got %v", sel)
	}
	v := m.Screen()
	for _, want := range []string{"qkv", "layers.2.self_attn.q_proj.weight", "layers.2.self_attn.k_proj.weight", "layers.2.self_attn.v_proj.weight", "g0: q×2 | k | v ‖ g1: q×2 | k | v"} {
		if !strings.Contains(v, want) {
			t.Errorf("mapping detail lacks %q:\n%s", want, v)
		}
	}
	press(m, "5")
	if v := m.Screen(); !strings.Contains(v, "Selected") || !strings.Contains(v, "linear_qkv.weight") {
		t.Errorf("placement should list where the selected weight lands:\n%s", v)
	}
	// Selecting in Mapping moves the Weights cursor.
	press(m, "4 down 3")
	w := m.Component(common.ViewWeights).(*weights.Model)
	if n := w.Tree().Selected(); n == nil || n.Data != m.Context().Selected {
		t.Errorf("weights should follow the selection made in mapping")
	}
}

func TestConfigMarksMappedKeys(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	press(m, "2 / type:num_hidden_layers enter")
	cv := m.Component(common.ViewConfig).(*configview.Model)
	if cv.Tree().Matches() == 0 {
		t.Fatal("num_hidden_layers should match config keys")
	}
	press(m, "/ ctrl+u type:thinker_config.text_config.num_hidden_layers enter")
	v := m.Screen()
	if !strings.Contains(v, "→ num_layers") {
		t.Errorf("thinker text num_hidden_layers should be marked → num_layers:\n%s", v)
	}
	if !strings.Contains(v, "· num_layers") || strings.Contains(v, "› num_layers") {
		t.Errorf("the panel should mark num_layers (one cursor: the tree has it):\n%s", v)
	}
}

func TestHelpToggle(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "3")
	if strings.Contains(m.Screen(), "previous view") {
		t.Fatal("full help should start hidden")
	}
	press(m, "?")
	v := m.Screen()
	for _, want := range []string{"previous view", "expand/collapse", "sort name/size", "quit"} {
		if !strings.Contains(v, want) {
			t.Errorf("full help lacks %q:\n%s", want, v)
		}
	}
	checkFrame(t, v, 100, 30)
	press(m, "?")
	if strings.Contains(m.Screen(), "previous view") {
		t.Fatal("? should hide the full help again")
	}
}

func TestEveryViewFitsEverySize(t *testing.T) {
	sizes := []struct{ w, h int }{{80, 24}, {100, 30}, {200, 60}, {60, 20}, {40, 10}, {30, 8}, {1, 1}}
	scripts := []string{"1", "2", "2 p", "3", "3 / type:experts enter", "4", "5", "5 right right", "5 enter ctrl+u type:3 enter", "c", "?"}
	m := newApp(t)
	for _, sz := range sizes {
		for _, s := range scripts {
			resize(m, sz.w, sz.h)
			press(m, "esc esc "+s)
			checkFrame(t, m.Screen(), sz.w, sz.h)
		}
	}
}

func TestColoursFollowTheTerminal(t *testing.T) {
	// The app starts for a dark background and follows what the terminal
	// reports: its background colour and its colour profile.
	view := func(msgs ...tea.Msg) string {
		m := newApp(t, tui.WithColors(colorprofile.TrueColor, true))
		resize(m, 100, 30)
		for _, msg := range msgs {
			m.Update(msg)
		}
		press(m, "5 enter ctrl+u type:3 enter")
		return m.Screen()
	}
	dark := view(tea.BackgroundColorMsg{Color: color.Black})
	light := view(tea.BackgroundColorMsg{Color: color.White})
	if !strings.Contains(dark, "\x1b[") {
		t.Fatal("a colour terminal should get colours")
	}
	if dark == light {
		t.Fatal("light and dark backgrounds should get different colours")
	}
	if view() != dark {
		t.Error("before the terminal answers, the app should draw for a dark background")
	}
	// NO_COLOR or a dumb terminal: bubbletea reports the Ascii profile, and
	// nothing is styled.
	plain := view(tea.ColorProfileMsg{Profile: colorprofile.Ascii})
	if strings.Contains(plain, "\x1b[") {
		t.Fatalf("without colours the view should be plain, got escapes:\n%q", plain[:200])
	}
	// The plain view carries the same text as the coloured one.
	sl, pl := strings.Split(stripANSI(dark), "\n"), strings.Split(plain, "\n")
	if len(sl) != len(pl) {
		t.Fatalf("plain view has %d lines, coloured %d", len(pl), len(sl))
	}
	if !strings.Contains(pl[0], "[5 Placement]") {
		t.Errorf("without colours the active tab is bracketed: %q", pl[0])
	}
	for i := 1; i < len(sl); i++ {
		if strings.TrimRight(sl[i], " ") != strings.TrimRight(pl[i], " ") {
			t.Errorf("line %d differs:\ncoloured %q\nplain    %q", i, sl[i], pl[i])
		}
	}
}

func stripANSI(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// The bundled example is what a new user opens first: it has what the release's
// config.json has, so it opens with no warning at all.
func TestTheExampleOpensWithNoWarning(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	if is := m.Context().Plan.Issues; len(is) != 0 {
		t.Fatalf("the example's plan has issues: %+v", is)
	}
	if v := m.Screen(); strings.Contains(v, "warning") || !strings.Contains(v, "ready to convert") {
		t.Fatalf("the first screen should say it is ready, with no warning:\n%s", v)
	}
}
