package common

import (
	"context"
	"fmt"
	"sort"

	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// HFConverter executes a reverse plan (core.ConvertToHF).
type HFConverter func(ctx context.Context, rp *core.ReversePlan, opt core.ToHFOptions) (*core.Result, error)

// ReshardPlanner plans a new parallel layout for a Megatron checkpoint (core.BuildReshardPlan).
type ReshardPlanner func(m *mca.Checkpoint, s core.Settings) (*core.ReshardPlan, error)

// Resharder executes a reshard plan (core.Reshard).
type Resharder func(ctx context.Context, rs *core.ReshardPlan, gopt core.GatherOptions, opt core.ConvertOptions) (*core.Result, error)

// Target is the layout chosen in 5 Placement for resharding a Megatron checkpoint,
// and the reshard plan built for it off the UI goroutine.
type Target struct {
	Settings core.Settings     // what the user chose; starts as the recorded layout
	Reshard  *core.ReshardPlan // the plan for For; nil when For is the recorded layout or planning failed
	Err      error             // why Reshard could not be built
	For      core.Settings     // the settings Reshard was built from
	Gen      int               // incremented whenever Reshard changes

	building bool
}

// MCA is what the app knows about an opened mcore_adapter (Megatron) checkpoint.
// When the app shows one, Context.Ck is the Hugging Face checkpoint it maps back
// to (config.json restored from hf_config_json, the HF tensors without files),
// Context.Plan is the reverse plan's forward plan with the reverse plan's issues,
// and the views read the rank files from here.
type MCA struct {
	Ck      *mca.Checkpoint
	Reverse *core.ReversePlan // nil when the checkpoint cannot be mapped back (Err says why)
	Err     error
	// Recorded are the parallel settings the checkpoint was written with (mca_config.json,
	// with what the tensor names reveal read from the names).
	Recorded core.Settings
	// Ranks are per Ck.Ranks: what each rank file holds.
	Ranks []RankInfo
	// Total counts every tensor of every rank file.
	Total Tally

	HFConverter HFConverter

	// Target is the reshard chosen in 5 Placement (Megatron -> Megatron).
	Target         Target
	ReshardPlanner ReshardPlanner
	Resharder      Resharder

	entries map[entryKey][]EntryRef
}

// Resharding reports whether the chosen layout differs from the recorded one.
func (x *MCA) Resharding() bool { return !x.Target.Settings.Normalized().Equal(x.Recorded) }

// TargetPlanning reports whether the reshard plan shown is not yet the one for the chosen layout.
func (x *MCA) TargetPlanning() bool {
	return x.Target.building || !x.Target.Settings.Equal(x.Target.For)
}

// RankInfo sums up one rank file.
type RankInfo struct {
	Label   string // "mp_rank_00_001"
	Tensors int
	Bytes   int64
	Fwd     int // index into Plan.Ranks, -1 when the plan has no such rank
}

// EntryRef says which plan group a rank-file tensor belongs to, and which of the
// group's destinations it is.
type EntryRef struct {
	Group int // index into Plan.Groups
	Dest  int // index into Plan.Groups[Group].Dests
}

type entryKey struct {
	rank int // index into MCA.Ck.Ranks
	vp   int
	name string
}

// NewMCAContext builds the shared state for an opened mcore_adapter checkpoint:
// the reverse plan (core.BuildReversePlan) and the HF checkpoint it describes.
// A checkpoint that cannot be mapped back still opens; the views say why.
func NewMCAContext(m *mca.Checkpoint, path string, st *styles.Styles, km *keymap.KeyMap,
	hfconv HFConverter, classify func(string) string) *Context {
	x := &MCA{Ck: m, HFConverter: hfconv}
	rec, recErr := core.CheckpointSettings(m) // as the files were written: the names decide
	if recErr != nil {
		rec = core.DefaultSettings()
		rec.TP, rec.PP, rec.EP = m.TP, m.PP, m.EP
		rec = rec.Normalized()
	}
	x.Recorded = rec
	x.Target.Settings = rec
	if rec.ETP == rec.TP {
		x.Target.Settings.ETP = 0 // "= TP": follows TP when TP changes
	}
	x.Target.For = x.Target.Settings
	rp, err := safeReverse(m)
	if err == nil && recErr != nil {
		err = recErr
	}
	x.Reverse, x.Err = rp, err

	ck := &loader.Checkpoint{Dir: m.Dir, ByName: map[string]int{}, ExtraFiles: m.ExtraFiles}
	var plan *core.Plan
	if rp != nil {
		ck.ConfigBytes = rp.Config
		if rp.Forward != nil {
			fp := *rp.Forward
			fp.Issues = append([]core.Issue(nil), rp.Issues...)
			for _, w := range m.Warnings {
				fp.Issues = append(fp.Issues, core.Issue{Severity: core.SevWarning, Code: "rank-copy", Message: w})
			}
			plan = &fp
			ck.Tensors = make([]loader.TensorInfo, len(fp.Tensors))
			for i, t := range fp.Tensors {
				t.Shard, t.Offset = -1, 0
				ck.Tensors[i] = t
				ck.ByName[t.Name] = i
			}
		}
	} else if b, herr := m.HFConfigJSON(); herr == nil {
		ck.ConfigBytes = b
	}
	if ck.ConfigBytes != nil {
		if cfg, perr := loader.ParseJSONTree(ck.ConfigBytes); perr == nil {
			ck.Config = cfg
		}
	}
	if plan == nil && err == nil {
		err = fmt.Errorf("the checkpoint cannot be mapped back to Hugging Face tensors: %s", reverseErrText(rp))
	}
	set := rec
	if plan != nil {
		set = plan.Settings
	}
	if classify == nil {
		classify = core.ComponentForConfig(ck.Config)
	}
	c := &Context{Ck: ck, Path: path, Settings: set, Plan: plan, PlanErr: err, PlanFor: set, PlanGen: 1,
		Styles: st, Keys: km, Classify: classify, Selected: -1, MCA: x}
	// The layout of a Megatron checkpoint is what its files hold: the app shows it
	// but does not replan it.
	c.Planner = func(*loader.Checkpoint, core.Settings) (*core.Plan, error) {
		return nil, fmt.Errorf("this Megatron checkpoint's layout is read-only here: resharding is done with omnitui --batch")
	}
	c.Stats = ComputeStats(ck, classify)
	x.index(plan)
	return c
}

func reverseErrText(rp *core.ReversePlan) string {
	if rp == nil {
		return "no reverse plan"
	}
	if t := rp.ErrorText(); t != "" {
		return t
	}
	return "no forward plan"
}

// safeReverse turns a panic of core.BuildReversePlan into an error.
func safeReverse(m *mca.Checkpoint) (rp *core.ReversePlan, err error) {
	defer func() {
		if r := recover(); r != nil {
			rp, err = nil, fmt.Errorf("mapping the checkpoint back failed (%v): this is a bug in omnitui, please report it", r)
		}
	}()
	return core.BuildReversePlan(m)
}

// index sums up the rank files and pairs every rank-file tensor with its plan group.
func (x *MCA) index(p *core.Plan) {
	x.entries = map[entryKey][]EntryRef{}
	x.Ranks = make([]RankInfo, len(x.Ck.Ranks))
	for i, r := range x.Ck.Ranks {
		ri := RankInfo{Label: RankLabel(r.Path), Fwd: -1}
		for _, ch := range r.Chunks {
			for _, t := range ch.Tensors {
				ri.Tensors++
				if n := t.NumBytes(); n > 0 {
					ri.Bytes += n
				}
			}
		}
		if p != nil {
			for fi, rf := range p.Ranks {
				if rf.TP == r.TP && rf.PP == r.PP && rf.EP == r.EP {
					ri.Fwd = fi
				}
			}
		}
		x.Ranks[i] = ri
		x.Total.Tensors += ri.Tensors
		x.Total.Bytes += ri.Bytes
	}
	if p == nil {
		return
	}
	byFwd := map[int]int{}
	for i, ri := range x.Ranks {
		if ri.Fwd >= 0 {
			byFwd[ri.Fwd] = i
		}
	}
	for gi := range p.Groups {
		for di, d := range p.Groups[gi].Dests {
			ri, ok := byFwd[d.Rank]
			if !ok || d.Chunk < 0 || d.Chunk >= len(p.Ranks[d.Rank].Chunks) {
				continue
			}
			k := entryKey{rank: ri, vp: p.Ranks[d.Rank].Chunks[d.Chunk].VP, name: d.Name}
			x.entries[k] = append(x.entries[k], EntryRef{Group: gi, Dest: di})
		}
	}
}

// Entry returns the plan groups a tensor of a rank file feeds (several for a
// stacked legacy grouped-GEMM tensor; none for a tensor the mapping does not use).
func (x *MCA) Entry(rank, vp int, name string) []EntryRef {
	return x.entries[entryKey{rank: rank, vp: vp, name: name}]
}

// RankEntry says where a tensor of a rank file is: its chunk (state dict), its
// name there, and its storage record in the .pt archive.
type RankEntry struct {
	Chunk   string // "model", "model0", ...
	VP      int
	Name    string // name inside the chunk
	Storage string // storage key: the record is <archive>/data/<Storage>
}

// RankTensors lists the tensors of rank file i as tensor infos, chunk by chunk,
// with where each one is. With several chunks (virtual pipeline), names carry
// the chunk key ("model1.decoder…").
func (x *MCA) RankTensors(i int) ([]loader.TensorInfo, []RankEntry) {
	if i < 0 || i >= len(x.Ck.Ranks) {
		return nil, nil
	}
	r := x.Ck.Ranks[i]
	var ts []loader.TensorInfo
	var es []RankEntry
	for _, ch := range r.Chunks {
		for _, t := range ch.Tensors {
			name := t.Name
			if len(r.Chunks) > 1 {
				name = ch.Key + "." + name
			}
			ts = append(ts, loader.TensorInfo{Name: name, DType: t.DType, Shape: t.Shape, Shard: -1, Size: max(t.NumBytes(), 0)})
			es = append(es, RankEntry{Chunk: ch.Key, VP: ch.VP, Name: t.Name, Storage: t.Storage})
		}
	}
	return ts, es
}

// SourcesOf lists the rank files (labels, in rank order) a plan group is read from.
func (x *MCA) SourcesOf(p *core.Plan, g *core.Group) []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range g.Dests {
		if d.Rank < 0 || d.Rank >= len(p.Ranks) {
			continue
		}
		l := RankLabel(p.Ranks[d.Rank].Path)
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// SetTarget records the layout chosen for a reshard and returns the command that
// builds its plan off the UI goroutine (nil when a build is already running: its
// result triggers the next build).
func (c *Context) SetTarget(s core.Settings) tea.Cmd {
	x := c.MCA
	if x == nil {
		return nil
	}
	x.Target.Settings = s
	if x.Target.building || s.Equal(x.Target.For) {
		return nil
	}
	return c.startTarget()
}

func (c *Context) startTarget() tea.Cmd {
	x := c.MCA
	x.Target.building = true
	s := x.Target.Settings
	if s.Normalized().Equal(x.Recorded) {
		// The recorded layout: nothing to reshard, nothing to build.
		return func() tea.Msg { return PlanBuiltMsg{For: s, target: true} }
	}
	planner, m := x.ReshardPlanner, x.Ck
	return func() tea.Msg {
		rs, err := safeReshard(planner, m, s)
		return PlanBuiltMsg{For: s, target: true, reshard: rs, Err: err}
	}
}

func safeReshard(planner ReshardPlanner, m *mca.Checkpoint, s core.Settings) (rs *core.ReshardPlan, err error) {
	defer func() {
		if r := recover(); r != nil {
			rs, err = nil, fmt.Errorf("planning the reshard failed (%v): this is a bug in omnitui, please report it", r)
		}
	}()
	if planner == nil {
		return nil, fmt.Errorf("this build of omnitui cannot reshard (no planner)")
	}
	rs, err = planner(m, s)
	if err == nil && rs == nil {
		err = fmt.Errorf("the reshard planner returned no plan: this is a bug in omnitui, please report it")
	}
	return rs, err
}

// applyTarget installs a built reshard plan; if the layout changed meanwhile, it
// returns the command building the plan for the newest one.
func (c *Context) applyTarget(m PlanBuiltMsg) tea.Cmd {
	x := c.MCA
	x.Target.building = false
	x.Target.Reshard, x.Target.Err, x.Target.For = m.reshard, m.Err, m.For
	x.Target.Gen++
	if !x.Target.Settings.Equal(x.Target.For) {
		return c.startTarget()
	}
	return nil
}

// TargetPlan is the plan 5 Placement shows for a Megatron checkpoint: the reshard
// target when one is chosen, else the recorded layout (Context.Plan); err says why
// there is none.
func (c *Context) TargetPlan() (p *core.Plan, err error) {
	x := c.MCA
	if x == nil || !x.Resharding() {
		return c.Plan, c.PlanErr
	}
	rs := x.Target.Reshard
	switch {
	case x.Target.Err != nil:
		return nil, x.Target.Err
	case rs == nil:
		return nil, fmt.Errorf("the reshard plan is being built")
	case rs.Plan == nil:
		return nil, fmt.Errorf("the checkpoint does not map back to Hugging Face, so it cannot be resharded: 1 Overview says why")
	}
	return rs.Plan, nil
}

// IsMCA reports whether the app shows a Megatron checkpoint.
func (c *Context) IsMCA() bool { return c.MCA != nil }
