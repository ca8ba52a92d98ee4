package tui_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/convert"
)

// quits reports whether cmd ends the program.
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

// converting is an app with a conversion into out that runs until canceled.
func converting(t *testing.T, f *fakeConv, w, h int) (*tui.Model, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "mca")
	m := newApp(t, tui.WithConverter(f.convert))
	resize(m, w, h)
	press(m, convertTo(out))
	if !m.Component(common.ViewConvert).(*convert.Model).Running() {
		t.Fatal("the conversion should be running")
	}
	return m, out
}

func TestQuitWithoutAConversionIsImmediate(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m := newApp(t)
		if _, cmd := m.Update(keyMsg(k)); !quits(cmd) || m.QuitAsking() {
			t.Errorf("%s with nothing running should quit at once", k)
		}
		if err := m.QuitErr(); err != nil {
			t.Errorf("%s: a plain quit reports %v", k, err)
		}
	}
}

func TestQuitDuringAConversionAsks(t *testing.T) {
	f := &fakeConv{block: true}
	m, _ := converting(t, f, 100, 30)
	cv := m.Component(common.ViewConvert).(*convert.Model)
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := m.Update(keyMsg(k))
		if quits(cmd) || !m.QuitAsking() {
			t.Fatalf("%s during a conversion should ask, not quit", k)
		}
		v := m.Screen()
		if !strings.Contains(v, "Quit? The conversion") || !strings.Contains(v, "y quit") {
			t.Fatalf("%s: the question is not shown:\n%s", k, v)
		}
		// Other keys wait for the answer; the conversion goes on.
		press(m, "3 j")
		if m.Active() != common.ViewConvert || !cv.Running() {
			t.Fatalf("%s: while asking, keys must not act and the conversion must go on", k)
		}
		// n keeps converting.
		press(m, "n")
		if m.QuitAsking() || !cv.Running() {
			t.Fatalf("%s then n: still asking %v, running %v", k, m.QuitAsking(), cv.Running())
		}
	}
	press(m, "q esc")
	if m.QuitAsking() {
		t.Fatal("esc should dismiss the question")
	}
	m.Close()
}

func TestConfirmedQuitCancelsAndReports(t *testing.T) {
	f := &fakeConv{block: true}
	m, out := converting(t, f, 100, 30)
	m.Update(keyMsg("q"))
	if _, cmd := m.Update(keyMsg("y")); !quits(cmd) {
		t.Fatal("y should quit")
	}
	m.Close() // what Run does once the program has ended
	if !f.snapshot().sawStop {
		t.Fatal("a confirmed quit should cancel the conversion")
	}
	err := m.QuitErr()
	if !errors.Is(err, tui.ErrQuitDuringConversion) || !strings.Contains(err.Error(), "nothing was written under "+out) ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("the report should be one line saying nothing was written under %s: %v", out, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("the output exists after a canceled conversion: %v", err)
	}
}

func TestSecondCtrlCWithinASecondForces(t *testing.T) {
	f := &fakeConv{block: true}
	m, _ := converting(t, f, 100, 30)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.SetClock(func() time.Time { return now })
	if _, cmd := m.Update(keyMsg("ctrl+c")); quits(cmd) || !m.QuitAsking() {
		t.Fatal("the first ctrl+c should ask")
	}
	now = now.Add(1500 * time.Millisecond)
	if _, cmd := m.Update(keyMsg("ctrl+c")); quits(cmd) {
		t.Fatal("a second ctrl+c 1.5 s later should not force (it asks again)")
	}
	now = now.Add(800 * time.Millisecond)
	if _, cmd := m.Update(keyMsg("ctrl+c")); !quits(cmd) {
		t.Fatal("a ctrl+c 0.8 s after the previous one should force the quit")
	}
	m.Close()
	if !f.snapshot().sawStop || !errors.Is(m.QuitErr(), tui.ErrQuitDuringConversion) {
		t.Fatalf("a forced quit cancels and reports: stop %v, err %v", f.snapshot().sawStop, m.QuitErr())
	}
	// q then ctrl+c twice fast: q's question does not arm the force.
	m2, _ := converting(t, &fakeConv{block: true}, 100, 30)
	m2.SetClock(func() time.Time { return now })
	m2.Update(keyMsg("q"))
	if _, cmd := m2.Update(keyMsg("ctrl+c")); quits(cmd) {
		t.Fatal("ctrl+c after q's question arms the force; it does not force by itself")
	}
	if _, cmd := m2.Update(keyMsg("ctrl+c")); !quits(cmd) {
		t.Fatal("the second ctrl+c should force")
	}
	m2.Close()
}

func TestQuitQuestionGolden(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		name := "quit_question_80x24"
		if size.w == 120 {
			name = "quit_question_120x40"
		}
		t.Run(name, func(t *testing.T) {
			h := halfway{release: make(chan struct{})}
			t.Cleanup(func() { close(h.release) })
			m := newApp(t, tui.WithConverter(h.convert))
			tm := newProgram(t, m, size.w, size.h)
			for _, k := range script("5 right " + convertTo(filepath.Join(t.TempDir(), "mca"))) {
				tm.Send(k)
			}
			waitScreen(t, tm, func(s string) bool { return strings.Contains(s, "converting 50%") })
			tm.Send(keyMsg("q"))
			v := ""
			waitScreen(t, tm, func(s string) bool { v = s; return strings.Contains(s, "Quit?") })
			checkFrame(t, v, size.w, size.h)
			// The running screen's rate and times change from run to run: compare
			// the bottom two lines, which are the question.
			lines := strings.Split(v, "\n")
			golden.RequireEqual(t, []byte(strings.Join(lines[len(lines)-2:], "\n")))
			finalModel(t, tm).Close()
		})
	}
}

func TestHelpListsEachKeyOnceAndCtrlC(t *testing.T) {
	existing := t.TempDir()
	tests := []struct {
		script   string
		want     []string // keys that must be listed
		unwanted []string
	}{
		{"", nil, []string{"y", "n"}},
		{"2", nil, nil},
		{"2 p", nil, nil},
		{"3", []string{"s", "/"}, nil},
		{"3 /", []string{"enter", "esc"}, nil},
		{"4", nil, nil},
		{"5", []string{"c", "←/-", "→/+"}, nil},
		{"5 enter", []string{"enter", "esc"}, nil},
		{"c", []string{"esc"}, []string{"y", "n"}},
		{"c enter", []string{"enter", "esc"}, []string{"y", "n"}},
		{"c enter ctrl+u type:" + existing + " enter down enter", []string{"y", "n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			m := newApp(t, tui.WithConverter((&fakeConv{}).convert))
			resize(m, 200, 60)
			press(m, tc.script)
			keys := m.HelpKeys()
			seen := map[string]bool{}
			for _, k := range keys {
				if seen[k] {
					t.Errorf("%q is listed twice: %v", k, keys)
				}
				seen[k] = true
			}
			for _, k := range append([]string{"ctrl+c"}, tc.want...) {
				if !seen[k] {
					t.Errorf("%q is not listed: %v", k, keys)
				}
			}
			for _, k := range tc.unwanted {
				if seen[k] {
					t.Errorf("%q is listed but does nothing here: %v", k, keys)
				}
			}
			// The drawn help shows ctrl+c too.
			press(m, "?")
			if v := m.Screen(); !strings.Contains(v, "ctrl+c") && !m.Context().Planning() {
				if m.Component(m.Active()).Capturing() {
					return // ? is typed into the field
				}
				t.Errorf("the full help does not show ctrl+c:\n%s", v)
			}
		})
	}
}
