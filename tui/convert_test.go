package tui_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/convert"
)

// fakeConv stands in for core.Convert to test the app's side of a conversion:
// progress display, cancel, failure and replace. It records how it was called.
type fakeConv struct {
	mu      sync.Mutex
	calls   int
	force   bool
	out     string
	sawStop bool

	block   bool  // wait for cancel after the first event
	fail    error // return this after the first event
	release chan struct{}
}

func (f *fakeConv) convert(ctx context.Context, ck *loader.Checkpoint, p *core.Plan, opt core.ConvertOptions) (*core.Result, error) {
	f.mu.Lock()
	f.calls++
	f.force, f.out = opt.Force, opt.Out
	f.mu.Unlock()
	var total int64
	for _, r := range p.Ranks {
		total += r.Bytes
	}
	ranks := make([]int64, len(p.Ranks))
	opt.Progress(core.Progress{Kind: core.ProgStart, BytesTotal: total, TensorsTotal: len(p.Groups), RankBytes: ranks})
	if f.block {
		<-ctx.Done()
		f.mu.Lock()
		f.sawStop = true
		f.mu.Unlock()
		return nil, ctx.Err()
	}
	if f.fail != nil {
		return nil, f.fail
	}
	var done int64
	for gi, g := range p.Groups {
		for _, d := range g.Dests {
			b := int64(1)
			for _, s := range d.Shape {
				b *= s
			}
			b *= int64(g.DType.Size())
			ranks[d.Rank] += b
			done += b
		}
		opt.Progress(core.Progress{Kind: core.ProgTensor, BytesDone: done, BytesTotal: total, TensorsDone: gi + 1,
			TensorsTotal: len(p.Groups), Tensor: g.HFNames[0], RankBytes: ranks})
	}
	var files []string
	for _, r := range p.Ranks {
		path := filepath.Join(opt.Out, r.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte("rank"), 0o644); err != nil {
			return nil, err
		}
		files = append(files, r.Path)
	}
	opt.Progress(core.Progress{Kind: core.ProgDone, BytesDone: done, BytesTotal: total, TensorsDone: len(p.Groups), TensorsTotal: len(p.Groups), RankBytes: ranks})
	return &core.Result{Out: opt.Out, Files: files, Bytes: done, Tensors: len(p.Groups), Elapsed: 1500 * time.Millisecond}, nil
}

func (f *fakeConv) snapshot() fakeConv {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeConv{calls: f.calls, force: f.force, out: f.out, sawStop: f.sawStop}
}

func waitFor(t *testing.T, tm *teatest.TestModel, text string) {
	t.Helper()
	waitScreen(t, tm, func(s string) bool { return strings.Contains(s, text) })
}

func finalModel(t *testing.T, tm *teatest.TestModel) *tui.Model {
	t.Helper()
	tm.Send(tui.QuitWhenIdleMsg{})
	return tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*tui.Model)
}

// convertTo is the key script that converts into dir from anywhere: open Convert,
// edit the path, then the Convert button.
func convertTo(dir string) string {
	return "c enter ctrl+u type:" + dir + " enter down enter"
}

func TestConvertShowsProgressAndFinish(t *testing.T) {
	f := &fakeConv{}
	out := filepath.Join(t.TempDir(), "mca")
	m := newApp(t, tui.WithConverter(f.convert))
	tm := newProgram(t, m, 100, 30)
	for _, k := range script("5 right " + convertTo(out)) {
		tm.Send(k)
	}
	waitFor(t, tm, "Converted")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateDone {
		t.Fatalf("state %v, want done (err %v)", cv.State(), cv.Err())
	}
	got := f.snapshot()
	if got.calls != 1 || got.force || got.out != out {
		t.Fatalf("converter called %d times, force %v, out %q", got.calls, got.force, got.out)
	}
	// TP 2: both rank files on disk, and named on the finish screen.
	v := fm.Screen()
	for _, rel := range []string{"iter_0000001/mp_rank_00/model_optim_rng.pt", "iter_0000001/mp_rank_01/model_optim_rng.pt"} {
		if _, err := os.Stat(filepath.Join(out, rel)); err != nil {
			t.Errorf("%s not written: %v", rel, err)
		}
		if !bytes.Contains([]byte(v), []byte(rel)) {
			t.Errorf("finish screen lacks %s:\n%s", rel, v)
		}
	}
	for _, want := range []string{"✓ Converted", out, "2 rank files"} {
		if !bytes.Contains([]byte(v), []byte(want)) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	checkFrame(t, v, 100, 30)
}

func TestConvertCancelWithEsc(t *testing.T) {
	f := &fakeConv{block: true}
	out := filepath.Join(t.TempDir(), "mca")
	m := newApp(t, tui.WithConverter(f.convert))
	tm := newProgram(t, m, 100, 30)
	for _, k := range script(convertTo(out)) {
		tm.Send(k)
	}
	waitFor(t, tm, "Converting")
	// The UI stays responsive while the converter works: switch views and back.
	tm.Send(keyMsg("3"))
	waitFor(t, tm, "[3 Weights]")
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "[c Convert]")
	tm.Send(keyMsg("esc"))
	waitFor(t, tm, "Conversion canceled")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateCanceled {
		t.Fatalf("state %v, want canceled", cv.State())
	}
	if !f.snapshot().sawStop {
		t.Fatal("the converter's context was not canceled")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("nothing should exist under %s: %v", out, err)
	}
	// Back to the form with enter.
	fm.Update(keyMsg("enter"))
	if cv.State() != convert.StateForm {
		t.Fatalf("enter on the finish screen should return to the form, state %v", cv.State())
	}
}

