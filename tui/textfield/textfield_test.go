package textfield

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/charmbracelet/x/ansi"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func TestEditing(t *testing.T) {
	tests := []struct {
		name string
		keys []tea.KeyMsg
		want string
	}{
		{"type", []tea.KeyMsg{runes("ab"), runes("c")}, "abc"},
		{"backspace", []tea.KeyMsg{runes("abc"), {Type: tea.KeyBackspace}}, "ab"},
		{"insert in the middle", []tea.KeyMsg{runes("ac"), {Type: tea.KeyLeft}, runes("b")}, "abc"},
		{"home and delete", []tea.KeyMsg{runes("xabc"), {Type: tea.KeyHome}, {Type: tea.KeyDelete}}, "abc"},
		{"ctrl+u kills to the start", []tea.KeyMsg{runes("abc"), {Type: tea.KeyLeft}, {Type: tea.KeyCtrlU}}, "c"},
		{"ctrl+k kills to the end", []tea.KeyMsg{runes("abc"), {Type: tea.KeyHome}, {Type: tea.KeyRight}, {Type: tea.KeyCtrlK}}, "a"},
		{"ctrl+w deletes a path element", []tea.KeyMsg{runes("/tmp/out"), {Type: tea.KeyCtrlW}}, "/tmp/"},
		{"space", []tea.KeyMsg{runes("a"), {Type: tea.KeySpace}, runes("b")}, "a b"},
		{"control characters are dropped", []tea.KeyMsg{runes("a\x01b")}, "ab"},
		{"backspace at the start does nothing", []tea.KeyMsg{{Type: tea.KeyBackspace}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New("> ")
			m.Focus()
			for _, k := range tc.keys {
				m.Update(k)
			}
			if m.Value() != tc.want {
				t.Fatalf("value %q, want %q", m.Value(), tc.want)
			}
		})
	}
}

func TestBlurredIgnoresKeysAndLimit(t *testing.T) {
	m := New("")
	if m.Update(runes("a")) || m.Value() != "" {
		t.Fatal("a blurred field must not take keys")
	}
	m.Focus()
	m.CharLimit = 3
	m.Update(runes("abcdef"))
	if m.Value() != "abc" {
		t.Fatalf("char limit: %q", m.Value())
	}
}

func TestViewFitsAndShowsTheCursorEnd(t *testing.T) {
	m := New("out: ")
	m.Focus()
	m.SetValue("/a/very/long/path/to/the/output/directory/of/the/conversion")
	st := lipgloss.NewStyle()
	for _, w := range []int{3, 10, 20, 40} {
		v := m.View(w, st, st, st)
		if ansi.StringWidth(v) > w {
			t.Errorf("width %d: %q is %d wide", w, v, ansi.StringWidth(v))
		}
	}
	v := m.View(30, st, st, st)
	if want := "conversion▏"; len(v) < len(want) || v[len(v)-len(want):] != want {
		t.Errorf("the end of the text and the cursor should stay visible: %q", v)
	}
}
