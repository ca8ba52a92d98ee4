package tui_test

import (
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/convert"
	"github.com/omnitui/omnitui/tui/placement"
)

// terminal runs m as a program reading raw terminal bytes, as a user's terminal
// (or ssh, or tmux) delivers them: several keys can arrive in one read.
type terminal struct {
	t  *testing.T
	p  *tea.Program
	in *io.PipeWriter
}

func newTerminal(t *testing.T, m *tui.Model, w, h int) *terminal {
	t.Helper()
	r, wr := io.Pipe()
	p := tea.NewProgram(m, tea.WithInput(r), tea.WithOutput(io.Discard), tea.WithWindowSize(w, h),
		tea.WithoutSignals(), tea.WithFilter(probeFilter))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := p.Run(); err != nil {
			t.Errorf("the program failed: %v", err)
		}
	}()
	t.Cleanup(func() {
		p.Quit()
		wr.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			p.Kill()
		}
	})
	return &terminal{t: t, p: p, in: wr}
}

// write sends bytes in one write, so the program reads them together.
func (tt *terminal) write(s string) {
	tt.t.Helper()
	if _, err := tt.in.Write([]byte(s)); err != nil {
		tt.t.Fatal(err)
	}
}

// screen waits until the program has handled everything sent so far and
// returns its screen: a probe is answered after the messages before it.
func (tt *terminal) screen() string {
	ch := make(chan string, 1)
	tt.p.Send(screenProbe{ch})
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		tt.t.Fatal("the program does not answer")
		return ""
	}
}

// waitScreen waits for the screen to satisfy ok.
func (tt *terminal) waitScreen(ok func(string) bool) string {
	tt.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	s := ""
	for time.Now().Before(deadline) {
		if s = tt.screen(); ok(s) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	tt.t.Fatalf("the screen did not get there; last screen:\n%s", s)
	return s
}

// cursorRow is the text of the row marked with the cursor "› ".
func cursorRow(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " │"), "› ") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func TestKeysThatArriveTogetherActAsSeparatePresses(t *testing.T) {
	// The reference: the same keys pressed one at a time.
	ref := newApp(t)
	resize(ref, 100, 30)
	press(ref, "3 j j j")
	want := cursorRow(ref.Screen())
	if want == "" || want == cursorRow(func() string { m := newApp(t); resize(m, 100, 30); press(m, "3"); return m.Screen() }()) {
		t.Fatalf("three presses of j should move the cursor; row %q", want)
	}

	tt := newTerminal(t, newApp(t), 100, 30)
	tt.write("3")
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "[3 Weights]") })
	tt.write("jjj") // one read, as a held key over ssh delivers it
	if got := cursorRow(tt.waitScreen(func(s string) bool { return cursorRow(s) == want })); got != want {
		t.Fatalf("after \"jjj\" in one read the cursor is on %q, want %q", got, want)
	}
	// Digits together switch views one after the other: "25" ends on Placement.
	tt.write("25")
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "[5 Placement]") })
	// Two steps at once: TP goes 1 → 2 → 4 (the sizes the example allows) in one read of "ll".
	tt.write("ll")
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "‹ 4 ›") })
}

func TestPasteGoesIntoTheFieldBeingEdited(t *testing.T) {
	tt := newTerminal(t, newApp(t), 100, 30)
	// Convert, edit the output path, clear it, and paste a path (bracketed paste).
	tt.write("c")
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "[c Convert]") })
	tt.write("\r\x15") // enter, ctrl+u
	tt.write("\x1b[200~/tmp/pasted dir/out\n\x1b[201~")
	s := tt.waitScreen(func(s string) bool { return strings.Contains(s, "/tmp/pasted dir/out▏") })
	if !strings.Contains(s, "output dir") {
		t.Fatalf("the paste should land in the output field:\n%s", s)
	}
	// Outside a text field a paste does nothing: it is not a burst of keys.
	tt.write("\r3") // finish editing, go to Weights
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "[3 Weights]") })
	tt.write("\x1b[200~4q5\x1b[201~")
	if s := tt.screen(); !strings.Contains(s, "[3 Weights]") {
		t.Fatalf("a paste outside a text field must not act as keys:\n%s", s)
	}
	// Into the filter being typed.
	tt.write("/")
	tt.write("\x1b[200~down_proj\x1b[201~")
	tt.waitScreen(func(s string) bool { return strings.Contains(s, "down_proj▏") })
}

