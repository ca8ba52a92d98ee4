// Package overview is view 1: what the checkpoint is, how big each part of the
// model is, and whether the current plan can be converted.
package overview

import (
	"fmt"
	"github.com/omnitui/omnitui/loader/safetext"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/bar"
	"github.com/omnitui/omnitui/tui/common"
)

// Model is the overview.
type Model struct {
	ctx    *common.Context
	scroll common.Scroller
	width  int
	height int
}

// New makes the overview.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Activate is called when the view is shown.
func (m *Model) Activate() tea.Cmd { return nil }

// Capturing is always false: the overview has no inputs.
func (m *Model) Capturing() bool { return false }

// Update scrolls.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		m.scroll.Update(k, m.ctx.Keys, len(m.lines()), m.height)
	}
	return nil
}

// View draws the overview.
func (m *Model) View() string {
	st := m.ctx.Styles
	lines := m.lines()
	more := st.Muted.Render(fmt.Sprintf("  ↓ %d more lines", len(lines)-m.scroll.Offset-m.height+1))
	return common.Fit(m.scroll.Window(lines, m.height, more), m.width, m.height)
}

func (m *Model) lines() []string {
	if m.ctx.IsMCA() {
		return m.mcaLines()
	}
	ctx := m.ctx
	st := ctx.Styles
	w := m.width
	s := ctx.Stats
	lbl := func(l string) string { return st.Label.Render(common.Pad(l, 10)) }
	var out []string
	add := func(l ...string) { out = append(out, l...) }

	var cfg *loader.JSONNode
	if ctx.Ck != nil {
		cfg = ctx.Ck.Config
	}
	mt := common.ConfigString(cfg, "model_type")
	if mt == "" {
		mt = "(no model_type in config.json)"
	}
	arch := common.ConfigString(cfg, "architectures")
	add(st.Title.Render("Overview") + "  " + st.Value.Render(mt) + st.Muted.Render("  "+arch))
	if cfg != nil {
		// a model_type without a template of its own, claimed by a family's architecture
		if t, _, matched, err := core.TemplateFor(cfg, "config.json"); err == nil && matched != "" {
			add(lbl("template") + st.Value.Render(safetext.Escape(t.ModelType+" template, matched by "+matched)))
		}
	}
	add(lbl("path") + st.Value.Render(common.TruncateLeft(safetext.Escape(ctx.Path), max(w-10, 8))))
	shards := 0
	if ctx.Ck != nil {
		shards = len(ctx.Ck.Shards)
	}
	add(lbl("size") + fmt.Sprintf("%s params · %s · %s in %s",
		common.Params(s.Total.Params), common.Bytes(s.Total.Bytes), common.Plural(s.Total.Tensors, "tensor"), common.Plural(shards, "shard")))
	var dts []string
	for _, d := range s.DTypes {
		t := s.ByDType[d]
		dts = append(dts, fmt.Sprintf("%s %s (%.0f%%)", d, common.Count(int64(t.Tensors)), pct(t.Bytes, s.Total.Bytes)))
	}
	add(lbl("dtypes") + strings.Join(dts, " · "))
	add("")

	add(m.componentLines(w)...)
	add("")

	// The plan.
	add(m.planLines(w)...)
	add("")

	// Shards.
	if ctx.Ck != nil && len(ctx.Ck.Shards) > 0 {
		add(st.Title.Render("Shards"))
		nw := 0
		for _, sh := range ctx.Ck.Shards {
			nw = max(nw, common.Width(safetext.Escape(sh.Name)))
		}
		nw = min(nw, max(w-30, 10))
		for i, sh := range ctx.Ck.Shards {
			var t common.Tally
			if i < len(s.ByShard) {
				t = s.ByShard[i]
			}
			add("  " + common.Pad(safetext.Escape(sh.Name), nw) + common.PadLeft(common.Bytes(sh.Size), 11) + st.Muted.Render(common.PadLeft(common.Plural(t.Tensors, "tensor"), 16)))
		}
	}
	return out
}

// componentLines is the table of parameters and bytes per model component.
func (m *Model) componentLines(w int) []string {
	st := m.ctx.Styles
	s := m.ctx.Stats
	var out []string
	add := func(l ...string) { out = append(out, l...) }
	const nameW, numW = 14, 9
	barW := min(w-nameW-3*(numW+1)-8, 30)
	head := common.Pad("component", nameW) + common.PadLeft("tensors", numW+1) + common.PadLeft("params", numW+1) + common.PadLeft("bytes", numW+1)
	if barW >= 6 {
		head += "  share"
	}
	add(st.Muted.Render(head))
	for _, c := range s.Order {
		t, ok := s.ByComponent[c]
		if !ok && c == "other" {
			continue
		}
		row := common.Pad(s.Titles[c], nameW) +
			common.PadLeft(common.Count(int64(t.Tensors)), numW+1) +
			common.PadLeft(common.Params(t.Params), numW+1) +
			common.PadLeft(common.Bytes(t.Bytes), numW+1)
		if barW >= 6 {
			f := 0.0
			if s.Total.Bytes > 0 {
				f = float64(t.Bytes) / float64(s.Total.Bytes)
			}
			row += "  " + bar.Render(f, barW, st.BarFill, st.BarEmpty) + fmt.Sprintf(" %3.0f%%", f*100)
		}
		if c == "other" && t.Tensors > 0 {
			row = st.Warning.Render(row)
		}
		add(row)
	}
	return out
}

func (m *Model) planLines(w int) []string {
	ctx := m.ctx
	st := ctx.Styles
	var out []string
	if ctx.Plan == nil {
		out = append(out, st.Title.Render("Plan")+"  "+st.Error.Render("✗ cannot plan this checkpoint"))
		if ctx.PlanErr != nil {
			out = append(out, indentAll(common.Wrap(ctx.PlanErr.Error(), w-4, ""), "  ")...)
		}
		return out
	}
	p := ctx.Plan
	var bytes int64
	for _, r := range p.Ranks {
		bytes += r.Bytes
	}
	set := p.Settings
	errs, warns := ctx.IssueCounts()
	status := st.OK.Render("✓ ready to convert")
	if errs > 0 {
		status = st.Error.Render("✗ " + common.Plural(errs, "error"))
		if warns > 0 {
			status += st.Warning.Render(", " + common.Plural(warns, "warning"))
		}
	} else if warns > 0 {
		status = st.OK.Render("✓ ready") + st.Warning.Render(" · "+common.Plural(warns, "warning"))
	}
	out = append(out, st.Title.Render("Plan")+"  "+common.SettingsLine(set.TP, set.PP, set.VPP, set.EP, set.ETP)+
		st.Muted.Render(fmt.Sprintf(" → %s · %s · ", common.Plural(len(p.Ranks), "rank file"), common.Bytes(bytes)))+status)
	for _, is := range p.Issues {
		out = append(out, common.IssueLines(st, is, w)...)
	}
	if len(p.Issues) > 0 {
		out = append(out, st.Muted.Render("  change the settings in 5 Placement; unmapped tensors are listed in 4 Mapping"))
	}
	return out
}

func indentAll(ls []string, ind string) []string {
	for i := range ls {
		ls[i] = ind + ls[i]
	}
	return ls
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	return []key.Binding{k.Up, k.Down}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ctx.Keys.Nav()} }
