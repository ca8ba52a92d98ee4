// Package weights is view 3: the checkpoint's tensors as a tree of dotted paths,
// with numbered sibling runs folded ("layers [0–47] ×48") and per-node totals.
package weights

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/tree"
)

// agg is the total under an inner node.
type agg struct {
	common.Tally
	firstShard, lastShard int
	dtypes                []loader.DType
}

// Model is the weights view.
type Model struct {
	ctx    *common.Context
	tree   *tree.Model
	leaves []*tree.Node // per tensor index
	aggs   map[*tree.Node]*agg
	width  int
	height int
	selGen int
}

const detailLines = 4

// New builds the tensor tree once.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, aggs: map[*tree.Node]*agg{}}
	roots := m.build()
	for _, r := range roots {
		r.Expanded = len(roots) < 4
	}
	m.tree = tree.New(roots, ctx.Styles, ctx.Keys)
	m.tree.CountLeavesOnly = true
	m.tree.Noun = "tensor"
	m.tree.Render = m.render
	m.tree.SetSort(tree.SortName)
	m.tree.SetCursor(0)
	return m
}

// Tree exposes the tree (tests drive it).
func (m *Model) Tree() *tree.Model { return m.tree }

func (m *Model) build() []*tree.Node {
	ck := m.ctx.Ck
	if ck == nil {
		return nil
	}
	type inner struct {
		node *tree.Node
		kids map[string]*inner
	}
	top := &inner{node: &tree.Node{}, kids: map[string]*inner{}}
	m.leaves = make([]*tree.Node, len(ck.Tensors))
	for i := range ck.Tensors {
		ti := &ck.Tensors[i]
		parts := strings.Split(ti.Name, ".")
		cur := top
		for j, p := range parts[:len(parts)-1] {
			nx, ok := cur.kids[p]
			if !ok {
				path := strings.Join(parts[:j+1], ".")
				nx = &inner{node: &tree.Node{Label: p, Key: p, Path: path, Data: -1}, kids: map[string]*inner{}}
				cur.node.Add(nx.node)
				cur.kids[p] = nx
			}
			cur = nx
		}
		last := parts[len(parts)-1]
		leaf := &tree.Node{Label: last, Key: last, Path: ti.Name, Data: i, Size: ti.Size}
		cur.node.Add(leaf)
		m.leaves[i] = leaf
	}
	var total func(n *tree.Node) *agg
	total = func(n *tree.Node) *agg {
		a := &agg{firstShard: -1, lastShard: -1}
		seen := map[loader.DType]bool{}
		for _, c := range n.Children {
			if c.IsLeaf() {
				ti := &ck.Tensors[c.Data]
				a.Add(ti)
				a.shard(ti.Shard)
				if !seen[ti.DType] {
					seen[ti.DType] = true
					a.dtypes = append(a.dtypes, ti.DType)
				}
				continue
			}
			ca := total(c)
			a.Tensors += ca.Tensors
			a.Params += ca.Params
			a.Bytes += ca.Bytes
			a.shard(ca.firstShard)
			a.shard(ca.lastShard)
			for _, d := range ca.dtypes {
				if !seen[d] {
					seen[d] = true
					a.dtypes = append(a.dtypes, d)
				}
			}
		}
		n.Size = a.Bytes
		m.aggs[n] = a
		n.Label = foldLabel(n)
		return a
	}
	for _, r := range top.node.Children {
		if !r.IsLeaf() {
			total(r)
		}
	}
	roots := top.node.Children
	for _, r := range roots {
		r.Parent = nil
	}
	return roots
}

func (a *agg) shard(s int) {
	if s < 0 {
		return
	}
	if a.firstShard < 0 || s < a.firstShard {
		a.firstShard = s
	}
	if s > a.lastShard {
		a.lastShard = s
	}
}

// foldLabel names a node whose children are a run of numbers "layers [0–47] ×48".
func foldLabel(n *tree.Node) string {
	if len(n.Children) == 0 {
		return n.Key
	}
	lo, hi := -1, -1
	for _, c := range n.Children {
		v, err := strconv.Atoi(c.Key)
		if err != nil || v < 0 {
			return n.Key
		}
		if lo < 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == hi {
		return fmt.Sprintf("%s [%d] ×1", n.Key, lo)
	}
	return fmt.Sprintf("%s [%d–%d] ×%d", n.Key, lo, hi, len(n.Children))
}

const (
	colA = 7
	colB = 18
	colC = 10
)

func (m *Model) render(n *tree.Node, selected bool) (string, string) {
	st := m.ctx.Styles
	if n.IsLeaf() {
		ti := &m.ctx.Ck.Tensors[n.Data]
		right := common.Pad(string(ti.DType), colA) + " " + common.Pad(common.Shape(ti.Shape), colB) + " " + common.PadLeft(common.Bytes(ti.Size), colC)
		label := n.Label
		if !selected && m.ctx.Plan != nil && m.ctx.GroupOf(n.Data) == nil {
			label = st.Error.Render(label)
		}
		if selected {
			return label, right
		}
		return label, st.Muted.Render(right)
	}
	a := m.aggs[n]
	if a == nil {
		return n.Label, ""
	}
	right := common.PadLeft("×"+common.Count(int64(a.Tensors)), colA) + " " + common.Pad(common.Params(a.Params)+" params", colB) + " " + common.PadLeft(common.Bytes(a.Bytes), colC)
	if selected {
		return n.Label, right
	}
	return st.Value.Render(n.Label), st.Muted.Render(right)
}

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.tree.SetSize(w, max(h-2-detailLines, 1))
}

