// Package placement is view 5: the parallel settings edited in place, and what the
// plan does with them: the pipeline grid of stages × virtual chunks, the expert
// split, bytes per rank file, the plan's errors next to the setting that causes
// them, and the rank files the selected weight lands in.
package placement

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/bar"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/styles"
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
	// lastGood is the last plan shown without errors: the preview while the
	// settings have errors.
	lastGood *core.Plan
	parts    *rankPartBytes // bytes per rank file and part, for the plan it was computed from
	input    common.Input
	right    common.Scroller
	rightN   int
	note     string // why a key did nothing (read-only layouts)
	split    split  // the split into tasks shown (tasks.go)

	width, height int
}

// New makes the placement view.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, input: common.NewInput("", "")}
	m.keepGood()
	return m
}

// Focus is the focused setting (tests read it).
func (m *Model) Focus() Field { return m.focus }

// FocusName is the settings-table name of the focused setting ("" if none).
func (m *Model) FocusName() string {
	if specs := m.specs(); int(m.focus) < len(specs) {
		return specs[m.focus].Name
	}
	return ""
}

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
	switch sp.Name {
	case "vpp":
		if s.VPP == 0 {
			// A layout with k×PP stages implies VPP k.
			if l, err := core.ParseLayout(s.Layout, max(s.PP, 1)); s.Layout != "" && err == nil && l.VP > 1 {
				return fmt.Sprintf("– (layout: %d)", l.VP)
			}
		}
	case "etp":
		if s.ETP == 0 || s.ETP == s.TP {
			return fmt.Sprintf("= TP (%d)", max(s.TP, 1))
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
	switch msg := msg.(type) {
	case tea.PasteMsg:
		if m.editing {
			m.input.Update(msg)
		}
		return nil
	case common.ClickMsg:
		if f, ok := m.fieldAt(msg.X, msg.Y); ok && !m.editing {
			m.focus = f
		}
		return nil
	case common.PlanChangedMsg:
		m.keepGood()
		return nil
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	km := m.ctx.Keys
	if m.editing {
		switch k.String() {
		case "enter":
			m.editing = false
			m.input.Blur()
			return m.commit(strings.TrimSpace(m.input.Value()))
		case "esc":
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
		m.focus = max(m.focus-1, 0) // no wrapping: the last row stays the last
	case key.Matches(k, km.Down):
		m.focus = min(m.focus+1, nf-1)
	case key.Matches(k, km.Top):
		m.focus = 0
	case key.Matches(k, km.Bottom):
		m.focus = nf - 1
	case key.Matches(k, km.Tasks), key.Matches(k, km.FewerTask):
		m.split.step(key.Matches(k, km.Tasks))
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
			// ETP must equal TP: the only step is back to following it.
			if s.ETP == 0 || s.ETP == s.TP {
				return nil
			}
			s.ETP = 0
			return m.apply(s)
		case sp.Kind == core.SettingInt:
			next, ok := m.step(s, sp, sp.IntValue(s), d)
			if !ok {
				return nil
			}
			_ = sp.Set(&s, strconv.Itoa(next))
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

// step is the next value of the focused size in direction d (±1) among those the
// model allows (core.AllowedSizes); without a plan to read the dimensions from,
// the next integer. ok is false at the end of the allowed values.
func (m *Model) step(s core.Settings, sp core.SettingSpec, cur, d int) (int, bool) {
	name, lo := sp.Name, sp.Min
	p, _ := m.plan()
	if p == nil || !sp.Sized || p.Dims.Layers == 0 {
		if cur+d < lo {
			return cur, false
		}
		return cur + d, true
	}
	tmpl, _ := core.LookupTemplate(p.ModelType)
	allowed := core.AllowedSizes(tmpl, p.Dims, s, name)
	if d > 0 {
		for _, v := range allowed {
			if v > cur {
				return v, true
			}
		}
		return cur, false
	}
	for i := len(allowed) - 1; i >= 0; i-- {
		if allowed[i] < cur {
			return allowed[i], true
		}
	}
	return cur, false
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

// block is the verb after "N error(s)".
func block(errs int) string {
	if errs == 1 {
		return " blocks"
	}
	return " block"
}

// warnNote is " · N warning(s)", or nothing without warnings.
func warnNote(st *styles.Styles, warns int) string {
	if warns == 0 {
		return ""
	}
	return st.Muted.Render(" · " + common.Plural(warns, "warning"))
}

// rankPartBytes is how many bytes of each part of the model (core.Component:
// the family's components) each rank file holds, for one plan.
type rankPartBytes struct {
	plan  *core.Plan
	bytes []map[string]int64 // per rank file
}

// top is the part with the most bytes in rank file r.
func (rp *rankPartBytes) top(r int) string {
	best, bb := "", int64(-1)
	for _, c := range core.ComponentOrder(rp.plan.ModelType, rp.bytes[r]) {
		if b := rp.bytes[r][c]; b > bb && b > 0 {
			best, bb = c, b
		}
	}
	return best
}

// rankParts sums the bytes of every destination by rank file and part (cached per plan).
func (m *Model) rankParts(p *core.Plan) *rankPartBytes {
	if m.parts != nil && m.parts.plan == p {
		return m.parts
	}
	rp := &rankPartBytes{plan: p, bytes: make([]map[string]int64, len(p.Ranks))}
	for i := range rp.bytes {
		rp.bytes[i] = map[string]int64{}
	}
	for gi := range p.Groups {
		g := &p.Groups[gi]
		if len(g.HFNames) == 0 {
			continue
		}
		c := m.ctx.Classify(g.HFNames[0])
		size := int64(g.DType.Size())
		for _, d := range g.Dests {
			if d.Rank < 0 || d.Rank >= len(rp.bytes) {
				continue
			}
			b := size
			for _, s := range d.Shape {
				b *= s
			}
			rp.bytes[d.Rank][c] += b
		}
	}
	m.parts = rp
	return rp
}

// partsByStage says, per pipeline stage, how the bytes of one rank file split
// among the parts of the model (the average over the stage's files), largest
// first: where the bytes go, and why the last stage's files are the largest.
func (m *Model) partsByStage(p *core.Plan, rp *rankPartBytes, w int) []string {
	st := m.ctx.Styles
	pp := max(p.Settings.PP, 1)
	if len(p.Ranks) < 2 {
		return nil
	}
	out := []string{st.Muted.Render("  per file, by part:")}
	for s := 0; s < pp; s++ {
		sum, n := map[string]int64{}, int64(0)
		for r := range p.Ranks {
			if p.Ranks[r].PP != s {
				continue
			}
			n++
			for c, b := range rp.bytes[r] {
				sum[c] += b
			}
		}
		if n == 0 {
			continue
		}
		cs := append([]string(nil), core.ComponentOrder(p.ModelType, sum)...)
		sort.SliceStable(cs, func(i, j int) bool { return sum[cs[i]] > sum[cs[j]] })
		var items []string
		for _, c := range cs {
			if sum[c] > 0 {
				items = append(items, core.ComponentTitle(p.ModelType, c)+" "+common.Bytes(sum[c]/n))
			}
		}
		label := fmt.Sprintf("    pp%d ", s)
		if pp == 1 {
			label = "    "
		}
		out = append(out, common.WrapStyled(st.Muted, label+strings.Join(items, " · "), w, "        ")...)
	}
	return out
}

// keepGood remembers the plan shown if it has no errors (see lastGood).
func (m *Model) keepGood() {
	if p, _ := m.plan(); p != nil && !p.HasErrors() && !m.ctx.Planning() {
		m.lastGood = p
	}
}

// formWidth is the width of the settings column (all of it when narrow).
func (m *Model) formWidth() int {
	switch {
	case m.width < 60:
		return m.width
	case m.width < 100:
		return 34
	}
	return 40
}

// fieldAt is the setting drawn at (x, y) of the view, if any: the title line
// comes first, and separators precede the toggles and the skip options.
func (m *Model) fieldAt(x, y int) (Field, bool) {
	if x >= m.formWidth() {
		return 0, false
	}
	row := 1
	for i, sp := range m.specs() {
		f := Field(i)
		if sp.Name == "account_embedding" || sp.Name == "skip_unmapped" { // the separators form draws
			row++
		}
		if row == y {
			return f, true
		}
		row++
	}
	return 0, false
}

// Wheel scrolls the consequences column under the pointer, or moves between
// settings over the form.
func (m *Model) Wheel(x, y, d int) tea.Cmd {
	if x >= m.formWidth() {
		m.right.Offset += 3 * d
		m.right.Clamp(m.rightN, m.height)
		return nil
	}
	if !m.editing {
		m.focus = min(max(m.focus+Field(d), 0), Field(len(m.specs()))-1)
	}
	return nil
}

// View draws the form and the consequences.
func (m *Model) View() string {
	st := m.ctx.Styles
	w, h := m.width, m.height
	formW := m.formWidth()
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
		out = append(out, "")
		out = append(out, common.WrapStyled(st.Muted, m.hint(specs, m.focus), w, "  ")...)
	}
	if x := m.ctx.MCA; x != nil {
		r := x.Recorded
		out = append(out, st.Muted.Render("recorded: "+common.SettingsLine(r.TP, r.PP, r.VPP, r.EP, r.ETP)))
	}
	return out
}

// hint describes the focused setting; for a size, the values ←/→ step through.
func (m *Model) hint(specs []core.SettingSpec, f Field) string {
	if int(f) >= len(specs) {
		return ""
	}
	sp := specs[f]
	h := sp.Hint
	if h == "" {
		return "space toggles"
	}
	if p, _ := m.plan(); p != nil && sp.Sized && p.Dims.Layers > 0 {
		var vs []string
		tmpl, _ := core.LookupTemplate(p.ModelType)
		for _, v := range core.AllowedSizes(tmpl, p.Dims, m.settings(), sp.Name) {
			if v == 0 {
				vs = append(vs, "–")
			} else {
				vs = append(vs, strconv.Itoa(v))
			}
		}
		if len(vs) > 12 {
			vs = append(vs[:6], "…", vs[len(vs)-1])
		}
		h += "; ←/→: " + strings.Join(vs, " ")
	}
	return h
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
		out = append(out, st.OK.Render("✓ the plan converts")+warnNote(st, warns))
	case ctx.IsMCA() && !resharding:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+": the rank files do not map back"))
	case resharding:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+block(errs)+" the reshard")+warnNote(st, warns))
	default:
		out = append(out, st.Error.Render("✗ "+common.Plural(errs, "error")+block(errs)+" the conversion")+warnNote(st, warns))
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
	// An error never blanks the preview: when the settings cannot be placed at
	// all, the last plan without errors stays, marked stale, beside the errors.
	pv := p
	if errs > 0 && len(p.Ranks) == 0 && m.lastGood != nil && m.lastGood != p {
		pv = m.lastGood
		s := pv.Settings
		out = append(out, "")
		out = append(out, common.WrapStyled(st.Warning, "◌ stale: the preview below is of the last valid settings, "+
			common.SettingsLine(s.TP, s.PP, s.VPP, s.EP, s.ETP)+"; fix the error to update it", w, "  ")...)
	}
	p = pv
	// The selected weight comes first, so it is in view however many rank
	// files the bars below list; with nothing selected, the hint comes last.
	sel := m.selected(p, w)
	if ctx.Selected >= 0 {
		out = append(out, "")
		out = append(out, sel...)
	}
	out = append(out, "")
	out = append(out, m.grid(p, w)...)
	out = append(out, "")
	out = append(out, m.experts(p, w)...)
	out = append(out, "")
	out = append(out, m.rankBars(p, w)...)
	if tl := m.taskLines(p, w); len(tl) > 0 {
		out = append(out, "")
		out = append(out, tl...)
	}
	if ctx.Selected < 0 && len(sel) > 0 {
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
	parts := m.rankParts(p)
	if big >= 0 {
		out = append(out, st.Muted.Render("  largest: ")+st.BarBig.Render(common.RankLabel(p.Ranks[big].Path))+st.Muted.Render(" "+common.Bytes(largest)))
		if top := parts.top(big); top != "" && largest > 0 && len(p.Ranks) > 1 {
			out = append(out, common.WrapStyled(st.Muted, fmt.Sprintf("    %d%% of it is %s", 100*parts.bytes[big][top]/largest, core.ComponentTitle(p.ModelType, top)), w, "      ")...)
		}
	}
	out = append(out, m.partsByStage(p, parts, w)...)
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
	full := m.width >= common.FullNamesWidth
	name := ctx.Ck.Tensors[i].Name
	out := []string{st.Title.Render("Selected") + " " + common.MidCut(name, max(w-9, 8))}
	if full && common.Width(name) > w-9 {
		out = []string{st.Title.Render("Selected")}
		for _, l := range common.WrapName(name, w-2) {
			out = append(out, "  "+l)
		}
	}
	if c := ctx.Classify(name); c != "" {
		out = append(out, st.Muted.Render("  part of "+core.ComponentTitle(p.ModelType, c)))
	}
	g := groupOf(p, i)
	if g == nil {
		return append(out, st.Error.Render("  ✗ left out of the plan: see 4 Mapping"))
	}
	arrow := "→"
	if ctx.IsMCA() && !ctx.MCA.Resharding() {
		arrow = "←"
	}
	where := fmt.Sprintf(" in %s:", common.Plural(len(g.Dests), "place"))
	if g.Split != "" {
		where = fmt.Sprintf(" (%s)%s", g.Split, where)
	}
	if full && common.Width(g.Name)+common.Width(where)+4 > w {
		out = append(out, st.Muted.Render("  "+arrow+" "+g.Name))
		out = append(out, st.Muted.Render("   "+where))
	} else {
		out = append(out, st.Muted.Render("  "+arrow+" "+common.MidCut(g.Name, max(w-4-common.Width(where), 10))+where))
	}
	for j, d := range g.Dests {
		if j == 16 {
			out = append(out, st.Muted.Render(fmt.Sprintf("  … %d more", len(g.Dests)-16)))
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
	if m.editing {
		return []key.Binding{k.Submit, k.Cancel}
	}
	return []key.Binding{k.Up, k.Down, k.Dec, k.Inc, k.Edit, k.PageDown, k.Convert}
}

// FullHelp is the full help.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Dec, k.Inc, k.Edit, k.PageUp, k.PageDown, k.Convert}, {k.Tasks, k.FewerTask}}
}
