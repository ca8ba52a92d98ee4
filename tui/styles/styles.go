// Package styles holds every lipgloss style of the interactive app in one place.
// Colours are adaptive (light and dark terminals) and come from one renderer, so
// NO_COLOR and the terminal's colour profile are honoured everywhere at once.
package styles

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// Palette colours, each with a light- and a dark-background variant.
var (
	accent  = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B4A0FF"}
	muted   = lipgloss.AdaptiveColor{Light: "#6C6C6C", Dark: "#8A8A8A"}
	subtle  = lipgloss.AdaptiveColor{Light: "#D0D0D0", Dark: "#3A3A3A"}
	errC    = lipgloss.AdaptiveColor{Light: "#C01E1E", Dark: "#FF6B6B"}
	warnC   = lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#F2C14E"}
	okC     = lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#7EE787"}
	selBg   = lipgloss.AdaptiveColor{Light: "#E4DEFF", Dark: "#2E2750"}
	markC   = lipgloss.AdaptiveColor{Light: "#0B63B5", Dark: "#79C0FF"}
	barFill = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#9D86FF"}
	barBig  = lipgloss.AdaptiveColor{Light: "#B35900", Dark: "#FFA657"}
	text    = lipgloss.AdaptiveColor{Light: "#1F1F1F", Dark: "#E6E6E6"}
	tabBg   = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#6B55D8"}
	tabFg   = lipgloss.AdaptiveColor{Light: "#FFFFFF", Dark: "#FFFFFF"}
)

// Styles are all the styles the app uses.
type Styles struct {
	Renderer *lipgloss.Renderer
	// Plain is true when the renderer emits no colour or attributes (NO_COLOR, dumb
	// terminals, tests); components then rely on glyphs alone.
	Plain bool

	App       lipgloss.Style
	Title     lipgloss.Style // section titles
	Label     lipgloss.Style // field names
	Value     lipgloss.Style // values
	Muted     lipgloss.Style
	Accent    lipgloss.Style
	Error     lipgloss.Style
	Warning   lipgloss.Style
	OK        lipgloss.Style
	Mark      lipgloss.Style // config keys the template maps
	Selected  lipgloss.Style // the cursor row
	Cursor    lipgloss.Style // the text-input cursor
	Key       lipgloss.Style // key names in hints
	Border    lipgloss.Style // pane separators
	BarFill   lipgloss.Style
	BarEmpty  lipgloss.Style
	BarBig    lipgloss.Style // the largest rank
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Status    lipgloss.Style
	StatusKey lipgloss.Style

	HelpKey  lipgloss.Style
	HelpDesc lipgloss.Style
	HelpSep  lipgloss.Style
}

// New builds the styles for a renderer. A nil renderer means lipgloss's default.
func New(r *lipgloss.Renderer) *Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	s := &Styles{Renderer: r, Plain: r.ColorProfile() == termenv.Ascii}
	ns := r.NewStyle
	s.App = ns()
	s.Title = ns().Bold(true).Foreground(accent)
	s.Label = ns().Foreground(muted)
	s.Value = ns().Foreground(text)
	s.Muted = ns().Foreground(muted)
	s.Accent = ns().Foreground(accent)
	s.Error = ns().Foreground(errC).Bold(true)
	s.Warning = ns().Foreground(warnC)
	s.OK = ns().Foreground(okC)
	s.Mark = ns().Foreground(markC)
	s.Selected = ns().Background(selBg).Bold(true)
	s.Cursor = ns().Reverse(true)
	s.Key = ns().Foreground(accent).Bold(true)
	s.Border = ns().Foreground(subtle)
	s.BarFill = ns().Foreground(barFill)
	s.BarEmpty = ns().Foreground(subtle)
	s.BarBig = ns().Foreground(barBig)
	s.Tab = ns().Foreground(muted).Padding(0, 1)
	s.TabActive = ns().Foreground(tabFg).Background(tabBg).Bold(true).Padding(0, 1)
	s.Status = ns().Foreground(muted)
	s.StatusKey = ns().Foreground(accent)
	s.HelpKey = ns().Foreground(accent)
	s.HelpDesc = ns().Foreground(muted)
	s.HelpSep = ns().Foreground(subtle)
	return s
}

// BarColours are the fill and empty colours of progress bars as hex strings, for
// bubbles/progress (which takes a colour string, not a lipgloss colour), picked for
// the terminal's background the way the renderer picks adaptive colours.
func (s *Styles) BarColours() (fill, empty string) {
	if s.Renderer.HasDarkBackground() {
		return barFill.Dark, subtle.Dark
	}
	return barFill.Light, subtle.Light
}
