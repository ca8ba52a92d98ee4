// Package convert is the Convert view: choose the output directory and dtype,
// confirm, and watch the conversion. core.Convert runs on its own goroutine and
// reports through a channel that a tea.Cmd waits on, so the UI never blocks; esc
// cancels it through its context.
package convert

import (
	"context"
	"errors"
	"fmt"
	"github.com/omnitui/omnitui/loader/safetext"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// State is the view's phase.
type State int

// Phases.
const (
	StateForm State = iota
	StateConfirmReplace
	StateRunning
	StateDone
	StateFailed
	StateCanceled
)

// DTypes are the output dtype choices.
var DTypes = []string{"keep", "bf16", "fp16", "fp32"}

// The form's fields.
const (
	focusOut = iota
	focusDType
	focusStart
	focusFormat // Megatron checkpoints: Hugging Face or a reshard
	focusTake0  // Megatron checkpoints: keep rank 0's copy where copies disagree
)

// fields are the form's fields in order.
func (m *Model) fields() []int {
	if m.ctx.IsMCA() {
		return []int{focusOut, focusFormat, focusTake0, focusStart}
	}
	return []int{focusOut, focusDType, focusStart}
}

// at is the field under the cursor.
func (m *Model) at() int { return m.fields()[m.focus] }

// Model is the Convert view.
type Model struct {
	ctx    *common.Context
	state  State
	focus  int
	out    common.Input
	note   string // a message under the form
	staged staged // a split conversion staged for the output (staged.go)

	existing *core.Existing // what the output directory holds, while asking to replace it

	startWhenReady bool // Convert was pressed while the plan was being rebuilt
	takeRank0      bool // Megatron input: keep the first copy where copies disagree
	reshard        bool // Megatron input: write Megatron with the layout of 5 Placement, not Hugging Face
	formatChosen   bool // the user picked reshard or Hugging Face; until then it follows 5 Placement

	runs int
	run  *run
	last core.Progress
	res  *core.Result
	err  error

	width, height int
}

// run is one conversion in flight.
type run struct {
	id      int
	plan    *core.Plan
	shards  []core.HFShard // Megatron -> HF: the files being written
	out     string
	started time.Time
	cancel  context.CancelFunc
	notify  chan struct{} // a progress event is waiting (capacity 1: events coalesce)
	done    chan struct{} // closed when the converter returned

	mu       sync.Mutex
	latest   core.Progress
	result   *core.Result
	err      error
	canceled bool
}

// progressMsg carries the latest progress of run id.
type progressMsg struct {
	id int
	p  core.Progress
}

// doneMsg says run id finished.
type doneMsg struct {
	id  int
	p   core.Progress
	res *core.Result
	err error
}

// tickMsg refreshes the elapsed time while nothing else arrives.
type tickMsg struct{ id int }

// New makes the Convert view.
func New(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, out: common.NewInput("", "output directory")}
	m.out.SetValue(defaultOut(ctx))
	return m
}

func defaultOut(ctx *common.Context) string {
	return defaultOutSuffix(ctx, "-mca")
}

// defaultOutSuffix is common.DefaultOutput for the opened checkpoint.
func defaultOutSuffix(ctx *common.Context, suffix string) string {
	dir := ctx.Path
	if dir == "" && ctx.Ck != nil {
		dir = ctx.Ck.Dir
	}
	if ctx.IsMCA() && suffix == "-mca" {
		suffix = "-hf"
	}
	return common.DefaultOutput(dir, suffix, ctx.OutBase)
}

// State is the current phase (tests read it).
func (m *Model) State() State { return m.state }

// Result is the finished conversion's summary, if any.
func (m *Model) Result() *core.Result { return m.res }

// Err is the failed conversion's error, if any.
func (m *Model) Err() error { return m.err }

// SetOut sets the output directory field (tests use it).
func (m *Model) SetOut(p string) { m.out.SetValue(p) }

// SetSize sets the body size.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// Capturing reports whether the output field takes the keys.
func (m *Model) Capturing() bool {
	return m.state == StateForm && m.at() == focusOut && m.out.Focused()
}

// RunOut is the output directory of the latest conversion ("" before any).
func (m *Model) RunOut() string {
	if m.run == nil {
		return ""
	}
	return m.run.out
}

