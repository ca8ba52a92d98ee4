// Package bar draws horizontal bars: progress bars and size bars.
//
// (bubbles/progress needs github.com/charmbracelet/harmonica, which go.mod does not
// require; these static bars are all the app needs.)
package bar

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
)

// Render draws a bar of width cells filled to frac (clamped to [0, 1]), using
// eighth-blocks for the partial cell so small differences stay visible.
func Render(frac float64, width int, fill, empty lipgloss.Style) string {
	if width <= 0 {
		return ""
	}
	if frac < 0 || frac != frac {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	eighths := int(frac*float64(width)*8 + 0.5)
	full := eighths / 8
	rem := eighths % 8
	var b strings.Builder
	b.WriteString(strings.Repeat("█", full))
	n := full
	if rem > 0 && n < width {
		b.WriteString([]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}[rem])
		n++
	}
	out := fill.Render(b.String())
	if n < width {
		out += empty.Render(strings.Repeat("░", width-n))
	}
	return out
}

// Progress draws a bar followed by the percentage, in width cells in all.
func Progress(frac float64, width int, fill, empty lipgloss.Style) string {
	if frac < 0 || frac != frac {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	pct := fmt.Sprintf(" %3.0f%%", frac*100)
	bw := width - len(pct)
	if bw < 1 {
		return strings.TrimSpace(pct)
	}
	return Render(frac, bw, fill, empty) + pct
}
