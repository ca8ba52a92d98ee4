package common

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/core"
)

// FullNamesWidth is the terminal width from which rank-local names are shown in
// full (on a line of their own when they do not fit beside the rank file).
const FullNamesWidth = 120

// MidCut shortens a dotted tensor name to at most w cells by cutting in the
// middle, keeping what identifies it: the first part, every number (layer,
// expert) with the word before it, and the last two parts
// ("decoder.layers.3.…local_experts.7.linear_fc1.weight"). Runs of dropped parts
// become "…". If that is still too long, the words before the numbers go too,
// and last of all the end is kept ("…" + end).
func MidCut(name string, w int) string {
	if w <= 0 {
		return ""
	}
	if Width(name) <= w {
		return name
	}
	parts := strings.Split(name, ".")
	n := len(parts)
	isNum := func(i int) bool {
		if i < 0 || i >= n || parts[i] == "" {
			return false
		}
		for _, r := range parts[i] {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	keep := make([]bool, n) // all parts to begin with; words are dropped below
	for i := range keep {
		keep[i] = true
	}
	render := func() string {
		var b strings.Builder
		cut := false
		for i, p := range parts {
			if !keep[i] {
				cut = true
				continue
			}
			if b.Len() > 0 {
				if cut {
					b.WriteString(".…")
				}
				b.WriteString(".")
			}
			cut = false
			b.WriteString(p)
		}
		return strings.ReplaceAll(b.String(), ".….", ".…")
	}
	// Drop words one at a time from the middle outwards, words before numbers last.
	order := func(beforeNum bool) []int {
		var idx []int
		for i := 1; i < n-2; i++ {
			if !isNum(i) && isNum(i+1) == beforeNum {
				idx = append(idx, i)
			}
		}
		mid := float64(n-1) / 2
		for a := 1; a < len(idx); a++ { // nearest the middle first
			for b := a; b > 0 && dist(idx[b], mid) < dist(idx[b-1], mid); b-- {
				idx[b], idx[b-1] = idx[b-1], idx[b]
			}
		}
		return idx
	}
	for _, beforeNum := range []bool{false, true} {
		for _, i := range order(beforeNum) {
			if Width(render()) <= w {
				return render()
			}
			keep[i] = false
		}
	}
	if s := render(); Width(s) <= w {
		return s
	}
	return strings.Replace(TruncateLeft(render(), w), "……", "…", 1)
}

func dist(i int, mid float64) float64 {
	d := float64(i) - mid
	if d < 0 {
		return -d
	}
	return d
}

// WrapName splits a long dotted name into lines of at most w cells, breaking
// after dots, so all of it is shown.
func WrapName(name string, w int) []string {
	if w < 8 || Width(name) <= w {
		return []string{name}
	}
	var out []string
	cur := ""
	for _, p := range strings.SplitAfter(name, ".") {
		if cur != "" && Width(cur)+Width(p) > w {
			out = append(out, cur)
			cur = ""
		}
		for Width(p) > w { // one part longer than a line
			out = append(out, p[:w])
			p = p[w:]
		}
		cur += p
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// DestLines describes where a slice of a Megatron tensor lands: rank file, model
// chunk, rank-local name, shape and which TP slice, in w cells. With full, a
// name that does not fit beside the rank file goes on lines of its own, whole;
// otherwise it is cut in the middle, keeping its layer and expert numbers.
func DestLines(p *core.Plan, d core.Dest, w int, full bool) []string {
	file, ck := "?", ""
	if d.Rank >= 0 && d.Rank < len(p.Ranks) {
		r := &p.Ranks[d.Rank]
		file = RankLabel(r.Path)
		if d.Chunk >= 0 && d.Chunk < len(r.Chunks) {
			ck = r.Chunks[d.Chunk].Key
		}
	}
	slice := "whole"
	if d.TPSize > 1 {
		slice = fmt.Sprintf("slice %d/%d", d.TPRank, d.TPSize)
	}
	if d.Transpose {
		slice += fmt.Sprintf(", part %d transposed", d.Part)
	} else if d.Part > 0 {
		slice += fmt.Sprintf(", part %d", d.Part)
	}
	head := file + " " + ck + "  "
	tail := "  " + Shape(d.Shape) + " " + slice
	nw := w - Width(head) - Width(tail)
	if Width(d.Name) <= nw {
		return []string{head + d.Name + tail}
	}
	if full {
		out := []string{Truncate(strings.TrimRight(head, " ")+tail, w)}
		for _, l := range WrapName(d.Name, w-4) {
			out = append(out, "    "+l)
		}
		return out
	}
	if nw < 20 {
		// Too little room beside the rank file: the name below it, cut in the middle.
		return []string{Truncate(strings.TrimRight(head, " ")+tail, w), "    " + MidCut(d.Name, max(w-4, 8))}
	}
	// Cut the name, not the rank file, shape or slice.
	return []string{head + MidCut(d.Name, nw) + tail}
}

// RankLegend decodes the rank file names of a plan ("mp_rank_TT_PPP_EEE: TT tp
// rank · PPP pp stage · EEE ep rank"); "" when there is one rank file.
func RankLegend(p *core.Plan) string {
	if p == nil || len(p.Ranks) < 2 {
		return ""
	}
	var pp, ep bool
	for _, r := range p.Ranks {
		pp, ep = pp || r.PP > 0, ep || r.EP > 0
	}
	pattern, parts := "mp_rank_TT", []string{"TT tp rank"}
	if pp {
		pattern += "_PPP"
		parts = append(parts, "PPP pp stage")
	}
	if ep {
		pattern += "_EEE"
		parts = append(parts, "EEE ep rank")
	}
	return pattern + ": " + strings.Join(parts, " · ")
}
