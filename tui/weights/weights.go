// Package weights is view 3: the checkpoint's tensors as a tree of dotted paths,
// with numbered sibling runs folded ("layers [0–47] ×48") and per-node totals.
package weights

import (
	"fmt"
	"github.com/omnitui/omnitui/loader/safetext"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

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

// Model is the weights view. It shows one tensor list at a time: the
// checkpoint's tensors, or, for a Megatron checkpoint, the Hugging Face tensors
// it maps back to (merged) or the tensors of one rank file.
type Model struct {
	ctx    *common.Context
	pages  []*page // [0] the checkpoint's (or merged HF) tensors; then one per rank file
	cur    int
	width  int
	height int
	selGen int
}

// page is one tensor list with its tree.
type page struct {
	rank    int // -1 for the checkpoint's tensors, else index into ctx.MCA.Ck.Ranks
	tensors []loader.TensorInfo
	entries []common.RankEntry // rank pages: per tensor, where it is in the rank file
	total   common.Tally
	tree    *tree.Model
	leaves  []*tree.Node // per tensor index
	aggs    map[*tree.Node]*agg
}

const detailLines = 4

// detailHeight is the height of the detail below the list: four lines, and in
// taller terminals up to eight more, for the rank files a weight lands in.
func (m *Model) detailHeight() int {
	return detailLines + min(max((m.height-22)/2, 0), 8)
}

// New builds the tensor tree once (rank-file trees are built when first shown).
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx}
	var ts []loader.TensorInfo
	if ctx.Ck != nil {
		ts = ctx.Ck.Tensors
	}
	m.pages = []*page{m.newPage(-1, ts, nil)}
	if x := ctx.MCA; x != nil {
		for i := range x.Ck.Ranks {
			m.pages = append(m.pages, &page{rank: i})
		}
	}
	return m
}

func (m *Model) newPage(rank int, ts []loader.TensorInfo, es []common.RankEntry) *page {
	ctx := m.ctx
	p := &page{rank: rank, tensors: ts, entries: es, aggs: map[*tree.Node]*agg{}}
	for i := range ts {
		p.total.Add(&ts[i])
	}
	roots := p.build()
	for _, r := range roots {
		r.Expanded = len(roots) < 4
	}
	p.tree = tree.New(roots, ctx.Styles, ctx.Keys)
	p.tree.CountLeavesOnly = true
	p.tree.Noun = "tensor"
	p.tree.Render = func(n *tree.Node, selected bool) (string, string) { return m.render(p, n, selected) }
	p.tree.SetSort(tree.SortName)
	p.tree.SetCursor(0)
	return p
}

// page returns the page shown, building a rank file's tree on first use.
func (m *Model) page() *page {
	p := m.pages[m.cur]
	if p.tree == nil {
		ts, es := m.ctx.MCA.RankTensors(p.rank)
		np := m.newPage(p.rank, ts, es)
		m.pages[m.cur] = np
		np.tree.SetSize(m.treeSize())
		p = np
	}
	return p
}

// Tree exposes the tree shown (tests drive it).
func (m *Model) Tree() *tree.Model { return m.page().tree }

// Page is the tensor list shown: 0 for the checkpoint's tensors (merged HF for
// a Megatron checkpoint), i > 0 for rank file i-1.
func (m *Model) Page() int { return m.cur }

// SetPage shows tensor list i (see Page).
func (m *Model) SetPage(i int) {
	if i < 0 || i >= len(m.pages) {
		return
	}
	m.cur = i
	m.page()
	m.revealSelected()
}

