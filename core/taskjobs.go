package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
)

// The three directions as split jobs.

// settingsText is the canonical text of what changes a conversion's bytes.
func settingsText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// hashed takes the size and hash of every copied global file now, so that a change
// before the commit is caught.
func hashed(gs []GlobalFile) ([]GlobalFile, error) {
	for i, g := range gs {
		if g.From == "" {
			continue
		}
		abs, err := filepath.Abs(g.From)
		if err != nil {
			return nil, err
		}
		sum, size, err := hashFile(abs)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", abs, err)
		}
		gs[i].From, gs[i].Size, gs[i].SHA256 = abs, size, sum
	}
	return gs, nil
}

func fingerprints(dir string, names []string, heads []int64) ([]InputFile, error) {
	out := make([]InputFile, len(names))
	for i, n := range names {
		f, err := FingerprintFile(dir, n, heads[i])
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// ForwardJob is a Hugging Face -> Megatron conversion of ck with plan p as a split job.
func ForwardJob(ck *loader.Checkpoint, p *Plan, opt ConvertOptions) (*SplitJob, error) {
	dir, err := filepath.Abs(ck.Dir)
	if err != nil {
		return nil, err
	}
	var names []string
	var heads []int64
	for _, sh := range ck.Shards {
		rel, err := filepath.Rel(dir, sh.Path)
		if err != nil {
			rel = sh.Name
		}
		names = append(names, rel)
		heads = append(heads, 8+sh.HeaderLen)
	}
	names = append(names, "config.json")
	heads = append(heads, 0)
	ins, err := fingerprints(dir, names, heads)
	if err != nil {
		return nil, err
	}
	g, err := mcaGlobalFiles(p, CheckpointInput(ck))
	if err != nil {
		return nil, err
	}
	globals, err := hashed(g)
	if err != nil {
		return nil, err
	}
	work := ForwardWorkload(p, func(ti int) string {
		if sh := ck.ShardOf(ti); sh != nil {
			return sh.Name
		}
		return ""
	})
	return &SplitJob{Kind: "hf-to-mca", Settings: settingsText(p.Settings), Input: dir, Inputs: ins, Work: work, Globals: globals,
		Run: func(ctx context.Context, sel []bool, out string, progress func(Progress)) error {
			o := opt
			o.Out, o.Select, o.Progress, o.Force = out, sel, progress, false
			_, err := Convert(ctx, ck, p, o)
			return err
		}}, nil
}

// mcaInputs fingerprints the files of an mcore_adapter checkpoint.
func mcaInputs(m *mca.Checkpoint) (string, []InputFile, error) {
	dir, err := filepath.Abs(m.Dir)
	if err != nil {
		return "", nil, err
	}
	names := []string{mca.ConfigName}
	heads := []int64{0}
	for _, r := range m.Ranks {
		names = append(names, r.Path)
		heads = append(heads, 0)
	}
	ins, err := fingerprints(dir, names, heads)
	return dir, ins, err
}

// ReverseJob is a Megatron -> Hugging Face conversion as a split job: each task writes
// whole safetensors shards, whose contents PlanHFShards decides.
func ReverseJob(rp *ReversePlan, opt ToHFOptions) (*SplitJob, error) {
	dir, ins, err := mcaInputs(rp.Source)
	if err != nil {
		return nil, err
	}
	shards := rp.PlanHFShards(opt.MaxShardSize)
	g, err := hfGlobalFiles(rp, shards)
	if err != nil {
		return nil, err
	}
	globals, err := hashed(g)
	if err != nil {
		return nil, err
	}
	settings := settingsText(struct {
		MaxShardSize int64
		TakeRank0    bool
	}{opt.MaxShardSize, opt.TakeRank0})
	return &SplitJob{Kind: "mca-to-hf", Settings: settings, Input: dir, Inputs: ins, Work: ReverseWorkload(rp, shards), Globals: globals,
		Run: func(ctx context.Context, sel []bool, out string, progress func(Progress)) error {
			o := opt
			o.Out, o.Select, o.Progress, o.Force = out, sel, progress, false
			_, err := ConvertToHF(ctx, rp, o)
			return err
		}}, nil
}

// ReshardJob is a Megatron -> Megatron reshard as a split job.
func ReshardJob(rs *ReshardPlan, gopt GatherOptions, opt ConvertOptions) (*SplitJob, error) {
	dir, ins, err := mcaInputs(rs.Reverse.Source)
	if err != nil {
		return nil, err
	}
	g, err := mcaGlobalFiles(rs.Plan, ReshardInput(rs, gopt))
	if err != nil {
		return nil, err
	}
	globals, err := hashed(g)
	if err != nil {
		return nil, err
	}
	settings := settingsText(struct {
		Settings  Settings
		TakeRank0 bool
	}{rs.Plan.Settings, gopt.TakeRank0})
	return &SplitJob{Kind: "mca-reshard", Settings: settings, Input: dir, Inputs: ins, Work: ReshardWorkload(rs), Globals: globals,
		Run: func(ctx context.Context, sel []bool, out string, progress func(Progress)) error {
			o := opt
			o.Out, o.Select, o.Progress, o.Force = out, sel, progress, false
			_, err := Reshard(ctx, rs, gopt, o)
			return err
		}}, nil
}
