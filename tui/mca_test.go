package tui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/configview"
	"github.com/omnitui/omnitui/tui/convert"
	"github.com/omnitui/omnitui/tui/mapping"
	"github.com/omnitui/omnitui/tui/tree"
	"github.com/omnitui/omnitui/tui/weights"
)

// mcaGoldenCases are the screens of a Megatron checkpoint (the example converted
// with TP 2 PP 2). Regenerate with: go test ./tui/ -run TestMCAGolden -update
var mcaGoldenCases = []struct {
	name   string
	script string
	view   common.ViewID
}{
	{"mca_overview", "", common.ViewOverview},
	{"mca_config", "2", common.ViewConfig},
	{"mca_config_hf", "2 p down down down", common.ViewConfig},
	{"mca_weights_merged", "3", common.ViewWeights},
	{"mca_weights_rank", "3 r r / type:linear_qkv.weight enter", common.ViewWeights},
	{"mca_mapping_qkv", "3 / type:thinker.model.layers.2.self_attn.q_proj enter 4", common.ViewMapping},
	{"mca_placement", "5", common.ViewPlacement},
	{"mca_placement_reshard", "5 left", common.ViewPlacement},
	{"mca_convert_form", "c", common.ViewConvert},
	{"mca_convert_reshard", "5 left c down", common.ViewConvert}, // a new layout in 5 Placement: Convert writes Megatron
}

func TestMCAGolden(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {80, 24}} {
		for _, tc := range mcaGoldenCases {
			name := tc.name
			if size.w != 100 {
				name += "_80x24"
			}
			t.Run(name, func(t *testing.T) {
				m := newMCAApp(t)
				tm := newProgram(t, m, size.w, size.h)
				for _, k := range script(tc.script) {
					tm.Send(k)
				}
				tm.Send(tui.QuitWhenIdleMsg{})
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*tui.Model)
				if fm.Active() != tc.view {
					t.Fatalf("active view %v, want %v", fm.Active().Name(), tc.view.Name())
				}
				view := fm.Screen()
				checkFrame(t, view, size.w, size.h)
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

func TestMCAViewSwitching(t *testing.T) {
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
		{"tab tab", common.ViewWeights},
		{"tab tab tab tab tab", common.ViewOverview},
		{"shift+tab", common.ViewPlacement},
		{"3 r c esc", common.ViewWeights},
		{"2 p / type:12345 esc esc", common.ViewConfig}, // digits typed in a filter are text
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			m := newMCAApp(t)
			resize(m, 100, 30)
			press(m, tc.script)
			if m.Active() != tc.want {
				t.Fatalf("after %q the active view is %s, want %s", tc.script, m.Active().Name(), tc.want.Name())
			}
		})
	}
}

// countLeaves counts the tensors of a tree.
func countLeaves(ns []*treeNode) int {
	n := 0
	for _, c := range ns {
		if c.IsLeaf() {
			n++
		} else {
			n += countLeaves(c.Children)
		}
	}
	return n
}

func TestMCAWeightsPickRankAndFilter(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 100, 30)
	press(m, "3")
	w := m.Component(common.ViewWeights).(*weights.Model)
	x := m.Context().MCA
	if w.Page() != 0 || countLeaves(w.Tree().Roots()) != len(m.Context().Ck.Tensors) {
		t.Fatalf("the first list should be the merged HF tensors (page %d)", w.Page())
	}
	for i, r := range x.Ck.Ranks {
		press(m, "r")
		if w.Page() != i+1 {
			t.Fatalf("r should show rank file %d, page is %d", i, w.Page())
		}
		want := 0
		for _, ch := range r.Chunks {
			want += len(ch.Tensors)
		}
		if got := countLeaves(w.Tree().Roots()); got != want {
			t.Errorf("%s: tree has %d tensors, the file %d", r.Path, got, want)
		}
		if v := m.Screen(); !strings.Contains(v, "‹ "+path.Base(path.Dir(r.Path))+" ›") {
			t.Errorf("the source line should name %s:\n%s", r.Path, v)
		}
	}
	press(m, "r")
	if w.Page() != 0 {
		t.Fatalf("r after the last rank file should wrap to the merged list, page %d", w.Page())
	}
	press(m, "R")
	if w.Page() != len(x.Ck.Ranks) {
		t.Fatalf("R should go back to the last rank file, page %d", w.Page())
	}

	// Filter a rank file: the count is the tensors of that file matching the glob.
	press(m, "R R")
	r := x.Ck.Ranks[w.Page()-1]
	want := 0
	for _, ch := range r.Chunks {
		for _, ref := range ch.Tensors {
			if ok, _ := path.Match("*linear_fc1.weight", ref.Name); ok {
				want++
			}
		}
	}
	if want == 0 {
		t.Fatalf("%s should hold linear_fc1 weights", r.Path)
	}
	press(m, "/ type:*linear_fc1.weight enter")
	if got := w.Tree().Matches(); got != want {
		t.Fatalf("filter on %s matched %d tensors, want %d", r.Path, got, want)
	}
	// Each list keeps its own filter.
	page := w.Page()
	press(m, "r")
	if w.Tree().Query() != "" {
		t.Fatalf("the next rank file should not inherit the filter, query %q", w.Tree().Query())
	}
	press(m, "R")
	if w.Page() != page || w.Tree().Matches() != want {
		t.Fatalf("back on page %d the filter should still match %d (page %d, %d)", page, want, w.Page(), w.Tree().Matches())
	}
	// While typing a filter, r and R are letters.
	press(m, "/ ctrl+u type:router enter")
	if w.Page() != page || w.Tree().Query() != "router" {
		t.Fatalf("typing r in the filter changed the page (%d) or lost the text (%q)", w.Page(), w.Tree().Query())
	}
}

