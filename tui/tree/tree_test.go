package tree

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/internal/keys"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

func plainStyles() *styles.Styles { return styles.New(colorprofile.Ascii, true) }

// sample builds
//
//	a
//	  b
//	    x (size 5)
//	    y (size 50)
//	  c (size 7)
//	d (size 1)
func sample() []*Node {
	leaf := func(k, p string, size int64) *Node { return &Node{Key: k, Label: k, Path: p, Size: size, Data: -1} }
	b := &Node{Key: "b", Label: "b", Path: "a.b", Data: -1}
	b.Add(leaf("x", "a.b.x", 5))
	b.Add(leaf("y", "a.b.y", 50))
	a := &Node{Key: "a", Label: "a", Path: "a", Data: -1}
	a.Add(b)
	a.Add(leaf("c", "a.c", 7))
	b.Size, a.Size = 55, 62
	return []*Node{a, leaf("d", "d", 1)}
}

func newTree(roots []*Node) *Model {
	m := New(roots, plainStyles(), keymap.Default())
	m.CountLeavesOnly = true
	m.SetSize(40, 10)
	return m
}

func rowPaths(m *Model) []string {
	var out []string
	for i := 0; i < m.Rows(); i++ {
		out = append(out, m.Row(i).Path)
	}
	return out
}

func keyRunes(s string) tea.KeyPressMsg { return keys.Text(s) }

func TestFilterShowsMatchesWithAncestors(t *testing.T) {
	tests := []struct {
		query   string
		matches int
		rows    []string
	}{
		{"x", 1, []string{"a", "a.b", "a.b.x"}},
		{"A.B", 2, []string{"a", "a.b", "a.b.x", "a.b.y"}}, // case-insensitive; a.b itself matches, leaves counted
		{"a.b.*", 2, []string{"a", "a.b", "a.b.x", "a.b.y"}},
		{"?", 1, []string{"a", "d"}},        // glob: one character, whole name; folder a shows but is not counted
		{"a.[cd]", 1, []string{"a", "a.c"}}, // glob class
		{"zzz", 0, nil},
		{"", 0, []string{"a", "d"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			m := newTree(sample())
			m.SetFilter(tc.query)
			if m.Matches() != tc.matches {
				t.Errorf("matches = %d, want %d", m.Matches(), tc.matches)
			}
			if got := rowPaths(m); strings.Join(got, " ") != strings.Join(tc.rows, " ") {
				t.Errorf("rows = %v, want %v", got, tc.rows)
			}
		})
	}
}

func TestClearingFilterRestoresExpansion(t *testing.T) {
	m := newTree(sample())
	m.SetFilter("x")
	m.SetFilter("")
	if got := rowPaths(m); strings.Join(got, " ") != "a d" {
		t.Fatalf("rows after clearing = %v, want [a d] (nothing was expanded before)", got)
	}
}

func TestToggleExpandCollapse(t *testing.T) {
	m := newTree(sample())
	m.Update(keys.Press("enter")) // expand a
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.c d" {
		t.Fatalf("after expanding a: %s", got)
	}
	m.Update(keyRunes("j"))
	m.Update(keyRunes(" ")) // expand a.b
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.b.x a.b.y a.c d" {
		t.Fatalf("after expanding a.b: %s", got)
	}
	m.Update(keyRunes("j")) // on a.b.x
	m.Update(keyRunes("h")) // leaf: go to parent
	if m.Selected().Path != "a.b" {
		t.Fatalf("h on a leaf should select its parent, got %s", m.Selected().Path)
	}
	m.Update(keyRunes("h")) // collapse a.b
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.c d" {
		t.Fatalf("after collapsing a.b: %s", got)
	}
	m.Update(keyRunes("G"))
	if m.Selected().Path != "d" {
		t.Fatalf("G should go to the last row, got %s", m.Selected().Path)
	}
}

