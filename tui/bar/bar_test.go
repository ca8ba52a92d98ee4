package bar

import (
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

func TestRender(t *testing.T) {
	st := lipgloss.NewStyle()
	tests := []struct {
		frac float64
		w    int
		want string
	}{
		{0, 4, "░░░░"},
		{1, 4, "████"},
		{0.5, 4, "██░░"},
		{0.5625, 4, "██▎░"}, // 2.25 cells: two full, a quarter
		{2, 3, "███"},       // clamped
		{-1, 3, "░░░"},
		{0.5, 0, ""},
	}
	for _, tc := range tests {
		if got := Render(tc.frac, tc.w, st, st); got != tc.want {
			t.Errorf("Render(%v, %d) = %q, want %q", tc.frac, tc.w, got, tc.want)
		}
	}
}

func TestProgressWidth(t *testing.T) {
	st := lipgloss.NewStyle()
	for _, w := range []int{3, 6, 10, 40} {
		got := Progress(0.42, w, st, st)
		if ansi.StringWidth(got) > w {
			t.Errorf("Progress width %d: %q", w, got)
		}
		if !strings.Contains(got, "42%") {
			t.Errorf("Progress width %d lacks the percentage: %q", w, got)
		}
	}
}
