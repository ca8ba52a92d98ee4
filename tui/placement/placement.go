// Package placement is view 5: the parallel settings edited in place, and what the
// plan does with them: the pipeline grid of stages × virtual chunks, the expert
// split, bytes per rank file, the plan's errors next to the setting that causes
// them, and the rank files the selected weight lands in.
package placement

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/bar"
	"github.com/omnitui/omnitui/tui/common"
)

// Field identifies one editable setting: an index into the form's rows (see specs).
type Field int

// formSpecs are the settings the Placement form shows for a model family, in order
// (core's settings table, with the family's opt-outs).
func formSpecs(t *core.Template) []core.SettingSpec {
	if t == nil {
		t = &core.Template{} // no family: omnitui's own settings only
	}
	var out []core.SettingSpec
	for _, sp := range core.SettingSpecs(t) {
		if sp.Form {
			out = append(out, sp)
		}
	}
	return out
}

// Model is the placement view.
type Model struct {
	ctx     *common.Context
	focus   Field
	editing bool
	input   common.Input
	right   common.Scroller
	rightN  int
	note    string // why a key did nothing (read-only layouts)

	width, height int
}

// New makes the placement view.
func New(ctx *common.Context) *Model {
	return &Model{ctx: ctx, input: common.NewInput("", "")}
}

// Focus is the focused setting (tests read it).
func (m *Model) Focus() Field { return m.focus }

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Capturing reports whether a value is being typed.
func (m *Model) Capturing() bool { return m.editing }

// Activate is called when the view is shown.
func (m *Model) Activate() tea.Cmd { return nil }

// settings are the settings edited here: the conversion's, or, for a Megatron
// checkpoint, the layout to reshard to.
func (m *Model) settings() core.Settings {
	if x := m.ctx.MCA; x != nil {
		return x.Target.Settings
	}
	return m.ctx.Settings
}

// specs are the form's rows for the model type being converted (no family opt-outs
// when it has no template).
func (m *Model) specs() []core.SettingSpec {
	var t *core.Template
	if p, _ := m.plan(); p != nil {
		t, _ = core.LookupTemplate(p.Template)
	} else if m.ctx.Plan != nil {
		t, _ = core.LookupTemplate(m.ctx.Plan.Template)
	}
	return formSpecs(t)
}

// fieldNamed is the row of the setting of that name (-1 if the form has none).
func fieldNamed(specs []core.SettingSpec, name string) Field {
	for i, sp := range specs {
		if sp.Name == name {
			return Field(i)
		}
	}
	return -1
}

// plan is the plan of the settings shown (see common.Context.TargetPlan).
func (m *Model) plan() (*core.Plan, error) { return m.ctx.TargetPlan() }

// groupOf returns the group of tensor i in plan p, or nil.
func groupOf(p *core.Plan, i int) *core.Group {
	if p == nil || i < 0 || i >= len(p.TensorGroup) {
		return nil
	}
	if g := p.TensorGroup[i]; g >= 0 && g < len(p.Groups) {
		return &p.Groups[g]
	}
	return nil
}

func (m *Model) value(sp core.SettingSpec) string {
	s := m.settings()
	v := sp.Get(s)
	switch sp.Kind {
	case core.SettingBool:
		if v == "true" {
			return "[x]"
		}
		return "[ ]"
	case core.SettingChoice:
		for i, c := range sp.Choices {
			if c == v && i < len(sp.Shown) && sp.Shown[i] != "" {
				return sp.Shown[i]
			}
		}
		if v == "" && len(sp.Shown) > 0 {
			return sp.Shown[0]
		}
	}
	if v == "" && sp.Unset != "" {
		return sp.Unset
	}
	return v
}

// nextChoice steps a choice setting to its next value.
func nextChoice(sp core.SettingSpec, v string) string {
	for i, c := range sp.Choices {
		if c == v {
			return sp.Choices[(i+1)%len(sp.Choices)]
		}
	}
	if len(sp.Choices) > 1 {
		return sp.Choices[1]
	}
	return v
}

// apply sets new settings; the plan follows.
func (m *Model) apply(s core.Settings) tea.Cmd {
	if m.ctx.IsMCA() {
		return m.ctx.SetTarget(s)
	}
	return m.ctx.SetSettings(s)
}

