package common

import (
	"path"
	"strings"
)

// RankLabel shortens a rank file path to its directory name ("mp_rank_00_001").
func RankLabel(p string) string {
	dir := path.Dir(p)
	if dir == "." || dir == "" {
		return p
	}
	return path.Base(dir)
}

// Extras lists a chunk's extra modules compactly ("+embedding +vision").
func Extras(ex []string) string {
	if len(ex) == 0 {
		return ""
	}
	return "+" + strings.Join(ex, " +")
}
