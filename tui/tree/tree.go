// Package tree is a collapsible tree list with a filter, used for the weights,
// the config and the Megatron-side mapping. Trees are built once; expanding,
// filtering and moving only re-flatten the visible rows, and View draws only
// the rows that fit, so trees of tens of thousands of nodes stay fast.
package tree

import (
	"path"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// Node is one row of a tree.
type Node struct {
	Label    string // what the row shows
	Key      string // name among its siblings, for sorting by name
	Path     string // full path, e.g. "model.layers.0.mlp.gate.weight"
	Search   string // text the filter matches; Path when empty
	Children []*Node
	Parent   *Node
	Depth    int
	Expanded bool
	Data     int   // the owner's payload (an index), -1 for none
	Size     int64 // for sorting by size
	Order    int   // position in the source, for the original order
	// Container marks a node that can hold children even when it has none
	// (an empty JSON object), so it is not shown as a leaf.
	Container bool

	lower string
	hit   bool // the node itself matches the filter
	keep  bool // the node or a descendant matches
	fexp  bool // expanded while the filter is on
}

// IsLeaf reports whether the node has no children.
func (n *Node) IsLeaf() bool { return len(n.Children) == 0 && !n.Container }

// Add appends a child and returns it.
func (n *Node) Add(c *Node) *Node {
	c.Parent = n
	n.Children = append(n.Children, c)
	return c
}

// SortMode orders siblings.
type SortMode int

// Sort modes.
const (
	SortOrder SortMode = iota // as built (file order)
	SortName                  // by Key, numbers compared as numbers
	SortSize                  // by Size, largest first
)

// String names the mode.
func (s SortMode) String() string {
	switch s {
	case SortName:
		return "name"
	case SortSize:
		return "size"
	}
	return "file order"
}

// RenderFunc returns the label and the right-hand columns of a row. selected is
// true for the cursor row (which is highlighted as a whole, so it should not
// carry its own colours).
type RenderFunc func(n *Node, selected bool) (label, right string)

// Model is a tree list.
type Model struct {
	st   *styles.Styles
	keys *keymap.KeyMap

	roots  []*Node
	rows   []*Node
	cursor int
	offset int
	width  int
	height int

	input     common.Input
	filtering bool // the filter input has the keys
	query     string
	matches   int
	sortMode  SortMode

	// Render draws a row; nil draws Label only.
	Render RenderFunc
	// CountLeavesOnly makes the match count count leaves only (tensors, not folders).
	CountLeavesOnly bool
	// Noun names what the match count counts ("tensors").
	Noun string
	// Blurred hides the cursor mark while another pane has the keys, so only
	// one cursor shows at a time.
	Blurred bool
	// LabelFirst gives the label the room when label and right column do not
	// both fit: the right column is shortened, or dropped, never the label
	// (the config view's values beside their "→ key" marks).
	LabelFirst bool
}

// New makes a tree over roots. Depth, Parent and Order are filled in.
func New(roots []*Node, st *styles.Styles, km *keymap.KeyMap) *Model {
	m := &Model{st: st, keys: km, input: common.NewInput("/", ""), Noun: "match"}
	m.SetRoots(roots)
	return m
}

// SetRoots replaces the tree, keeping the cursor on the same path if it still exists.
func (m *Model) SetRoots(roots []*Node) {
	var keepPath string
	if n := m.Selected(); n != nil {
		keepPath = n.Path
	}
	m.roots = roots
	order := 0
	var walk func(ns []*Node, parent *Node, depth int)
	walk = func(ns []*Node, parent *Node, depth int) {
		for _, n := range ns {
			n.Parent, n.Depth, n.Order = parent, depth, order
			order++
			s := n.Search
			if s == "" {
				s = n.Path
			}
			n.lower = strings.ToLower(s)
			walk(n.Children, n, depth+1)
		}
	}
	walk(roots, nil, 0)
	if m.sortMode != SortOrder {
		m.sortAll()
	}
	if m.query != "" {
		m.applyFilter()
	}
	m.flatten(nil)
	if keepPath != "" {
		if n := m.Find(keepPath); n != nil {
			m.Reveal(n)
		}
	}
}

// Roots are the top-level nodes.
func (m *Model) Roots() []*Node { return m.roots }

// SetSize sets the area the tree draws in (the filter line included).
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.scroll()
}

