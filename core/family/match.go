package family

import (
	"fmt"
	"strings"
)

// SplitPrefix splits an HF name into its layer/expert prefix and the rest, like ROLL:
// "model.layers.3.mlp.experts.7.up_proj.weight" -> ("model.layers.3.mlp.experts.7", ".up_proj.weight", 3, 7).
// Names outside the layer prefix return ("", name, -1, -1).
func (t *Template) SplitPrefix(name string) (prefix, rest string, layer, expert int) {
	layer, expert = -1, -1
	if !strings.HasPrefix(name, t.LayerPrefix) {
		return "", name, -1, -1
	}
	i := len(t.LayerPrefix)
	j := i
	for j < len(name) && name[j] >= '0' && name[j] <= '9' {
		j++
	}
	if j == i || j-i > 9 {
		return "", name, -1, -1
	}
	layer = atoi(name[i:j])
	prefix, rest = name[:j], name[j:]
	if t.MoEPrefix != "" && strings.HasPrefix(rest, t.MoEPrefix) {
		k := len(t.MoEPrefix)
		m := k
		for m < len(rest) && rest[m] >= '0' && rest[m] <= '9' {
			m++
		}
		if m > k && m-k <= 9 && (m == len(rest) || rest[m] == '.') {
			expert = atoi(rest[k:m])
			prefix, rest = name[:j+m], rest[m:]
		}
	}
	return prefix, rest, layer, expert
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// MatchRule finds the rule and input slot for a name relative to its prefix.
// Matching is anchored: a rule name must equal rest, or for "{}" rules rest must
// start with the part before "{}" (the wildcard takes the remainder).
func (t *Template) MatchRule(rest string) (rule, slot int, wildcard string, ok bool) {
	for ri, r := range t.Rules {
		for si, h := range r.HF {
			if h == rest {
				return ri, si, "", true
			}
		}
	}
	for ri, r := range t.Rules {
		for si, h := range r.HF {
			if i := strings.Index(h, "{}"); i >= 0 && strings.HasPrefix(rest, h[:i]) && strings.HasSuffix(rest, h[i+2:]) && len(rest) > len(h)-2 {
				return ri, si, rest[i : len(rest)-(len(h)-i-2)], true
			}
		}
	}
	return 0, 0, "", false
}

// MCAPrefix maps an HF layer/expert prefix to the Megatron one (global numbers kept).
func (t *Template) MCAPrefix(layer, expert int) string {
	if layer < 0 {
		return ""
	}
	if expert < 0 {
		return fmt.Sprintf("%s%d", MCALayerPrefix, layer)
	}
	return fmt.Sprintf("%s%d%s%d", MCALayerPrefix, layer, MCAMoEPrefix, expert)
}