func TestFilterTypingAndKeys(t *testing.T) {
	m := newTree(sample())
	m.Update(keyRunes("/"))
	if !m.Capturing() {
		t.Fatal("/ should start the filter input")
	}
	for _, r := range "y" {
		m.Update(keyRunes(string(r)))
	}
	if m.Query() != "y" || m.Matches() != 1 || m.Selected().Path != "a.b.y" {
		t.Fatalf("query %q matches %d selected %s", m.Query(), m.Matches(), m.Selected().Path)
	}
	m.Update(keys.Press("enter"))
	if m.Capturing() || m.Query() != "y" {
		t.Fatalf("enter should keep the filter and leave the input (capturing %v, query %q)", m.Capturing(), m.Query())
	}
	if !strings.Contains(m.View(), "1 match") {
		t.Fatalf("filter line should show the match count:\n%s", m.View())
	}
	if !m.Update(keys.Press("esc")) || m.Query() != "" {
		t.Fatal("esc should clear an active filter")
	}
	if m.Update(keys.Press("esc")) {
		t.Fatal("esc without a filter should be left to the parent (back)")
	}
}

func TestSortModes(t *testing.T) {
	m := newTree(sample())
	m.Update(keys.Press("enter"))
	m.SetSort(SortSize)
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.c d" {
		t.Fatalf("by size: %s", got)
	}
	a := m.Roots()[0]
	a.Children[0].Expanded = true
	m.SetRoots(m.Roots())
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.b.y a.b.x a.c d" {
		t.Fatalf("by size, a.b open: %s", got)
	}
	m.SetSort(SortName)
	if got := strings.Join(rowPaths(m), " "); got != "a a.b a.b.x a.b.y a.c d" {
		t.Fatalf("by name: %s", got)
	}
}

func TestNaturalLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"2", "10", true},
		{"10", "2", false},
		{"layers", "norm", true},
		{"9", "a", true}, // numbers first
		{"a", "9", false},
		{"x", "x", false},
	}
	for _, tc := range tests {
		if got := NaturalLess(tc.a, tc.b); got != tc.want {
			t.Errorf("NaturalLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRevealAndFind(t *testing.T) {
	m := newTree(sample())
	n := m.Find("a.b.y")
	if n == nil || n.Path != "a.b.y" {
		t.Fatalf("Find(a.b.y) = %v", n)
	}
	if m.Find("a.q") != nil {
		t.Fatal("Find of a missing path should be nil")
	}
	m.SetFilter("d")
	m.Reveal(n) // hidden by the filter: the filter goes
	if m.Query() != "" || m.Selected() != n {
		t.Fatalf("Reveal should clear a filter hiding the node and select it (query %q, selected %v)", m.Query(), m.Selected().Path)
	}
}

func TestViewNeverExceedsWidth(t *testing.T) {
	for _, w := range []int{1, 5, 12, 20, 40, 80} {
		m := newTree(sample())
		m.Render = func(n *Node, sel bool) (string, string) {
			return n.Label + strings.Repeat("-", 30), "right column text"
		}
		m.SetSize(w, 6)
		m.Update(keys.Press("enter"))
		m.SetFilter("a")
		lines := strings.Split(m.View(), "\n")
		if len(lines) != 6 {
			t.Errorf("width %d: %d lines, want 6", w, len(lines))
		}
		for _, l := range lines {
			if common.Width(l) > w {
				t.Errorf("width %d: line %q is %d wide", w, l, common.Width(l))
			}
		}
	}
}

func TestLabelFirstShortensTheRightColumnNotTheLabel(t *testing.T) {
	const value = "rope_scaling: {\"interleaved\":true}" // 34 cells
	row := func(labelFirst bool) string {
		m := New([]*Node{{Key: "k", Label: value, Path: "k", Data: -1}}, plainStyles(), keymap.Default())
		m.Render = func(n *Node, _ bool) (string, string) { return n.Label, "→ rope_scaling" }
		m.LabelFirst = labelFirst
		m.SetSize(50, 3)
		return strings.Split(m.View(), "\n")[0]
	}
	if got := row(false); strings.Contains(got, value) {
		t.Fatalf("without LabelFirst the value is cut for the mark (the old way): %q", got)
	}
	got := row(true)
	if !strings.Contains(got, value) || !strings.Contains(got, "→ rop") || common.Width(got) > 50 {
		t.Fatalf("with LabelFirst the whole value and a shortened mark should show: %q", got)
	}
}
