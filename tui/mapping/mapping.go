// Package mapping is view 4: the Megatron side. A tree of the Megatron tensors the
// plan produces; for the selected one, the converter op, its HF inputs, the output
// name and shapes, the rule that matched, the QKV interleave or the gate/up layout,
// and every rank file it lands in. Tensors no rule covers, and incomplete groups,
// are listed first in the error colour.
package mapping

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/tree"
)

type itemKind int

const (
	kindGroup  itemKind = iota // idx into Plan.Groups
	kindTensor                 // idx into Plan.Tensors (left out of the plan)
	kindIssue                  // idx into Plan.Issues (a root)
	kindFolder
)

type item struct {
	kind itemKind
	idx  int
}

// Model is the mapping view.
type Model struct {
	ctx     *common.Context
	tree    *tree.Model
	items   []item
	byGroup map[int]*tree.Node
	byLeft  map[int]*tree.Node // tensor left out -> its node
	planGen int
	selGen  int

	width, height int
}

// New makes the mapping view; the tree is built on first use.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, planGen: -1, selGen: -1}
	m.tree = tree.New(nil, ctx.Styles, ctx.Keys)
	m.tree.Render = m.render
	m.tree.Noun = "tensor"
	m.tree.CountLeavesOnly = true
	return m
}

// Tree exposes the tree (tests drive it).
func (m *Model) Tree() *tree.Model { return m.tree }

func (m *Model) rebuild() {
	if m.planGen == m.ctx.PlanGen {
		return
	}
	m.planGen = m.ctx.PlanGen
	m.items = m.items[:0]
	m.byGroup = map[int]*tree.Node{}
	m.byLeft = map[int]*tree.Node{}
	p := m.ctx.Plan
	if p == nil {
		m.tree.SetRoots(nil)
		return
	}
	newItem := func(k itemKind, i int) int {
		m.items = append(m.items, item{k, i})
		return len(m.items) - 1
	}
	var roots []*tree.Node
	// Issues that name tensors come first.
	for ii, is := range p.Issues {
		if len(is.Tensors) == 0 {
			continue
		}
		r := &tree.Node{Key: is.Code, Path: "!" + is.Code + "#" + strconv.Itoa(ii), Data: newItem(kindIssue, ii),
			Label: fmt.Sprintf("%s (%d)", is.Code, len(is.Tensors)), Search: is.Code}
		r.Expanded = is.Severity == core.SevError && len(is.Tensors) <= 50
		for _, name := range is.Tensors {
			ti, ok := m.ctx.Ck.ByName[name]
			if !ok {
				ti = -1
			}
			c := &tree.Node{Key: name, Label: name, Path: r.Path + "." + name, Data: newItem(kindTensor, ti)}
			r.Add(c)
			if ti >= 0 && m.byLeft[ti] == nil {
				m.byLeft[ti] = c
			}
		}
		roots = append(roots, r)
	}
	// Then the Megatron tensors as a tree of their names.
	type inner struct {
		node *tree.Node
		kids map[string]*inner
	}
	top := &inner{node: &tree.Node{}, kids: map[string]*inner{}}
	for gi := range p.Groups {
		g := &p.Groups[gi]
		parts := strings.Split(g.Name, ".")
		cur := top
		for j, s := range parts[:len(parts)-1] {
			nx, ok := cur.kids[s]
			if !ok {
				nx = &inner{node: &tree.Node{Key: s, Label: s, Path: strings.Join(parts[:j+1], "."), Data: newItem(kindFolder, 0)}, kids: map[string]*inner{}}
				cur.node.Add(nx.node)
				cur.kids[s] = nx
			}
			cur = nx
		}
		leaf := &tree.Node{Key: parts[len(parts)-1], Label: parts[len(parts)-1], Path: g.Name, Data: newItem(kindGroup, gi),
			Search: g.Name + " " + strings.Join(g.HFNames, " ")}
		cur.node.Add(leaf)
		m.byGroup[gi] = leaf
	}
	var fold func(n *tree.Node) int
	fold = func(n *tree.Node) int {
		if n.IsLeaf() {
			return 1
		}
		count := 0
		lo, hi, numeric := -1, -1, true
		for _, c := range n.Children {
			count += fold(c)
			v, err := strconv.Atoi(c.Key)
			if err != nil {
				numeric = false
				continue
			}
			if lo < 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
		}
		if numeric && lo >= 0 {
			n.Label = fmt.Sprintf("%s [%d–%d] ×%d", n.Key, lo, hi, len(n.Children))
		}
		n.Size = int64(count)
		return count
	}
	// Model order: what the language model is, then the family's other modules in the
	// order its template lists them.
	rootRank := map[string]int{"embedding": 0, "decoder": 1, "output_layer": 2}
	if t, err := core.LookupTemplate(p.Template); err == nil {
		for _, x := range t.Extras {
			root, _, _ := strings.Cut(x.Prefix, ".")
			if _, ok := rootRank[root]; !ok {
				rootRank[root] = len(rootRank)
			}
		}
	}
	sort.SliceStable(top.node.Children, func(i, j int) bool {
		ri, ok := rootRank[top.node.Children[i].Key]
		if !ok {
			ri = len(rootRank)
		}
		rj, ok := rootRank[top.node.Children[j].Key]
		if !ok {
			rj = len(rootRank)
		}
		return ri < rj
	})
	for _, c := range top.node.Children {
		fold(c)
		c.Parent = nil
		if len(top.node.Children) <= 6 {
			c.Expanded = true
		}
		roots = append(roots, c)
	}
	// Natural order for the Megatron side, keeping the issue roots first.
	var sortKids func(ns []*tree.Node)
	sortKids = func(ns []*tree.Node) {
		sort.SliceStable(ns, func(i, j int) bool { return tree.NaturalLess(ns[i].Key, ns[j].Key) })
		for _, n := range ns {
			sortKids(n.Children)
		}
	}
	for _, r := range roots {
		if m.items[r.Data].kind != kindIssue {
			sortKids(r.Children)
		}
	}
	m.tree.SetRoots(roots)
}

