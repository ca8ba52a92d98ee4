package common

import (
	"strings"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {65_680_000_000, "61.2 GiB"}, {3 << 40, "3.0 TiB"},
	}
	for _, tc := range tests {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestParamsAndCount(t *testing.T) {
	tests := []struct {
		n             int64
		params, count string
	}{
		{999, "999", "999"},
		{1000, "1.0 K", "1,000"},
		{123_300, "123.3 K", "123,300"},
		{3_324_596_480, "3.32 B", "3,324,596,480"},
		{35_259_818_545, "35.26 B", "35,259,818,545"},
		{-1234, "-1234", "-1,234"},
	}
	for _, tc := range tests {
		if got := Params(tc.n); got != tc.params {
			t.Errorf("Params(%d) = %q, want %q", tc.n, got, tc.params)
		}
		if got := Count(tc.n); got != tc.count {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.count)
		}
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		word string
		want string
	}{
		{1, "tensor", "1 tensor"}, {0, "tensor", "0 tensors"}, {28010, "tensor", "28,010 tensors"},
		{2, "match", "2 matches"}, {3, "box", "3 boxes"},
	}
	for _, tc := range tests {
		if got := Plural(tc.n, tc.word); got != tc.want {
			t.Errorf("Plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}

func TestTruncateAndPad(t *testing.T) {
	tests := []struct {
		s          string
		w          int
		trunc, pad string
		left       string
	}{
		{"hello", 10, "hello", "hello     ", "hello"},
		{"hello world", 5, "hell…", "hell…", "…orld"},
		{"×48 layers", 4, "×48…", "×48…", "…ers"},
		{"abc", 0, "", "", ""},
	}
	for _, tc := range tests {
		if got := Truncate(tc.s, tc.w); got != tc.trunc {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.trunc)
		}
		if got := Pad(tc.s, tc.w); got != tc.pad {
			t.Errorf("Pad(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.pad)
		}
		if got := TruncateLeft(tc.s, tc.w); got != tc.left {
			t.Errorf("TruncateLeft(%q, %d) = %q, want %q", tc.s, tc.w, got, tc.left)
		}
	}
}

func TestFitMakesExactBlocks(t *testing.T) {
	in := []string{"short", strings.Repeat("x", 50), "with\nnewline"}
	for _, sz := range []struct{ w, h int }{{10, 2}, {10, 5}, {1, 1}, {80, 3}} {
		out := strings.Split(Fit(in, sz.w, sz.h), "\n")
		if len(out) != sz.h {
			t.Errorf("Fit(%d×%d) gave %d lines", sz.w, sz.h, len(out))
		}
		for _, l := range out {
			if Width(l) > sz.w {
				t.Errorf("Fit(%d×%d): line %q too wide", sz.w, sz.h, l)
			}
		}
	}
	if Fit(in, 10, 0) != "" {
		t.Error("Fit with no height should be empty")
	}
}

func TestWrapKeepsWidth(t *testing.T) {
	msg := "TP 3 does not divide vocab_size 64, num_attention_heads 4: choose a TP that divides them"
	for _, w := range []int{20, 33, 60} {
		lines := Wrap(msg, w, "  ")
		if len(lines) < 2 {
			t.Errorf("width %d: expected wrapping, got %q", w, lines)
		}
		joined := ""
		for i, l := range lines {
			if Width(l) > w {
				t.Errorf("width %d: line %q is %d wide", w, l, Width(l))
			}
			if i > 0 && !strings.HasPrefix(l, "  ") {
				t.Errorf("width %d: continuation %q lacks the indent", w, l)
			}
			joined += strings.TrimSpace(l) + " "
		}
		// Words longer than a line are cut, so compare without whitespace.
		if strings.Join(strings.Fields(joined), "") != strings.Join(strings.Fields(msg), "") {
			t.Errorf("width %d: wrapping lost text: %q", w, joined)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0.0s"}, {4200 * time.Millisecond, "4.2s"}, {65 * time.Second, "1m05s"}, {3723 * time.Second, "1h02m03s"},
	}
	for _, tc := range tests {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestRankLabelAndOptOut(t *testing.T) {
	if got := RankLabel("iter_0000001/mp_rank_01_002/model_optim_rng.pt"); got != "mp_rank_01_002" {
		t.Errorf("RankLabel = %q", got)
	}
	if got := RankLabel("model.pt"); got != "model.pt" {
		t.Errorf("RankLabel of a bare file = %q", got)
	}
	if got := OptOutName("--drop-audio-output"); got != "drop audio output" {
		t.Errorf("OptOutName = %q", got)
	}
}

func TestWrapBreaksOnlyAtSpaces(t *testing.T) {
	msg := "choose --pp 1, 7, 49; neither --account-embedding nor --account-loss (48 = 2 × 24)"
	for _, w := range []int{24, 30, 41} {
		for _, l := range Wrap(msg, w, "  ") {
			if Width(l) > w {
				t.Errorf("width %d: %q too wide", w, l)
			}
			if strings.HasSuffix(l, "-") {
				t.Errorf("width %d: broke a flag at its hyphen: %q", w, l)
			}
		}
	}
	if got := Wrap("", 20, ""); len(got) != 1 || got[0] != "" {
		t.Errorf("Wrap of nothing = %q", got)
	}
	if got := Wrap("abcdefghij", 8, "  "); strings.Join(got, "|") != "abcdefgh|  ij" {
		t.Errorf("a word longer than the line is cut: %q", got)
	}
	if got := Wrap("  one two three", 10, "    "); strings.Join(got, "|") != "  one two|    three" {
		t.Errorf("leading spaces should stay on the first line: %q", got)
	}
}
