package common

import (
	"fmt"
	"path"
	"strings"

	"github.com/omnitui/omnitui/core"
)

// RankLabel shortens a rank file path to its directory name ("mp_rank_00_001").
func RankLabel(p string) string {
	dir := path.Dir(p)
	if dir == "." || dir == "" {
		return p
	}
	return path.Base(dir)
}

// DestLine describes where a slice of a Megatron tensor lands: rank file, model
// chunk, local name, shape and which TP slice.
func DestLine(p *core.Plan, d core.Dest, w int) string {
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
	if nw < 12 {
		return Truncate(head+d.Name+tail, w)
	}
	return head + TruncateLeft(d.Name, nw) + tail
}

// Extras lists a chunk's extra modules compactly ("+embedding +vision").
func Extras(ex []string) string {
	if len(ex) == 0 {
		return ""
	}
	return "+" + strings.Join(ex, " +")
}