func (m *Model) render(n *tree.Node, selected bool) (string, string) {
	st := m.ctx.Styles
	it := m.items[n.Data]
	p := m.ctx.Plan
	switch it.kind {
	case kindIssue:
		is := p.Issues[it.idx]
		if selected {
			return n.Label, string(is.Severity)
		}
		if is.Severity == core.SevError {
			return st.Error.Render("✗ " + n.Label), st.Error.Render("error")
		}
		return st.Warning.Render("! " + n.Label), st.Warning.Render("left out")
	case kindTensor:
		if selected {
			return n.Label, ""
		}
		par := m.items[n.Parent.Data]
		if p.Issues[par.idx].Severity == core.SevError {
			return st.Error.Render(n.Label), ""
		}
		return st.Warning.Render(n.Label), ""
	case kindGroup:
		g := &p.Groups[it.idx]
		right := common.Pad(string(g.Op), 8) + " " + common.Pad(common.Shape(g.Shape), 16)
		if selected {
			return n.Label, right
		}
		return n.Label, st.Muted.Render(right)
	}
	right := "×" + common.Count(n.Size)
	if selected {
		return n.Label, right
	}
	return st.Value.Render(n.Label), st.Muted.Render(right)
}

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	lw, lh := m.listSize()
	m.tree.SetSize(lw, lh)
}

// listSize: side by side from 110 columns, else the list above the detail.
func (m *Model) listSize() (int, int) {
	if m.width >= common.FullNamesWidth {
		// Wide: the details get the room, so rank-local names fit whole.
		return max(42, m.width*35/100), max(m.height-1, 1)
	}
	if m.width >= 110 {
		return m.width * 45 / 100, max(m.height-1, 1)
	}
	return m.width, max(m.height/3, 4)
}

// Capturing reports whether the filter input has the keys.
func (m *Model) Capturing() bool { return m.tree.Capturing() }

// Activate builds the tree for the current plan and shows the selected tensor.
func (m *Model) Activate() tea.Cmd {
	m.rebuild()
	if m.selGen != m.ctx.SelGen {
		m.selGen = m.ctx.SelGen
		m.reveal(m.ctx.Selected)
	}
	return nil
}

func (m *Model) reveal(ti int) {
	if ti < 0 || m.ctx.Plan == nil {
		return
	}
	if g := m.ctx.Plan.TensorGroup; ti < len(g) && g[ti] >= 0 {
		if n := m.byGroup[g[ti]]; n != nil {
			m.tree.Reveal(n)
			return
		}
	}
	if n := m.byLeft[ti]; n != nil {
		m.tree.Reveal(n)
	}
}

