package common

import (
	"fmt"
	"math"
	"strings"

	"charm.land/bubbles/v2/progress"
	"github.com/charmbracelet/x/ansi"

	"github.com/omnitui/omnitui/tui/styles"
)

// progressPct is how bubbles/progress writes the percentage after the bar.
const progressPct = " %3.0f%%"

// ProgressBar draws frac (clamped to [0, 1]) as a bubbles/progress bar followed by
// the percentage, in exactly width cells. The bar is rendered statically (ViewAs):
// the app redraws it from the executor's progress reports, so there is no animation
// to drive. Without colours it is glyphs only. Below 6 cells there is no room for a bar and only the percentage is shown.
func ProgressBar(st *styles.Styles, frac float64, width int) string {
	if frac < 0 || math.IsNaN(frac) {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	pct := fmt.Sprintf(progressPct, frac*100)
	if width <= len(pct) {
		return ansi.Truncate(strings.TrimSpace(pct), max(width, 0), "")
	}
	fill, empty := st.BarColours()
	p := progress.New(
		progress.WithColors(fill),
		progress.WithFillCharacters(progress.DefaultFullCharFullBlock, progress.DefaultEmptyCharBlock),
		progress.WithWidth(width),
	)
	p.EmptyColor = empty
	p.PercentFormat = progressPct
	p.PercentageStyle = st.App
	if st.Plain {
		// bubbles/progress always colours its cells; without colours, glyphs only.
		return ansi.Strip(p.ViewAs(frac))
	}
	return p.ViewAs(frac)
}