// A tensor of a rank file leads to the HF tensors it becomes and to its mapping.
func TestMCARankTensorMapsBack(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 100, 30)
	ctx := m.Context()
	// mp_rank_00_001 is TP rank 0 of the second stage, whose local layer 0 is global layer 2.
	press(m, "3 r r")
	w := m.Component(common.ViewWeights).(*weights.Model)
	if got := ctx.MCA.Ranks[w.Page()-1].Label; got != "mp_rank_00_001" {
		t.Fatalf("page %d is %s, want mp_rank_00_001", w.Page(), got)
	}
	press(m, "/ type:decoder.layers.0.self_attention.linear_qkv.weight enter")
	n := w.Tree().Selected()
	if n == nil || n.Path != "decoder.layers.0.self_attention.linear_qkv.weight" {
		t.Fatalf("the filter should select the local QKV weight, got %v", n)
	}
	q := ctx.Ck.ByName["thinker.model.layers.2.self_attn.q_proj.weight"]
	if ctx.Selected != q {
		t.Fatalf("selecting the rank-file tensor should select its first HF tensor (q_proj of layer 2, %d), got %d", q, ctx.Selected)
	}
	v := m.Screen()
	for _, want := range []string{"→ thinker.model.layers.2.self_attn.q_proj.weight +2", "is slice 0/2 of decoder.layers.2.self_attention.linear_qkv.weight (qkv, column)", "‹ mp_rank_00_001 ›", "record data/"} {
		if !strings.Contains(v, want) {
			t.Errorf("the detail lacks %q:\n%s", want, v)
		}
	}
	press(m, "4")
	mp := m.Component(common.ViewMapping).(*mapping.Model)
	if sel := mp.Tree().Selected(); sel == nil || sel.Path != "decoder.layers.2.self_attention.linear_qkv.weight" {
		t.Fatalf("Mapping should show the global QKV weight of layer 2, got %v", sel)
	}
	v = m.Screen()
	for _, want := range []string{"back: 415 Megatron tensors → 455 HF tensors", "HF out", "read from 2 places:", "mp_rank_00_001 model", "mp_rank_01_001 model", "slice 1/2"} {
		if !strings.Contains(v, want) {
			t.Errorf("Mapping lacks %q:\n%s", want, v)
		}
	}
	// Back in Weights, the rank file shows the slice it holds; the merged list shows the HF tensor.
	press(m, "3")
	if n := w.Tree().Selected(); n == nil || n.Path != "decoder.layers.0.self_attention.linear_qkv.weight" {
		t.Fatalf("the rank-file list should keep the slice selected, got %v", n)
	}
	w.SetPage(0)
	if n := w.Tree().Selected(); n == nil || n.Path != "thinker.model.layers.2.self_attn.q_proj.weight" {
		t.Fatalf("the merged list should reveal the selected HF tensor, got %v", n)
	}
}