// Selected is the node under the cursor, or nil for an empty tree.
func (m *Model) Selected() *Node {
	if m.cursor >= 0 && m.cursor < len(m.rows) {
		return m.rows[m.cursor]
	}
	return nil
}

// SetCursor moves the cursor to visible row i.
func (m *Model) SetCursor(i int) {
	m.cursor = i
	m.scroll()
}

// Row returns visible row i, or nil.
func (m *Model) Row(i int) *Node {
	if i >= 0 && i < len(m.rows) {
		return m.rows[i]
	}
	return nil
}

// Rows is the number of visible rows.
func (m *Model) Rows() int { return len(m.rows) }

// Capturing reports whether the filter input takes all keys.
func (m *Model) Capturing() bool { return m.filtering }

// Query is the active filter ("" = none).
func (m *Model) Query() string { return m.query }

// Matches is the number of nodes the filter matches.
func (m *Model) Matches() int { return m.matches }

// SortMode is the current sibling order.
func (m *Model) SortMode() SortMode { return m.sortMode }

// SetSort reorders every sibling list.
func (m *Model) SetSort(s SortMode) {
	if s == m.sortMode {
		return
	}
	sel := m.Selected()
	m.sortMode = s
	m.sortAll()
	m.flatten(sel)
}

func (m *Model) sortAll() {
	var less func(a, b *Node) bool
	switch m.sortMode {
	case SortName:
		less = func(a, b *Node) bool { return NaturalLess(a.Key, b.Key) }
	case SortSize:
		less = func(a, b *Node) bool {
			if a.Size != b.Size {
				return a.Size > b.Size
			}
			return a.Order < b.Order
		}
	default:
		less = func(a, b *Node) bool { return a.Order < b.Order }
	}
	var walk func(ns []*Node)
	walk = func(ns []*Node) {
		sort.SliceStable(ns, func(i, j int) bool { return less(ns[i], ns[j]) })
		for _, n := range ns {
			if len(n.Children) > 1 || (len(n.Children) == 1 && len(n.Children[0].Children) > 0) {
				walk(n.Children)
			}
		}
	}
	walk(m.roots)
}

// NaturalLess compares names, whole numbers by value ("2" < "10").
func NaturalLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	if (aerr == nil) != (berr == nil) {
		return aerr == nil
	}
	return a < b
}

// SetFilter applies a filter: a glob when it holds * ? or [, else a substring;
// case-insensitive; "" clears it.
func (m *Model) SetFilter(q string) {
	sel := m.Selected()
	m.query = q
	m.input.SetValue(q)
	m.applyFilter()
	m.flatten(sel)
	if m.query != "" && (sel == nil || !sel.hit) {
		// Put the cursor on the first match.
		for i, n := range m.rows {
			if n.hit && (n.IsLeaf() || !m.CountLeavesOnly) {
				m.cursor = i
				break
			}
		}
		m.scroll()
	}
}

func (m *Model) applyFilter() {
	q := strings.ToLower(strings.TrimSpace(m.query))
	m.matches = 0
	if q == "" {
		return
	}
	glob := strings.ContainsAny(q, "*?[")
	if glob {
		if _, err := path.Match(q, ""); err != nil {
			glob = false // a malformed pattern is taken literally
		}
	}
	match := func(s string) bool {
		if glob {
			ok, _ := path.Match(q, s)
			return ok
		}
		return strings.Contains(s, q)
	}
	var walk func(ns []*Node) bool
	walk = func(ns []*Node) bool {
		any := false
		for _, n := range ns {
			n.hit = match(n.lower)
			kid := walk(n.Children)
			n.keep = n.hit || kid
			n.fexp = kid
			if n.hit && (!m.CountLeavesOnly || n.IsLeaf()) {
				m.matches++
			}
			any = any || n.keep
		}
		return any
	}
	walk(m.roots)
}

// flatten rebuilds the visible rows and puts the cursor back on sel if visible.
func (m *Model) flatten(sel *Node) {
	m.rows = m.rows[:0]
	filtered := m.query != ""
	// all: an ancestor matches the filter itself, so its whole subtree is shown.
	var walk func(ns []*Node, all bool)
	walk = func(ns []*Node, all bool) {
		for _, n := range ns {
			if filtered && !all && !n.keep {
				continue
			}
			m.rows = append(m.rows, n)
			if m.expanded(n) {
				walk(n.Children, all || (filtered && n.hit))
			}
		}
	}
	walk(m.roots, false)
	if sel != nil {
		for i, n := range m.rows {
			if n == sel {
				m.cursor = i
				m.scroll()
				return
			}
		}
		// sel is hidden: go to its nearest visible ancestor.
		for p := sel.Parent; p != nil; p = p.Parent {
			for i, n := range m.rows {
				if n == p {
					m.cursor = i
					m.scroll()
					return
				}
			}
		}
	}
	m.scroll()
}

