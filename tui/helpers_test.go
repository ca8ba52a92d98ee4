package tui_test

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/internal/keys"
)

// examplePath is the committed tiny checkpoint, as a user would type it from tui/.
const examplePath = "../testdata/example/qwen3-omni-tiny"

func openExample(t testing.TB) *loader.Checkpoint {
	t.Helper()
	ck, err := loader.OpenHF(examplePath)
	if err != nil {
		t.Fatalf("opening the committed example: %v", err)
	}
	t.Cleanup(func() { ck.Close() })
	return ck
}

// testOutBase is where the app proposes outputs in tests (it does not exist).
const testOutBase = "/tmp/omnitui-test-out"

// plainColors draws without colours or attributes, so views compare as text.
func plainColors() tui.Option { return tui.WithColors(colorprofile.Ascii, true) }

func newApp(t testing.TB, opts ...tui.Option) *tui.Model {
	t.Helper()
	return newAppFor(t, openExample(t), examplePath, opts...)
}

func newAppFor(t testing.TB, ck *loader.Checkpoint, path string, opts ...tui.Option) *tui.Model {
	t.Helper()
	opts = append([]tui.Option{plainColors(), tui.WithOutputBase(testOutBase)}, opts...)
	return tui.New(ck, path, core.DefaultSettings(), opts...)
}

// keyMsg turns a key name into the message bubbletea would send.
func keyMsg(k string) tea.KeyPressMsg { return keys.Press(k) }

// script expands a key script: names separated by spaces; "type:TEXT" types TEXT
// one rune at a time.
func script(s string) []tea.KeyPressMsg {
	var out []tea.KeyPressMsg
	for _, f := range strings.Fields(s) {
		if s, ok := strings.CutPrefix(f, "type:"); ok {
			for _, r := range s {
				out = append(out, keys.Press(string(r)))
			}
			continue
		}
		out = append(out, keyMsg(f))
	}
	return out
}

// press drives the model synchronously: each key goes through Update, and the
// messages its commands produce promptly are fed back, as the program would.
// Commands that wait (timers, a running conversion) are left behind.
func press(m *tui.Model, keyScript string) {
	for _, k := range script(keyScript) {
		_, cmd := m.Update(k)
		drain(m, cmd, 0)
	}
}

func drain(m *tui.Model, cmd tea.Cmd, depth int) {
	if cmd == nil || depth > 8 {
		return
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	// Commands that wait on a conversion or a timer are abandoned after a
	// moment; a plan build is always waited for.
	wait := 100 * time.Millisecond
	if m.Context().Planning() {
		wait = 30 * time.Second
	}
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(wait):
		return
	}
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			drain(m, c, depth+1)
		}
	case tea.QuitMsg:
	default:
		_, next := m.Update(msg)
		drain(m, next, depth+1)
	}
}

func resize(m *tui.Model, w, h int) { m.Update(tea.WindowSizeMsg{Width: w, Height: h}) }

// newProgram runs m as a bubbletea program in a w×h terminal, for tests that
// need the real message loop (conversions running beside key presses). Its
// screen can be read with screenOf.
func newProgram(t *testing.T, m *tui.Model, w, h int) *teatest.TestModel {
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithFilter(probeFilter)))
}

// screenProbe asks the running program for its current screen. The filter
// answers it on the program's own goroutine, so reading the model is not a race.
type screenProbe struct{ ch chan string }

func probeFilter(m tea.Model, msg tea.Msg) tea.Msg {
	if p, ok := msg.(screenProbe); ok {
		p.ch <- m.(*tui.Model).Screen()
		return nil
	}
	return msg
}

// screenOf is the running program's screen as text ("" if it does not answer).
func screenOf(tm *teatest.TestModel) string {
	ch := make(chan string, 1)
	tm.Send(screenProbe{ch})
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		return ""
	}
}

// waitScreen waits up to 10 s for the running program's screen to satisfy ok.
// (bubbletea v2 writes only the cells that change, so the output stream is not
// searchable text.)
func waitScreen(t *testing.T, tm *teatest.TestModel, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var s string
	for time.Now().Before(deadline) {
		if s = screenOf(tm); ok(s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the screen did not get there in 10 s; last screen:\n%s", s)
}