func TestMCAConfigTrees(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 160, 30) // wide enough for the mapped keys' names
	press(m, "2")
	cv := m.Component(common.ViewConfig).(*configview.MCAModel)
	left, right := cv.Trees()
	// The right tree is the restored config.json: the example's keys in file order.
	orig := openExample(t).Config
	var want, got []string
	for _, c := range orig.Children {
		want = append(want, c.Key)
	}
	for _, n := range right.Roots() {
		got = append(got, n.Key)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("restored config.json keys %v, want the example's %v", got, want)
	}
	// The left tree is mca_config.json; a mapped key shows its HF key on the right.
	press(m, "/ type:num_layers enter")
	if n := left.Selected(); n == nil || n.Path != "num_layers" {
		t.Fatalf("the filter should select num_layers, got %v", n)
	}
	if n := right.Selected(); n == nil || n.Path != "thinker_config.text_config.num_hidden_layers" {
		t.Fatalf("config.json should show the HF key of num_layers, got %v", n)
	}
	if v := m.Screen(); !strings.Contains(v, "← thinker_config.text_config.num_hidden_layers") {
		t.Errorf("the mapped key should name its HF key:\n%s", v)
	}
	// p moves the keys to config.json, esc back.
	press(m, "esc p")
	if !cv.FocusRight() {
		t.Fatal("p should focus config.json")
	}
	before := left.Selected()
	press(m, "home down")
	if left.Selected() != before {
		t.Fatal("keys should move the config.json tree only")
	}
	if n := right.Selected(); n == nil || n.Path != want[1] {
		t.Fatalf("down in config.json should select %s, got %v", want[1], n)
	}
	press(m, "esc")
	if cv.FocusRight() {
		t.Fatal("esc should give the keys back to mca_config.json")
	}
}

// mcaConvertTo is the key script that converts a Megatron checkpoint into dir
// from anywhere: open Convert, edit the path, then the Convert button (past the
// "write" and "take rank 0" fields).
func mcaConvertTo(dir string) string {
	return "c enter ctrl+u type:" + dir + " enter down down enter"
}

func TestMCAPlacementPlansAReshard(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 100, 30)
	ctx := m.Context()
	x := ctx.MCA
	src, gen := ctx.Settings, ctx.PlanGen
	if x.Recorded.TP != 2 || x.Recorded.PP != 2 || x.Resharding() {
		t.Fatalf("the recorded layout should be TP 2 PP 2 and shown as is, got %+v", x.Recorded)
	}
	v := m.Screen()
	press(m, "5")
	if v = m.Screen(); !strings.Contains(v, "✓ the recorded layout") {
		t.Fatalf("Placement should start on the recorded layout:\n%s", v)
	}
	// TP 2 -> 1: a reshard to two rank files, planned off the UI goroutine.
	press(m, "left")
	p, err := ctx.TargetPlan()
	if err != nil || !x.Resharding() || p == nil || len(p.Ranks) != 2 || p.Settings.TP != 1 || p.Settings.ETP != 1 {
		t.Fatalf("TP 1 should plan a reshard to 2 rank files with ETP following TP (resharding %v, err %v, plan %+v)", x.Resharding(), err, p)
	}
	if !ctx.Settings.Equal(src) || ctx.PlanGen != gen {
		t.Fatal("the source checkpoint's own plan must not change")
	}
	v = m.Screen()
	for _, want := range []string{"Reshard", "✓ the reshard converts", "recorded: TP 2 · PP 2 · EP 1", "Rank files  2", "→ TP 1 · PP 2 · EP 1 · ✓ reshard ok"} {
		if !strings.Contains(v, want) {
			t.Errorf("Placement lacks %q:\n%s", want, v)
		}
	}
	// TP 3 breaks the divisibility rules: the error shows where it arises.
	press(m, "enter ctrl+u type:3 enter")
	if p, _ := ctx.TargetPlan(); p == nil || !p.HasErrors() {
		t.Fatal("TP 3 should be planned with errors")
	}
	if v = m.Screen(); !strings.Contains(v, "1 error blocks the reshard") || !strings.Contains(v, "TP 3 does not divide") || !strings.Contains(v, "→ TP 3 · PP 2 · EP 1 · ✗ 1 error") {
		t.Errorf("the errors should be shown:\n%s", v)
	}
	// Back to TP 2: the recorded layout again, nothing to reshard.
	press(m, "left")
	if x.Resharding() {
		t.Fatalf("TP 2 is the recorded layout, target %+v", x.Target.Settings)
	}
	if p, _ := ctx.TargetPlan(); p != ctx.Plan {
		t.Fatal("the recorded layout should show the checkpoint's own plan")
	}
}

