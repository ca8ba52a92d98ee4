package common

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/keymap"
)

// Scroller scrolls a block of lines taller than its window.
type Scroller struct {
	Offset int
}

// Update scrolls on the navigation keys; it reports whether it used the key.
func (s *Scroller) Update(k tea.KeyPressMsg, km *keymap.KeyMap, total, h int) bool {
	switch {
	case key.Matches(k, km.Up):
		s.Offset--
	case key.Matches(k, km.Down):
		s.Offset++
	case key.Matches(k, km.PageUp):
		s.Offset -= max(h-1, 1)
	case key.Matches(k, km.PageDown):
		s.Offset += max(h-1, 1)
	case key.Matches(k, km.Top):
		s.Offset = 0
	case key.Matches(k, km.Bottom):
		s.Offset = total
	default:
		return false
	}
	s.Clamp(total, h)
	return true
}

// Clamp keeps the offset inside [0, total-h].
func (s *Scroller) Clamp(total, h int) {
	if s.Offset > total-h {
		s.Offset = total - h
	}
	if s.Offset < 0 {
		s.Offset = 0
	}
}

// Window returns the h lines from the offset, with a "more" hint on the last
// line when lines continue below.
func (s *Scroller) Window(lines []string, h int, more string) []string {
	s.Clamp(len(lines), h)
	end := min(s.Offset+h, len(lines))
	out := append([]string(nil), lines[s.Offset:end]...)
	if end < len(lines) && len(out) > 0 && more != "" {
		out[len(out)-1] = more
	}
	return out
}

// Wrap word-wraps plain text to w cells, breaking only at spaces (so flags like
// --account-embedding stay whole) and cutting only words longer than a line.
// Continuation lines start with indent. Style the lines after wrapping.
func Wrap(s string, w int, indent string) []string {
	iw := Width(indent)
	if w < iw+4 {
		return []string{Truncate(s, max(w, 1))}
	}
	// Leading spaces are kept on the first line.
	lead := s[:len(s)-len(strings.TrimLeft(s, " "))]
	if Width(lead) > w/2 {
		lead = ""
	}
	var out []string
	cur, curW, empty := lead, Width(lead), true
	newLine := func() {
		out = append(out, cur)
		cur, curW, empty = indent, iw, true
	}
	for _, word := range strings.Fields(s) {
		ww := Width(word)
		if !empty && curW+1+ww > w {
			newLine()
		}
		if !empty {
			cur += " "
			curW++
		}
		for curW+ww > w {
			// A word longer than a whole line: cut it.
			cut := ansi.Truncate(word, w-curW, "")
			if cut == "" {
				break
			}
			cur += cut
			word = word[len(cut):]
			ww = Width(word)
			newLine()
		}
		if word == "" {
			continue
		}
		cur += word
		curW += ww
		empty = false
	}
	if !empty || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// WrapStyled wraps plain text and styles every line (the indent stays unstyled).
func WrapStyled(st lipgloss.Style, s string, w int, indent string) []string {
	lines := Wrap(s, w, indent)
	for i, l := range lines {
		if i > 0 {
			lines[i] = indent + st.Render(strings.TrimPrefix(l, indent))
		} else {
			lines[i] = st.Render(l)
		}
	}
	return lines
}

// ConfigChild returns the member key of a JSON object node, or nil.
func ConfigChild(n *loader.JSONNode, key string) *loader.JSONNode {
	if n == nil || n.Kind != loader.JSONObject {
		return nil
	}
	for _, c := range n.Children {
		if c.Key == key {
			return c
		}
	}
	return nil
}

// ConfigString returns a string member unquoted ("" if absent or not a string).
func ConfigString(n *loader.JSONNode, key string) string {
	c := ConfigChild(n, key)
	if c == nil {
		return ""
	}
	switch c.Kind {
	case loader.JSONString:
		return Unquote(c.Raw)
	case loader.JSONArray:
		parts := make([]string, 0, len(c.Children))
		for _, e := range c.Children {
			parts = append(parts, Unquote(e.Raw))
		}
		return strings.Join(parts, ", ")
	}
	return c.Raw
}

// Unquote strips JSON quotes from a raw string scalar (escapes kept as written).
func Unquote(raw string) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		return raw[1 : len(raw)-1]
	}
	return raw
}
