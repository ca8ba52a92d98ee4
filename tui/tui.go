// Package tui is omnitui's interactive app. The root model only routes: it owns
// the shared context, sends keys to the active view and every other message to
// all views, switches views, and lays out the header, the body, the status line
// and the help. Each view lives in its own package.
package tui

import (
	"errors"
	"fmt"
	"os"

	"github.com/omnitui/omnitui/loader/safetext"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

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
	profile   colorprofile.Profile
	dark      bool
	planner   common.Planner
	converter common.Converter
	classify  func(string) string

	outBase string

	hfConverter    common.HFConverter
	reshardPlanner common.ReshardPlanner
	resharder      common.Resharder
}

// WithColors draws for a colour profile and background (tests pass
// colorprofile.Ascii: no colours, no attributes). The running app starts from the
// detected profile and a dark background, and follows what the terminal reports.
func WithColors(p colorprofile.Profile, dark bool) Option {
	return func(o *options) { o.profile, o.dark = p, dark }
}

// WithOutputBase proposes default output directories in dir (tests use it for
// stable screens); by default they go beside the input, outside any repository.
func WithOutputBase(dir string) Option { return func(o *options) { o.outBase = dir } }

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

	// Quitting while a conversion runs asks first (the conversion goes on
	// meanwhile): quitAsk is the open question, ctrlCAt when ctrl+c last asked (a
	// second ctrl+c within ForceQuitWindow forces), and aborted records a confirmed
	// quit, so Run cancels, cleans up and reports it.
	quitAsk  bool
	ctrlCAt  time.Time
	aborted  bool
	abortOut string
	now      func() time.Time

	width, height int
}

// ForceQuitWindow is how soon a second ctrl+c must follow the first to quit
// without answering the question.
const ForceQuitWindow = time.Second

// ErrQuitDuringConversion is returned by Run when the user quit while a
// conversion was running: it was canceled and nothing was written.
var ErrQuitDuringConversion = errors.New("quit during the conversion")

// New builds the app over an opened checkpoint. path is what the user typed; s
// are the initial settings.
func New(ck *loader.Checkpoint, path string, s core.Settings, opts ...Option) *Model {
	o := buildOptions(opts)
	st := styles.New(o.profile, o.dark)
	ctx := common.NewContext(ck, path, s, st, keymap.Default(), o.planner, o.converter, o.classify)
	ctx.OutBase = o.outBase
	return newModel(ctx)
}

