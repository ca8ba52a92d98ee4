package configview

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/loader/safetext"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/tree"
)

// MCAModel is the config view of a Megatron checkpoint: mca_config.json as a
// tree, and beside it the Hugging Face config.json restored from its
// hf_config_json (with the mapped values written back), also as a tree. p moves
// the focus between them; selecting a mapped key shows its counterpart.
type MCAModel struct {
	ctx *common.Context

	left, right           *tree.Model
	leftNodes, rightNodes []*loader.JSONNode

	hfOf    map[string]string // mca key -> HF key (mapped keys only)
	mcaOf   map[string]string // HF key -> mca key
	written map[string]bool   // HF keys whose value was written back from mca_config.json

	focusRight bool
	full       *fullValue // a value opened in full (enter on a leaf), nil when none

	width, height int
}

// NewMCA builds the two trees.
func NewMCA(ctx *common.Context) *MCAModel {
	m := &MCAModel{ctx: ctx, hfOf: map[string]string{}, mcaOf: map[string]string{}, written: map[string]bool{}}
	var lroots, rroots []*tree.Node
	if x := ctx.MCA; x != nil && x.Ck.Config != nil {
		lroots = buildJSON(x.Ck.Config, "", &m.leftNodes)
		if rp := x.Reverse; rp != nil {
			for _, k := range rp.ConfigChanged {
				m.written[k] = true
			}
		}
	}
	if ctx.Ck != nil && ctx.Ck.Config != nil {
		rroots = buildJSON(ctx.Ck.Config, "", &m.rightNodes)
		open := textConfigRoot(common.ConfigString(ctx.Ck.Config, "model_type"))
		for _, r := range rroots {
			r.Expanded = !r.IsLeaf() && len(r.Children) > 0 && len(rroots) < 40 && r.Key == open
		}
	}
	if p := ctx.Plan; p != nil {
		for _, c := range p.Config {
			if !c.Missing {
				m.hfOf[c.MCAKey] = c.HFKey
				m.mcaOf[c.HFKey] = c.MCAKey
			}
		}
	}
	m.left = tree.New(lroots, ctx.Styles, ctx.Keys)
	m.left.Noun = "key"
	m.left.Render = m.renderLeft
	m.right = tree.New(rroots, ctx.Styles, ctx.Keys)
	m.right.Noun = "key"
	m.right.Render = m.renderRight
	return m
}

// Trees exposes the mca_config.json and the config.json trees (tests drive them).
func (m *MCAModel) Trees() (mcaConfig, hfConfig *tree.Model) { return m.left, m.right }

// FocusRight reports whether the config.json tree has the keys.
func (m *MCAModel) FocusRight() bool { return m.focusRight }

func (m *MCAModel) renderLeft(n *tree.Node, selected bool) (string, string) {
	right := ""
	if hf, ok := m.hfOf[n.Path]; ok {
		right = "← " + hf
	}
	return m.renderJSON(m.leftNodes[n.Data], n, right, right != "", selected)
}

func (m *MCAModel) renderRight(n *tree.Node, selected bool) (string, string) {
	right := ""
	mk, mapped := m.mcaOf[n.Path]
	if mapped {
		right = "→ " + mk
	}
	if m.written[n.Path] {
		right = "written back from " + mk
	}
	return m.renderJSON(m.rightNodes[n.Data], n, right, mapped, selected)
}

func (m *MCAModel) renderJSON(jn *loader.JSONNode, n *tree.Node, right string, mapped, selected bool) (string, string) {
	st := m.ctx.Styles
	val := safetext.Escape(valueText(jn))
	label := safetext.Escape(n.Key) + ": " + val
	if n.Container {
		label = safetext.Escape(n.Key) + " " + val
	}
	if selected {
		return label, right
	}
	keyStyle := st.Value
	if mapped {
		keyStyle = st.Mark
	}
	if n.Container {
		label = keyStyle.Render(safetext.Escape(n.Key)) + " " + st.Muted.Render(val)
	} else {
		label = keyStyle.Render(safetext.Escape(n.Key)) + st.Muted.Render(": ") + jsonValueStyle(st, jn).Render(val)
	}
	rs := st.Mark
	if m.written[n.Path] {
		rs = st.Warning
	}
	return label, rs.Render(right)
}

// SetSize sets the body size.
func (m *MCAModel) SetSize(w, h int) {
	m.width, m.height = w, h
	lw, rw := m.split()
	m.left.SetSize(max(lw, 1), max(h-1, 1))
	m.right.SetSize(max(rw, 1), max(h-1, 1))
}

// split returns the widths of the two trees (0 = hidden: narrow terminals show
// only the focused one).
func (m *MCAModel) split() (int, int) {
	w := m.width
	if w < 70 {
		if m.focusRight {
			return 0, w
		}
		return w, 0
	}
	lw := w / 2
	return lw, w - lw - 3
}

// Capturing reports whether a filter input has the keys.
func (m *MCAModel) Capturing() bool { return m.left.Capturing() || m.right.Capturing() }

// Activate is called when the view is shown.
func (m *MCAModel) Activate() tea.Cmd { return nil }

