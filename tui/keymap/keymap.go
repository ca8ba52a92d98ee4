// Package keymap defines every key binding of the interactive app. The bindings
// drive both the key handling and the help view, so the two cannot drift apart.
package keymap

import "charm.land/bubbles/v2/key"

// KeyMap is the app's bindings.
type KeyMap struct {
	// Global.
	Quit      key.Binding
	Interrupt key.Binding // ctrl+c: quit, asking during a conversion
	Help      key.Binding
	View1     key.Binding
	View2     key.Binding
	View3     key.Binding
	View4     key.Binding
	View5     key.Binding
	NextView  key.Binding
	PrevView  key.Binding
	Convert   key.Binding

	// Lists and trees.
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Toggle   key.Binding // expand or collapse
	Expand   key.Binding
	Collapse key.Binding
	Filter   key.Binding
	Back     key.Binding
	Sort     key.Binding
	Panel    key.Binding // move focus to the side panel and back
	NextRank key.Binding // Megatron checkpoints: the next tensor list (merged, then each rank file)
	PrevRank key.Binding

	// Forms.
	Inc     key.Binding
	Dec     key.Binding
	Edit    key.Binding
	Submit  key.Binding
	Yes     key.Binding
	No      key.Binding
	Cancel  key.Binding
	Restart key.Binding

	// 5 Placement: split the conversion into tasks (a job array); more, fewer.
	Tasks     key.Binding
	FewerTask key.Binding
}

// Default returns the default bindings.
func Default() *KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return &KeyMap{
		Quit:      b([]string{"q"}, "q", "quit"),
		Interrupt: b([]string{"ctrl+c"}, "ctrl+c", "quit (twice to force)"),
		Help:      b([]string{"?"}, "?", "help"),
		View1:     b([]string{"1"}, "1", "overview"),
		View2:     b([]string{"2"}, "2", "config"),
		View3:     b([]string{"3"}, "3", "weights"),
		View4:     b([]string{"4"}, "4", "mapping"),
		View5:     b([]string{"5"}, "5", "placement"),
		NextView:  b([]string{"tab"}, "tab", "next view"),
		PrevView:  b([]string{"shift+tab"}, "shift+tab", "previous view"),
		Convert:   b([]string{"c"}, "c", "convert"),

		Up:       b([]string{"up", "k"}, "↑/k", "up"),
		Down:     b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:   b([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown: b([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		Top:      b([]string{"home", "g"}, "g/home", "top"),
		Bottom:   b([]string{"end", "G"}, "G/end", "bottom"),
		Toggle:   b([]string{"enter", "space"}, "enter/space", "expand/collapse"),
		Expand:   b([]string{"right", "l"}, "→/l", "expand"),
		Collapse: b([]string{"left", "h"}, "←/h", "collapse/parent"),
		Filter:   b([]string{"/"}, "/", "filter"),
		Back:     b([]string{"esc"}, "esc", "back"),
		Sort:     b([]string{"s"}, "s", "sort name/size"),
		Panel:    b([]string{"p"}, "p", "focus side panel"),
		NextRank: b([]string{"r", "]"}, "r", "next rank file"),
		PrevRank: b([]string{"R", "["}, "R", "previous rank file"),

		Inc:     b([]string{"right", "l", "+", "="}, "→/+", "increase"),
		Dec:     b([]string{"left", "h", "-"}, "←/-", "decrease"),
		Edit:    b([]string{"enter", "space"}, "enter/space", "edit/toggle"),
		Submit:  b([]string{"enter"}, "enter", "confirm"),
		Yes:     b([]string{"y", "Y"}, "y", "yes"),
		No:      b([]string{"n", "N", "esc"}, "n", "no"),
		Cancel:  b([]string{"esc"}, "esc", "cancel"),
		Restart: b([]string{"enter", "esc"}, "enter", "back to form"),

		Tasks:     b([]string{"t"}, "t", "split into more tasks"),
		FewerTask: b([]string{"T"}, "T", "fewer tasks"),
	}
}

// Views returns the view bindings 1–5 in order.
func (k *KeyMap) Views() []key.Binding {
	return []key.Binding{k.View1, k.View2, k.View3, k.View4, k.View5}
}

// Global returns the bindings every view shares, for the help view.
func (k *KeyMap) Global() []key.Binding {
	return []key.Binding{k.View1, k.View2, k.View3, k.View4, k.View5, k.NextView, k.PrevView, k.Convert, k.Help, k.Quit, k.Interrupt}
}

// Nav returns the list and tree bindings, for the help view.
func (k *KeyMap) Nav() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}
