// Package loraview shows a ROLL LoRA checkpoint in the app: Overview (adapters, r, alpha,
// rsLoRA, targets, per-module ranks and scales) and Mapping (every PEFT tensor with its source
// rank-file tensors and the op). The other views say what to use instead.
package loraview

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// Model is one scrollable LoRA view.
type Model struct {
	ctx           *common.Context
	lines         func(w int) []string
	scroll        common.Scroller
	width, height int
}

// NewOverview is view 1 for a LoRA checkpoint.
func NewOverview(ctx *common.Context) *Model {
	m := &Model{ctx: ctx}
	m.lines = m.overviewLines
	return m
}

// NewMapping is view 4 for a LoRA checkpoint.
func NewMapping(ctx *common.Context) *Model {
	m := &Model{ctx: ctx}
	m.lines = m.mappingLines
	return m
}

// NewUnavailable is a view that has nothing to show for LoRA adapters.
func NewUnavailable(ctx *common.Context, what string) *Model {
	m := &Model{ctx: ctx}
	m.lines = func(w int) []string {
		st := ctx.Styles
		return append([]string{st.Title.Render(what), ""}, common.Wrap("This view has nothing to show for LoRA adapters. "+
			"1 Overview lists the adapters and their ranks, 4 Mapping every PEFT tensor. Export them with "+
			"omnitui --batch --to-hf --out DIR "+core.Printable(ctx.Path)+" (or --merge-into BASE).", max(w-2, 8), "")...)
	}
	return m
}

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Activate is called when the view is shown.
func (m *Model) Activate() tea.Cmd { return nil }

// Capturing is always false: the views have no inputs.
func (m *Model) Capturing() bool { return false }

// Update scrolls.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		m.scroll.Update(k, m.ctx.Keys, len(m.lines(m.width)), m.height)
	}
	return nil
}

// View draws the view.
func (m *Model) View() string {
	lines := m.lines(m.width)
	more := m.ctx.Styles.Muted.Render(fmt.Sprintf("  ↓ %d more lines", len(lines)-m.scroll.Offset-m.height+1))
	return common.Fit(m.scroll.Window(lines, m.height, more), m.width, m.height)
}

// ShortHelp feeds the help line.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.ctx.Keys.Up, m.ctx.Keys.Down} }

// FullHelp feeds the full help.
func (m *Model) FullHelp() [][]key.Binding { return [][]key.Binding{m.ctx.Keys.Nav()} }

func (m *Model) overviewLines(w int) []string {
	p, st := m.ctx.LoRA, m.ctx.Styles
	lbl := func(l string) string { return st.Label.Render(common.Pad(l, 10)) }
	var out []string
	add := func(l ...string) { out = append(out, l...) }
	add(st.Title.Render("Overview") + "  " + st.Value.Render(core.Printable(p.ModelType)) + st.Muted.Render("  LoRA adapters (ROLL mcore_adapter) -> PEFT"))
	add(lbl("path") + st.Value.Render(common.TruncateLeft(core.Printable(m.ctx.Path), max(w-10, 8))))
	add("")
	for _, a := range p.Adapters {
		where := "top of the output"
		if a.OutDir != "" {
			where = core.Printable(a.OutDir) + "/"
		}
		add(st.Title.Render("adapter "+core.Printable(a.Name)) + st.Muted.Render("  -> "+where))
		add(lbl("rank") + fmt.Sprintf("r %d · lora_alpha %g · use_rslora %t · dropout %g", a.R, a.Alpha, a.RSLoRA, a.Dropout))
		add(lbl("targets") + core.Printable(strings.Join(a.Targets, ", ")) + st.Muted.Render("  from "+core.Printable(strings.Join(a.SourceTargets, ", "))))
		add(lbl("base") + core.Printable(a.BaseModel))
		for _, mr := range a.ModuleRanks {
			g := ""
			if mr.Grouped {
				g = st.Muted.Render("  grouped experts: r/topk")
			}
			add("  " + common.Pad(core.Printable(mr.Module), 48) + fmt.Sprintf(" rank %3d  scale %-8g ×%d", mr.Rank, mr.Scale, mr.Count) + g)
		}
		for _, n := range a.Notes {
			add(common.Wrap("note: "+core.Printable(n), max(w-2, 8), "  ")...)
		}
		add(lbl("tensors") + fmt.Sprintf("%s · %s", common.Plural(len(a.Tensors), "PEFT tensor"), common.Bytes(a.Bytes)))
		add("")
	}
	for _, is := range p.Issues {
		add(common.Wrap(fmt.Sprintf("%s [%s] %s", is.Severity, is.Code, core.Printable(is.Message)), max(w-2, 8), "  ")...)
	}
	return out
}

func (m *Model) mappingLines(w int) []string {
	p, st := m.ctx.LoRA, m.ctx.Styles
	out := []string{st.Title.Render("Mapping") + st.Muted.Render("  PEFT tensor <- op <- source rank-file tensors")}
	for _, a := range p.Adapters {
		out = append(out, "", st.Title.Render("adapter "+core.Printable(a.Name)))
		for _, t := range a.Tensors {
			out = append(out, st.Value.Render(core.Printable(t.Name))+st.Muted.Render(fmt.Sprintf(" %v %s", t.Shape, t.DType)))
			out = append(out, "    "+st.Label.Render(common.Pad(t.Op, 14))+common.TruncateLeft(core.Printable(t.Sources[0]), max(w-20, 8)))
			for _, s := range t.Sources[1:] {
				out = append(out, "    "+common.Pad("", 14)+common.TruncateLeft(core.Printable(s), max(w-20, 8)))
			}
		}
	}
	return out
}