// Update handles keys: p switches the tree that has them.
func (m *MCAModel) Update(msg tea.Msg) tea.Cmd {
	if p, ok := msg.(tea.PasteMsg); ok {
		_ = m.left.Paste(p) || m.right.Paste(p)
		return nil
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	km := m.ctx.Keys
	if f := m.full; f != nil {
		if key.Matches(k, km.Back) || key.Matches(k, km.Submit) {
			m.full = nil
			return nil
		}
		f.scroll.Update(k, km, len(f.lines), max(m.height-1, 1))
		return nil
	}
	// enter on a leaf opens its value in full (hf_config_json, nested configs).
	t, nodes := m.left, m.leftNodes
	if m.focusRight {
		t, nodes = m.right, m.rightNodes
	}
	if n := t.Selected(); n != nil && n.IsLeaf() && !t.Capturing() && key.Matches(k, km.Submit) {
		m.full = &fullValue{title: n.Path, lines: PrettyLines(nodes[n.Data].Raw, max(m.width, 20))}
		return nil
	}
	if !m.Capturing() && key.Matches(k, km.Panel) {
		m.focusRight = !m.focusRight
		m.SetSize(m.width, m.height)
		return nil
	}
	if m.focusRight {
		if !m.right.Capturing() && m.right.Query() == "" && key.Matches(k, km.Back) {
			m.focusRight = false
			m.SetSize(m.width, m.height)
			return nil
		}
		if m.right.Update(k) {
			m.follow(m.right, m.mcaOf, m.left)
		}
		return nil
	}
	if m.left.Update(k) {
		m.follow(m.left, m.hfOf, m.right)
	}
	return nil
}

// follow shows, in the other tree, the counterpart of the key under the cursor.
func (m *MCAModel) follow(from *tree.Model, pair map[string]string, to *tree.Model) {
	n := from.Selected()
	if n == nil {
		return
	}
	if other, ok := pair[n.Path]; ok {
		if t := to.Find(other); t != nil {
			to.Reveal(t)
		}
	}
}

// View draws the two trees.
func (m *MCAModel) View() string {
	st := m.ctx.Styles
	if f := m.full; f != nil {
		h := max(m.height-1, 1)
		head := st.Title.Render(common.Truncate(f.title, max(m.width-24, 8))) + st.Muted.Render("  in full · esc closes")
		more := st.Muted.Render(fmt.Sprintf("  ↓ %d more lines", len(f.lines)-f.scroll.Offset-h+1))
		return common.Fit(append([]string{head}, f.scroll.Window(f.lines, h, more)...), m.width, m.height)
	}
	m.left.Blurred, m.right.Blurred = m.focusRight, !m.focusRight
	lw, rw := m.split()
	h := m.height
	var left, right []string
	if lw > 0 {
		title := st.Title.Render("mca_config.json")
		if !m.focusRight && rw > 0 {
			title = "› " + title
		}
		left = append(left, title+st.Muted.Render(fmt.Sprintf("  %s · ", common.Plural(len(m.leftNodes), "value")))+
			st.Mark.Render(fmt.Sprintf("%d mapped", len(m.hfOf))))
		left = append(left, m.left.ViewLines()...)
	}
	if rw > 0 {
		title := st.Title.Render("config.json")
		if m.focusRight && lw > 0 {
			title = "› " + title
		}
		note := "restored, unchanged"
		switch {
		case m.ctx.Ck == nil || m.ctx.Ck.Config == nil:
			note = "cannot be restored: no valid hf_config_json"
		case len(m.written) > 0:
			note = fmt.Sprintf("restored, %d written back", len(m.written))
		}
		hs := st.Muted
		if m.ctx.Ck == nil || m.ctx.Ck.Config == nil {
			hs = st.Error
		} else if len(m.written) > 0 {
			hs = st.Warning
		}
		right = append(right, title+hs.Render("  "+note))
		right = append(right, m.right.ViewLines()...)
	}
	switch {
	case rw == 0:
		return common.Fit(left, m.width, h)
	case lw == 0:
		return common.Fit(right, m.width, h)
	}
	return common.Fit(common.SideBySide(left, lw, st.Border.Render(" │ "), right, h), m.width, h)
}

// ShortHelp is the one-line help.
func (m *MCAModel) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.Capturing() {
		return []key.Binding{k.Submit, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Toggle, k.Filter, m.panelKey()}
}

func (m *MCAModel) panelKey() key.Binding {
	k := m.ctx.Keys.Panel
	if m.focusRight {
		return key.NewBinding(key.WithKeys(k.Keys()...), key.WithHelp(k.Help().Key, "focus mca_config.json"))
	}
	return key.NewBinding(key.WithKeys(k.Keys()...), key.WithHelp(k.Help().Key, "focus config.json"))
}

// FullHelp is the full help.
func (m *MCAModel) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	return [][]key.Binding{k.Nav(), {k.Toggle, k.Expand, k.Collapse, k.Filter, k.Back, m.panelKey()}}
}

// textConfigRoot is the top-level config.json object that holds the family's model dims
// (e.g. "text_config"), "" for a flat config or a model type without a template.
func textConfigRoot(modelType string) string {
	t, err := core.LookupTemplate(modelType)
	if err != nil {
		return ""
	}
	for _, k := range t.Config {
		if k.MCA == "hidden_size" {
			if root, _, ok := strings.Cut(k.HF, "."); ok {
				return root
			}
		}
	}
	return ""
}
