package common

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/omnitui/omnitui/tui/styles"
)

func TestProgressBarPlain(t *testing.T) {
	st := plainStyles()
	tests := []struct {
		frac  float64
		width int
		want  string
	}{
		{0, 9, "░░░░   0%"},
		{1, 9, "████ 100%"},
		{0.5, 9, "██░░  50%"},
		{0.42, 15, "████░░░░░░  42%"}, // 4.2 cells round to 4
		{2, 9, "████ 100%"},           // clamped
		{-1, 9, "░░░░   0%"},
		{0.42, 5, "42%"}, // no room for a bar
		{0.42, 2, "42"},
		{0.42, 0, ""},
	}
	for _, tc := range tests {
		got := ProgressBar(st, tc.frac, tc.width)
		if got != tc.want {
			t.Errorf("ProgressBar(%v, %d) = %q, want %q", tc.frac, tc.width, got, tc.want)
		}
	}
}

func TestProgressBarWidthIsExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *styles.Styles
	}{{"plain", plainStyles()}, {"colour", colourStyles()}} {
		name, s := tc.name, tc.st
		for _, w := range []int{6, 8, 10, 40, 91} {
			for _, f := range []float64{0, 0.013, 0.5, 0.999, 1} {
				got := ProgressBar(s, f, w)
				if cw := ansi.StringWidth(got); cw != w {
					t.Errorf("%s: ProgressBar(%v, %d) is %d wide: %q", name, f, w, cw, got)
				}
			}
		}
		if name == "colour" && !strings.Contains(ProgressBar(s, 0.5, 20), "\x1b[") {
			t.Error("with colours the bar should be coloured")
		}
		if name == "plain" && strings.ContainsRune(ProgressBar(s, 0.5, 20), '\x1b') {
			t.Error("without colours the bar must have no escapes")
		}
	}
}