// Finished reports whether the latest conversion completed and wrote its
// output (safe to call after Shutdown, when its goroutine has returned).
func (m *Model) Finished() bool {
	r := m.run
	if r == nil {
		return false
	}
	select {
	case <-r.done:
	default:
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err == nil && r.result != nil
}

// Running reports whether a conversion is in flight.
func (m *Model) Running() bool { return m.state == StateRunning }

// Activate puts the cursor on the output field (enter edits it).
func (m *Model) Activate() tea.Cmd {
	if m.state == StateForm && !m.out.Focused() {
		m.focus = focusOut
	}
	m.followPlacement()
	return nil
}

// followPlacement makes writing Megatron (the reshard) the default for a
// Megatron checkpoint once a setting differs from the recorded layout in 5
// Placement, and Hugging Face again at the recorded layout, until the user picks.
func (m *Model) followPlacement() {
	if x := m.ctx.MCA; x != nil && !m.formatChosen && m.state == StateForm {
		m.setReshard(x.Resharding())
	}
}

// Shutdown cancels a running conversion and waits (up to timeout) until the
// converter has cleaned up, so quitting never leaves half-written output.
func (m *Model) Shutdown(timeout time.Duration) {
	r := m.run
	if r == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(timeout):
	}
}

func (m *Model) dtypeIndex() int {
	d := m.ctx.Settings.DType
	for i, v := range DTypes {
		if v == d {
			return i
		}
	}
	return 0
}

// Update handles keys and the conversion's messages.
func (m *Model) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case common.PlanChangedMsg:
		m.followPlacement()
		if m.startWhenReady && m.state == StateForm && !m.ctx.Planning() {
			return m.submit()
		}
		return nil
	case progressMsg:
		if m.run == nil || msg.id != m.run.id {
			return nil
		}
		m.last = msg.p
		return m.run.wait()
	case tickMsg:
		if m.run == nil || msg.id != m.run.id || m.state != StateRunning {
			return nil
		}
		return tick(msg.id)
	case doneMsg:
		if m.run == nil || msg.id != m.run.id {
			return nil
		}
		m.last = msg.p
		m.res, m.err = msg.res, msg.err
		switch {
		case msg.err == nil:
			m.state = StateDone
		case errors.Is(msg.err, context.Canceled) || m.run.canceledFlag():
			m.state = StateCanceled
		default:
			m.state = StateFailed
		}
		m.run.cancel()
		return nil
	case tea.KeyPressMsg:
		return m.key(msg)
	case tea.PasteMsg:
		if m.Capturing() && m.out.Update(msg) {
			m.note = ""
		}
	}
	return nil
}

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	km := m.ctx.Keys
	switch m.state {
	case StateRunning:
		if key.Matches(k, km.Cancel) && m.run != nil {
			m.run.setCanceled()
			m.run.cancel()
			m.note = "canceling…"
		}
		return nil
	case StateConfirmReplace:
		switch {
		case key.Matches(k, km.Yes):
			return m.start(true)
		case key.Matches(k, km.No):
			m.state = StateForm
			m.note = "not replaced: choose another output directory"
			m.focus = 0
			m.out.Focus()
		}
		return nil
	case StateDone, StateFailed, StateCanceled:
		if key.Matches(k, km.Restart) {
			m.state = StateForm
			m.note = ""
			m.focus = len(m.fields()) - 1
		}
		return nil
	}
	// The form.
	nf := len(m.fields())
	if m.at() == focusOut && m.out.Focused() {
		switch k.String() {
		case "enter", "down":
			m.out.Blur()
			m.focus = 1
		case "up":
			m.out.Blur()
			m.focus = nf - 1
		case "esc":
			m.out.Blur()
		default:
			if m.out.Update(k) {
				m.note = ""
			}
		}
		return nil
	}
	switch {
	case key.Matches(k, km.Up):
		m.focus = (m.focus + nf - 1) % nf
	case key.Matches(k, km.Down):
		m.focus = (m.focus + 1) % nf
	case key.Matches(k, km.Back):
		return func() tea.Msg { return common.BackMsg{} }
	case m.at() == focusTake0 && (key.Matches(k, km.Inc) || key.Matches(k, km.Dec) || key.Matches(k, km.Edit)):
		m.takeRank0 = !m.takeRank0
	case m.at() == focusFormat && (key.Matches(k, km.Inc) || key.Matches(k, km.Dec) || key.Matches(k, km.Edit)):
		m.setReshard(!m.reshard)
		m.formatChosen = true
	case m.at() == focusDType && (key.Matches(k, km.Inc) || key.Matches(k, km.Dec) || key.Matches(k, km.Edit)):
		d := 1
		if key.Matches(k, km.Dec) {
			d = -1
		}
		s := m.ctx.Settings
		s.DType = DTypes[(m.dtypeIndex()+d+len(DTypes))%len(DTypes)]
		return m.ctx.SetSettings(s)
	case key.Matches(k, km.Edit):
		switch m.at() {
		case focusOut:
			m.out.Focus()
		case focusStart:
			return m.submit()
		}
	}
	return nil
}