// Update edits the settings.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	km := m.ctx.Keys
	if m.editing {
		switch k.Type {
		case tea.KeyEnter:
			m.editing = false
			m.input.Blur()
			return m.commit(strings.TrimSpace(m.input.Value()))
		case tea.KeyEsc:
			m.editing = false
			m.input.Blur()
		default:
			m.input.Update(k)
		}
		return nil
	}
	s := m.settings()
	specs := m.specs()
	nf := Field(len(specs))
	if m.focus >= nf {
		m.focus = 0
	}
	sp := specs[m.focus]
	toggle := func() tea.Cmd {
		switch sp.Kind {
		case core.SettingBool:
			_ = sp.Set(&s, strconv.FormatBool(!sp.On(s)))
		case core.SettingChoice:
			_ = sp.Set(&s, nextChoice(sp, sp.Get(s)))
		default:
			return nil
		}
		return m.apply(s)
	}
	switch {
	case key.Matches(k, km.Up):
		m.focus = (m.focus + nf - 1) % nf
	case key.Matches(k, km.Down):
		m.focus = (m.focus + 1) % nf
	case key.Matches(k, km.Top):
		m.focus = 0
	case key.Matches(k, km.Bottom):
		m.focus = nf - 1
	case key.Matches(k, km.PageDown):
		m.right.Offset += max(m.height-2, 1)
		m.right.Clamp(m.rightN, m.height)
	case key.Matches(k, km.PageUp):
		m.right.Offset -= max(m.height-2, 1)
		m.right.Clamp(m.rightN, m.height)
	case key.Matches(k, km.Inc), key.Matches(k, km.Dec):
		d := 1
		if key.Matches(k, km.Dec) {
			d = -1
		}
		switch {
		case sp.Name == "etp":
			// Unset means "= TP": step from TP, and landing on TP unsets it again.
			eff := s.ETP
			if eff == 0 {
				eff = s.TP
			}
			if eff+d < 1 {
				return nil
			}
			s.ETP = eff + d
			if s.ETP == s.TP {
				s.ETP = 0
			}
			return m.apply(s)
		case sp.Kind == core.SettingInt:
			n := sp.IntValue(s)
			if n+d < sp.Min {
				return nil
			}
			_ = sp.Set(&s, strconv.Itoa(n+d))
			return m.apply(s)
		default:
			return toggle()
		}
	case key.Matches(k, km.Edit):
		switch sp.Kind {
		case core.SettingBool, core.SettingChoice:
			return toggle()
		default:
			m.editing = true
			v := sp.Get(s)
			if sp.Kind == core.SettingInt && sp.IntValue(s) <= 0 {
				v = ""
			}
			m.input.SetValue(v)
			m.input.Focus()
		}
	}
	return nil
}