// Update handles keys and plan changes.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	if p, ok := msg.(tea.PasteMsg); ok {
		m.tree.Paste(p)
		return nil
	}
	m.rebuild()
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if !m.tree.Update(msg) {
			return nil
		}
	case common.ClickMsg:
		// The list is below the title line, beside or above the details.
		if lw, _ := m.listSize(); (m.width >= 110 && msg.X >= lw) || !m.tree.Click(msg.Y-1) {
			return nil
		}
	default:
		return nil
	}
	// Share the selection.
	n := m.tree.Selected()
	if n == nil {
		return nil
	}
	ti := -1
	switch it := m.items[n.Data]; it.kind {
	case kindGroup:
		if g := &m.ctx.Plan.Groups[it.idx]; len(g.Inputs) > 0 {
			ti = g.Inputs[0]
		}
	case kindTensor:
		ti = it.idx
	}
	if ti < 0 || ti == m.ctx.Selected {
		return nil
	}
	sel := m.ctx.Select(ti)
	m.selGen = m.ctx.SelGen
	return func() tea.Msg { return sel }
}

// View draws the list and the detail.
func (m *Model) View() string {
	m.rebuild()
	st := m.ctx.Styles
	w, h := m.width, m.height
	p := m.ctx.Plan
	if p == nil {
		msg := "no plan"
		if m.ctx.PlanErr != nil {
			msg = m.ctx.PlanErr.Error()
		}
		return common.Fit(append([]string{st.Title.Render("Mapping")}, common.WrapStyled(st.Error, "✗ "+msg, w, "  ")...), w, h)
	}
	left := 0
	for _, g := range p.TensorGroup {
		if g < 0 {
			left++
		}
	}
	head := st.Title.Render("Mapping") + st.Muted.Render(fmt.Sprintf("  %s → %s", common.Plural(len(p.Tensors), "HF tensor"), common.Plural(len(p.Groups), "Megatron tensor")))
	if m.ctx.IsMCA() {
		head = st.Title.Render("Mapping") + st.Muted.Render(fmt.Sprintf("  back: %s → %s", common.Plural(len(p.Groups), "Megatron tensor"), common.Plural(len(p.Tensors), "HF tensor")))
	}
	if left > 0 {
		head += st.Error.Render(fmt.Sprintf(" · %d left out", left))
	}
	lw, _ := m.listSize()
	if w >= 110 && common.Width(head) > lw {
		// Beside the details: the short form, so the counts stay whole.
		head = st.Title.Render("Mapping") + st.Muted.Render(fmt.Sprintf("  %d HF → %s", len(p.Tensors), common.Plural(len(p.Groups), "Megatron tensor")))
		if m.ctx.IsMCA() {
			head = st.Title.Render("Mapping") + st.Muted.Render(fmt.Sprintf("  back: %d Megatron → %s", len(p.Groups), common.Plural(len(p.Tensors), "HF tensor")))
		}
		if left > 0 {
			head += st.Error.Render(fmt.Sprintf(" · %d left out", left))
		}
	}
	if w >= 110 {
		list := append([]string{head}, m.tree.ViewLines()...)
		dw := w - lw - 3
		return common.Fit(common.SideBySide(list, lw, st.Border.Render(" │ "), m.detail(dw), h), w, h)
	}
	lines := append([]string{head}, m.tree.ViewLines()...)
	lines = append(lines, st.Border.Render(strings.Repeat("─", w)))
	lines = append(lines, m.detail(w)...)
	return common.Fit(lines, w, h)
}