// Submit starts the conversion from the form, as pressing Convert does.
func (m *Model) Submit() tea.Cmd { return m.submit() }

func (m *Model) submit() tea.Cmd {
	out := strings.TrimSpace(m.out.Value())
	if out == "" {
		m.note = "enter an output directory first"
		m.focus = 0
		m.out.Focus()
		return nil
	}
	if m.ctx.Planning() {
		// Start as soon as the plan for the current settings is in.
		m.startWhenReady = true
		m.note = "waiting for the plan of the new settings…"
		return nil
	}
	m.startWhenReady = false
	if x := m.ctx.MCA; x != nil && m.reshard {
		switch {
		case !x.Resharding():
			m.note = "choose the new layout in 5 Placement first: it is the recorded one"
			return nil
		case x.Target.Reshard == nil || x.Target.Reshard.HasErrors():
			m.note = "the reshard plan has errors: fix them in 5 Placement first"
			return nil
		case x.Resharder == nil:
			m.note = "this build cannot reshard (no converter)"
			return nil
		}
	} else if x != nil {
		switch {
		case x.Reverse == nil || m.ctx.HasErrors():
			m.note = "the checkpoint does not map back to Hugging Face: 1 Overview says why"
			return nil
		case x.HFConverter == nil:
			m.note = "this build cannot convert (no converter)"
			return nil
		}
	} else if core.IsNoTemplate(m.ctx.PlanErr) {
		m.note = "this model type has no template: omnitui cannot convert it"
		return nil
	} else if m.ctx.Plan == nil || m.ctx.HasErrors() {
		m.note = "the plan has errors: fix them in 5 Placement first"
		return nil
	} else if m.ctx.Converter == nil {
		m.note = "this build cannot convert (no converter)"
		return nil
	}
	e, err := core.InspectOutput(out)
	switch {
	case err != nil:
		m.note = err.Error()
		return nil
	case e == nil:
		return m.start(false)
	case !e.Replaceable():
		// Nothing but a checkpoint omnitui could have written is ever replaced.
		m.note = e.Refusal("output directory").Error()
		m.focus = 0
		m.out.Focus()
		return nil
	}
	m.existing = e
	m.state = StateConfirmReplace
	return nil
}

func (m *Model) start(force bool) tea.Cmd {
	out := strings.TrimSpace(m.out.Value())
	if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	m.runs++
	cctx, cancel := context.WithCancel(context.Background())
	r := &run{id: m.runs, plan: m.ctx.Plan, out: out, started: time.Now(), cancel: cancel,
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	m.run = r
	m.state = StateRunning
	m.note = ""
	m.res, m.err = nil, nil
	m.last = core.Progress{}
	job := m.job(out, force, r)
	go func() {
		defer close(r.done)
		res, err := safeRun(func() (*core.Result, error) { return job(cctx) })
		r.mu.Lock()
		r.result, r.err = res, err
		r.mu.Unlock()
	}()
	return tea.Batch(r.wait(), tick(r.id))
}

// job is the conversion to run: HF -> Megatron through the plan, or, for a
// Megatron checkpoint, back to Hugging Face through the reverse plan.
func (m *Model) job(out string, force bool, r *run) func(context.Context) (*core.Result, error) {
	if x := m.ctx.MCA; x != nil && m.reshard {
		conv, rs := x.Resharder, x.Target.Reshard
		r.plan = rs.Plan
		gopt := core.GatherOptions{TakeRank0: m.takeRank0}
		opt := core.ConvertOptions{Out: out, Force: force, Progress: r.report}
		return func(ctx context.Context) (*core.Result, error) { return conv(ctx, rs, gopt, opt) }
	}
	if x := m.ctx.MCA; x != nil {
		conv, rp := x.HFConverter, x.Reverse
		r.shards = rp.PlanHFShards(0)
		opt := core.ToHFOptions{Out: out, Force: force, TakeRank0: m.takeRank0, Progress: r.report}
		return func(ctx context.Context) (*core.Result, error) { return conv(ctx, rp, opt) }
	}
	conv, ck, plan := m.ctx.Converter, m.ctx.Ck, m.ctx.Plan
	opt := core.ConvertOptions{Out: out, Force: force, Progress: r.report}
	return func(ctx context.Context) (*core.Result, error) { return conv(ctx, ck, plan, opt) }
}

// safeRun turns a converter panic into an error, so the app shows it instead of crashing.
func safeRun(f func() (*core.Result, error)) (res *core.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("the converter crashed (%v): this is a bug in omnitui, please report it", r)
		}
	}()
	return f()
}

