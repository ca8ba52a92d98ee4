package common

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Bytes formats a byte count with binary units ("1.50 GiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Params formats a parameter count ("35.26 B", "3.32 M", "2048").
func Params(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f K", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// Shape formats a tensor shape ("[2048, 151936]", "[]" for a scalar).
func Shape(s []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// Duration formats a duration for progress displays ("1m05s", "4.2s").
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// Plural returns "1 word" or "n words" (n with thousands separators).
func Plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return Count(int64(n)) + " " + PluralWord(word)
}

// PluralWord is the plural of an English noun ("match" → "matches").
func PluralWord(word string) string {
	for _, suf := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(word, suf) {
			return word + "es"
		}
	}
	return word + "s"
}

// Count formats an integer with thousands separators ("28,010").
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Width is the display width of s (ANSI sequences ignored).
func Width(s string) int { return ansi.StringWidth(s) }

// Truncate cuts s to at most w display cells, ending with "…" when it cut.
func Truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// TruncateLeft cuts s to at most w cells by dropping its beginning ("…ers.0.mlp").
func TruncateLeft(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw <= w {
		return s
	}
	return "…" + ansi.TruncateLeft(s, sw-w+1, "")
}

// Pad truncates or right-pads s to exactly w cells.
func Pad(s string, w int) string {
	s = Truncate(s, w)
	if n := w - ansi.StringWidth(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// PadLeft truncates or left-pads s to exactly w cells.
func PadLeft(s string, w int) string {
	s = Truncate(s, w)
	if n := w - ansi.StringWidth(s); n > 0 {
		s = strings.Repeat(" ", n) + s
	}
	return s
}

// Fit makes lines exactly h lines of at most w cells each: long lines end in "…",
// missing lines are blank, extra lines are dropped. Every view passes its output
// through Fit, so nothing wraps however small the terminal is.
func Fit(lines []string, w, h int) string {
	if h <= 0 {
		return ""
	}
	out := make([]string, h)
	for i := 0; i < h && i < len(lines); i++ {
		l := lines[i]
		if strings.ContainsRune(l, '\n') {
			l = strings.ReplaceAll(l, "\n", " ")
		}
		out[i] = Truncate(l, w)
	}
	return strings.Join(out, "\n")
}

// Lines splits a rendered block into lines.
func Lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// SideBySide joins two blocks of lines column-wise: left padded to lw cells, then
// sep, then right.
func SideBySide(left []string, lw int, sep string, right []string, h int) []string {
	out := make([]string, h)
	for i := 0; i < h; i++ {
		var l, r string
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		out[i] = Pad(l, lw) + sep + r
	}
	return out
}

// SettingsLine summarises the parallel settings ("TP 2 · PP 2 · VPP 2 · EP 4").
func SettingsLine(tp, pp, vpp, ep, etp int) string {
	parts := []string{fmt.Sprintf("TP %d", tp), fmt.Sprintf("PP %d", pp)}
	if vpp > 0 {
		parts = append(parts, fmt.Sprintf("VPP %d", vpp))
	}
	parts = append(parts, fmt.Sprintf("EP %d", ep))
	if etp > 0 && etp != tp {
		parts = append(parts, fmt.Sprintf("ETP %d", etp))
	}
	return strings.Join(parts, " · ")
}