// TestMCAReshardForReal reshards TP 2 PP 2 to TP 1 PP 2 from the app and verifies
// the result against the committed example through the mapping.
func TestMCAReshardForReal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tp1")
	m := newMCAApp(t)
	tm := newProgram(t, m, 100, 30)
	for _, k := range script("5 left c enter ctrl+u type:" + out + " enter down down enter") { // a new layout: Convert writes Megatron
		tm.Send(k)
	}
	waitFor(t, tm, "Converted")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateDone || !cv.Reshard() {
		t.Fatalf("state %v (reshard %v), want a finished reshard (err %v)", cv.State(), cv.Reshard(), cv.Err())
	}
	v := fm.Screen()
	for _, want := range []string{"✓ Converted", out, "2 rank files", "iter_0000001/mp_rank_00_000/model_optim_rng.pt", "iter_0000001/mp_rank_00_001/model_optim_rng.pt"} {
		if !strings.Contains(v, want) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	got, err := mca.Open(out)
	if err != nil {
		t.Fatalf("the output does not open as an mcore_adapter checkpoint: %v", err)
	}
	defer got.Close()
	if got.TP != 1 || got.PP != 2 || len(got.Ranks) != 2 {
		t.Fatalf("want TP 1 PP 2 with 2 rank files, got TP %d PP %d, %d files", got.TP, got.PP, len(got.Ranks))
	}
	rep, err := core.Verify(context.Background(), out, examplePath, core.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the resharded checkpoint differs from the example: %+v", rep.Diffs)
	}
}

// TestMCAConvertToHFForReal converts the Megatron checkpoint back from the app
// and checks the Hugging Face output against the committed example, tensor by tensor.
func TestMCAConvertToHFForReal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "hf")
	m := newMCAApp(t)
	tm := newProgram(t, m, 100, 30)
	for _, k := range script(mcaConvertTo(out)) {
		tm.Send(k)
	}
	waitFor(t, tm, "Converted to Hugging Face")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateDone {
		t.Fatalf("state %v, want done (err %v)", cv.State(), cv.Err())
	}
	v := fm.Screen()
	checkFrame(t, v, 100, 30)
	for _, want := range []string{"✓ Converted to Hugging Face", out, "model.safetensors", "455 tensors", "config.json"} {
		if !strings.Contains(v, want) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	got, err := loader.OpenHF(out)
	if err != nil {
		t.Fatalf("the output does not open as a Hugging Face checkpoint: %v", err)
	}
	defer got.Close()
	if len(got.Shards) != 1 || got.Shards[0].Name != "model.safetensors" {
		t.Fatalf("want one model.safetensors, got %+v", got.Shards)
	}
	orig := openExample(t)
	if len(got.Tensors) != len(orig.Tensors) {
		t.Fatalf("%d tensors, the example has %d", len(got.Tensors), len(orig.Tensors))
	}
	for i, ot := range orig.Tensors {
		gi, ok := got.ByName[ot.Name]
		if !ok {
			t.Errorf("%s is missing", ot.Name)
			continue
		}
		gt := got.Tensors[gi]
		if gt.DType != ot.DType || common.Shape(gt.Shape) != common.Shape(ot.Shape) {
			t.Errorf("%s is %s %v, want %s %v", ot.Name, gt.DType, gt.Shape, ot.DType, ot.Shape)
			continue
		}
		a, err := orig.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.TensorData(gi)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: bytes differ from the example", ot.Name)
		}
	}
	if !bytes.Equal(got.ConfigBytes, orig.ConfigBytes) {
		t.Errorf("config.json differs from the example's")
	}
	for _, f := range orig.ExtraFiles {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s was not copied: %v", f, err)
		}
	}
	if entries, err := os.ReadDir(filepath.Dir(out)); err != nil || len(entries) != 1 {
		t.Errorf("the output's parent should hold only the output, has %v (%v)", entries, err)
	}
}

type treeNode = tree.Node

// fakeHF stands in for core.ConvertToHF to test the app's side: progress, the
// file list, cancel, replace and the take-rank-0 choice.
type fakeHF struct {
	mu      sync.Mutex
	calls   int
	opt     core.ToHFOptions
	sawStop bool
	block   bool
}