func (r *run) report(p core.Progress) {
	p.RankBytes = append([]int64(nil), p.RankBytes...)
	r.mu.Lock()
	r.latest = p
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *run) snapshot() core.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest
}

func (r *run) setCanceled() {
	r.mu.Lock()
	r.canceled = true
	r.mu.Unlock()
}

func (r *run) canceledFlag() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.canceled
}

// wait is the Cmd that blocks until the converter reports or finishes.
func (r *run) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case <-r.notify:
			return progressMsg{id: r.id, p: r.snapshot()}
		case <-r.done:
			r.mu.Lock()
			defer r.mu.Unlock()
			return doneMsg{id: r.id, p: r.latest, res: r.result, err: r.err}
		}
	}
}

func tick(id int) tea.Cmd {
	return tea.Tick(500*time.Millisecond, func(time.Time) tea.Msg { return tickMsg{id: id} })
}

// View draws the current phase.
func (m *Model) View() string {
	var lines []string
	switch m.state {
	case StateForm:
		lines = m.formView()
	case StateConfirmReplace:
		lines = m.confirmView()
	case StateRunning:
		lines = m.runningView()
	default:
		lines = m.finishView()
	}
	return common.Fit(lines, m.width, m.height)
}

func (m *Model) formView() []string {
	if m.ctx.IsMCA() {
		return m.mcaFormView()
	}
	ctx := m.ctx
	st := ctx.Styles
	w := m.width
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 12)) }
	cur := func(f int) string {
		if f == m.at() {
			return "› "
		}
		return "  "
	}
	out := []string{st.Title.Render("Convert") + st.Muted.Render("  write the Megatron-Core checkpoint"), ""}
	field := m.out.View(max(w-16, 8), st)
	out = append(out, cur(focusOut)+lbl("output dir")+field)
	dt := ctx.Settings.DType
	if dt == "" {
		dt = "keep"
	}
	dv := dt
	if m.at() == focusDType {
		dv = "‹ " + dt + " ›"
	}
	out = append(out, cur(focusDType)+lbl("dtype")+dv+st.Muted.Render("  (keep = as in the checkpoint)"))
	out = append(out, cur(focusStart)+lbl("")+m.startButton())
	out = append(out, "")
	if p := ctx.Plan; p != nil {
		var bytes int64
		for _, r := range p.Ranks {
			bytes += r.Bytes
		}
		// Counted as 4 Mapping and the progress below count them: Megatron tensors
		// (one per op group; TP slices of one are not counted again).
		set := p.Settings
		out = append(out, lbl("plan")+common.SettingsLine(set.TP, set.PP, set.VPP, set.EP, set.ETP)+
			st.Muted.Render(fmt.Sprintf(" · %s · %s · %s", common.Plural(len(p.Ranks), "rank file"), common.Plural(len(p.Groups), "Megatron tensor"), common.Bytes(bytes))))
	}
	if ctx.HasErrors() {
		heading := "✗ the plan has errors; fix them in 5 Placement:"
		if core.IsNoTemplate(ctx.PlanErr) {
			heading = "✗ omnitui cannot convert this model type (no settings fix it):"
		}
		out = append(out, m.planErrorLines(heading, w)...)
	}
	out = append(out, m.stagedLines(w)...)
	if m.note != "" {
		out = append(out, "")
		out = append(out, common.WrapStyled(st.Warning, m.note, w, "  ")...)
	}
	return out
}