// Edit sets a field from text, as typing it and pressing enter does (tests use it).
func (m *Model) commit(v string) tea.Cmd {
	s := m.settings()
	specs := m.specs()
	if int(m.focus) >= len(specs) {
		return nil
	}
	sp := specs[m.focus]
	switch sp.Kind {
	case core.SettingText:
		_ = sp.Set(&s, v)
		return m.apply(s)
	case core.SettingInt:
	default:
		return nil
	}
	if v == "" || v == "-" {
		v = strconv.Itoa(sp.Min)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < sp.Min {
		return nil // not a valid size: keep the old value
	}
	_ = sp.Set(&s, strconv.Itoa(n))
	return m.apply(s)
}

// fieldOf says which row an issue is about, if any: the setting whose Codes list it
// (an error a setting's FixElsewhere sends on goes to that row), or for a bad size the
// setting its message names.
func fieldOf(specs []core.SettingSpec, is core.Issue) (Field, bool) {
	for i, sp := range specs {
		for _, c := range sp.Codes {
			if c != is.Code {
				continue
			}
			if to, ok := sp.FixElsewhere[c]; ok && is.Severity == core.SevError {
				if f := fieldNamed(specs, to); f >= 0 {
					return f, true // the fix is another setting; the toggle only accepts it
				}
			}
			return Field(i), true
		}
	}
	if is.Code == "bad-size" {
		for i, sp := range specs {
			if sp.Kind == core.SettingInt && strings.HasPrefix(is.Message, "--"+sp.Flag+" ") {
				return Field(i), true
			}
		}
	}
	return 0, false
}

// View draws the form and the consequences.
func (m *Model) View() string {
	st := m.ctx.Styles
	w, h := m.width, m.height
	formW := 40
	if w < 100 {
		formW = 34
	}
	if w < 60 {
		// Too narrow for two columns: the form alone, its issues below.
		return common.Fit(m.form(w), w, h)
	}
	rw := w - formW - 3
	right := m.rightLines(rw)
	m.rightN = len(right)
	more := st.Muted.Render(fmt.Sprintf("  ↓ %d more lines (pgdn)", len(right)-m.right.Offset-h+1))
	right = m.right.Window(right, h, more)
	return common.Fit(common.SideBySide(m.form(formW), formW, st.Border.Render(" │ "), right, h), w, h)
}

func (m *Model) issuesByField() map[Field][]core.Issue {
	out := map[Field][]core.Issue{}
	p, _ := m.plan()
	if p == nil {
		return out
	}
	specs := m.specs()
	for _, is := range p.Issues {
		if f, ok := fieldOf(specs, is); ok {
			out[f] = append(out[f], is)
		}
	}
	return out
}

func (m *Model) form(w int) []string {
	st := m.ctx.Styles
	byField := m.issuesByField()
	out := []string{st.Title.Render("Settings") + st.Muted.Render("  ←/→ change · enter edit")}
	if x := m.ctx.MCA; x != nil {
		out[0] = st.Title.Render("Reshard") + st.Muted.Render("  ←/→ change · enter edit")
		if !x.Resharding() {
			out[0] = st.Title.Render("Recorded") + st.Muted.Render("  change to reshard")
		}
	}
	const nameW = 19
	specs := m.specs()
	for i, sp := range specs {
		f := Field(i)
		if sp.Name == "account_embedding" || sp.Name == "skip_unmapped" {
			out = append(out, st.Border.Render(strings.Repeat("╌", max(w-2, 1))))
		}
		cur := "  "
		if f == m.focus {
			cur = "› "
		}
		mark := " "
		style := st.Value
		for _, is := range byField[f] {
			if is.Severity == core.SevError {
				mark, style = "✗", st.Error
				break
			}
			mark, style = "!", st.Warning
		}
		val := m.value(sp)
		if f == m.focus && m.editing {
			val = m.input.View(max(w-nameW-4, 4), st)
		} else if sp.Kind != core.SettingBool {
			if f == m.focus {
				val = "‹ " + val + " ›"
			}
		}
		line := cur + common.Pad(sp.Label, nameW-2) + mark + " " + val
		if f == m.focus && !st.Plain && !m.editing {
			line = st.Selected.Render(common.Pad(line, w))
		} else if mark != " " {
			line = cur + common.Pad(sp.Label, nameW-2) + style.Render(mark) + " " + style.Render(val)
		}
		out = append(out, line)
	}
	// The focused field's issues, in words.
	if iss := byField[m.focus]; len(iss) > 0 {
		out = append(out, "")
		for _, is := range iss {
			out = append(out, common.IssueLines(st, is, w)...)
		}
	} else {
		out = append(out, "", st.Muted.Render(hint(specs, m.focus)))
	}
	if x := m.ctx.MCA; x != nil {
		r := x.Recorded
		out = append(out, st.Muted.Render("recorded: "+common.SettingsLine(r.TP, r.PP, r.VPP, r.EP, r.ETP)))
	}
	return out
}

func hint(specs []core.SettingSpec, f Field) string {
	if int(f) < len(specs) && specs[f].Hint != "" {
		return specs[f].Hint
	}
	return "space toggles"
}

func (m *Model) rightLines(w int) []string {
	ctx := m.ctx
	st := ctx.Styles
	p, perr := m.plan()
	if ctx.Planning() && p == nil {
		return []string{st.Accent.Render("… planning the new settings")}
	}
	if p == nil {
		msg := "no plan"
		if perr != nil {
			msg = perr.Error()
		}
		return append([]string{st.Title.Render("Plan")}, common.WrapStyled(st.Error, "✗ "+msg, w, "  ")...)
	}
	var out []string
	// Issues, errors first.
	errs, warns := 0, 0
	for _, is := range p.Issues {
		if is.Severity == core.SevError {
			errs++
		} else {
			warns++
		}
	}
	resharding := ctx.IsMCA() && ctx.MCA.Resharding()
	switch {
	case ctx.Planning():
		out = append(out, st.Accent.Render("… recomputing the plan for the new settings"))
	case errs == 0 && resharding:
		out = append(out, st.OK.Render("✓ the reshard converts")+st.Muted.Render(" · c, then Megatron"))
	case errs == 0 && ctx.IsMCA():
		out = append(out, st.OK.Render("✓ the recorded layout")+st.Muted.Render(": change a setting to reshard"))
	case errs == 0:
		out = append(out, st.OK.Render("✓ the plan converts")+st.Muted.Render(fmt.Sprintf(" · %s", common.Plural(warns, "warning"))))
	case ctx.IsMCA() && !resharding:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+": the rank files do not map back"))
	case resharding:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+" block the reshard")+st.Muted.Render(fmt.Sprintf(" · %s", common.Plural(warns, "warning"))))
	default:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+" block the conversion")+st.Muted.Render(fmt.Sprintf(" · %s", common.Plural(warns, "warning"))))
	}
	specs := m.specs()
	for _, sev := range []core.Severity{core.SevError, core.SevWarning} {
		for _, is := range p.Issues {
			if is.Severity != sev {
				continue
			}
			if f, ok := fieldOf(specs, is); ok {
				is.Message = specs[f].Label + ": " + is.Message
			}
			out = append(out, common.IssueLines(st, is, w)...)
		}
	}
	out = append(out, "")
	out = append(out, m.grid(p, w)...)
	out = append(out, "")
	out = append(out, m.experts(p, w)...)
	out = append(out, "")
	out = append(out, m.rankBars(p, w)...)
	if sel := m.selected(p, w); len(sel) > 0 {
		out = append(out, "")
		out = append(out, sel...)
	}
	return out
}