func (f *fakeHF) convert(ctx context.Context, rp *core.ReversePlan, opt core.ToHFOptions) (*core.Result, error) {
	f.mu.Lock()
	f.calls++
	f.opt = opt
	f.mu.Unlock()
	var total int64
	for _, t := range rp.Forward.Tensors {
		total += t.Size
	}
	n := len(rp.Forward.Tensors)
	opt.Progress(core.Progress{Kind: core.ProgStart, BytesTotal: total, TensorsTotal: n})
	opt.Progress(core.Progress{Kind: core.ProgTensor, BytesDone: total / 2, BytesTotal: total, TensorsDone: n / 2, TensorsTotal: n, Tensor: rp.Forward.Tensors[n/2].Name})
	if f.block {
		<-ctx.Done()
		f.mu.Lock()
		f.sawStop = true
		f.mu.Unlock()
		return nil, ctx.Err()
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opt.Out, "model.safetensors"), []byte("x"), 0o644); err != nil {
		return nil, err
	}
	return &core.Result{Out: opt.Out, Files: []string{"model.safetensors"}, Bytes: total, Tensors: n, Elapsed: time.Second}, nil
}

func (f *fakeHF) snapshot() (calls int, opt core.ToHFOptions, sawStop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.opt, f.sawStop
}

func TestMCAConvertProgressAndCancel(t *testing.T) {
	f := &fakeHF{block: true}
	out := filepath.Join(t.TempDir(), "hf")
	m := newMCAApp(t, tui.WithHFConverter(f.convert))
	tm := newProgram(t, m, 100, 30)
	for _, k := range script(mcaConvertTo(out)) {
		tm.Send(k)
	}
	// The running screen: the overall bar at the reported 50% and the file being written.
	waitScreen(t, tm, func(s string) bool {
		return strings.Contains(s, "Converting") && strings.Contains(s, "50%") && strings.Contains(s, "model.safetensors")
	})
	// The app stays responsive: switch views and back while it runs.
	tm.Send(keyMsg("4"))
	waitFor(t, tm, "[4 Mapping]")
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "[c Convert]")
	tm.Send(keyMsg("esc"))
	waitFor(t, tm, "Conversion canceled")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateCanceled {
		t.Fatalf("state %v, want canceled", cv.State())
	}
	if _, opt, saw := f.snapshot(); !saw || opt.Out != out || opt.Force || opt.TakeRank0 {
		t.Fatalf("the converter should have been called for %s without force or take-rank-0 and canceled (opt %+v, canceled %v)", out, opt, saw)
	}
}

func TestMCAConvertAsksBeforeReplacingAndTakesRank0(t *testing.T) {
	f := &fakeHF{}
	out := t.TempDir() // exists
	m := newMCAApp(t, tui.WithHFConverter(f.convert))
	resize(m, 100, 30)
	// Open the form, tick "take rank 0", then convert into an existing directory.
	press(m, "c down down space up up enter ctrl+u type:"+out+" enter down down enter")
	cv := m.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateConfirmReplace {
		t.Fatalf("an existing output should ask first, state %v", cv.State())
	}
	press(m, "n")
	if calls, _, _ := f.snapshot(); cv.State() != convert.StateForm || calls != 0 {
		t.Fatalf("n should go back to the form without converting (state %v, calls %d)", cv.State(), calls)
	}
	press(m, "down down down enter y")
	m.Close()
	calls, opt, _ := f.snapshot()
	if calls != 1 || !opt.Force || !opt.TakeRank0 || opt.Out != out {
		t.Fatalf("y should convert into %s with Force and TakeRank0 (calls %d, opt %+v)", out, calls, opt)
	}
}

// A Megatron checkpoint that cannot be mapped back still opens; the app says why
// and refuses to convert.
func TestMCAUnmappableCheckpointOpens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "broken-mca")
	copyDir(t, mcaExampleDir(t), dir)
	cfgPath := filepath.Join(dir, "mca_config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "hf_config_json")
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	mc, err := mca.Open(dir)
	if err != nil {
		t.Fatalf("the rank files are intact, so the checkpoint should open: %v", err)
	}
	defer mc.Close()
	f := &fakeHF{}
	m := tui.NewMCA(mc, "broken-mca", plainColors(), tui.WithHFConverter(f.convert))
	resize(m, 100, 30)
	v := m.Screen()
	if os.Getenv("SHOW") != "" {
		t.Log(v)
	}
	for _, want := range []string{"✗ cannot map this checkpoint back", "hf_config_json", "✗ cannot map back", "mp_rank_01_001"} {
		if !strings.Contains(v, want) {
			t.Errorf("Overview lacks %q:\n%s", want, v)
		}
	}
	for _, script := range []string{"2", "3", "3 r", "4", "5", "c"} {
		press(m, script)
		checkFrame(t, m.Screen(), 100, 30)
	}
	press(m, mcaConvertTo(filepath.Join(t.TempDir(), "hf")))
	if calls, _, _ := f.snapshot(); calls != 0 {
		t.Fatal("a checkpoint that does not map back must not be converted")
	}
	if v := m.Screen(); !strings.Contains(v, "does not map back") {
		t.Fatalf("the form should say why:\n%s", v)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", from, err)
	}
}