func (p *page) build() []*tree.Node {
	if len(p.tensors) == 0 {
		return nil
	}
	type inner struct {
		node *tree.Node
		kids map[string]*inner
	}
	top := &inner{node: &tree.Node{}, kids: map[string]*inner{}}
	p.leaves = make([]*tree.Node, len(p.tensors))
	for i := range p.tensors {
		ti := &p.tensors[i]
		parts := strings.Split(ti.Name, ".")
		cur := top
		for j, p := range parts[:len(parts)-1] {
			nx, ok := cur.kids[p]
			if !ok {
				path := strings.Join(parts[:j+1], ".")
				nx = &inner{node: &tree.Node{Label: safetext.Escape(p), Key: p, Path: path, Data: -1}, kids: map[string]*inner{}}
				cur.node.Add(nx.node)
				cur.kids[p] = nx
			}
			cur = nx
		}
		last := parts[len(parts)-1]
		leaf := &tree.Node{Label: safetext.Escape(last), Key: last, Path: ti.Name, Data: i, Size: ti.Size}
		cur.node.Add(leaf)
		p.leaves[i] = leaf
	}
	var total func(n *tree.Node) *agg
	total = func(n *tree.Node) *agg {
		a := &agg{firstShard: -1, lastShard: -1}
		seen := map[loader.DType]bool{}
		for _, c := range n.Children {
			if c.IsLeaf() {
				ti := &p.tensors[c.Data]
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
		p.aggs[n] = a
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
		return safetext.Escape(n.Key)
	}
	lo, hi := -1, -1
	for _, c := range n.Children {
		v, err := strconv.Atoi(c.Key)
		if err != nil || v < 0 {
			return safetext.Escape(n.Key)
		}
		if lo < 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == hi {
		return fmt.Sprintf("%s [%d] ×1", safetext.Escape(n.Key), lo)
	}
	return fmt.Sprintf("%s [%d–%d] ×%d", safetext.Escape(n.Key), lo, hi, len(n.Children))
}

const (
	colA = 7
	colB = 18
	colC = 10
)

func (m *Model) render(p *page, n *tree.Node, selected bool) (string, string) {
	st := m.ctx.Styles
	if n.IsLeaf() {
		ti := &p.tensors[n.Data]
		right := common.Pad(string(ti.DType), colA) + " " + common.Pad(common.Shape(ti.Shape), colB) + " " + common.PadLeft(common.Bytes(ti.Size), colC)
		label := n.Label
		if !selected && m.ctx.Plan != nil && !m.mapped(p, n.Data) {
			label = st.Error.Render(label)
		}
		if selected {
			return label, right
		}
		return label, st.Muted.Render(right)
	}
	a := p.aggs[n]
	if a == nil {
		return n.Label, ""
	}
	right := common.PadLeft("×"+common.Count(int64(a.Tensors)), colA) + " " + common.Pad(common.Params(a.Params)+" params", colB) + " " + common.PadLeft(common.Bytes(a.Bytes), colC)
	if selected {
		return n.Label, right
	}
	return st.Value.Render(n.Label), st.Muted.Render(right)
}

// mapped reports whether tensor i of page p is part of the plan.
func (m *Model) mapped(p *page, i int) bool {
	if p.rank < 0 {
		return m.ctx.GroupOf(i) != nil
	}
	e := p.entries[i]
	return len(m.ctx.MCA.Entry(p.rank, e.VP, e.Name)) > 0
}

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	for _, p := range m.pages {
		if p.tree != nil {
			p.tree.SetSize(m.treeSize())
		}
	}
}

func (m *Model) treeSize() (int, int) {
	h := m.height - 2 - m.detailHeight()
	if m.ctx.IsMCA() {
		h-- // the source line
	}
	return m.width, max(h, 1)
}

// Capturing reports whether the filter input has the keys.
func (m *Model) Capturing() bool { return m.page().tree.Capturing() }

// Activate shows the tensor selected elsewhere.
func (m *Model) Activate() tea.Cmd {
	if m.selGen != m.ctx.SelGen {
		m.selGen = m.ctx.SelGen
		m.revealSelected()
	}
	return nil
}

// revealSelected puts the cursor on the selected tensor: on the merged page the
// tensor itself, on a rank page the slice of it this rank file holds.
func (m *Model) revealSelected() {
	p := m.page()
	i := m.ctx.Selected
	if i < 0 {
		return
	}
	if p.rank < 0 {
		if i < len(p.leaves) {
			if n := p.tree.Selected(); n == nil || n.Data != i || !n.IsLeaf() {
				p.tree.Reveal(p.leaves[i])
			}
		}
		return
	}
	g := m.ctx.GroupOf(i)
	x := m.ctx.MCA
	if g == nil || x == nil {
		return
	}
	if n := p.tree.Selected(); n != nil && n.IsLeaf() {
		for _, r := range x.Entry(p.rank, p.entries[n.Data].VP, p.entries[n.Data].Name) {
			if &m.ctx.Plan.Groups[r.Group] == g {
				return // already on it
			}
		}
	}
	fwd := x.Ranks[p.rank].Fwd
	multi := len(x.Ck.Ranks[p.rank].Chunks) > 1
	for _, d := range g.Dests {
		if d.Rank != fwd {
			continue
		}
		name := d.Name
		if multi {
			name = m.ctx.Plan.Ranks[d.Rank].Chunks[d.Chunk].Key + "." + name
		}
		if n := p.tree.Find(name); n != nil {
			p.tree.Reveal(n)
			return
		}
	}
}

// Update handles keys and app messages.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.PasteMsg:
		m.page().tree.Paste(msg)
		return nil
	case common.ClickMsg:
		return m.click(msg)
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	t := m.page().tree
	km := m.ctx.Keys
	if !t.Capturing() && key.Matches(k, km.Sort) {
		if t.SortMode() == tree.SortSize {
			t.SetSort(tree.SortName)
		} else {
			t.SetSort(tree.SortSize)
		}
		return nil
	}
	if len(m.pages) > 1 && !t.Capturing() {
		switch {
		case key.Matches(k, km.NextRank):
			m.SetPage((m.cur + 1) % len(m.pages))
			return nil
		case key.Matches(k, km.PrevRank):
			m.SetPage((m.cur + len(m.pages) - 1) % len(m.pages))
			return nil
		}
	}
	if !t.Update(k) {
		return nil
	}
	return m.syncSelection()
}

// click selects the row clicked in the tensor list (below the title line, and
// the source line of a Megatron checkpoint).
func (m *Model) click(c common.ClickMsg) tea.Cmd {
	top := 1
	if m.ctx.IsMCA() {
		top = 2
	}
	if !m.page().tree.Click(c.Y - top) {
		return nil
	}
	return m.syncSelection()
}

func (m *Model) syncSelection() tea.Cmd {
	p := m.page()
	n := p.tree.Selected()
	if n == nil || !n.IsLeaf() {
		return nil
	}
	i := n.Data
	if p.rank >= 0 {
		i = -1
		e := p.entries[n.Data]
		if refs := m.ctx.MCA.Entry(p.rank, e.VP, e.Name); len(refs) > 0 {
			if g := &m.ctx.Plan.Groups[refs[0].Group]; len(g.Inputs) > 0 {
				i = g.Inputs[0]
			}
		}
	}
	if i < 0 || i == m.ctx.Selected {
		return nil
	}
	sel := m.ctx.Select(i)
	m.selGen = m.ctx.SelGen
	return func() tea.Msg { return sel }
}

// View draws the view.
func (m *Model) View() string {
	st := m.ctx.Styles
	w := m.width
	p := m.page()
	head := st.Title.Render("Weights") + st.Muted.Render(fmt.Sprintf("  %s · %s · by %s",
		common.Plural(p.total.Tensors, "tensor"), common.Bytes(p.total.Bytes), p.tree.SortMode()))
	cols := common.PadLeft("dtype/n", colA) + " " + common.Pad("shape/params", colB) + " " + common.PadLeft("bytes", colC)
	hw := w - common.Width(cols) - 1
	var header string
	if hw >= 20 {
		header = common.Pad(head, hw) + " " + st.Muted.Render(cols)
	} else {
		header = head
	}
	lines := []string{header}
	if m.ctx.IsMCA() {
		lines = append(lines, m.sourceLine())
	}
	lines = append(lines, p.tree.ViewLines()...)
	lines = append(lines, st.Border.Render(strings.Repeat("─", max(w, 0))))
	lines = append(lines, m.detail()...)
	return common.Fit(lines, w, m.height)
}

// sourceLine names the tensor list shown and how to pick another.
func (m *Model) sourceLine() string {
	st := m.ctx.Styles
	x := m.ctx.MCA
	p := m.page()
	name := "merged as Hugging Face"
	where := fmt.Sprintf("the %s mapped back", common.Plural(len(x.Ck.Ranks), "rank file"))
	if p.rank >= 0 {
		name = x.Ranks[p.rank].Label
		keys := make([]string, 0, len(x.Ck.Ranks[p.rank].Chunks))
		for _, c := range x.Ck.Ranks[p.rank].Chunks {
			keys = append(keys, c.Key)
		}
		where = fmt.Sprintf("rank file %d of %d · %s", p.rank+1, len(x.Ck.Ranks), strings.Join(keys, ", "))
	}
	k := m.ctx.Keys
	return st.Label.Render("source ") + st.Accent.Render("‹ ") + st.Value.Render(name) + st.Accent.Render(" ›") +
		st.Muted.Render("  "+where+" · "+k.NextRank.Help().Key+"/"+k.PrevRank.Help().Key+" pick")
}

func (m *Model) detail() []string {
	st := m.ctx.Styles
	p := m.page()
	n := p.tree.Selected()
	if n == nil {
		return []string{st.Muted.Render("no tensors")}
	}
	w := m.width
	lbl := func(s string) string { return st.Label.Render(s) }
	if !n.IsLeaf() {
		a := p.aggs[n]
		if a == nil {
			return []string{common.TruncateLeft(safetext.Escape(n.Path), w)}
		}
		dts := make([]string, len(a.dtypes))
		for i, d := range a.dtypes {
			dts[i] = string(d)
		}
		where := ""
		switch {
		case p.rank >= 0:
			where = "  " + lbl("in") + " " + m.ctx.MCA.Ck.Ranks[p.rank].Path
		case a.firstShard >= 0 && a.firstShard == a.lastShard:
			where = "  " + lbl("in") + " " + m.shardName(a.firstShard)
		case a.firstShard >= 0:
			where = "  " + lbl("in") + " " + fmt.Sprintf("shards %d–%d of %d", a.firstShard+1, a.lastShard+1, len(m.ctx.Ck.Shards))
		case !m.ctx.IsMCA():
			where = "  " + lbl("in") + " "
		}
		return []string{
			st.Value.Render(common.TruncateLeft(safetext.Escape(n.Path), w)),
			fmt.Sprintf("%s %s  %s %s  %s %s", lbl("tensors"), common.Count(int64(a.Tensors)), lbl("params"), common.Params(a.Params), lbl("bytes"), common.Bytes(a.Bytes)),
			fmt.Sprintf("%s %s%s", lbl("dtypes"), strings.Join(dts, ", "), where),
		}
	}
	ti := &p.tensors[n.Data]
	out := []string{
		st.Value.Render(common.TruncateLeft(safetext.Escape(ti.Name), w)),
		fmt.Sprintf("%s %s  %s %s  %s %s  %s %s", lbl("dtype"), ti.DType, lbl("shape"), common.Shape(ti.Shape), lbl("params"), common.Count(ti.NumEl()), lbl("bytes"), common.Count(ti.Size)),
	}
	if p.rank >= 0 {
		out[1] += fmt.Sprintf("  %s data/%s", lbl("record"), p.entries[n.Data].Storage)
		return append(out, m.rankDetail(p, n.Data)...)
	}
	if !m.ctx.IsMCA() {
		out = append(out, fmt.Sprintf("%s %s  %s [%s, %s)", lbl("shard"), m.shardName(ti.Shard), lbl("offsets"), common.Count(ti.Offset), common.Count(ti.Offset+ti.Size)))
	}
	if m.ctx.Plan == nil {
		return out
	}
	g := m.ctx.GroupOf(n.Data)
	if g == nil {
		return append(out, st.Error.Render("✗ no rule maps this tensor (or it is left out): see 4 Mapping"))
	}
	if m.ctx.IsMCA() {
		src := m.ctx.MCA.SourcesOf(m.ctx.Plan, g)
		out = append(out, fmt.Sprintf("%s %s  %s", lbl("from"), common.Plural(len(src), "rank file"), st.Muted.Render(strings.Join(src, ", "))))
		return append(out, fmt.Sprintf("%s %s %s  %s", st.Accent.Render("←"), g.Name, st.Muted.Render(common.OpSplit(g)),
			st.Muted.Render("4 mapping · 5 placement")))
	}
	files := map[int]bool{}
	for _, d := range g.Dests {
		files[d.Rank] = true
	}
	out = append(out, fmt.Sprintf("%s %s %s  %s  %s", st.Accent.Render("→"), common.MidCut(g.Name, max(w-40, 20)), st.Muted.Render(common.OpSplit(g)),
		common.Plural(len(files), "rank file"), st.Muted.Render("4 mapping · 5 placement")))
	// The rank files and rank-local names, as far as the detail has room.
	room := m.detailHeight() - len(out)
	full := m.width >= common.FullNamesWidth
	var lines []string
	for _, d := range g.Dests {
		for _, l := range common.DestLines(m.ctx.Plan, d, w-2, full) {
			lines = append(lines, "  "+l)
		}
	}
	if len(lines) > room && room > 0 {
		lines = append(lines[:room-1], st.Muted.Render(fmt.Sprintf("  … %s in all: 4 Mapping lists them", common.Plural(len(g.Dests), "place"))))
	}
	if room > 0 {
		out = append(out, lines...)
	}
	return out
}

// rankDetail says where a rank-file tensor is and what it becomes in Hugging Face terms.
func (m *Model) rankDetail(p *page, i int) []string {
	st := m.ctx.Styles
	x := m.ctx.MCA
	e := p.entries[i]
	lbl := func(s string) string { return st.Label.Render(s) }
	refs := x.Entry(p.rank, e.VP, e.Name)
	if len(refs) == 0 {
		return []string{st.Error.Render("✗ the mapping back to Hugging Face does not use this tensor: see 1 Overview")}
	}
	plan := m.ctx.Plan
	g := &plan.Groups[refs[0].Group]
	d := g.Dests[refs[0].Dest]
	part := "whole"
	if d.TPSize > 1 {
		part = fmt.Sprintf("slice %d/%d", d.TPRank, d.TPSize)
	}
	of := g.Name
	if len(refs) > 1 {
		part = fmt.Sprintf("%d experts stacked (legacy grouped GEMM); the first:", len(refs))
		if d.TPSize > 1 {
			part = fmt.Sprintf("%d experts stacked (legacy grouped GEMM), TP slice %d/%d; the first:", len(refs), d.TPRank, d.TPSize)
		}
	} else {
		part += " of"
	}
	hf := g.HFNames[0]
	if more := len(g.HFNames) - 1; more > 0 {
		hf += fmt.Sprintf(" +%d", more)
	}
	return []string{
		fmt.Sprintf("%s %s %s %s", lbl("is"), part, of, st.Muted.Render(common.OpSplit(g))),
		fmt.Sprintf("%s %s  %s", st.Accent.Render("→"), hf, st.Muted.Render("4 mapping · 5 placement")),
	}
}

func (m *Model) shardName(i int) string {
	if i < 0 || i >= len(m.ctx.Ck.Shards) {
		return "?"
	}
	return safetext.Escape(m.ctx.Ck.Shards[i].Name)
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.Capturing() {
		return []key.Binding{k.Submit, k.Cancel}
	}
	if len(m.pages) > 1 {
		return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter, k.NextRank, k.Sort}
	}
	return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter, k.Sort}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	if len(m.pages) > 1 {
		return [][]key.Binding{k.Nav(), {k.Toggle, k.Expand, k.Collapse, k.Filter, k.Back, k.Sort, k.NextRank, k.PrevRank}}
	}
	return [][]key.Binding{k.Nav(), {k.Toggle, k.Expand, k.Collapse, k.Filter, k.Back, k.Sort}}
}
