// Package tui is omnitui's interactive app. The root model only routes: it owns
// the shared context, sends keys to the active view and every other message to
// all views, switches views, and lays out the header, the body, the status line
// and the help. Each view lives in its own package.
package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/omnitui/omnitui/core"
	_ "github.com/omnitui/omnitui/core/families" // the model families the app plans
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/configview"
	"github.com/omnitui/omnitui/tui/convert"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/mapping"
	"github.com/omnitui/omnitui/tui/overview"
	"github.com/omnitui/omnitui/tui/placement"
	"github.com/omnitui/omnitui/tui/statusbar"
	"github.com/omnitui/omnitui/tui/styles"
	"github.com/omnitui/omnitui/tui/tabs"
	"github.com/omnitui/omnitui/tui/weights"
)

// Smallest usable terminal.
const (
	MinWidth  = 40
	MinHeight = 10
)

// QuitWhenIdleMsg quits once the plan for the current settings is in place
// (scripted sessions and tests send it after their keys).
type QuitWhenIdleMsg struct{}

// Option changes how New builds the app.
type Option func(*options)

type options struct {
	renderer  *lipgloss.Renderer
	planner   common.Planner
	converter common.Converter
	classify  func(string) string

	hfConverter    common.HFConverter
	reshardPlanner common.ReshardPlanner
	resharder      common.Resharder
}

// WithRenderer draws with r (tests pass one with the Ascii profile).
func WithRenderer(r *lipgloss.Renderer) Option { return func(o *options) { o.renderer = r } }

// WithPlanner replaces core.BuildPlan.
func WithPlanner(p common.Planner) Option { return func(o *options) { o.planner = p } }

// WithConverter replaces core.Convert.
func WithConverter(c common.Converter) Option { return func(o *options) { o.converter = c } }

// WithClassifier replaces the model family's component classifier (core.ComponentFor).
func WithClassifier(f func(string) string) Option { return func(o *options) { o.classify = f } }

// Model is the root model.
type Model struct {
	ctx      *common.Context
	views    [common.NumViews]common.Component
	conv     *convert.Model
	active   common.ViewID
	prev     common.ViewID
	help     help.Model
	fullHelp bool

	quitWhenIdle bool

	width, height int
}

// New builds the app over an opened checkpoint. path is what the user typed; s
// are the initial settings.
func New(ck *loader.Checkpoint, path string, s core.Settings, opts ...Option) *Model {
	o := buildOptions(opts)
	st := styles.New(o.renderer)
	ctx := common.NewContext(ck, path, s, st, keymap.Default(), o.planner, o.converter, o.classify)
	return newModel(ctx)
}

func buildOptions(opts []Option) options {
	o := options{planner: defaultPlanner, converter: defaultConverter, classify: defaultClassifier, hfConverter: defaultHFConverter,
		reshardPlanner: defaultReshardPlanner, resharder: defaultResharder}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// newModel builds the views over the shared context.
func newModel(ctx *common.Context) *Model {
	st := ctx.Styles
	m := &Model{ctx: ctx, width: 80, height: 24}
	m.conv = convert.New(ctx)
	var cfg common.Component = configview.New(ctx)
	if ctx.IsMCA() {
		cfg = configview.NewMCA(ctx)
	}
	m.views = [common.NumViews]common.Component{
		overview.New(ctx),
		cfg,
		weights.New(ctx),
		mapping.New(ctx),
		placement.New(ctx),
		m.conv,
	}
	if ctx.IsLoRA() {
		m.views = loraViews(ctx, m.conv)
	}
	m.help = help.New()
	m.help.ShortSeparator = " · "
	m.help.Styles.ShortKey = st.HelpKey
	m.help.Styles.ShortDesc = st.HelpDesc
	m.help.Styles.ShortSeparator = st.HelpSep
	m.help.Styles.FullKey = st.HelpKey
	m.help.Styles.FullDesc = st.HelpDesc
	m.help.Styles.FullSeparator = st.HelpSep
	m.help.Styles.Ellipsis = st.HelpSep
	m.layout()
	return m
}

// Run opens the app full-screen and blocks until the user quits. A conversion
// still running is canceled, and its cleanup awaited, before Run returns.
func Run(ck *loader.Checkpoint, path string, s core.Settings) error {
	// The default renderer writes to stdout, honours NO_COLOR, and already knows
	// the terminal's background: bubbletea asks for it at start-up, before it
	// owns the input. A second renderer would ask again and could eat keys.
	r := lipgloss.DefaultRenderer()
	return runProgram(New(ck, path, s, WithRenderer(r)))
}

func runProgram(m *Model) error {
	p := tea.NewProgram(m, tea.WithAltScreen())
	_, err := p.Run()
	m.Close()
	if err != nil {
		return fmt.Errorf("the interactive app failed: %w (use --batch to convert without it)", err)
	}
	return nil
}

// Close cancels a running conversion and waits for its cleanup.
func (m *Model) Close() { m.conv.Shutdown(30 * time.Second) }

// Context is the shared state (tests inspect it).
func (m *Model) Context() *common.Context { return m.ctx }

// Active is the view shown.
func (m *Model) Active() common.ViewID { return m.active }

// View returns the component of a view (tests drive them).
func (m *Model) Component(v common.ViewID) common.Component { return m.views[v] }

// Init starts nothing: the plan is already built.
func (m *Model) Init() tea.Cmd { return nil }

func (m *Model) layout() {
	w, h := m.width, m.height
	m.help.Width = w
	bh := h - 2 - m.helpHeight()
	for _, v := range m.views {
		v.SetSize(w, max(bh, 1))
	}
}

func (m *Model) helpHeight() int {
	if !m.fullHelp {
		return 1
	}
	n := strings.Count(m.help.FullHelpView(m.keyMap().FullHelp()), "\n") + 1
	return max(min(n, m.height-3), 1) // the body keeps at least one line
}

// Update routes a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyMsg:
		return m, m.key(msg)
	case common.PlanBuiltMsg:
		cmds := []tea.Cmd{m.ctx.ApplyPlan(msg)}
		changed := common.PlanChangedMsg{Gen: m.ctx.PlanGen}
		for _, v := range m.views {
			cmds = append(cmds, v.Update(changed))
		}
		if m.quitWhenIdle && !m.ctx.Planning() {
			cmds = append(cmds, tea.Quit)
		}
		return m, tea.Batch(cmds...)
	case QuitWhenIdleMsg:
		if !m.ctx.Planning() {
			return m, tea.Quit
		}
		m.quitWhenIdle = true
		return m, nil
	case common.SwitchViewMsg:
		return m, m.show(msg.View)
	case common.BackMsg:
		return m, m.show(m.prev)
	}
	var cmds []tea.Cmd
	for _, v := range m.views {
		if c := v.Update(msg); c != nil {
			cmds = append(cmds, c)
		}
	}
	return m, tea.Batch(cmds...)
}

