// Package configview is view 2: config.json as a collapsible tree in file order,
// values as written, with the keys the template maps marked with their Megatron
// name, and the whole mca_config.json in a side panel.
package configview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/omnitui/omnitui/loader/safetext"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
	"github.com/omnitui/omnitui/tui/tree"
)

// Model is the config view.
type Model struct {
	ctx   *common.Context
	tree  *tree.Model
	nodes []*loader.JSONNode // per tree.Node.Data

	planGen  int
	byHF     map[string]*core.ConfigMapping
	mcaIndex map[string]int // mca key -> index in Plan.MCAConfig
	mapped   map[string]bool

	panelFocus bool
	panel      common.Scroller
	panelSel   int // highlighted MCAConfig row, -1 none; the cursor while the panel has focus

	full *fullValue // a value opened in full (enter), nil when none

	width, height int
}

// New builds the config tree.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, panelSel: -1, planGen: -1}
	var roots []*tree.Node
	if ctx.Ck != nil && ctx.Ck.Config != nil {
		roots = m.build(ctx.Ck.Config, "", 0)
	}
	for _, r := range roots {
		// Open the sub-configs one level so the structure shows at once.
		r.Expanded = !r.IsLeaf() && strings.HasSuffix(r.Key, "_config")
	}
	m.tree = tree.New(roots, ctx.Styles, ctx.Keys)
	m.tree.Noun = "key"
	m.tree.LabelFirst = true
	m.tree.Render = m.render
	m.refreshPlan()
	return m
}

// Tree exposes the tree (tests drive it).
func (m *Model) Tree() *tree.Model { return m.tree }

func (m *Model) build(n *loader.JSONNode, prefix string, depth int) []*tree.Node {
	return buildJSON(n, prefix, &m.nodes)
}

// buildJSON makes the tree of a JSON object or array in file order; every tree
// node's Data indexes the JSON node appended to nodes.
func buildJSON(n *loader.JSONNode, prefix string, nodes *[]*loader.JSONNode) []*tree.Node {
	var out []*tree.Node
	for i, c := range n.Children {
		k := c.Key
		if n.Kind == loader.JSONArray {
			k = strconv.Itoa(i)
		}
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		tn := &tree.Node{Key: k, Path: p, Data: len(*nodes)}
		*nodes = append(*nodes, c)
		tn.Search = p + " " + c.Raw
		if (c.Kind == loader.JSONObject || c.Kind == loader.JSONArray) && !compactable(c) {
			tn.Container = true
			tn.Children = buildJSON(c, p, nodes)
		}
		out = append(out, tn)
	}
	return out
}

// compactable: an array of a few scalars shows on one line.
func compactable(n *loader.JSONNode) bool {
	if n.Kind != loader.JSONArray || len(n.Children) > 16 {
		return false
	}
	for _, c := range n.Children {
		if c.Kind == loader.JSONArray || c.Kind == loader.JSONObject {
			return false
		}
	}
	return true
}

func valueText(n *loader.JSONNode) string {
	switch n.Kind {
	case loader.JSONObject:
		return fmt.Sprintf("{%d}", len(n.Children))
	case loader.JSONArray:
		if compactable(n) {
			parts := make([]string, len(n.Children))
			for i, c := range n.Children {
				parts[i] = c.Raw
			}
			return "[" + strings.Join(parts, ", ") + "]"
		}
		return fmt.Sprintf("[%d]", len(n.Children))
	}
	return n.Raw
}

func (m *Model) refreshPlan() {
	if m.planGen == m.ctx.PlanGen {
		return
	}
	m.planGen = m.ctx.PlanGen
	m.byHF = map[string]*core.ConfigMapping{}
	m.mcaIndex = map[string]int{}
	m.mapped = map[string]bool{}
	p := m.ctx.Plan
	if p == nil {
		return
	}
	for i := range p.Config {
		c := &p.Config[i]
		m.byHF[c.HFKey] = c
		if !c.Missing {
			m.mapped[c.MCAKey] = true
		}
	}
	for i, kv := range p.MCAConfig {
		m.mcaIndex[kv.Key] = i
	}
	m.syncPanel()
}

