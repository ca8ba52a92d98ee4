package core

// Megatron-Core's own reading of a layout string (PipelineParallelLayerLayout.parse_str_to_list
// in megatron/core/transformer/pipeline_parallel_layer_layout.py), restated: delete every
// ',', expand "(...)*N" in one left-to-right regex pass, then "x*N" in another, split at '|'
// and reject any character that is not a layer symbol. ROLL and mcore_adapter keep the
// layout string as the user typed it (the layout object's repr returns its input), so
// omnitui records the typed string whenever Megatron reads it as omnitui does.

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	megatronGroup  = regexp.MustCompile(`\(([^)]+)\)\*(\d+)`)
	megatronSymbol = regexp.MustCompile(`(.)\*(\d+)`)
)

// megatronParse returns the stages (as symbol strings, in chunk order) Megatron's parser
// reads from s; ok is false when it rejects s (or its expansion exceeds omnitui's limit).
func megatronParse(s string) (stages []string, ok bool) {
	s = strings.ReplaceAll(s, ",", "")
	for _, re := range []*regexp.Regexp{megatronGroup, megatronSymbol} {
		over := false
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			n, err := strconv.Atoi(sub[2])
			if err != nil || over || n*len(sub[1]) > 4*maxLayoutSymbols {
				over = true
				return ""
			}
			return strings.Repeat(sub[1], n)
		})
		if over || len(s) > 4*maxLayoutSymbols {
			return nil, false
		}
	}
	stages = strings.Split(s, "|")
	for _, stage := range stages {
		for _, c := range stage {
			if !strings.ContainsRune("ELtm", c) {
				return nil, false
			}
		}
	}
	return stages, true
}

// stageStrings lists the layout's stages in chunk order as symbol strings.
func (l *Layout) stageStrings() []string {
	var out []string
	for c := range l.PP * l.VP {
		var b strings.Builder
		for _, x := range l.Stage(c%l.PP, c/l.PP) {
			b.WriteByte(byte(x))
		}
		out = append(out, b.String())
	}
	return out
}

// RecordedLayout is the text mca_config.json records for a layout the user typed as s:
// s itself when Megatron's parser reads it as typed into the same stages (as ROLL records
// it), else the canonical form (canonical is true), which Megatron reads the same way.
func RecordedLayout(l *Layout, s string) (text string, canonical bool) {
	if st, ok := megatronParse(s); ok && slices.Equal(st, l.stageStrings()) {
		return s, false
	}
	return l.String(), true
}
