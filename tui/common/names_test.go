package common

import (
	"regexp"
	"strings"
	"testing"
)

func TestMidCutKeepsLayerAndExpertNumbers(t *testing.T) {
	const name = "decoder.layers.47.mlp.experts.local_experts.127.linear_fc1.weight"
	if got := MidCut(name, len(name)); got != name {
		t.Errorf("a name that fits is kept: %q", got)
	}
	// The words between the numbers go first, nearest the middle first.
	if got, want := MidCut(name, 60), "decoder.layers.47.mlp.…local_experts.127.linear_fc1.weight"; got != want {
		t.Errorf("MidCut(60) = %q, want %q", got, want)
	}
	for w := 40; w < len(name); w++ {
		got := MidCut(name, w)
		if Width(got) > w || !strings.HasPrefix(got, "decoder.") || !strings.HasSuffix(got, ".linear_fc1.weight") ||
			!regexp.MustCompile(`[.…]47\.`).MatchString(got) || !regexp.MustCompile(`[.…]127\.`).MatchString(got) || !strings.Contains(got, "…") {
			t.Errorf("MidCut(%d) = %q (%d cells): want the start, the end, layer 47 and expert 127", w, got, Width(got))
		}
	}
	// Too narrow for all that: the end is kept.
	if got := MidCut(name, 20); Width(got) > 20 || !strings.HasSuffix(got, "linear_fc1.weight") {
		t.Errorf("MidCut(20) = %q", got)
	}
}

func TestWrapNameShowsAllOfIt(t *testing.T) {
	const name = "decoder.layers.47.mlp.experts.local_experts.127.linear_fc1.weight"
	lines := WrapName(name, 30)
	joined := ""
	for _, l := range lines {
		if Width(l) > 30 {
			t.Errorf("line %q is wider than 30", l)
		}
		joined += l
	}
	if joined != name || len(lines) != 3 {
		t.Errorf("WrapName = %q", lines)
	}
}

func TestMidCutNeverDoublesTheEllipsis(t *testing.T) {
	const name = "decoder.layers.3.mlp.experts.local_experts.5.linear_fc2.weight"
	for w := 8; w <= len(name); w++ {
		if got := MidCut(name, w); strings.Contains(got, "……") || Width(got) > w {
			t.Errorf("MidCut(%d) = %q", w, got)
		}
	}
}