func (m *Model) render(n *tree.Node, selected bool) (string, string) {
	st := m.ctx.Styles
	jn := m.nodes[n.Data]
	val := safetext.Escape(valueText(jn))
	label := safetext.Escape(n.Key) + ": " + val
	if n.Container {
		label = safetext.Escape(n.Key) + " " + val
	}
	mp := m.byHF[n.Path]
	right := ""
	if mp != nil {
		right = "→ " + mp.MCAKey
	}
	if selected {
		return label, right
	}
	keyStyle := st.Value
	if mp != nil {
		keyStyle = st.Mark
	}
	if n.Container {
		label = keyStyle.Render(safetext.Escape(n.Key)) + " " + st.Muted.Render(val)
	} else {
		label = keyStyle.Render(safetext.Escape(n.Key)) + st.Muted.Render(": ") + valueStyle(m, jn).Render(val)
	}
	return label, st.Mark.Render(right)
}

func valueStyle(m *Model, n *loader.JSONNode) lipgloss.Style { return jsonValueStyle(m.ctx.Styles, n) }

func jsonValueStyle(st *styles.Styles, n *loader.JSONNode) lipgloss.Style {
	switch n.Kind {
	case loader.JSONString:
		return st.OK
	case loader.JSONNumber, loader.JSONBool, loader.JSONNull:
		return st.Accent
	}
	return st.Value
}

// fullValue is one value shown in full, pretty-printed, over the whole view.
type fullValue struct {
	title  string
	lines  []string
	scroll common.Scroller
}

// openFull shows a value (JSON text as written) in full.
func (m *Model) openFull(title, raw string) {
	m.full = &fullValue{title: title, lines: PrettyLines(raw, max(m.width, 20))}
}

// PrettyLines is a JSON value pretty-printed (a string holding JSON, such as
// mca_config.json's hf_config_json, is unpacked first) and wrapped to w cells.
func PrettyLines(raw string, w int) []string {
	text := strings.TrimSpace(raw)
	var s string
	if json.Unmarshal([]byte(text), &s) == nil {
		inner := strings.TrimSpace(s)
		if strings.HasPrefix(inner, "{") || strings.HasPrefix(inner, "[") {
			text = inner
		} else {
			text = s
		}
	}
	var b bytes.Buffer
	if json.Indent(&b, []byte(text), "", "  ") == nil {
		text = b.String()
	}
	var out []string
	for _, l := range strings.Split(text, "\n") {
		indent := strings.Repeat(" ", len(l)-len(strings.TrimLeft(l, " "))+2)
		out = append(out, common.Wrap(l, w, indent)...)
	}
	return out
}

func (m *Model) fullLines() []string {
	st := m.ctx.Styles
	f := m.full
	h := max(m.height-1, 1)
	head := st.Title.Render(common.Truncate(f.title, max(m.width-24, 8))) + st.Muted.Render("  in full · esc closes")
	more := st.Muted.Render(fmt.Sprintf("  ↓ %d more lines", len(f.lines)-f.scroll.Offset-h+1))
	return append([]string{head}, f.scroll.Window(f.lines, h, more)...)
}

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	tw, _ := m.split()
	m.tree.SetSize(tw, max(h-1, 1))
}

// split returns the widths of the tree and the panel (0 = hidden).
func (m *Model) split() (int, int) {
	w := m.width
	if w < 70 {
		if m.panelFocus {
			return 0, w
		}
		return w, 0
	}
	tw := w * 55 / 100
	return tw, w - tw - 3
}

// Capturing reports whether the filter input has the keys.
func (m *Model) Capturing() bool { return m.tree.Capturing() }

// Activate refreshes the marks after a plan change.
func (m *Model) Activate() tea.Cmd { m.refreshPlan(); return nil }

