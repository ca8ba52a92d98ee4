package common

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/omnitui/omnitui/tui/styles"
)

// Input is a one-line text field: a bubbles/textinput with the app's settings.
// The textinput does the editing (typing, moving, deleting, horizontal scrolling);
// Input adds what the app needs on top:
//   - the cursor does not blink, so a frame depends only on the state;
//   - ctrl+w deletes one path element ("/tmp/out" → "/tmp/"), not a whole word;
//   - ctrl+v (system clipboard) is off: a terminal paste arrives as a tea.PasteMsg
//     (bracketed paste), inserted at the cursor with line breaks turned to spaces;
//   - Update reports whether the text changed;
//   - View fits a given width and, without colours (NO_COLOR), draws the cursor as
//     a ▏ glyph, since the textinput shows it in reverse video only.
//
// Enter and esc are left to the caller, which decides what finishing means.
type Input struct {
	ti textinput.Model
}

// NewInput returns an empty, blurred field.
func NewInput(prompt, placeholder string) Input {
	ti := textinput.New()
	ti.Prompt = prompt
	ti.Placeholder = placeholder
	ti.KeyMap.Paste.SetEnabled(false)
	ti.KeyMap.AcceptSuggestion.SetEnabled(false)
	ti.KeyMap.NextSuggestion.SetEnabled(false)
	ti.KeyMap.PrevSuggestion.SetEnabled(false)
	st := textinput.DefaultDarkStyles()
	st.Cursor.Blink = false
	ti.SetStyles(st)
	return Input{ti: ti}
}

// Value is the current text.
func (in *Input) Value() string { return in.ti.Value() }

// SetValue replaces the text and puts the cursor at its end.
func (in *Input) SetValue(s string) {
	in.ti.SetValue(s)
	in.ti.CursorEnd()
}

// Focus makes the field take keys.
func (in *Input) Focus() { in.ti.Focus() }

// Blur stops the field taking keys.
func (in *Input) Blur() { in.ti.Blur() }

// Focused reports whether the field takes keys.
func (in *Input) Focused() bool { return in.ti.Focused() }

// Update hands a key to the textinput; it reports whether the text changed.
// Other messages and keys while blurred are ignored.
func (in *Input) Update(msg tea.Msg) bool {
	if !in.ti.Focused() {
		return false
	}
	before := in.ti.Value()
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if key.Matches(msg, in.ti.KeyMap.DeleteWordBackward) {
			in.deletePathElement()
			break
		}
		in.ti, _ = in.ti.Update(msg) // the only commands are the cursor's blink and paste, both off
	case tea.PasteMsg:
		// A one-line field: line breaks and tabs in a paste become spaces, and
		// a trailing newline (a copied line) is dropped.
		text := strings.TrimRight(msg.Content, "\r\n")
		text = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(text)
		in.ti, _ = in.ti.Update(tea.PasteMsg{Content: text})
	default:
		return false
	}
	return in.ti.Value() != before
}

// deletePathElement deletes back from the cursor to the previous space, / or .,
// so ctrl+w walks a path up one element at a time.
func (in *Input) deletePathElement() {
	v, pos := []rune(in.ti.Value()), in.ti.Position()
	if pos == 0 {
		return
	}
	i := pos
	for i > 0 && v[i-1] == ' ' {
		i--
	}
	for i > 0 && !strings.ContainsRune(" /.", v[i-1]) {
		i--
	}
	if i == pos {
		i--
	}
	in.ti.SetValue(string(v[:i]) + string(v[pos:]))
	in.ti.SetCursor(i)
}

// View draws the prompt and the text in at most width cells. While editing, the
// textinput draws it, scrolled so the cursor stays in view. It keeps the textinput's width in step with the space it
// is given, so the scroll position survives a resize.
func (in *Input) View(width int, st *styles.Styles) string {
	pw := ansi.StringWidth(in.ti.Prompt)
	// The textinput draws Width cells of text plus one for the cursor at the end.
	avail := width - pw - 1
	if avail < 1 {
		return ansi.Truncate(in.ti.Prompt, width, "…")
	}
	if !in.ti.Focused() {
		// Not editing: the text as it is, no cursor cell, and the end kept in view
		// (for a path, the last elements say the most).
		prompt := st.Accent.Render(in.ti.Prompt)
		v := in.ti.Value()
		if v == "" {
			return prompt + st.Muted.Render(ansi.Truncate(in.ti.Placeholder, avail+1, "…"))
		}
		if vw := ansi.StringWidth(v); vw > avail+1 {
			v = "…" + ansi.TruncateLeft(v, vw-avail, "")
		}
		return prompt + st.Value.Render(v)
	}
	if in.ti.Width() != avail {
		in.ti.SetWidth(avail)
		// The scroll window is only recomputed when the cursor moves out of it:
		// move it to the end and back to lay the window out for the new width.
		pos := in.ti.Position()
		in.ti.CursorEnd()
		in.ti.SetCursor(pos)
	}
	ti := in.ti // render a copy: styles and the glyph below are for this frame only
	tst := ti.Styles()
	tst.Focused.Prompt, tst.Focused.Text, tst.Focused.Placeholder = st.Accent, st.Value, st.Muted
	tst.Blurred = tst.Focused
	tst.Cursor.Color = st.Value.GetForeground() // the virtual cursor is this colour in reverse video
	ti.SetStyles(tst)
	if st.Plain && ti.Focused() {
		// Reverse video is dropped without colours: show the cursor as a glyph.
		v, pos := []rune(ti.Value()), ti.Position()
		ti.CharLimit, ti.Validate = 0, nil
		ti.SetValue(string(v[:pos]) + "▏" + string(v[pos:]))
		ti.CursorEnd()
		ti.SetCursor(pos + 1)
		ti.SetVirtualCursor(false) // hides it; the glyph stands in
	}
	if ansi.StringWidth(ti.Value()) < avail {
		// It fits: no scrolling, and no padding to the full width, so whatever
		// follows the field on the line stays next to it.
		ti.SetWidth(0)
	}
	return ansi.Truncate(ti.View(), width, "…")
}