func (m *Model) detail(w int) []string {
	st := m.ctx.Styles
	p := m.ctx.Plan
	n := m.tree.Selected()
	if n == nil {
		return []string{st.Muted.Render("nothing selected")}
	}
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 11)) }
	switch it := m.items[n.Data]; it.kind {
	case kindIssue:
		return common.IssueLines(st, p.Issues[it.idx], w)
	case kindTensor:
		var out []string
		if it.idx >= 0 {
			ti := &p.Tensors[it.idx]
			out = append(out, lbl("HF")+common.TruncateLeft(ti.Name, w-11), lbl("")+fmt.Sprintf("%s %s", ti.DType, common.Shape(ti.Shape)))
		}
		par := m.items[n.Parent.Data]
		out = append(out, common.IssueLines(st, p.Issues[par.idx], w)...)
		return out
	case kindFolder:
		return []string{st.Value.Render(common.TruncateLeft(n.Path, w)), st.Muted.Render(common.Plural(int(n.Size), "Megatron tensor") + " below; select one to see its mapping")}
	}
	g := &p.Groups[m.items[n.Data].idx]
	out := []string{
		lbl("op") + st.Accent.Render(string(g.Op)) + "  " + st.Label.Render("rule ") + g.Rule,
	}
	for i, name := range g.HFNames {
		l := lbl("")
		if i == 0 && m.ctx.IsMCA() {
			l = lbl("HF out")
		} else if i == 0 {
			l = lbl("HF in")
		}
		shape := ""
		if i < len(g.Inputs) && g.Inputs[i] < len(p.Tensors) {
			ti := &p.Tensors[g.Inputs[i]]
			shape = fmt.Sprintf("  %s %s", ti.DType, common.Shape(ti.Shape))
		}
		out = append(out, m.nameLines(l, name, shape, w)...)
	}
	if len(g.HFNames) > 0 {
		if c := m.ctx.Classify(g.HFNames[0]); c != "" {
			out = append(out, lbl("part of")+st.Muted.Render(core.ComponentTitle(p.ModelType, c)))
		}
	}
	out = append(out, m.nameLines(lbl("Megatron"), g.Name, "", w)...)
	split := ""
	if g.Split != "" {
		split = " · split " + string(g.Split)
	}
	out = append(out, lbl("")+st.Muted.Render(fmt.Sprintf("%s %s%s", g.DType, common.Shape(g.Shape), split)))
	out = append(out, m.opDrawing(g, w)...)
	out = append(out, m.dests(g, w)...)
	return out
}

// opDrawing draws the op kind's own explanation (core.ExplainOp): e.g. the per-group QKV
// interleave, or the per-rank [gate_r; up_r] layout.
func (m *Model) opDrawing(g *core.Group, w int) []string {
	st := m.ctx.Styles
	p := m.ctx.Plan
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 11)) }
	var out []string
	for _, l := range core.ExplainOp(g, p.Dims, max(p.Settings.TP, 1), w) {
		var b strings.Builder
		b.WriteString(lbl(l.Label))
		for _, part := range l.Parts {
			if part.Muted {
				b.WriteString(st.Muted.Render(part.Text))
			} else {
				b.WriteString(part.Text)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// nameLines draws a labelled tensor name and its muted suffix in w cells: whole
// (wrapped after dots) from common.FullNamesWidth on, else cut in the middle
// keeping its numbers.
func (m *Model) nameLines(label, name, suffix string, w int) []string {
	st := m.ctx.Styles
	const lw = 11
	if common.Width(name)+common.Width(suffix) <= w-lw || m.width < common.FullNamesWidth {
		return []string{label + common.MidCut(name, max(w-lw-common.Width(suffix), 10)) + st.Muted.Render(suffix)}
	}
	var out []string
	for i, l := range common.WrapName(name, w-lw) {
		if i == 0 {
			out = append(out, label+l)
		} else {
			out = append(out, common.Pad("", lw)+l)
		}
	}
	if suffix != "" {
		last := out[len(out)-1]
		if common.Width(last)+common.Width(suffix) <= w {
			out[len(out)-1] = last + st.Muted.Render(suffix)
		} else {
			out = append(out, common.Pad("", lw)+st.Muted.Render(strings.TrimLeft(suffix, " ")))
		}
	}
	return out
}

func (m *Model) dests(g *core.Group, w int) []string {
	st := m.ctx.Styles
	p := m.ctx.Plan
	out := []string{st.Label.Render(fmt.Sprintf("lands in %s:", common.Plural(len(g.Dests), "place")))}
	if m.ctx.IsMCA() {
		out[0] = st.Label.Render(fmt.Sprintf("read from %s:", common.Plural(len(g.Dests), "place")))
	}
	const maxShown = 12
	full := m.width >= common.FullNamesWidth
	for i, d := range g.Dests {
		if i == maxShown {
			out = append(out, st.Muted.Render(fmt.Sprintf("  … %d more", len(g.Dests)-maxShown)))
			break
		}
		for _, l := range common.DestLines(p, d, w-2, full) {
			out = append(out, "  "+l)
		}
	}
	if lg := common.RankLegend(p); lg != "" {
		out = append(out, common.WrapStyled(st.Muted, "  "+lg, w, "    ")...)
	}
	return out
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.tree.Capturing() {
		return []key.Binding{k.Submit, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	return [][]key.Binding{k.Nav(), {k.Toggle, k.Expand, k.Collapse, k.Filter, k.Back}}
}