func (m *Model) bodyHeight() int {
	h := m.height
	if m.filtering || m.query != "" {
		h--
	}
	return max(h, 0)
}

func (m *Model) scroll() {
	if m.cursor >= len(m.rows) {
		m.cursor = len(m.rows) - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
	bh := m.bodyHeight()
	if bh <= 0 {
		m.offset = m.cursor
		return
	}
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+bh {
		m.offset = m.cursor - bh + 1
	}
	if maxOff := len(m.rows) - bh; m.offset > maxOff {
		m.offset = max(maxOff, 0)
	}
}

func (m *Model) expanded(n *Node) bool {
	if m.query != "" {
		return n.fexp
	}
	return n.Expanded
}

func (m *Model) setExpanded(n *Node, v bool) {
	n.fexp = v
	n.Expanded = v
}

// Toggle expands or collapses the node under the cursor.
func (m *Model) Toggle() {
	n := m.Selected()
	if n == nil || n.IsLeaf() {
		return
	}
	m.setExpanded(n, !m.expanded(n))
	m.flatten(n)
}

// Reveal expands n's ancestors and puts the cursor on n (clearing a filter that hides it).
func (m *Model) Reveal(n *Node) {
	if n == nil {
		return
	}
	if m.query != "" && !n.keep {
		m.query = ""
		m.input.SetValue("")
		m.matches = 0
	}
	for p := n.Parent; p != nil; p = p.Parent {
		m.setExpanded(p, true)
	}
	m.flatten(n)
	// Centre the revealed row.
	if bh := m.bodyHeight(); bh > 0 && len(m.rows) > bh {
		m.offset = max(0, min(m.cursor-bh/2, len(m.rows)-bh))
	}
}

// Find returns the node with the given path, or nil.
func (m *Model) Find(p string) *Node {
	ns := m.roots
	var found *Node
	for found == nil && len(ns) > 0 {
		var next []*Node
		for _, n := range ns {
			if n.Path == p {
				return n
			}
			if strings.HasPrefix(p, n.Path+".") || n.Path == "" {
				next = n.Children
				break
			}
		}
		ns = next
	}
	return found
}

// Click handles a click on line y of the tree's view (0 = its first row): the
// row there becomes the cursor; a click on the cursor's folder opens or closes
// it. It reports whether a row was hit.
func (m *Model) Click(y int) bool {
	i := m.offset + y
	if y < 0 || y >= m.bodyHeight() || i >= len(m.rows) {
		return false
	}
	if i == m.cursor {
		m.Toggle()
		return true
	}
	m.cursor = i
	m.scroll()
	return true
}

// Paste inserts pasted text into the filter while it is being typed; it
// reports whether the tree used it.
func (m *Model) Paste(p tea.PasteMsg) bool {
	if !m.filtering {
		return false
	}
	if m.input.Update(p) {
		m.SetFilter(m.input.Value())
	}
	return true
}

// Update handles a key. It reports whether the tree used it.
func (m *Model) Update(msg tea.Msg) (handled bool) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return false
	}
	if m.filtering {
		switch {
		case k.String() == "enter":
			m.filtering = false
			m.input.Blur()
			m.scroll()
		case k.String() == "esc":
			m.filtering = false
			m.input.Blur()
			m.SetFilter("")
		case k.String() == "up" || k.String() == "down":
			m.move(map[bool]int{true: -1, false: 1}[k.String() == "up"])
		default:
			if m.input.Update(k) {
				m.SetFilter(m.input.Value())
			}
		}
		return true
	}
	km := m.keys
	bh := max(m.bodyHeight(), 1)
	switch {
	case key.Matches(k, km.Up):
		m.move(-1)
	case key.Matches(k, km.Down):
		m.move(1)
	case key.Matches(k, km.PageUp):
		m.move(-bh)
	case key.Matches(k, km.PageDown):
		m.move(bh)
	case key.Matches(k, km.Top):
		m.cursor = 0
		m.scroll()
	case key.Matches(k, km.Bottom):
		m.cursor = len(m.rows) - 1
		m.scroll()
	case key.Matches(k, km.Toggle):
		m.Toggle()
	case key.Matches(k, km.Expand):
		if n := m.Selected(); n != nil && !n.IsLeaf() {
			if !m.expanded(n) {
				m.setExpanded(n, true)
				m.flatten(n)
			} else {
				m.move(1)
			}
		}
	case key.Matches(k, km.Collapse):
		n := m.Selected()
		if n == nil {
			return true
		}
		if !n.IsLeaf() && m.expanded(n) {
			m.setExpanded(n, false)
			m.flatten(n)
		} else if n.Parent != nil {
			m.flatten(n.Parent)
			for i, r := range m.rows {
				if r == n.Parent {
					m.cursor = i
					break
				}
			}
			m.scroll()
		}
	case key.Matches(k, km.Filter):
		m.filtering = true
		m.input.SetValue(m.query)
		m.input.Focus()
		m.scroll()
	case key.Matches(k, km.Back):
		if m.query == "" {
			return false
		}
		m.SetFilter("")
	default:
		return false
	}
	return true
}

