package common

import (
	"regexp"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/omnitui/omnitui/tui/internal/keys"
	"github.com/omnitui/omnitui/tui/styles"
)

// runes is several characters in one key message (an input method's text).
func runes(s string) tea.KeyPressMsg { return keys.Text(s) }

func plainStyles() *styles.Styles { return styles.New(colorprofile.Ascii, true) }

func colourStyles() *styles.Styles { return styles.New(colorprofile.TrueColor, true) }

func TestInputEditing(t *testing.T) {
	tests := []struct {
		name string
		keys []tea.KeyPressMsg
		want string
	}{
		{"type", []tea.KeyPressMsg{runes("ab"), runes("c")}, "abc"},
		{"backspace", []tea.KeyPressMsg{runes("abc"), keys.Press("backspace")}, "ab"},
		{"insert in the middle", []tea.KeyPressMsg{runes("ac"), keys.Press("left"), runes("b")}, "abc"},
		{"home and delete", []tea.KeyPressMsg{runes("xabc"), keys.Press("home"), keys.Press("delete")}, "abc"},
		{"ctrl+a and ctrl+e", []tea.KeyPressMsg{runes("bc"), keys.Press("ctrl+a"), runes("a"), keys.Press("ctrl+e"), runes("d")}, "abcd"},
		{"ctrl+u kills to the start", []tea.KeyPressMsg{runes("abc"), keys.Press("left"), keys.Press("ctrl+u")}, "c"},
		{"ctrl+k kills to the end", []tea.KeyPressMsg{runes("abc"), keys.Press("home"), keys.Press("right"), keys.Press("ctrl+k")}, "a"},
		{"ctrl+w deletes a path element", []tea.KeyPressMsg{runes("/tmp/out"), keys.Press("ctrl+w")}, "/tmp/"},
		{"ctrl+w twice walks up", []tea.KeyPressMsg{runes("/tmp/out"), keys.Press("ctrl+w"), keys.Press("ctrl+w")}, "/tmp"},
		{"ctrl+w in the middle", []tea.KeyPressMsg{runes("/a/bc/d"), keys.Press("left"), keys.Press("left"), keys.Press("ctrl+w")}, "/a//d"},
		{"space", []tea.KeyPressMsg{runes("a"), keys.Press("space"), runes("b")}, "a b"},
		{"control characters are dropped", []tea.KeyPressMsg{runes("a\x01b")}, "ab"},
		{"backspace at the start does nothing", []tea.KeyPressMsg{keys.Press("backspace")}, ""},
		{"ctrl+v does not paste", []tea.KeyPressMsg{runes("a"), keys.Press("ctrl+v")}, "a"},
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
	if in.Update(keys.Press("left")) {
		t.Fatal("moving the cursor is not a change")
	}
	if in.Update(keys.Press("backspace")) || in.Value() != "a" {
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
			in.Update(keys.Press("home"))
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
	in.Update(keys.Press("left"))
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
	in.Update(keys.Press("left"))
	v := in.View(20, st)
	if strings.ContainsRune(v, '▏') {
		t.Errorf("with colours the cursor is reverse video, not a glyph: %q", v)
	}
	// SGR 7 (reverse), alone or with the text colour, right before the b.
	if !regexp.MustCompile(`\x1b\[7[;m][^\x1b]*b`).MatchString(v) || ansi.Strip(v) != "ab" {
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