// convertExample writes the example as an mcore_adapter checkpoint with settings s.
func convertExample(t *testing.T, s core.Settings) string {
	t.Helper()
	ck := openExample(t)
	p, err := core.BuildPlan(ck, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("%v", planErrors{p})
	}
	out := filepath.Join(t.TempDir(), "mca")
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every layout opens: each rank-file tensor is paired with the plan destination of
// the same name and shape, each rank file's list holds its tensors, and every view
// fits the terminal.
func TestMCALayouts(t *testing.T) {
	base := core.DefaultSettings()
	with := func(f func(*core.Settings)) core.Settings { s := base; f(&s); return s }
	tests := []struct {
		name string
		s    core.Settings
	}{
		{"tp2 pp2", with(func(s *core.Settings) { s.TP, s.PP = 2, 2 })},
		{"pp2 vpp2", with(func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) })},
		{"ep2 grouped gemm", with(func(s *core.Settings) { s.EP, s.GroupedGEMM = 2, true })},
		{"legacy grouped gemm tp2", with(func(s *core.Settings) { s.TP, s.GroupedGEMM, s.LegacyGroupedGEMM = 2, true, true })},
		{"local impl", with(func(s *core.Settings) { s.TransformerImpl = "local" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mc, err := mca.Open(convertExample(t, tc.s))
			if err != nil {
				t.Fatal(err)
			}
			defer mc.Close()
			m := tui.NewMCA(mc, "mca", plainColors())
			ctx := m.Context()
			if ctx.Plan == nil || ctx.HasErrors() {
				t.Fatalf("the checkpoint should map back: %v", ctx.PlanErr)
			}
			x := ctx.MCA
			plan := ctx.Plan
			for ri, r := range mc.Ranks {
				for _, ch := range r.Chunks {
					for _, ref := range ch.Tensors {
						refs := x.Entry(ri, ch.VP, ref.Name)
						if len(refs) == 0 {
							t.Errorf("%s [%s] %s is paired with no plan destination", r.Path, ch.Key, ref.Name)
							continue
						}
						for _, e := range refs {
							d := plan.Groups[e.Group].Dests[e.Dest]
							rf := plan.Ranks[d.Rank]
							if d.Name != ref.Name || rf.TP != r.TP || rf.PP != r.PP || rf.EP != r.EP || rf.Chunks[d.Chunk].VP != ch.VP {
								t.Errorf("%s [%s] %s is paired with %s of %s [vp %d]", r.Path, ch.Key, ref.Name, d.Name, rf.Path, rf.Chunks[d.Chunk].VP)
							}
							if !d.Transpose && common.Shape(d.Shape) != common.Shape(ref.Shape) {
								t.Errorf("%s %s: shape %v, the destination's %v", r.Path, ref.Name, ref.Shape, d.Shape)
							}
						}
					}
				}
			}
			resize(m, 80, 24)
			press(m, "3")
			w := m.Component(common.ViewWeights).(*weights.Model)
			for _, r := range mc.Ranks {
				press(m, "r")
				want := 0
				for _, ch := range r.Chunks {
					want += len(ch.Tensors)
				}
				if got := countLeaves(w.Tree().Roots()); got != want {
					t.Errorf("%s: the list has %d tensors, the file %d", r.Path, got, want)
				}
				if len(r.Chunks) > 1 && w.Tree().Find(r.Chunks[1].Key) == nil {
					t.Errorf("%s: with virtual stages the list should group by state dict (%s)", r.Path, r.Chunks[1].Key)
				}
			}
			for _, script := range []string{"1", "2", "2 p", "3", "4", "5", "c", "?"} {
				press(m, script)
				checkFrame(t, m.Screen(), 80, 24)
			}
		})
	}
}
