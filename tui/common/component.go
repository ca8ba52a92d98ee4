package common

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Component is one view of the app. Components are pointers that update in place.
type Component interface {
	// Update handles a message. Keys reach only the active view; every other
	// message reaches every view.
	Update(msg tea.Msg) tea.Cmd
	// View draws the view in exactly the size last given to SetSize.
	View() string
	SetSize(width, height int)
	// Activate is called when the view is shown.
	Activate() tea.Cmd
	// Capturing reports whether a text input has the keys, so the root must not
	// treat letters and digits as global keys.
	Capturing() bool
	// ShortHelp and FullHelp feed the help view (help.KeyMap).
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// Wheeler is a component that handles the mouse wheel itself; x and y are
// relative to its body and d is -1 (up) or 1 (down). Components without it get
// the wheel as ↑/↓ presses.
type Wheeler interface {
	Wheel(x, y, d int) tea.Cmd
}