// Update handles keys and plan changes.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.PlanChangedMsg:
		m.refreshPlan()
	case tea.PasteMsg:
		m.tree.Paste(msg)
	case common.ClickMsg:
		// The tree is below its title line, left of the side panel.
		if tw, _ := m.split(); msg.X < tw && m.tree.Click(msg.Y-1) {
			if m.panelFocus {
				m.panelFocus = false
				m.SetSize(m.width, m.height)
			}
			m.syncPanel()
		}
	case tea.KeyPressMsg:
		km := m.ctx.Keys
		if f := m.full; f != nil {
			if key.Matches(msg, km.Back) || key.Matches(msg, km.Submit) {
				m.full = nil
				return nil
			}
			f.scroll.Update(msg, km, len(f.lines), max(m.height-1, 1))
			return nil
		}
		if !m.tree.Capturing() && key.Matches(msg, km.Panel) {
			m.panelFocus = !m.panelFocus
			m.SetSize(m.width, m.height)
			return nil
		}
		if m.panelFocus {
			if key.Matches(msg, km.Back) {
				m.panelFocus = false
				m.SetSize(m.width, m.height)
				return nil
			}
			return m.panelKey(msg)
		}
		if n := m.tree.Selected(); n != nil && n.IsLeaf() && !m.tree.Capturing() && key.Matches(msg, km.Submit) {
			m.openFull(n.Path, m.nodes[n.Data].Raw)
			return nil
		}
		if m.tree.Update(msg) {
			m.syncPanel()
		}
	}
	return nil
}

// panelKey moves the cursor of the focused mca_config.json panel; enter opens
// the value under it in full.
func (m *Model) panelKey(k tea.KeyPressMsg) tea.Cmd {
	km := m.ctx.Keys
	p := m.ctx.Plan
	if p == nil || len(p.MCAConfig) == 0 {
		return nil
	}
	n, h := len(p.MCAConfig), max(m.height-1, 1)
	sel := max(m.panelSel, 0)
	switch {
	case key.Matches(k, km.Submit):
		kv := p.MCAConfig[sel]
		m.openFull(kv.Key, kv.Value)
		return nil
	case key.Matches(k, km.Up):
		sel--
	case key.Matches(k, km.Down):
		sel++
	case key.Matches(k, km.PageUp):
		sel -= h - 1
	case key.Matches(k, km.PageDown):
		sel += h - 1
	case key.Matches(k, km.Top):
		sel = 0
	case key.Matches(k, km.Bottom):
		sel = n - 1
	default:
		return nil
	}
	m.panelSel = min(max(sel, 0), n-1)
	// Keep the cursor in the window (the last window line may be the "more" hint).
	if m.panelSel < m.panel.Offset {
		m.panel.Offset = m.panelSel
	} else if m.panelSel >= m.panel.Offset+h-1 {
		m.panel.Offset = m.panelSel - h + 2
	}
	return nil
}

// syncPanel highlights the Megatron key of the selected config key.
func (m *Model) syncPanel() {
	m.panelSel = -1
	n := m.tree.Selected()
	if n == nil || m.ctx.Plan == nil {
		return
	}
	if mp := m.byHF[n.Path]; mp != nil {
		if i, ok := m.mcaIndex[mp.MCAKey]; ok {
			m.panelSel = i
			h := m.height - 1
			if i < m.panel.Offset || i >= m.panel.Offset+h {
				m.panel.Offset = max(i-h/2, 0)
			}
		}
	}
}

