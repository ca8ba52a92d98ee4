package common

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/omnitui/omnitui/tui/styles"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func plainStyles() *styles.Styles {
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.Ascii)
	return styles.New(r)
}

func colourStyles() *styles.Styles {
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.TrueColor)
	return styles.New(r)
}

func TestInputEditing(t *testing.T) {
	tests := []struct {
		name string
		keys []tea.KeyMsg
		want string
	}{
		{"type", []tea.KeyMsg{runes("ab"), runes("c")}, "abc"},
		{"backspace", []tea.KeyMsg{runes("abc"), {Type: tea.KeyBackspace}}, "ab"},
		{"insert in the middle", []tea.KeyMsg{runes("ac"), {Type: tea.KeyLeft}, runes("b")}, "abc"},
		{"home and delete", []tea.KeyMsg{runes("xabc"), {Type: tea.KeyHome}, {Type: tea.KeyDelete}}, "abc"},
		{"ctrl+a and ctrl+e", []tea.KeyMsg{runes("bc"), {Type: tea.KeyCtrlA}, runes("a"), {Type: tea.KeyCtrlE}, runes("d")}, "abcd"},
		{"ctrl+u kills to the start", []tea.KeyMsg{runes("abc"), {Type: tea.KeyLeft}, {Type: tea.KeyCtrlU}}, "c"},
		{"ctrl+k kills to the end", []tea.KeyMsg{runes("abc"), {Type: tea.KeyHome}, {Type: tea.KeyRight}, {Type: tea.KeyCtrlK}}, "a"},
		{"ctrl+w deletes a path element", []tea.KeyMsg{runes("/tmp/out"), {Type: tea.KeyCtrlW}}, "/tmp/"},
		{"ctrl+w twice walks up", []tea.KeyMsg{runes("/tmp/out"), {Type: tea.KeyCtrlW}, {Type: tea.KeyCtrlW}}, "/tmp"},
		{"ctrl+w in the middle", []tea.KeyMsg{runes("/a/bc/d"), {Type: tea.KeyLeft}, {Type: tea.KeyLeft}, {Type: tea.KeyCtrlW}}, "/a//d"},
		{"space", []tea.KeyMsg{runes("a"), {Type: tea.KeySpace}, runes("b")}, "a b"},
		{"control characters are dropped", []tea.KeyMsg{runes("a\x01b")}, "ab"},
		{"backspace at the start does nothing", []tea.KeyMsg{{Type: tea.KeyBackspace}}, ""},
		{"ctrl+v does not paste", []tea.KeyMsg{runes("a"), {Type: tea.KeyCtrlV}}, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := NewInput("> ", "")
			in.Focus()
			for _, k := range tc.keys {
				in.Update(k)
			}
			if in.Value() != tc.want {
				t.Fatalf("value %q, want %q", in.Value(), tc.want)
			}
		})
	}
}

func TestInputReportsChangesAndIgnoresKeysWhenBlurred(t *testing.T) {
	in := NewInput("", "")
	if in.Update(runes("a")) || in.Value() != "" {
		t.Fatal("a blurred field must not take keys")
	}
	in.Focus()
	if !in.Update(runes("a")) {
		t.Fatal("typing must report a change")
	}
	if in.Update(tea.KeyMsg{Type: tea.KeyLeft}) {
		t.Fatal("moving the cursor is not a change")
	}
	if in.Update(tea.KeyMsg{Type: tea.KeyBackspace}) || in.Value() != "a" {
		t.Fatalf("backspace at the start changes nothing, value %q", in.Value())
	}
}

func TestInputViewFitsAndKeepsTheCursorInView(t *testing.T) {
	const long = "/a/very/long/path/to/the/output/directory/of/the/conversion"
	for _, tc := range []struct {
		name string
		st   *styles.Styles
	}{{"plain", plainStyles()}, {"colour", colourStyles()}} {
		t.Run(tc.name, func(t *testing.T) {
			in := NewInput("out: ", "output directory")
			in.Focus()
			in.SetValue(long)
			for _, w := range []int{3, 6, 7, 10, 20, 40, 80, 30} {
				v := in.View(w, tc.st)
				if ansi.StringWidth(v) > w {
					t.Errorf("width %d: %q is %d wide", w, v, ansi.StringWidth(v))
				}
			}
			// At 30 cells the end of the text is in view; after moving home, the start.
			if v := ansi.Strip(in.View(30, tc.st)); !strings.Contains(v, "conversion") {
				t.Errorf("the end of the text should be visible: %q", v)
			}
			in.Update(tea.KeyMsg{Type: tea.KeyHome})
			if v := ansi.Strip(in.View(30, tc.st)); !strings.HasPrefix(v, "out: /a/very") {
				t.Errorf("after home the start should be visible: %q", v)
			}
		})
	}
}

func TestInputViewPlain(t *testing.T) {
	st := plainStyles()
	in := NewInput("/", "filter")
	if got := in.View(20, st); got != "/filter" {
		t.Errorf("blurred and empty shows the placeholder: %q", got)
	}
	in.Focus()
	in.SetValue("abc")
	if got := in.View(20, st); got != "/abc▏ " {
		t.Errorf("focused, cursor at the end: %q", got)
	}
	in.Update(tea.KeyMsg{Type: tea.KeyLeft})
	if got := in.View(20, st); got != "/ab▏c" {
		t.Errorf("focused, cursor before c: %q", got)
	}
	in.Blur()
	if got := in.View(20, st); got != "/abc" { // no cursor cell
		t.Errorf("blurred shows the text without the glyph: %q", got)
	}
	if strings.ContainsRune(in.View(20, st), '\x1b') {
		t.Error("a plain view must not contain escapes")
	}
}

func TestInputViewColourUsesReverseCursor(t *testing.T) {
	st := colourStyles()
	in := NewInput("", "")
	in.Focus()
	in.SetValue("ab")
	in.Update(tea.KeyMsg{Type: tea.KeyLeft})
	v := in.View(20, st)
	if strings.ContainsRune(v, '▏') {
		t.Errorf("with colours the cursor is reverse video, not a glyph: %q", v)
	}
	if !strings.Contains(v, "\x1b[7m") || ansi.Strip(v) != "ab" {
		t.Errorf("want the b in reverse video: %q", v)
	}
}

func TestInputBlurredViewKeepsTheEnd(t *testing.T) {
	st := plainStyles()
	in := NewInput("", "")
	in.SetValue("/tmp/some/long/path/out-mca")
	tests := []struct {
		w    int
		want string
	}{
		{40, "/tmp/some/long/path/out-mca"},
		{27, "/tmp/some/long/path/out-mca"},
		{12, "…ath/out-mca"},
	}
	for _, tc := range tests {
		got := in.View(tc.w, st)
		if got != tc.want {
			t.Errorf("width %d: %q, want %q", tc.w, got, tc.want)
		}
		if ansi.StringWidth(got) > tc.w {
			t.Errorf("width %d: %q too wide", tc.w, got)
		}
	}
}
