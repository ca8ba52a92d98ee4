package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/omnitui/omnitui/loader"
)

// DefaultMaxShardSize is the default --max-shard-size (5 GB, as transformers' save_pretrained).
const DefaultMaxShardSize = 5_000_000_000

// ToHFOptions control a Megatron -> Hugging Face conversion.
type ToHFOptions struct {
	Out          string
	Force        bool
	MaxShardSize int64 // bytes per safetensors file; 0 = DefaultMaxShardSize
	TakeRank0    bool
	Progress     func(Progress)
	NoSync       bool // skip fsync of the safetensors files before the rename (faster; not durable across a power loss)

	// Select, when not nil, writes only the shards it marks (by PlanHFShards index)
	// straight into Out, which must exist: no config, index or tokenizer files, no
	// temporary sibling, no rename. One task of a split conversion uses it.
	Select []bool
}

// HFShard is one planned output file.
type HFShard struct {
	File    string
	Tensors []int // indices into Forward.Tensors
	Bytes   int64
}

// PlanHFShards splits the HF tensors greedily in order into files of at most max bytes
// (a tensor larger than max gets a file of its own).
func (rp *ReversePlan) PlanHFShards(max int64) []HFShard {
	if max <= 0 {
		max = DefaultMaxShardSize
	}
	var out []HFShard
	for i, t := range rp.Forward.Tensors {
		if len(out) == 0 || (out[len(out)-1].Bytes > 0 && out[len(out)-1].Bytes+t.Size > max) {
			out = append(out, HFShard{})
		}
		s := &out[len(out)-1]
		s.Tensors = append(s.Tensors, i)
		s.Bytes += t.Size
	}
	if len(out) == 1 {
		out[0].File = "model.safetensors"
	} else {
		for i := range out {
			out[i].File = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(out))
		}
	}
	return out
}

// ConvertToHF writes the Hugging Face checkpoint the reverse plan describes: config.json,
// safetensors shards (with model.safetensors.index.json when there are several) and the
// tokenizer files, built in a temporary sibling of Out and renamed into place. It reads one
// group of rank-file tensors at a time.
func ConvertToHF(ctx context.Context, rp *ReversePlan, opt ToHFOptions) (*Result, error) {
	if rp.HasErrors() {
		return nil, fmt.Errorf("the checkpoint cannot be mapped back, nothing was written:\n  - %s", rp.ErrorText())
	}
	emit := opt.Progress
	if emit == nil {
		emit = func(Progress) {}
	}
	st := &staging{out: opt.Out, tmp: opt.Out, selected: true}
	if opt.Select == nil {
		var err error
		if st, err = stageOutput(opt.Out, rp.Source.Dir, opt.Force, emit); err != nil {
			return nil, explainIO(err, opt.Out)
		}
	}
	tmp, out := st.tmp, st.out
	start := time.Now()
	res, err := writeHF(ctx, rp, tmp, opt, emit, start)
	if err = explainIO(st.finish(err), out); err != nil {
		emit(Progress{Kind: ProgError, Err: err, Message: err.Error(), Elapsed: time.Since(start)})
		return nil, err
	}
	res.Out = out
	res.Elapsed = time.Since(start)
	emit(Progress{Kind: ProgDone, BytesDone: res.Bytes, BytesTotal: res.Bytes, TensorsDone: res.Tensors, TensorsTotal: res.Tensors, Elapsed: res.Elapsed})
	return res, nil
}

