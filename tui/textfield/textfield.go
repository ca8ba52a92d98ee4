// Package textfield is a one-line text input.
//
// (bubbles/textinput needs github.com/atotto/clipboard, which go.mod does not
// require; this covers what the app needs: typing, moving, deleting.)
package textfield

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Model is a one-line text input.
type Model struct {
	Prompt      string
	Placeholder string
	CharLimit   int // 0 = no limit

	value   []rune
	pos     int
	focused bool
}

// New returns an empty field.
func New(prompt string) Model { return Model{Prompt: prompt} }

// Value is the current text.
func (m *Model) Value() string { return string(m.value) }

// SetValue replaces the text and puts the cursor at its end.
func (m *Model) SetValue(s string) {
	m.value = []rune(s)
	if m.CharLimit > 0 && len(m.value) > m.CharLimit {
		m.value = m.value[:m.CharLimit]
	}
	m.pos = len(m.value)
}

// Focus makes the field take keys.
func (m *Model) Focus() { m.focused = true }

// Blur stops the field taking keys.
func (m *Model) Blur() { m.focused = false }

// Focused reports whether the field takes keys.
func (m *Model) Focused() bool { return m.focused }

// Update handles a key; it reports whether the text changed.
func (m *Model) Update(msg tea.Msg) bool {
	k, ok := msg.(tea.KeyMsg)
	if !ok || !m.focused {
		return false
	}
	switch k.Type {
	case tea.KeyRunes, tea.KeySpace:
		r := k.Runes
		if k.Type == tea.KeySpace {
			r = []rune{' '}
		}
		return m.insert(r)
	case tea.KeyBackspace:
		if m.pos > 0 {
			m.value = append(m.value[:m.pos-1], m.value[m.pos:]...)
			m.pos--
			return true
		}
	case tea.KeyDelete, tea.KeyCtrlD:
		if m.pos < len(m.value) {
			m.value = append(m.value[:m.pos], m.value[m.pos+1:]...)
			return true
		}
	case tea.KeyLeft, tea.KeyCtrlB:
		if m.pos > 0 {
			m.pos--
		}
	case tea.KeyRight, tea.KeyCtrlF:
		if m.pos < len(m.value) {
			m.pos++
		}
	case tea.KeyHome, tea.KeyCtrlA:
		m.pos = 0
	case tea.KeyEnd, tea.KeyCtrlE:
		m.pos = len(m.value)
	case tea.KeyCtrlU:
		if m.pos > 0 {
			m.value = m.value[m.pos:]
			m.pos = 0
			return true
		}
	case tea.KeyCtrlK:
		if m.pos < len(m.value) {
			m.value = m.value[:m.pos]
			return true
		}
	case tea.KeyCtrlW:
		if m.pos > 0 {
			i := m.pos
			for i > 0 && m.value[i-1] == ' ' {
				i--
			}
			for i > 0 && !strings.ContainsRune(" /.", m.value[i-1]) {
				i--
			}
			if i == m.pos {
				i--
			}
			m.value = append(m.value[:i], m.value[m.pos:]...)
			m.pos = i
			return true
		}
	}
	return false
}

func (m *Model) insert(r []rune) bool {
	clean := r[:0:0]
	for _, c := range r {
		if c >= ' ' && c != 0x7f {
			clean = append(clean, c)
		}
	}
	if len(clean) == 0 {
		return false
	}
	if m.CharLimit > 0 && len(m.value)+len(clean) > m.CharLimit {
		clean = clean[:max(0, m.CharLimit-len(m.value))]
		if len(clean) == 0 {
			return false
		}
	}
	v := make([]rune, 0, len(m.value)+len(clean))
	v = append(v, m.value[:m.pos]...)
	v = append(v, clean...)
	v = append(v, m.value[m.pos:]...)
	m.value = v
	m.pos += len(clean)
	return true
}

// View draws the prompt and text in at most width cells, scrolled so the cursor
// stays visible. The cursor is drawn as a glyph, so it shows without colours too.
func (m *Model) View(width int, text, cursor, placeholder lipgloss.Style) string {
	prompt := m.Prompt
	avail := width - ansi.StringWidth(prompt) - 1
	if avail < 1 {
		return ansi.Truncate(prompt, width, "…")
	}
	if len(m.value) == 0 && !m.focused {
		return prompt + placeholder.Render(ansi.Truncate(m.Placeholder, avail, "…"))
	}
	before, after := string(m.value[:m.pos]), string(m.value[m.pos:])
	// Keep the cursor in view: drop the start of the text if needed.
	if bw := ansi.StringWidth(before); bw > avail-1 {
		before = "…" + ansi.TruncateLeft(before, bw-(avail-2), "")
	}
	rest := avail - ansi.StringWidth(before)
	after = ansi.Truncate(after, max(0, rest), "…")
	if !m.focused {
		return prompt + text.Render(before+after)
	}
	return prompt + text.Render(before) + cursor.Render("▏") + text.Render(after)
}
