// Package bar draws the size bars of Overview and Placement (share of the bytes
// per component or rank file).
//
// Progress bars are bubbles/progress (common.ProgressBar). Size bars stay here
// because bubbles/progress does not fit them: it fills whole cells only, where
// these use eighth-blocks so that ranks or components differing by a few percent
// still differ visibly in a 20-cell bar; it always adds a percentage or none,
// where the views place their own numbers; and it colours with one hex string,
// where Placement picks a lipgloss style per bar (the largest rank in BarBig).
package bar

import (
	"strings"

	"charm.land/lipgloss/v2"
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
