package bar

import (
	"testing"

	"charm.land/lipgloss/v2"
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
