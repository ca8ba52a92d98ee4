// Package styles holds every lipgloss style of the interactive app in one place.
// Colours come in a light- and a dark-background variant (lipgloss.LightDark);
// the app picks one when the terminal reports its background (tea.BackgroundColorMsg)
// and rebuilds the styles in place. Without colours (NO_COLOR, dumb terminals,
// tests) the styles carry no colour and no attribute at all, so a frame is plain
// text and components rely on glyphs alone.
package styles

import (
	"image/color"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// pair is a palette colour: its light- and dark-background variants.
type pair struct{ light, dark string }

// Palette colours.
var (
	accent  = pair{"#5A3FC0", "#B4A0FF"}
	muted   = pair{"#6C6C6C", "#8A8A8A"}
	subtle  = pair{"#D0D0D0", "#3A3A3A"}
	errC    = pair{"#C01E1E", "#FF6B6B"}
	warnC   = pair{"#9A6700", "#F2C14E"}
	okC     = pair{"#1A7F37", "#7EE787"}
	selBg   = pair{"#E4DEFF", "#2E2750"}
	markC   = pair{"#0B63B5", "#79C0FF"}
	barFill = pair{"#5A3FC0", "#9D86FF"}
	barBig  = pair{"#B35900", "#FFA657"}
	text    = pair{"#1F1F1F", "#E6E6E6"}
	tabBg   = pair{"#5A3FC0", "#6B55D8"}
	tabFg   = pair{"#FFFFFF", "#FFFFFF"}
)

// Styles are all the styles the app uses.
type Styles struct {
	// Profile is the terminal's colour profile; Dark whether its background is dark.
	Profile colorprofile.Profile
	Dark    bool
	// Plain is true when the profile has no colour (NO_COLOR, dumb terminals,
	// tests); the styles then draw no colour or attribute and components rely on
	// glyphs alone.
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

// New builds the styles for a colour profile and a background.
func New(p colorprofile.Profile, dark bool) *Styles {
	s := &Styles{Profile: p, Dark: dark, Plain: p <= colorprofile.Ascii}
	ld := lipgloss.LightDark(dark)
	c := func(pc pair) color.Color { return ld(lipgloss.Color(pc.light), lipgloss.Color(pc.dark)) }
	ns := lipgloss.NewStyle
	// Colours and attributes go through these, so a plain profile gets none.
	fg := func(st lipgloss.Style, pc pair) lipgloss.Style {
		if s.Plain {
			return st
		}
		return st.Foreground(c(pc))
	}
	bg := func(st lipgloss.Style, pc pair) lipgloss.Style {
		if s.Plain {
			return st
		}
		return st.Background(c(pc))
	}
	bold := func(st lipgloss.Style) lipgloss.Style {
		if s.Plain {
			return st
		}
		return st.Bold(true)
	}
	s.App = ns()
	s.Title = bold(fg(ns(), accent))
	s.Label = fg(ns(), muted)
	s.Value = fg(ns(), text)
	s.Muted = fg(ns(), muted)
	s.Accent = fg(ns(), accent)
	s.Error = bold(fg(ns(), errC))
	s.Warning = fg(ns(), warnC)
	s.OK = fg(ns(), okC)
	s.Mark = fg(ns(), markC)
	s.Selected = bold(bg(ns(), selBg))
	s.Cursor = ns()
	if !s.Plain {
		s.Cursor = s.Cursor.Reverse(true)
	}
	s.Key = bold(fg(ns(), accent))
	s.Border = fg(ns(), subtle)
	s.BarFill = fg(ns(), barFill)
	s.BarEmpty = fg(ns(), subtle)
	s.BarBig = fg(ns(), barBig)
	s.Tab = fg(ns(), muted).Padding(0, 1)
	s.TabActive = bold(bg(fg(ns(), tabFg), tabBg)).Padding(0, 1)
	s.Status = fg(ns(), muted)
	s.StatusKey = fg(ns(), accent)
	s.HelpKey = fg(ns(), accent)
	s.HelpDesc = fg(ns(), muted)
	s.HelpSep = fg(ns(), subtle)
	return s
}

// BarColours are the fill and empty colours of progress bars, picked for the
// terminal's background.
func (s *Styles) BarColours() (fill, empty color.Color) {
	ld := lipgloss.LightDark(s.Dark)
	return ld(lipgloss.Color(barFill.light), lipgloss.Color(barFill.dark)),
		ld(lipgloss.Color(subtle.light), lipgloss.Color(subtle.dark))
}