func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	km := m.ctx.Keys
	cur := m.views[m.active]
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if cur.Capturing() {
		return cur.Update(k)
	}
	switch {
	case key.Matches(k, km.Quit):
		return tea.Quit
	case key.Matches(k, km.Help):
		m.fullHelp = !m.fullHelp
		m.layout()
		return nil
	case key.Matches(k, km.NextView):
		return m.show((m.active + 1) % (common.ViewPlacement + 1))
	case key.Matches(k, km.PrevView):
		if m.active > common.ViewPlacement {
			return m.show(common.ViewPlacement)
		}
		return m.show((m.active + common.ViewPlacement) % (common.ViewPlacement + 1))
	case key.Matches(k, km.Convert):
		return m.show(common.ViewConvert)
	}
	for i, b := range km.Views() {
		if key.Matches(k, b) {
			return m.show(common.ViewID(i))
		}
	}
	return cur.Update(k)
}

func (m *Model) show(v common.ViewID) tea.Cmd {
	if v < 0 || v >= common.NumViews {
		return nil
	}
	if v != m.active {
		m.prev = m.active
		m.active = v
	}
	if m.fullHelp {
		m.layout()
	}
	return m.views[v].Activate()
}

// keyMap feeds the help view: the active view's keys, then the global ones.
type keyMap struct {
	short []key.Binding
	full  [][]key.Binding
}

func (k keyMap) ShortHelp() []key.Binding  { return k.short }
func (k keyMap) FullHelp() [][]key.Binding { return k.full }

func (m *Model) keyMap() keyMap {
	km := m.ctx.Keys
	cur := m.views[m.active]
	short := append([]key.Binding(nil), cur.ShortHelp()...)
	if !cur.Capturing() {
		for _, g := range []key.Binding{km.NextView, km.Help, km.Quit} {
			dup := false
			for _, b := range short {
				dup = dup || b.Help().Key == g.Help().Key
			}
			if !dup {
				short = append(short, g)
			}
		}
	}
	full := append([][]key.Binding(nil), cur.FullHelp()...)
	full = append(full, km.Global())
	return keyMap{short: short, full: full}
}

// View draws the app in exactly the terminal's size.
func (m *Model) View() string {
	w, h := m.width, m.height
	st := m.ctx.Styles
	if w < MinWidth || h < MinHeight {
		msg := fmt.Sprintf("omnitui needs at least %d×%d; this terminal is %d×%d", MinWidth, MinHeight, w, h)
		return common.Fit(common.Wrap(msg, max(w, 1), ""), max(w, 1), max(h, 1))
	}
	var b strings.Builder
	b.WriteString(tabs.View(st, m.active, w))
	b.WriteByte('\n')
	bh := h - 2 - m.helpHeight()
	b.WriteString(common.Fit(common.Lines(m.views[m.active].View()), w, max(bh, 1)))
	b.WriteByte('\n')
	b.WriteString(statusbar.View(m.ctx, m.conv.StatusNote(), w))
	b.WriteByte('\n')
	var hv string
	if m.fullHelp {
		hv = m.help.FullHelpView(m.keyMap().FullHelp())
	} else {
		hv = m.help.ShortHelpView(m.keyMap().ShortHelp())
	}
	b.WriteString(common.Fit(common.Lines(hv), w, m.helpHeight()))
	return b.String()
}