// Capturing reports whether the filter input has the keys.
func (m *Model) Capturing() bool { return m.tree.Capturing() }

// Activate shows the tensor selected elsewhere.
func (m *Model) Activate() tea.Cmd {
	if m.selGen != m.ctx.SelGen {
		m.selGen = m.ctx.SelGen
		if i := m.ctx.Selected; i >= 0 && i < len(m.leaves) {
			if n := m.tree.Selected(); n == nil || n.Data != i || !n.IsLeaf() {
				m.tree.Reveal(m.leaves[i])
			}
		}
	}
	return nil
}

// Update handles keys and app messages.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if !m.tree.Capturing() && key.Matches(k, m.ctx.Keys.Sort) {
		if m.tree.SortMode() == tree.SortSize {
			m.tree.SetSort(tree.SortName)
		} else {
			m.tree.SetSort(tree.SortSize)
		}
		return nil
	}
	if !m.tree.Update(k) {
		return nil
	}
	return m.syncSelection()
}

func (m *Model) syncSelection() tea.Cmd {
	n := m.tree.Selected()
	if n == nil || !n.IsLeaf() || n.Data == m.ctx.Selected {
		return nil
	}
	sel := m.ctx.Select(n.Data)
	m.selGen = m.ctx.SelGen
	return func() tea.Msg { return sel }
}

// View draws the view.
func (m *Model) View() string {
	st := m.ctx.Styles
	w := m.width
	s := m.ctx.Stats
	head := st.Title.Render("Weights") + st.Muted.Render(fmt.Sprintf("  %s · %s · by %s",
		common.Plural(s.Total.Tensors, "tensor"), common.Bytes(s.Total.Bytes), m.tree.SortMode()))
	cols := common.PadLeft("dtype/n", colA) + " " + common.Pad("shape/params", colB) + " " + common.PadLeft("bytes", colC)
	hw := w - common.Width(cols) - 1
	var header string
	if hw >= 20 {
		header = common.Pad(head, hw) + " " + st.Muted.Render(cols)
	} else {
		header = head
	}
	lines := []string{header}
	lines = append(lines, m.tree.ViewLines()...)
	lines = append(lines, st.Border.Render(strings.Repeat("─", max(w, 0))))
	lines = append(lines, m.detail()...)
	return common.Fit(lines, w, m.height)
}

func (m *Model) detail() []string {
	st := m.ctx.Styles
	n := m.tree.Selected()
	if n == nil {
		return []string{st.Muted.Render("no tensors")}
	}
	w := m.width
	lbl := func(s string) string { return st.Label.Render(s) }
	if !n.IsLeaf() {
		a := m.aggs[n]
		if a == nil {
			return []string{common.TruncateLeft(n.Path, w)}
		}
		dts := make([]string, len(a.dtypes))
		for i, d := range a.dtypes {
			dts[i] = string(d)
		}
		shards := ""
		if a.firstShard >= 0 {
			if a.firstShard == a.lastShard {
				shards = m.shardName(a.firstShard)
			} else {
				shards = fmt.Sprintf("shards %d–%d of %d", a.firstShard+1, a.lastShard+1, len(m.ctx.Ck.Shards))
			}
		}
		return []string{
			st.Value.Render(common.TruncateLeft(n.Path, w)),
			fmt.Sprintf("%s %s  %s %s  %s %s", lbl("tensors"), common.Count(int64(a.Tensors)), lbl("params"), common.Params(a.Params), lbl("bytes"), common.Bytes(a.Bytes)),
			fmt.Sprintf("%s %s  %s %s", lbl("dtypes"), strings.Join(dts, ", "), lbl("in"), shards),
		}
	}
	ti := &m.ctx.Ck.Tensors[n.Data]
	out := []string{
		st.Value.Render(common.TruncateLeft(ti.Name, w)),
		fmt.Sprintf("%s %s  %s %s  %s %s  %s %s", lbl("dtype"), ti.DType, lbl("shape"), common.Shape(ti.Shape), lbl("params"), common.Count(ti.NumEl()), lbl("bytes"), common.Count(ti.Size)),
		fmt.Sprintf("%s %s  %s [%s, %s)", lbl("shard"), m.shardName(ti.Shard), lbl("offsets"), common.Count(ti.Offset), common.Count(ti.Offset+ti.Size)),
	}
	if m.ctx.Plan == nil {
		return out
	}
	if g := m.ctx.GroupOf(n.Data); g != nil {
		files := map[int]bool{}
		for _, d := range g.Dests {
			files[d.Rank] = true
		}
		out = append(out, fmt.Sprintf("%s %s %s  %s  %s", st.Accent.Render("→"), g.Name, st.Muted.Render("("+string(g.Op)+", "+string(g.Split)+")"),
			common.Plural(len(files), "rank file"), st.Muted.Render("4 mapping · 5 placement")))
	} else {
		out = append(out, st.Error.Render("✗ no rule maps this tensor (or it is left out): see 4 Mapping"))
	}
	return out
}

func (m *Model) shardName(i int) string {
	if i < 0 || i >= len(m.ctx.Ck.Shards) {
		return "?"
	}
	return m.ctx.Ck.Shards[i].Name
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.tree.Capturing() {
		return []key.Binding{k.Submit, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter, k.Sort}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	return [][]key.Binding{k.Nav(), {k.Toggle, k.Expand, k.Collapse, k.Filter, k.Back, k.Sort}}
}