// grid draws the pipeline: one row per PP stage, one column per virtual chunk.
func (m *Model) grid(p *core.Plan, w int) []string {
	st := m.ctx.Styles
	pp := max(p.Settings.PP, 1)
	vp := 1
	for _, s := range p.Stages {
		vp = max(vp, s.VP+1)
		pp = max(pp, s.PP+1)
	}
	out := []string{st.Title.Render("Pipeline") + st.Muted.Render(fmt.Sprintf("  %d stage(s) × %d virtual chunk(s) · %d decoder layers", pp, vp, p.Dims.Layers))}
	if len(p.Stages) == 0 {
		return append(out, st.Muted.Render("  no stages (the plan could not place the layers)"))
	}
	cells := make([][]string, pp)
	extras := make([][]string, pp)
	for i := range cells {
		cells[i] = make([]string, vp)
		extras[i] = make([]string, vp)
	}
	for _, s := range p.Stages {
		if s.PP >= pp || s.VP >= vp || s.PP < 0 || s.VP < 0 {
			continue
		}
		c := "–"
		if s.Count > 0 {
			c = fmt.Sprintf("L%d–%d (%d)", s.First, s.First+s.Count-1, s.Count)
		} else {
			c = "no layers"
		}
		cells[s.PP][s.VP] = c
	}
	for _, r := range p.Ranks {
		if r.TP != 0 || r.EP != 0 || r.PP >= pp {
			continue
		}
		for _, ch := range r.Chunks {
			if ch.VP < vp && ch.VP >= 0 {
				extras[r.PP][ch.VP] = common.Extras(ch.Extras)
			}
		}
	}
	cw := max((w-5)/vp, 6)
	head := "     "
	for v := 0; v < vp; v++ {
		head += common.Pad(fmt.Sprintf("vp%d", v), cw)
	}
	if vp > 1 {
		out = append(out, st.Muted.Render(head))
	}
	for i := 0; i < pp; i++ {
		row := st.Label.Render(common.Pad(fmt.Sprintf("pp%d", i), 5))
		ex := "     "
		anyEx := false
		for v := 0; v < vp; v++ {
			cell := cells[i][v]
			if cell == "no layers" {
				row += st.Warning.Render(common.Pad(cell, cw))
			} else {
				row += common.Pad(cell, cw)
			}
			if extras[i][v] != "" {
				anyEx = true
			}
			ex += common.Pad(extras[i][v], cw)
		}
		out = append(out, row)
		if anyEx {
			if vp == 1 {
				// One column: let the extras use the whole width.
				for _, l := range common.Wrap(extras[i][0], w-5, "") {
					out = append(out, st.Accent.Render("     "+l))
				}
			} else {
				out = append(out, st.Accent.Render(ex))
			}
		}
	}
	return out
}

