package common

import (
	"context"
	"fmt"
	"sort"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// HFConverter executes a reverse plan (core.ConvertToHF).
type HFConverter func(ctx context.Context, rp *core.ReversePlan, opt core.ToHFOptions) (*core.Result, error)

// MCA is what the app knows about an opened mcore_adapter (Megatron) checkpoint.
// When the app shows one, Context.Ck is the Hugging Face checkpoint it maps back
// to (config.json restored from hf_config_json, the HF tensors without files),
// Context.Plan is the reverse plan's forward plan with the reverse plan's issues,
// and the views read the rank files from here.
type MCA struct {
	Ck      *mca.Checkpoint
	Reverse *core.ReversePlan // nil when the checkpoint cannot be mapped back (Err says why)
	Err     error
	// Recorded are the parallel settings mca_config.json records.
	Recorded core.Settings
	// Ranks are per Ck.Ranks: what each rank file holds.
	Ranks []RankInfo
	// Total counts every tensor of every rank file.
	Total Tally

	HFConverter HFConverter

	entries map[entryKey][]EntryRef
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
	if classify == nil {
		classify = func(string) string { return "other" }
	}
	x := &MCA{Ck: m, HFConverter: hfconv}
	rec, recErr := core.SettingsFromMCAConfig(m.Config)
	if recErr != nil {
		rec = core.DefaultSettings()
		rec.TP, rec.PP, rec.EP = m.TP, m.PP, m.EP
		rec = rec.Normalized()
	}
	x.Recorded = rec
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
			fp.Issues = rp.Issues
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

// IsMCA reports whether the app shows a Megatron checkpoint.
func (c *Context) IsMCA() bool { return c.MCA != nil }