func buildOptions(opts []Option) options {
	o := options{profile: colorprofile.TrueColor, dark: true, planner: defaultPlanner, converter: defaultConverter, classify: defaultClassifier, hfConverter: defaultHFConverter,
		reshardPlanner: defaultReshardPlanner, resharder: defaultResharder}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// newModel builds the views over the shared context.
func newModel(ctx *common.Context) *Model {
	m := &Model{ctx: ctx, width: 80, height: 24, now: time.Now}
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
	m.restyleHelp()
	m.layout()
	return m
}

func (m *Model) restyleHelp() {
	st := m.ctx.Styles
	m.help.Styles.ShortKey = st.HelpKey
	m.help.Styles.ShortDesc = st.HelpDesc
	m.help.Styles.ShortSeparator = st.HelpSep
	m.help.Styles.FullKey = st.HelpKey
	m.help.Styles.FullDesc = st.HelpDesc
	m.help.Styles.FullSeparator = st.HelpSep
	m.help.Styles.Ellipsis = st.HelpSep
}

// restyle rebuilds the styles in place (every component reads them through the
// shared context) for a new colour profile or background.
func (m *Model) restyle(p colorprofile.Profile, dark bool) {
	*m.ctx.Styles = *styles.New(p, dark)
	m.restyleHelp()
}

// Run opens the app full-screen and blocks until the user quits. A conversion
// still running is canceled, and its cleanup awaited, before Run returns.
func Run(ck *loader.Checkpoint, path string, s core.Settings) error {
	return runProgram(New(ck, path, s, WithColors(detectProfile(), true)))
}

// detectProfile is the colour profile of stdout (honouring NO_COLOR and TERM).
// The background is asked for once the program owns the terminal (Init).
func detectProfile() colorprofile.Profile { return colorprofile.Detect(os.Stdout, os.Environ()) }

func runProgram(m *Model) error {
	p := tea.NewProgram(m)
	_, err := p.Run()
	m.Close()
	if err != nil {
		return fmt.Errorf("the interactive app failed: %w (use --batch to convert without it)", err)
	}
	return m.QuitErr()
}

// QuitErr is what quitting left to report once Close has returned: nil, or,
// when the user quit during a conversion that did not finish, an error saying
// that it was canceled and nothing was written (wrapping ErrQuitDuringConversion).
func (m *Model) QuitErr() error {
	if !m.aborted || m.conv.Finished() {
		return nil
	}
	return fmt.Errorf("%w: canceled; nothing was written under %s", ErrQuitDuringConversion, m.abortOut)
}

// QuitAsking reports whether the app is asking whether to quit (tests read it).
func (m *Model) QuitAsking() bool { return m.quitAsk }

// SetClock replaces time.Now for the double ctrl+c window (tests use it).
func (m *Model) SetClock(now func() time.Time) { m.now = now }

// Close cancels a running conversion and waits for its cleanup.
func (m *Model) Close() { m.conv.Shutdown(30 * time.Second) }

// Context is the shared state (tests inspect it).
func (m *Model) Context() *common.Context { return m.ctx }

// Active is the view shown.
func (m *Model) Active() common.ViewID { return m.active }

// View returns the component of a view (tests drive them).
func (m *Model) Component(v common.ViewID) common.Component { return m.views[v] }

// Init asks the terminal for its background colour (the styles follow it); the
// plan is already built.
func (m *Model) Init() tea.Cmd { return tea.RequestBackgroundColor }

func (m *Model) layout() {
	w, h := m.width, m.height
	m.help.SetWidth(w)
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
	case tea.BackgroundColorMsg:
		m.restyle(m.ctx.Styles.Profile, msg.IsDark())
		return m, nil
	case tea.ColorProfileMsg:
		m.restyle(msg.Profile, m.ctx.Styles.Dark)
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.MouseWheelMsg:
		return m, m.wheel(msg.Mouse())
	case tea.MouseClickMsg:
		return m, m.click(msg.Mouse())
	case tea.PasteMsg:
		// Pasted text goes to the text field being edited, and nowhere else.
		if cur := m.views[m.active]; cur.Capturing() && !m.quitAsk {
			return m, cur.Update(msg)
		}
		return m, nil
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

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	km := m.ctx.Keys
	cur := m.views[m.active]
	if m.quitAsk {
		return m.answerQuit(k)
	}
	if key.Matches(k, km.Interrupt) {
		return m.quit(true)
	}
	if cur.Capturing() {
		return cur.Update(k)
	}
	switch {
	case key.Matches(k, km.Quit):
		return m.quit(false)
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

// wheel scrolls the active view (text fields being edited keep the wheel out).
func (m *Model) wheel(ms tea.Mouse) tea.Cmd {
	d := 0
	switch ms.Button {
	case tea.MouseWheelUp:
		d = -1
	case tea.MouseWheelDown:
		d = 1
	default:
		return nil
	}
	cur := m.views[m.active]
	if cur.Capturing() || m.quitAsk {
		return nil
	}
	if w, ok := cur.(common.Wheeler); ok {
		return w.Wheel(ms.X, ms.Y-1, d)
	}
	k := tea.KeyPressMsg{Code: tea.KeyDown}
	if d < 0 {
		k.Code = tea.KeyUp
	}
	return cur.Update(k)
}

// click selects a tab on the first line, or hands a left click in the body to
// the active view (as a common.ClickMsg relative to the body).
func (m *Model) click(ms tea.Mouse) tea.Cmd {
	cur := m.views[m.active]
	if ms.Button != tea.MouseLeft || cur.Capturing() || m.quitAsk {
		return nil
	}
	if ms.Y == 0 {
		if v, ok := tabs.Hit(m.ctx.Styles, m.active, m.width, ms.X); ok {
			return m.show(v)
		}
		return nil
	}
	if bh := m.height - 2 - m.helpHeight(); ms.Y > bh {
		return nil
	}
	return cur.Update(common.ClickMsg{X: ms.X, Y: ms.Y - 1})
}

// quit quits at once, or, while a conversion runs, asks first.
func (m *Model) quit(ctrlC bool) tea.Cmd {
	if !m.conv.Running() {
		return tea.Quit
	}
	m.quitAsk = true
	if ctrlC {
		m.ctrlCAt = m.now()
	}
	return nil
}

// answerQuit handles a key while the quit question is open: y (or a second
// ctrl+c within ForceQuitWindow) quits, canceling the conversion; n or esc
// keeps converting. Other keys wait for an answer.
func (m *Model) answerQuit(k tea.KeyPressMsg) tea.Cmd {
	km := m.ctx.Keys
	switch {
	case key.Matches(k, km.Interrupt):
		now := m.now()
		if !m.ctrlCAt.IsZero() && now.Sub(m.ctrlCAt) <= ForceQuitWindow {
			return m.abort()
		}
		m.ctrlCAt = now
	case key.Matches(k, km.Yes):
		return m.abort()
	case key.Matches(k, km.No):
		m.quitAsk = false
		m.ctrlCAt = time.Time{}
	}
	return nil
}

// abort ends the program; Run (through Close) cancels the conversion and waits
// for its cleanup.
func (m *Model) abort() tea.Cmd {
	m.quitAsk = false
	if !m.conv.Running() {
		return tea.Quit // it ended while asking: nothing to cancel
	}
	m.aborted = true
	m.abortOut = m.conv.RunOut()
	return tea.Quit
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

// HelpKeys are the keys the full help lists now, in order (tests check them).
func (m *Model) HelpKeys() []string {
	var out []string
	for _, g := range m.keyMap().FullHelp() {
		for _, b := range g {
			out = append(out, b.Help().Key)
		}
	}
	return out
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
	// Each key once: a view's own entry wins over the global one (Placement's
	// c convert), and a key listed twice by a view is listed once.
	groups := append(append([][]key.Binding(nil), cur.FullHelp()...), km.Global())
	if cur.Capturing() {
		// A text field has the keys: only its own keys act, and ctrl+c.
		groups = [][]key.Binding{cur.ShortHelp(), {km.Interrupt}}
	}
	seen := map[string]bool{}
	var full [][]key.Binding
	for _, g := range groups {
		var col []key.Binding
		for _, b := range g {
			if k := b.Help().Key; !seen[k] {
				seen[k] = true
				col = append(col, b)
			}
		}
		if len(col) > 0 {
			full = append(full, col)
		}
	}
	return keyMap{short: short, full: full}
}

// View is the frame bubbletea draws: the screen on the alternate screen, with
// mouse reports (wheel and clicks). Keyboard enhancements (key disambiguation)
// and synchronized output are requested by bubbletea itself where the terminal
// supports them.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Screen())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "omnitui"
	return v
}

// Screen draws the app in exactly the terminal's size.
func (m *Model) Screen() string {
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
	if m.quitAsk {
		q := "Quit? The conversion (" + m.conv.StatusNote() + ") is canceled and nothing is written."
		if !m.conv.Running() {
			q = "Quit? The conversion has ended."
		}
		b.WriteString(common.Pad(st.Warning.Render(common.Truncate(q, w)), w))
	} else {
		b.WriteString(statusbar.View(m.ctx, m.conv.StatusNote(), w))
	}
	b.WriteByte('\n')
	var hv string
	if m.quitAsk {
		hv = m.help.ShortHelpView([]key.Binding{
			key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "quit")),
			key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n/esc", "keep converting")),
			key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "again to force")),
		})
	} else if m.fullHelp {
		hv = m.help.FullHelpView(m.keyMap().FullHelp())
	} else {
		hv = m.help.ShortHelpView(m.keyMap().ShortHelp())
	}
	b.WriteString(common.Fit(common.Lines(hv), w, m.helpHeight()))
	// Names and values are escaped where they are drawn; this is the net for any
	// that is not: only styling sequences reach the terminal.
	return safetext.Frame(b.String())
}