func writeHF(ctx context.Context, rp *ReversePlan, tmp string, opt ToHFOptions, emit func(Progress), start time.Time) (*Result, error) {
	p := rp.Forward
	shards := rp.PlanHFShards(opt.MaxShardSize)
	wants := func(si int) bool { return opt.Select == nil || (si < len(opt.Select) && opt.Select[si]) }
	if opt.Select == nil {
		if err := writeHFGlobals(rp, shards, tmp); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	writers := make([]*loader.SafetensorsWriter, len(shards))
	fileOf := make([]int, len(p.Tensors))
	abort := func() {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
	}
	for si, sh := range shards {
		for _, ti := range sh.Tensors {
			fileOf[ti] = si
		}
		if !wants(si) {
			continue
		}
		specs := make([]loader.WriteTensorSpec, len(sh.Tensors))
		for k, ti := range sh.Tensors {
			t := p.Tensors[ti]
			specs[k] = loader.WriteTensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
		}
		w, err := loader.NewSafetensorsWriter(filepath.Join(tmp, sh.File), specs, map[string]string{"format": "pt"})
		if err != nil {
			abort()
			return nil, fmt.Errorf("creating %s: %w", sh.File, err)
		}
		w.SetNoSync(opt.NoSync)
		writers[si] = w
		res.Files = append(res.Files, sh.File)
		res.Bytes += sh.Bytes
		res.Tensors += len(sh.Tensors)
	}
	emit(Progress{Kind: ProgStart, BytesTotal: res.Bytes, TensorsTotal: res.Tensors})
	indexOf := make(map[string]int, len(p.Tensors))
	for i := range p.Tensors {
		indexOf[p.Tensors[i].Name] = i
	}
	ga := rp.newGatherer()
	var st GatherStats
	var done int64
	n := 0
	for gi := range p.Groups {
		if err := ctx.Err(); err != nil {
			abort()
			return nil, err
		}
		g := &p.Groups[gi]
		if g.Piece > 0 {
			continue // written whole with the fan-out's first piece
		}
		if !slices.ContainsFunc(g.Inputs, func(ti int) bool { return wants(fileOf[ti]) }) {
			continue // every tensor of the group is in a shard another task writes
		}
		data, err := ga.gatherTensors(gi, GatherOptions{TakeRank0: opt.TakeRank0}, &st)
		if err != nil {
			abort()
			return nil, err
		}
		for k, ti := range g.Inputs {
			if !wants(fileOf[ti]) {
				continue
			}
			if err := writers[fileOf[ti]].WriteTensor(p.Tensors[ti].Name, data[k]); err != nil {
				abort()
				return nil, fmt.Errorf("writing %s: %w", p.Tensors[ti].Name, err)
			}
			done += int64(len(data[k]))
			n++
			for _, c := range rp.copies[p.Tensors[ti].Name] {
				ci := indexOf[c]
				if err := writers[fileOf[ci]].WriteTensor(c, data[k]); err != nil {
					abort()
					return nil, fmt.Errorf("writing %s: %w", c, err)
				}
				done += int64(len(data[k]))
				n++
			}
		}
		emit(Progress{Kind: ProgTensor, Tensor: g.HFNames[0], BytesDone: done, BytesTotal: res.Bytes, TensorsDone: n, TensorsTotal: res.Tensors, Elapsed: time.Since(start)})
	}
	for i, w := range writers {
		if w == nil {
			continue
		}
		if err := w.Close(); err != nil {
			writers[i] = nil
			abort()
			return nil, fmt.Errorf("finishing %s: %w", shards[i].File, err)
		}
		writers[i] = nil
	}
	sort.Strings(res.Files)
	return res, nil
}

// hfGlobalFiles lists the files of a Hugging Face output besides the shards:
// config.json, the tokenizer files and, for several shards, the index.
func hfGlobalFiles(rp *ReversePlan, shards []HFShard) ([]GlobalFile, error) {
	g := []GlobalFile{NewGlobalData("config.json", rp.Config)}
	for _, f := range rp.Source.ExtraFiles {
		g = append(g, GlobalFile{Name: f, From: filepath.Join(rp.Source.Dir, f)})
	}
	if len(shards) > 1 {
		b, err := hfIndexJSON(rp.Forward, shards)
		if err != nil {
			return nil, err
		}
		g = append(g, NewGlobalData("model.safetensors.index.json", b))
	}
	return g, nil
}

// writeHFGlobals writes the files of hfGlobalFiles into dir.
func writeHFGlobals(rp *ReversePlan, shards []HFShard, dir string) error {
	g, err := hfGlobalFiles(rp, shards)
	if err != nil {
		return err
	}
	return writeGlobals(g, dir)
}

// hfIndexJSON is model.safetensors.index.json for the planned shards.
func hfIndexJSON(p *Plan, shards []HFShard) ([]byte, error) {
	weightMap := map[string]string{}
	var total int64
	for _, sh := range shards {
		for _, ti := range sh.Tensors {
			weightMap[p.Tensors[ti].Name] = sh.File
		}
		total += sh.Bytes
	}
	idx := struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]any{"total_size": total}, weightMap}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