func TestConvertFailureIsShownNotCrashed(t *testing.T) {
	f := &fakeConv{fail: errors.New("writing mp_rank_00: no space left on device: free some space")}
	m := newApp(t, tui.WithConverter(f.convert))
	tm := newProgram(t, m, 100, 30)
	for _, k := range script(convertTo(filepath.Join(t.TempDir(), "mca"))) {
		tm.Send(k)
	}
	waitFor(t, tm, "Conversion failed")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateFailed || cv.Err() == nil {
		t.Fatalf("state %v err %v, want failed", cv.State(), cv.Err())
	}
	if v := fm.Screen(); !bytes.Contains([]byte(v), []byte("no space left on device")) {
		t.Fatalf("the error should be on screen:\n%s", v)
	}
}

func TestConvertAsksBeforeReplacing(t *testing.T) {
	f := &fakeConv{}
	out := t.TempDir() // exists
	m := newApp(t, tui.WithConverter(f.convert))
	resize(m, 100, 30)
	press(m, convertTo(out))
	cv := m.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateConfirmReplace {
		t.Fatalf("an existing output should ask first, state %v", cv.State())
	}
	if !bytes.Contains([]byte(m.Screen()), []byte("already exists")) {
		t.Fatalf("the question is not shown:\n%s", m.Screen())
	}
	press(m, "n")
	if cv.State() != convert.StateForm || f.snapshot().calls != 0 {
		t.Fatalf("n should go back to the form without converting (state %v, calls %d)", cv.State(), f.snapshot().calls)
	}
	press(m, "down down enter y")
	if cv.State() != convert.StateRunning && cv.State() != convert.StateDone {
		t.Fatalf("y should start the conversion, state %v", cv.State())
	}
	m.Close() // wait for the converter goroutine
	if got := f.snapshot(); got.calls != 1 || !got.force {
		t.Fatalf("y should convert with Force (calls %d, force %v)", got.calls, got.force)
	}
}

func TestConvertRefusesAPlanWithErrors(t *testing.T) {
	f := &fakeConv{}
	m := newApp(t, tui.WithConverter(f.convert))
	resize(m, 100, 30)
	press(m, "5 enter ctrl+u type:3 enter "+convertTo(filepath.Join(t.TempDir(), "mca")))
	cv := m.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateForm || f.snapshot().calls != 0 {
		t.Fatalf("a plan with errors must not convert (state %v, calls %d)", cv.State(), f.snapshot().calls)
	}
	if v := m.Screen(); !bytes.Contains([]byte(v), []byte("fix them in 5 Placement")) {
		t.Fatalf("the form should say why:\n%s", v)
	}
}

func TestConvertDTypeChoiceRebuildsThePlan(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "c down right")
	ctx := m.Context()
	if ctx.Settings.DType != "bf16" || ctx.Plan.Settings.DType != "bf16" {
		t.Fatalf("→ on dtype should choose bf16 and rebuild (settings %q, plan %q)", ctx.Settings.DType, ctx.Plan.Settings.DType)
	}
	press(m, "right")
	if ctx.Settings.DType != "fp16" {
		t.Fatalf("next dtype should be fp16, got %q", ctx.Settings.DType)
	}
	// fp16 output doubles nothing, but fp32 doubles the bytes of a bf16 checkpoint.
	var bf, f32 int64
	for _, r := range ctx.Plan.Ranks {
		bf += r.Bytes
	}
	press(m, "right")
	for _, r := range ctx.Plan.Ranks {
		f32 += r.Bytes
	}
	if ctx.Settings.DType != "fp32" || f32 != 2*bf {
		t.Fatalf("fp32: dtype %q, %d bytes, want twice %d", ctx.Settings.DType, f32, bf)
	}
}

func TestQuittingCancelsARunningConversion(t *testing.T) {
	f := &fakeConv{block: true}
	m := newApp(t, tui.WithConverter(f.convert))
	resize(m, 100, 30)
	press(m, convertTo(filepath.Join(t.TempDir(), "mca")))
	if !m.Component(common.ViewConvert).(*convert.Model).Running() {
		t.Fatal("the conversion should be running")
	}
	m.Close() // what Run does after the program ends
	if !f.snapshot().sawStop {
		t.Fatal("Close should cancel the conversion and wait for it")
	}
}

// TestConvertForReal runs core.Convert on the committed example from the app:
// the finish screen names the output, and the files are on disk.
func TestConvertForReal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mca")
	m := newApp(t)
	tm := newProgram(t, m, 100, 30)
	for _, k := range script("5 right " + convertTo(out)) {
		tm.Send(k)
	}
	waitFor(t, tm, "Converted")
	fm := finalModel(t, tm)
	cv := fm.Component(common.ViewConvert).(*convert.Model)
	if cv.State() != convert.StateDone {
		t.Fatalf("state %v, want done (err %v)", cv.State(), cv.Err())
	}
	res := cv.Result()
	if res == nil || len(res.Files) != 2 {
		t.Fatalf("TP 2 should write 2 rank files, result %+v", res)
	}
	for _, rel := range append([]string{"mca_config.json", "latest_checkpointed_iteration.txt"}, res.Files...) {
		fi, err := os.Stat(filepath.Join(out, rel))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty: %v", rel, err)
		}
	}
	v := fm.Screen()
	for _, want := range append([]string{"✓ Converted", out}, res.Files...) {
		if !bytes.Contains([]byte(v), []byte(want)) {
			t.Errorf("finish screen lacks %q:\n%s", want, v)
		}
	}
	// Nothing else next to the output (no temporary directory left).
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil || len(entries) != 1 {
		t.Errorf("the output's parent should hold only the output, has %v (%v)", entries, err)
	}
}