func TestMouseClicksTabsAndRows(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	// The tab bar: "omnitui  1 Overview  2 Config  3 Weights …"; click on "Weights".
	x := strings.Index(m.Screen(), "3 Weights")
	m.Update(tea.MouseClickMsg{X: x + 2, Y: 0, Button: tea.MouseLeft})
	if m.Active() != common.ViewWeights {
		t.Fatalf("a click on the Weights tab shows %s", m.Active().Name())
	}
	// A click on the fourth row of the list (screen line 1 is the view's title).
	before := cursorRow(m.Screen())
	lines := strings.Split(m.Screen(), "\n")
	target := strings.TrimSpace(lines[5])
	m.Update(tea.MouseClickMsg{X: 10, Y: 5, Button: tea.MouseLeft})
	got := cursorRow(m.Screen())
	if got == before || !strings.Contains(got, strings.TrimSpace(strings.TrimPrefix(target, "›"))) {
		t.Fatalf("clicking line 5 (%q) should put the cursor there, cursor on %q", target, got)
	}
	// A click on the selected folder opens it: more rows, the cursor stays.
	rowsBefore := strings.Count(m.Screen(), "\n  ")
	m.Update(tea.MouseClickMsg{X: 10, Y: 5, Button: tea.MouseLeft})
	if cursorRow(m.Screen()) == got && strings.Count(m.Screen(), "\n  ") == rowsBefore {
		t.Errorf("a second click on the selected folder should open or close it")
	}
	// Right clicks and clicks below the body do nothing.
	s := m.Screen()
	m.Update(tea.MouseClickMsg{X: 10, Y: 8, Button: tea.MouseRight})
	m.Update(tea.MouseClickMsg{X: 10, Y: 29, Button: tea.MouseLeft})
	if m.Screen() != s {
		t.Error("a right click or a click on the help line changed the screen")
	}
}

func TestMouseClickSelectsAPlacementSetting(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "5")
	pl := m.Component(common.ViewPlacement).(*placement.Model)
	// Body line 0 is the title, 1 TP, 2 PP, 3 VPP, 4 EP.
	m.Update(tea.MouseClickMsg{X: 5, Y: 1 + 4, Button: tea.MouseLeft})
	if pl.FocusName() != "ep" {
		t.Fatalf("clicking the EP row focuses %v", pl.Focus())
	}
	// A click in the consequences column does not move the focus.
	m.Update(tea.MouseClickMsg{X: 80, Y: 1 + 1, Button: tea.MouseLeft})
	if pl.FocusName() != "ep" {
		t.Fatalf("a click on the right column moved the focus to %v", pl.Focus())
	}
}

func TestMouseWheelScrolls(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "3")
	start := cursorRow(m.Screen())
	for range 3 {
		m.Update(tea.MouseWheelMsg{X: 10, Y: 10, Button: tea.MouseWheelDown})
	}
	ref := newApp(t)
	resize(ref, 100, 30)
	press(ref, "3 down down down")
	if got, want := cursorRow(m.Screen()), cursorRow(ref.Screen()); got != want || got == start {
		t.Fatalf("three wheel steps down: cursor on %q, want %q (as three ↓)", got, want)
	}
	m.Update(tea.MouseWheelMsg{X: 10, Y: 10, Button: tea.MouseWheelUp})
	press(ref, "up")
	if got, want := cursorRow(m.Screen()), cursorRow(ref.Screen()); got != want {
		t.Fatalf("wheel up: cursor on %q, want %q", got, want)
	}
	// Over Placement's right column the wheel scrolls it, not the settings.
	press(m, "5 right down right down down right") // TP2 PP2 EP2: a long right column
	resize(m, 100, 24)
	pl := m.Component(common.ViewPlacement).(*placement.Model)
	focus, before := pl.Focus(), m.Screen()
	m.Update(tea.MouseWheelMsg{X: 80, Y: 10, Button: tea.MouseWheelDown})
	if pl.Focus() != focus || m.Screen() == before {
		t.Fatalf("the wheel over the right column should scroll it (focus %v → %v)", focus, pl.Focus())
	}
}

func TestConvertFieldStaysWhenWheelIsUsedWhileEditing(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "c enter")
	cv := m.Component(common.ViewConvert).(*convert.Model)
	if !cv.Capturing() {
		t.Fatal("enter on the path should edit it")
	}
	m.Update(tea.MouseWheelMsg{X: 10, Y: 10, Button: tea.MouseWheelDown})
	if !cv.Capturing() {
		t.Fatal("the wheel must not end editing the path")
	}
}

func TestPlacementCursorDoesNotWrap(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	press(m, "5 up")
	pl := m.Component(common.ViewPlacement).(*placement.Model)
	if pl.Focus() != 0 {
		t.Fatalf("↑ on the first row moved to %v", pl.Focus())
	}
	press(m, "G down")
	last := pl.Focus()
	press(m, "down")
	if pl.Focus() != last || last == 0 {
		t.Fatalf("↓ on the last row moved from %v to %v", last, pl.Focus())
	}
}
