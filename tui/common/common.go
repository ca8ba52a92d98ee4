// Package common is the state every component of the interactive app shares: the
// opened checkpoint, the current settings and the Plan built from them, the size
// of the body area, the styles and the key map. The root model owns one *Context
// and hands the same pointer to every component.
package common

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// Planner builds the Plan for a checkpoint and settings (core.BuildPlan).
type Planner func(ck *loader.Checkpoint, s core.Settings) (*core.Plan, error)

// Converter executes a Plan (core.Convert).
type Converter func(ctx context.Context, ck *loader.Checkpoint, p *core.Plan, opt core.ConvertOptions) (*core.Result, error)

// Context is the shared state of the app.
type Context struct {
	Ck       *loader.Checkpoint
	Path     string        // the path the user opened, as given
	Settings core.Settings // what the user chose; the plan for it may still be building
	Plan     *core.Plan    // nil when the checkpoint cannot be planned at all (PlanErr says why)
	PlanErr  error
	PlanFor  core.Settings // the settings Plan was built from
	PlanGen  int           // incremented whenever Plan changes, so components can cache per plan

	Styles *styles.Styles
	Keys   *keymap.KeyMap

	Planner   Planner
	Converter Converter
	Classify  func(hfName string) string // top-level component of a tensor (core.ComponentFor the model type)

	// Selected is the tensor (index into Ck.Tensors) chosen anywhere in the app; -1 = none.
	Selected int
	// SelGen is incremented on every selection change.
	SelGen int

	Stats *Stats // totals of the checkpoint, computed once

	// OutBase, when set, is where default output directories are proposed
	// (common.DefaultOutput); tests set it for stable screens.
	OutBase string

	// MCA is set when the app shows a Megatron (mcore_adapter) checkpoint; Ck is
	// then the Hugging Face checkpoint it maps back to (see NewMCAContext).
	MCA *MCA

	// LoRA is set when the app shows a ROLL LoRA checkpoint (see NewLoRAContext).
	LoRA *core.LoRAPlan

	building bool // a plan build is running off the UI goroutine
}

// NewContext builds the shared state and the first Plan (synchronously, so the
// first frame has it).
func NewContext(ck *loader.Checkpoint, path string, s core.Settings, st *styles.Styles, km *keymap.KeyMap,
	planner Planner, conv Converter, classify func(string) string) *Context {
	if classify == nil {
		var cfg *loader.JSONNode
		if ck != nil {
			cfg = ck.Config
		}
		classify = core.ComponentForConfig(cfg)
	}
	c := &Context{Ck: ck, Path: path, Settings: s, Styles: st, Keys: km,
		Planner: planner, Converter: conv, Classify: classify, Selected: -1}
	c.Stats = ComputeStats(ck, classify)
	c.apply(PlanBuiltMsg{For: s, Plan: nil, Err: nil, sync: true})
	return c
}

// PlanBuiltMsg delivers a plan built off the UI goroutine (the Plan, or, for a
// Megatron checkpoint, the reshard plan of the layout chosen in 5 Placement).
type PlanBuiltMsg struct {
	For  core.Settings
	Plan *core.Plan
	Err  error
	sync bool

	target  bool // a reshard plan for MCA.Target
	reshard *core.ReshardPlan
}

func (c *Context) buildPlan(s core.Settings) (*core.Plan, error) {
	if c.Planner == nil {
		return nil, fmt.Errorf("no planner is configured: this build of omnitui cannot plan conversions")
	}
	if c.Ck == nil {
		return nil, fmt.Errorf("no checkpoint is open: run omnitui with a checkpoint directory")
	}
	p, err := safePlan(c.Planner, c.Ck, s)
	if err == nil && p == nil {
		err = fmt.Errorf("the planner returned no plan: this is a bug in omnitui, please report it")
	}
	return p, err
}

// safePlan turns a planner panic into an error, so a bad checkpoint never crashes the app.
func safePlan(pl Planner, ck *loader.Checkpoint, s core.Settings) (p *core.Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("planning failed (%v): this is a bug in omnitui, please report it", r)
		}
	}()
	return pl(ck, s)
}

func (c *Context) apply(m PlanBuiltMsg) {
	if m.sync {
		m.Plan, m.Err = c.buildPlan(m.For)
	}
	c.Plan, c.PlanErr, c.PlanFor = m.Plan, m.Err, m.For
	c.PlanGen++
}

// SetSettings records new settings and returns the command that builds their
// plan off the UI goroutine (nil when a build is already running: its result
// triggers the next build, so fast key repeats coalesce into few builds).
func (c *Context) SetSettings(s core.Settings) tea.Cmd {
	c.Settings = s
	if c.building || s.Equal(c.PlanFor) {
		return nil
	}
	return c.startBuild()
}

func (c *Context) startBuild() tea.Cmd {
	c.building = true
	s := c.Settings
	return func() tea.Msg {
		p, err := c.buildPlan(s)
		return PlanBuiltMsg{For: s, Plan: p, Err: err}
	}
}

// ApplyPlan installs a built plan. If the settings changed meanwhile, it returns
// the command building the plan for the newest settings.
func (c *Context) ApplyPlan(m PlanBuiltMsg) tea.Cmd {
	if m.target {
		return c.applyTarget(m)
	}
	c.building = false
	c.apply(m)
	if !c.Settings.Equal(c.PlanFor) {
		return c.startBuild()
	}
	return nil
}

// Planning reports whether the plan shown is not yet the one for the current settings.
func (c *Context) Planning() bool {
	return c.building || !c.Settings.Equal(c.PlanFor) || (c.MCA != nil && c.MCA.TargetPlanning())
}

// Select makes tensor i the selection everywhere (-1 clears it) and returns the
// message announcing it.
func (c *Context) Select(i int) SelectionMsg {
	if i != c.Selected {
		c.Selected = i
		c.SelGen++
	}
	return SelectionMsg{Tensor: i}
}

// HasErrors reports whether the plan breaks a rule (or could not be built).
func (c *Context) HasErrors() bool {
	if c.Plan == nil {
		return true
	}
	for _, is := range c.Plan.Issues {
		if is.Severity == core.SevError {
			return true
		}
	}
	return false
}

// IssueCounts counts the plan's errors and warnings.
func (c *Context) IssueCounts() (errs, warns int) {
	if c.Plan == nil {
		return 1, 0
	}
	for _, is := range c.Plan.Issues {
		if is.Severity == core.SevError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}

// GroupOf returns the plan group tensor i belongs to, or nil.
func (c *Context) GroupOf(i int) *core.Group {
	p := c.Plan
	if p == nil || i < 0 || i >= len(p.TensorGroup) {
		return nil
	}
	g := p.TensorGroup[i]
	if g < 0 || g >= len(p.Groups) {
		return nil
	}
	return &p.Groups[g]
}
