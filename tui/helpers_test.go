package tui_test

import (
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui"
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

// plainRenderer draws without colours or attributes, so views compare as text.
func plainRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	r.SetHasDarkBackground(true)
	return r
}

func newApp(t testing.TB, opts ...tui.Option) *tui.Model {
	t.Helper()
	return newAppFor(t, openExample(t), examplePath, opts...)
}

func newAppFor(t testing.TB, ck *loader.Checkpoint, path string, opts ...tui.Option) *tui.Model {
	t.Helper()
	opts = append([]tui.Option{tui.WithRenderer(plainRenderer())}, opts...)
	return tui.New(ck, path, core.DefaultSettings(), opts...)
}

// keyMsg turns a key name into the message bubbletea would send.
func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+u":
		return tea.KeyMsg{Type: tea.KeyCtrlU}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// keys expands a key script: names separated by spaces; "type:TEXT" types TEXT
// one rune at a time.
func keys(script string) []tea.KeyMsg {
	var out []tea.KeyMsg
	for _, f := range strings.Fields(script) {
		if s, ok := strings.CutPrefix(f, "type:"); ok {
			for _, r := range s {
				out = append(out, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
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
func press(m *tui.Model, script string) {
	for _, k := range keys(script) {
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