// View draws the tree and the panel.
func (m *Model) View() string {
	m.refreshPlan()
	if m.full != nil {
		return common.Fit(m.fullLines(), m.width, m.height)
	}
	m.tree.Blurred = m.panelFocus
	st := m.ctx.Styles
	tw, pw := m.split()
	h := m.height
	var left []string
	if tw > 0 {
		nm := 0
		if m.ctx.Plan != nil {
			for _, c := range m.ctx.Plan.Config {
				if !c.Missing {
					nm++
				}
			}
		}
		left = append(left, st.Title.Render("config.json")+st.Muted.Render(fmt.Sprintf("  %s · ", common.Plural(len(m.nodes), "value")))+st.Mark.Render(fmt.Sprintf("%d mapped", nm)))
		left = append(left, m.tree.ViewLines()...)
	}
	if pw == 0 {
		return common.Fit(left, m.width, h)
	}
	right := m.panelLines(pw, h)
	if tw == 0 {
		return common.Fit(right, m.width, h)
	}
	sep := st.Border.Render(" │ ")
	return common.Fit(common.SideBySide(left, tw, sep, right, h), m.width, h)
}

func (m *Model) panelLines(w, h int) []string {
	st := m.ctx.Styles
	p := m.ctx.Plan
	title := st.Title.Render("mca_config.json")
	if m.panelFocus {
		title = "› " + title
	}
	if p == nil {
		return []string{title, st.Error.Render("no plan: " + errText(m.ctx.PlanErr))}
	}
	out := []string{title + st.Muted.Render(fmt.Sprintf("  %s", common.Plural(len(p.MCAConfig), "key")))}
	kw := 0
	for _, kv := range p.MCAConfig {
		kw = max(kw, common.Width(kv.Key))
	}
	kw = min(kw, w/2)
	var rows []string
	for i, kv := range p.MCAConfig {
		ks := st.Value
		if m.mapped[kv.Key] {
			ks = st.Mark
		}
		mark := "  "
		if i == m.panelSel && m.panelFocus {
			mark = "› "
		} else if i == m.panelSel {
			mark = "· " // the key the tree's cursor maps to; the cursor is in the tree
		}
		val := strings.ReplaceAll(kv.Value, "\n", " ")
		row := mark + ks.Render(common.Pad(safetext.Escape(kv.Key), kw)) + " " + st.Muted.Render(common.Truncate(val, max(w-kw-3, 4)))
		if i == m.panelSel && !st.Plain {
			row = st.Selected.Render(common.Pad(mark+common.Pad(kv.Key, kw)+" "+common.Truncate(val, max(w-kw-3, 4)), w))
		}
		rows = append(rows, row)
	}
	var missing []string
	for _, c := range p.Config {
		if c.Missing {
			missing = append(missing, c.HFKey)
		}
	}
	if len(missing) > 0 {
		rows = append(rows, "", st.Warning.Render("not in config.json (Megatron defaults apply):"))
		for _, k := range missing {
			rows = append(rows, st.Warning.Render("  "+k))
		}
	}
	more := st.Muted.Render("  ↓ more: p, then ↓")
	if m.panelFocus {
		more = st.Muted.Render("  ↓ more below")
	}
	out = append(out, m.panel.Window(rows, h-1, more)...)
	return out
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.tree.Capturing() {
		return []key.Binding{k.Submit, k.Cancel}
	}
	if m.full != nil {
		return []key.Binding{k.Up, k.Down, k.PageDown, closeKey(k)}
	}
	if m.panelFocus {
		return []key.Binding{k.Up, k.Down, openKey(k), k.Panel}
	}
	return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter, k.Panel}
}

func openKey(k *keymap.KeyMap) key.Binding {
	return key.NewBinding(key.WithKeys(k.Submit.Keys()...), key.WithHelp(k.Submit.Help().Key, "open value in full"))
}

func closeKey(k *keymap.KeyMap) key.Binding {
	return key.NewBinding(key.WithKeys(k.Back.Keys()...), key.WithHelp(k.Back.Help().Key, "close"))
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	if m.full != nil {
		return [][]key.Binding{k.Nav(), {closeKey(k)}}
	}
	return [][]key.Binding{k.Nav(), {k.Toggle, openKey(k), k.Expand, k.Collapse, k.Filter, k.Back, k.Panel}}
}