func (m *Model) move(d int) {
	m.cursor += d
	m.scroll()
}

// View draws the visible rows (and the filter line), exactly height lines.
func (m *Model) View() string { return common.Fit(m.ViewLines(), m.width, m.height) }

// ViewLines draws the visible rows and the filter line.
func (m *Model) ViewLines() []string {
	st := m.st
	bh := m.bodyHeight()
	out := make([]string, 0, m.height)
	if len(m.rows) == 0 {
		msg := "(empty)"
		if m.query != "" {
			msg = "nothing matches " + strconv.Quote(m.query)
		}
		out = append(out, "  "+st.Muted.Render(msg))
	}
	for i := m.offset; i < len(m.rows) && i < m.offset+bh; i++ {
		out = append(out, m.row(m.rows[i], i == m.cursor))
	}
	for len(out) < bh {
		out = append(out, "")
	}
	if m.filtering || m.query != "" {
		out = append(out, m.filterLine())
	}
	return out
}

func (m *Model) filterLine() string {
	st := m.st
	count := st.Muted.Render("  " + common.Plural(m.matches, m.Noun))
	if m.query == "" {
		count = st.Muted.Render("  type to filter; * ? [ ] make a glob")
	}
	if m.matches == 0 && m.query != "" {
		count = st.Error.Render("  no " + common.PluralWord(m.Noun))
	}
	cw := common.Width(count)
	var field string
	if m.filtering {
		field = m.input.View(max(m.width-cw, 4), st)
	} else {
		field = st.Accent.Render("/") + st.Value.Render(common.Truncate(m.query, max(m.width-cw-1, 3)))
	}
	return field + count
}

func (m *Model) row(n *Node, selected bool) string {
	st := m.st
	w := m.width
	label, right := n.Label, ""
	if m.Render != nil {
		label, right = m.Render(n, selected)
	}
	cur := "  "
	if selected && !m.Blurred {
		cur = "› "
	}
	indent := strings.Repeat("  ", n.Depth)
	glyph := "  "
	if !n.IsLeaf() {
		if m.expanded(n) {
			glyph = "▾ "
		} else {
			glyph = "▸ "
		}
	}
	lead := cur + indent + glyph
	lw := common.Width(lead)
	rw := common.Width(right)
	labelW := w - lw - rw - 1
	if over := common.Width(label) - labelW; m.LabelFirst && rw > 0 && over > 0 {
		if rw-over >= 3 {
			right = common.Truncate(right, rw-over)
		} else {
			right = ""
		}
		rw = common.Width(right)
		labelW = w - lw - rw - 1
		if rw == 0 {
			labelW = w - lw
		}
	}
	if labelW < 8 {
		// Too narrow for the columns: show the label alone.
		right, rw = "", 0
		labelW = w - lw
	}
	lab := common.Pad(label, max(labelW, 0))
	line := lead + lab
	if rw > 0 {
		line += " " + right
	}
	if selected {
		if st.Plain {
			return line
		}
		return st.Selected.Render(common.Pad(line, w))
	}
	return st.Muted.Render(cur+indent) + st.Accent.Render(glyph) + lab + map[bool]string{true: " " + right, false: ""}[rw > 0]
}
