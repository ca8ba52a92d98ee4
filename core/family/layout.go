package family

import (
	"sort"
	"strings"
)

// HFLayout is one naming of a family's HF tensors. The template's rules use the names of
// Layouts[0]; another layout renames name prefixes: Prefixes are (rules' prefix, this
// layout's prefix) pairs. Checkpoints in any layout convert to the same Megatron tensors;
// the reverse writes the layout the checkpoint came from or the one asked for.
type HFLayout struct {
	Name     string // e.g. "old", "new": the --hf-layout value
	Help     string // what its names look like
	Prefixes [][2]string
}

// LayoutIndex finds a layout by name.
func (t *Template) LayoutIndex(name string) (int, bool) {
	for i, l := range t.Layouts {
		if l.Name == name {
			return i, true
		}
	}
	return 0, false
}

// LayoutNames lists the template's layout names.
func (t *Template) LayoutNames() []string {
	out := make([]string, len(t.Layouts))
	for i, l := range t.Layouts {
		out[i] = l.Name
	}
	return out
}

// layoutPrefixes are the prefixes distinctive of layout i: its own side of every pair
// (for Layouts[0], the rules' side of the other layouts' pairs), longest first.
func (t *Template) layoutPrefixes(i int) []string {
	var out []string
	for j, l := range t.Layouts {
		for _, p := range l.Prefixes {
			switch {
			case i == 0 && j > 0:
				out = append(out, p[0])
			case i > 0 && j == i:
				out = append(out, p[1])
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return len(out[a]) > len(out[b]) })
	return out
}

// DetectLayout says which layout n names (name(i) for i < n) are in: the one whose
// distinctive prefixes most names carry (ties: the rules' own). others lists up to max
// names that carry another layout's prefixes (a mixed checkpoint).
func (t *Template) DetectLayout(n int, name func(i int) string, max int) (layout int, others []string) {
	if len(t.Layouts) < 2 {
		return 0, nil
	}
	pre := make([][]string, len(t.Layouts))
	for i := range t.Layouts {
		pre[i] = t.layoutPrefixes(i)
	}
	of := make([]int, n)
	count := make([]int, len(t.Layouts))
	for k := 0; k < n; k++ {
		of[k] = -1
		s := name(k)
		for i := range pre {
			if hasPrefix(s, pre[i]) {
				of[k] = i
				count[i]++
				break
			}
		}
	}
	for i := range count {
		if count[i] > count[layout] {
			layout = i
		}
	}
	for k := 0; k < n && len(others) < max; k++ {
		if of[k] >= 0 && of[k] != layout {
			others = append(others, name(k))
		}
	}
	return layout, others
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// ToRules renames an HF name of layout i to the rules' naming.
func (t *Template) ToRules(name string, i int) string {
	if i <= 0 || i >= len(t.Layouts) {
		return name
	}
	best := -1
	for k, p := range t.Layouts[i].Prefixes {
		if strings.HasPrefix(name, p[1]) && (best < 0 || len(p[1]) > len(t.Layouts[i].Prefixes[best][1])) {
			best = k
		}
	}
	if best < 0 {
		return name
	}
	p := t.Layouts[i].Prefixes[best]
	return p[0] + name[len(p[1]):]
}

// FromRules renames an HF name of the rules' naming to layout i.
func (t *Template) FromRules(name string, i int) string {
	if i <= 0 || i >= len(t.Layouts) {
		return name
	}
	best := -1
	for k, p := range t.Layouts[i].Prefixes {
		if strings.HasPrefix(name, p[0]) && (best < 0 || len(p[0]) > len(t.Layouts[i].Prefixes[best][0])) {
			best = k
		}
	}
	if best < 0 {
		return name
	}
	p := t.Layouts[i].Prefixes[best]
	return p[1] + name[len(p[0]):]
}