// planErrorLines renders a heading and the plan's errors (or the error that kept a plan
// from being built).
func (m *Model) planErrorLines(heading string, w int) []string {
	ctx, st := m.ctx, m.ctx.Styles
	out := []string{st.Error.Render(heading)}
	if ctx.PlanErr != nil && (ctx.Plan == nil || ctx.MCA != nil) {
		return append(out, common.WrapStyled(st.Error, "  "+ctx.PlanErr.Error(), w, "    ")...)
	}
	if ctx.Plan != nil {
		for _, is := range ctx.Plan.Issues {
			if is.Severity == core.SevError {
				out = append(out, common.IssueLines(st, is, w)...)
			}
		}
	}
	return out
}

func (m *Model) confirmView() []string {
	st := m.ctx.Styles
	out := strings.TrimSpace(m.out.Value())
	lines := []string{st.Title.Render("Convert"), ""}
	lines = append(lines, common.WrapStyled(st.Warning, out+" already exists.", m.width, "")...)
	if e := m.existing; e != nil {
		lines = append(lines, common.WrapStyled(st.Value, "holds: "+e.Summary(), m.width, "  ")...)
	}
	lines = append(lines, common.Wrap("Replace it? The old output is removed only once the new one is complete.", m.width, "")...)
	lines = append(lines, "", st.Key.Render("y")+" replace   "+st.Key.Render("n")+" keep it and choose another directory")
	return lines
}

func (m *Model) runningView() []string {
	st := m.ctx.Styles
	w := m.width
	r := m.run
	p := m.last
	elapsed := time.Since(r.started)
	lines := []string{st.Title.Render("Converting") + " → " + common.TruncateLeft(r.out, max(w-15, 8)), ""}
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = float64(p.BytesDone) / float64(p.BytesTotal)
	}
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 9)) }
	lines = append(lines, lbl("overall")+common.ProgressBar(st, frac, max(w-9, 8)))
	noun := "Megatron tensors"
	if x := m.ctx.MCA; x != nil && !m.reshard {
		noun = "HF tensors" // back to Hugging Face: the tensors written are HF's
	}
	lines = append(lines, lbl("")+fmt.Sprintf("%s / %s · %s / %s %s", common.Bytes(p.BytesDone), common.Bytes(p.BytesTotal),
		common.Count(int64(p.TensorsDone)), common.Count(int64(p.TensorsTotal)), noun))
	rate, eta := "–", "–"
	if s := elapsed.Seconds(); s > 0 && p.BytesDone > 0 {
		rate = common.Bytes(int64(float64(p.BytesDone)/s)) + "/s"
		if p.BytesTotal > p.BytesDone {
			eta = common.Duration(time.Duration(float64(elapsed) * float64(p.BytesTotal-p.BytesDone) / float64(p.BytesDone)))
		} else {
			eta = "0s"
		}
	}
	lines = append(lines, lbl("")+fmt.Sprintf("%s · elapsed %s · ETA %s", rate, common.Duration(elapsed), eta))
	lines = append(lines, lbl("tensor")+common.TruncateLeft(safetext.Escape(p.Tensor), max(w-9, 8)))
	if m.note != "" {
		lines = append(lines, st.Warning.Render(m.note))
	} else {
		lines = append(lines, st.Muted.Render("esc cancels; nothing is left under the output name"))
	}
	if r.shards != nil {
		return append(lines, m.shardLines(r, m.height-len(lines))...)
	}
	lines = append(lines, st.Title.Render("rank files"))
	room := m.height - len(lines)
	ranks := r.plan.Ranks
	lw := 0
	for _, rf := range ranks {
		lw = max(lw, common.Width(common.RankLabel(rf.Path)))
	}
	lw = min(lw, 18)
	// Show the ranks being written first when they do not all fit.
	order := make([]int, 0, len(ranks))
	for i := range ranks {
		order = append(order, i)
	}
	if len(order) > room && room > 0 {
		active := order[:0:0]
		rest := []int{}
		for _, i := range order {
			done := rankDone(p, i)
			if done > 0 && done < ranks[i].Bytes {
				active = append(active, i)
			} else {
				rest = append(rest, i)
			}
		}
		order = append(active, rest...)
	}
	for n, i := range order {
		if n >= room-1 && len(order) > room {
			lines = append(lines, st.Muted.Render(fmt.Sprintf("  … %d more", len(order)-n)))
			break
		}
		rf := ranks[i]
		f := 0.0
		if rf.Bytes > 0 {
			f = float64(rankDone(p, i)) / float64(rf.Bytes)
		}
		lines = append(lines, "  "+common.Pad(common.RankLabel(rf.Path), lw)+" "+common.ProgressBar(st, f, max(w-lw-16, 8))+" "+common.PadLeft(common.Bytes(rf.Bytes), 10))
	}
	return lines
}

