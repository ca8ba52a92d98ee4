// Package common is the state every component of the interactive app shares: the
// opened checkpoint, the current settings and the Plan built from them, the size
// of the body area, the styles and the key map. The root model owns one *Context
// and hands the same pointer to every component.
package common

import (
	"context"
	"fmt"

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
	Path     string // the path the user opened, as given
	Settings core.Settings
	Plan     *core.Plan // nil when the checkpoint cannot be planned at all (PlanErr says why)
	PlanErr  error
	PlanGen  int // incremented on every rebuild, so components can cache per plan

	Styles *styles.Styles
	Keys   *keymap.KeyMap

	Planner   Planner
	Converter Converter
	Classify  func(hfName string) string // top-level component of a tensor (core.Component)

	// Selected is the tensor (index into Ck.Tensors) chosen anywhere in the app; -1 = none.
	Selected int
	// SelGen is incremented on every selection change.
	SelGen int

	Stats *Stats // totals of the checkpoint, computed once
}

// NewContext builds the shared state and the first Plan.
func NewContext(ck *loader.Checkpoint, path string, s core.Settings, st *styles.Styles, km *keymap.KeyMap,
	planner Planner, conv Converter, classify func(string) string) *Context {
	if classify == nil {
		classify = func(string) string { return "other" }
	}
	c := &Context{Ck: ck, Path: path, Settings: s, Styles: st, Keys: km,
		Planner: planner, Converter: conv, Classify: classify, Selected: -1}
	c.Stats = ComputeStats(ck, classify)
	c.Rebuild()
	return c
}

// Rebuild recomputes the Plan from the current settings.
func (c *Context) Rebuild() {
	c.PlanGen++
	if c.Planner == nil {
		c.Plan, c.PlanErr = nil, fmt.Errorf("no planner is configured: this build of omnitui cannot plan conversions")
		return
	}
	if c.Ck == nil {
		c.Plan, c.PlanErr = nil, fmt.Errorf("no checkpoint is open: run omnitui with a checkpoint directory")
		return
	}
	p, err := c.Planner(c.Ck, c.Settings)
	if err == nil && p == nil {
		err = fmt.Errorf("the planner returned no plan: this is a bug in omnitui, please report it")
	}
	c.Plan, c.PlanErr = p, err
}

// SetSettings replaces the settings, rebuilds the plan and returns the message
// that tells every component the plan changed.
func (c *Context) SetSettings(s core.Settings) PlanChangedMsg {
	c.Settings = s
	c.Rebuild()
	return PlanChangedMsg{Gen: c.PlanGen}
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