func (m *Model) experts(p *core.Plan, w int) []string {
	st := m.ctx.Styles
	e := p.Dims.Experts
	ep := max(p.Settings.EP, 1)
	if e == 0 {
		return []string{st.Title.Render("Experts") + st.Muted.Render("  dense model: nothing to split")}
	}
	per := e / ep
	out := []string{st.Title.Render("Experts") + st.Muted.Render(fmt.Sprintf("  EP %d · %d experts", ep, e))}
	if e%ep != 0 {
		return append(out, st.Error.Render(fmt.Sprintf("  %d experts do not divide by EP %d", e, ep)))
	}
	var parts []string
	for r := 0; r < ep; r++ {
		parts = append(parts, fmt.Sprintf("ep%d: %d–%d", r, r*per, (r+1)*per-1))
	}
	line := "  " + fmt.Sprintf("%d per rank, local 0–%d · ", per, per-1) + strings.Join(parts, " · ")
	return append(out, common.Wrap(line, w, "  ")...)
}

func (m *Model) rankBars(p *core.Plan, w int) []string {
	st := m.ctx.Styles
	var total, largest int64
	big := -1
	for i, r := range p.Ranks {
		total += r.Bytes
		if r.Bytes > largest {
			largest, big = r.Bytes, i
		}
	}
	out := []string{st.Title.Render("Rank files") + st.Muted.Render(fmt.Sprintf("  %d · %s in all", len(p.Ranks), common.Bytes(total)))}
	if big >= 0 {
		out = append(out, st.Muted.Render("  largest: ")+st.BarBig.Render(common.RankLabel(p.Ranks[big].Path))+st.Muted.Render(" "+common.Bytes(largest)))
	}
	lw := 0
	for _, r := range p.Ranks {
		lw = max(lw, common.Width(common.RankLabel(r.Path)))
	}
	lw = min(lw, 18)
	bw := w - lw - 17
	for i, r := range p.Ranks {
		fill := st.BarFill
		mark := ""
		if i == big {
			fill = st.BarBig
			mark = " ◀"
		}
		f := 0.0
		if largest > 0 {
			f = float64(r.Bytes) / float64(largest)
		}
		line := "  " + common.Pad(common.RankLabel(r.Path), lw) + " "
		if bw >= 4 {
			line += bar.Render(f, bw, fill, st.BarEmpty) + " "
		}
		line += common.PadLeft(common.Bytes(r.Bytes), 10) + mark
		out = append(out, line)
	}
	return out
}

func (m *Model) selected(p *core.Plan, w int) []string {
	ctx := m.ctx
	st := ctx.Styles
	i := ctx.Selected
	if i < 0 || ctx.Ck == nil || i >= len(ctx.Ck.Tensors) {
		if ctx.IsMCA() && !ctx.MCA.Resharding() {
			return common.WrapStyled(st.Muted, "select a weight in 3 Weights or 4 Mapping to see which rank files hold it", w, "")
		}
		return common.WrapStyled(st.Muted, "select a weight in 3 Weights or 4 Mapping to see where it lands", w, "")
	}
	out := []string{st.Title.Render("Selected") + " " + common.TruncateLeft(ctx.Ck.Tensors[i].Name, max(w-9, 8))}
	g := groupOf(p, i)
	if g == nil {
		return append(out, st.Error.Render("  ✗ left out of the plan: see 4 Mapping"))
	}
	arrow := "→"
	if ctx.IsMCA() && !ctx.MCA.Resharding() {
		arrow = "←"
	}
	out = append(out, st.Muted.Render(fmt.Sprintf("  %s %s (%s) in %s:", arrow, common.Truncate(g.Name, max(w-30, 10)), g.Split, common.Plural(len(g.Dests), "place"))))
	for j, d := range g.Dests {
		if j == 16 {
			out = append(out, st.Muted.Render(fmt.Sprintf("  … %d more", len(g.Dests)-16)))
			break
		}
		out = append(out, "  "+common.DestLine(p, d, w-2))
	}
	return out
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	if m.editing {
		return []key.Binding{k.Submit, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Dec, k.Inc, k.Edit, k.PageDown, k.Convert}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Dec, k.Inc, k.Edit, k.PageUp, k.PageDown, k.Convert}}
}