func rankDone(p core.Progress, i int) int64 {
	if i < len(p.RankBytes) {
		return p.RankBytes[i]
	}
	return 0
}

func (m *Model) finishView() []string {
	st := m.ctx.Styles
	w := m.width
	out := m.run.out
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 9)) }
	var lines []string
	switch {
	case m.state == StateDone && m.run.shards != nil:
		lines = m.mcaDoneLines(out)
	case m.state == StateDone:
		res := m.res
		if res == nil {
			res = &core.Result{Out: out}
		}
		if res.Out != "" {
			out = res.Out
		}
		rate := ""
		if s := res.Elapsed.Seconds(); s > 0 {
			rate = " · " + common.Bytes(int64(float64(res.Bytes)/s)) + "/s"
		}
		lines = append(lines, st.OK.Render("✓ Converted")+st.Muted.Render(" in "+common.Duration(res.Elapsed)), "")
		lines = append(lines, lbl("output")+common.TruncateLeft(out, max(w-9, 8)))
		lines = append(lines, lbl("wrote")+fmt.Sprintf("%s · %s · %s%s", common.Plural(len(res.Files), "rank file"), common.Plural(res.Tensors, "tensor"), common.Bytes(res.Bytes), rate))
		room := m.height - len(lines) - 5
		for i, f := range res.Files {
			if i >= room-1 && len(res.Files) > room {
				lines = append(lines, st.Muted.Render(fmt.Sprintf("  … %d more", len(res.Files)-i)))
				break
			}
			lines = append(lines, "  "+f)
		}
		lines = append(lines, "  mca_config.json, latest_checkpointed_iteration.txt")
		if ck := m.ctx.Ck; ck != nil && len(ck.ExtraFiles) > 0 {
			lines = append(lines, st.Muted.Render("  + "+common.Plural(len(ck.ExtraFiles), "tokenizer/processor file")+" copied"))
		}
	case m.state == StateCanceled:
		lines = append(lines, st.Warning.Render("Conversion canceled"), "")
		lines = append(lines, common.Wrap("nothing was written under "+out, w, "  ")...)
	case m.state == StateFailed:
		lines = append(lines, st.Error.Render("✗ Conversion failed"), "")
		msg := "unknown error"
		if m.err != nil {
			msg = m.err.Error()
		}
		lines = append(lines, common.WrapStyled(st.Error, msg, w, "  ")...)
		lines = append(lines, "", common.Truncate("nothing was left under "+out, w))
	}
	lines = append(lines, "", st.Muted.Render("enter back to the form · q quit"))
	return lines
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	switch m.state {
	case StateRunning:
		return []key.Binding{k.Cancel}
	case StateConfirmReplace:
		return []key.Binding{k.Yes, k.No}
	case StateDone, StateFailed, StateCanceled:
		return []key.Binding{k.Restart, k.Quit}
	}
	if m.Capturing() {
		return []key.Binding{k.Submit, key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "done editing"))}
	}
	return []key.Binding{k.Up, k.Down, k.Edit, k.Back}
}

// FullHelp is the full help.
// It lists only the keys that act now: y/n only while asking, esc once.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	switch m.state {
	case StateRunning:
		return [][]key.Binding{{k.Cancel}}
	case StateConfirmReplace:
		return [][]key.Binding{{k.Yes, k.No}}
	case StateDone, StateFailed, StateCanceled:
		return [][]key.Binding{{k.Restart}}
	}
	if m.Capturing() {
		return [][]key.Binding{m.ShortHelp()}
	}
	return [][]key.Binding{{k.Up, k.Down, k.Edit, k.Dec, k.Inc, k.Back}}
}

// StatusNote is a short note for the status bar while a conversion runs.
func (m *Model) StatusNote() string {
	if m.state != StateRunning {
		return ""
	}
	if m.last.BytesTotal <= 0 {
		return "converting…"
	}
	return fmt.Sprintf("converting %.0f%%", 100*float64(m.last.BytesDone)/float64(m.last.BytesTotal))
}

// startButton renders the form's Convert button, highlighted when it has the focus.
func (m *Model) startButton() string {
	st := m.ctx.Styles
	if m.at() == focusStart && !st.Plain {
		return st.TabActive.Render("Convert")
	}
	return "[ Convert ]"
}
