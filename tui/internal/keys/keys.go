// Package keys builds the key messages bubbletea v2 sends, from key names as
// the key map writes them ("enter", "ctrl+w", "shift+tab", "j"), so tests drive
// models with exactly what a terminal would produce.
package keys

import (
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
)

var named = map[string]rune{
	"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "space": tea.KeySpace,
	"backspace": tea.KeyBackspace, "delete": tea.KeyDelete, "up": tea.KeyUp, "down": tea.KeyDown,
	"left": tea.KeyLeft, "right": tea.KeyRight, "home": tea.KeyHome, "end": tea.KeyEnd,
	"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown,
}

var mods = map[string]tea.KeyMod{"ctrl": tea.ModCtrl, "alt": tea.ModAlt, "shift": tea.ModShift}

// Press is the message for one press of the named key.
func Press(name string) tea.KeyPressMsg {
	var mod tea.KeyMod
	for {
		p, rest, ok := strings.Cut(name, "+")
		m, isMod := mods[p]
		if !ok || !isMod || rest == "" {
			break
		}
		mod |= m
		name = rest
	}
	if c, ok := named[name]; ok {
		k := tea.KeyPressMsg{Code: c, Mod: mod}
		if c == tea.KeySpace && mod == 0 {
			k.Text = " "
		}
		return k
	}
	r, _ := utf8.DecodeRuneInString(name)
	if mod != 0 {
		return tea.KeyPressMsg{Code: r, Mod: mod}
	}
	return tea.KeyPressMsg{Code: r, Text: name}
}

// Text is one key message carrying several characters at once, as input
// methods send composed text.
func Text(s string) tea.KeyPressMsg {
	r, _ := utf8.DecodeRuneInString(s)
	return tea.KeyPressMsg{Code: r, Text: s}
}
