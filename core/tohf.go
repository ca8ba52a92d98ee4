package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
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
	st, err := stageOutput(opt.Out, rp.Source.Dir, opt.Force, emit)
	if err != nil {
		return nil, explainIO(err, opt.Out)
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
	if err := writeFileSync(filepath.Join(tmp, "config.json"), rp.Config); err != nil {
		return nil, err
	}
	for _, f := range rp.Source.ExtraFiles {
		if err := copyFile(filepath.Join(rp.Source.Dir, f), filepath.Join(tmp, f)); err != nil {
			return nil, err
		}
	}
	shards := rp.PlanHFShards(opt.MaxShardSize)
	res := &Result{}
	writers := make([]*loader.SafetensorsWriter, len(shards))
	fileOf := make([]int, len(p.Tensors))
	weightMap := map[string]string{}
	abort := func() {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
	}
	for si, sh := range shards {
		specs := make([]loader.WriteTensorSpec, len(sh.Tensors))
		for k, ti := range sh.Tensors {
			t := p.Tensors[ti]
			specs[k] = loader.WriteTensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
			fileOf[ti] = si
			weightMap[t.Name] = sh.File
		}
		w, err := loader.NewSafetensorsWriter(filepath.Join(tmp, sh.File), specs, map[string]string{"format": "pt"})
		if err != nil {
			abort()
			return nil, fmt.Errorf("creating %s: %w", sh.File, err)
		}
		writers[si] = w
		res.Files = append(res.Files, sh.File)
		res.Bytes += sh.Bytes
	}
	res.Tensors = len(p.Tensors)
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
		data, err := ga.gather(gi, GatherOptions{TakeRank0: opt.TakeRank0}, &st)
		if err != nil {
			abort()
			return nil, err
		}
		for k, ti := range g.Inputs {
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
		if err := w.Close(); err != nil {
			writers[i] = nil
			abort()
			return nil, fmt.Errorf("finishing %s: %w", shards[i].File, err)
		}
		writers[i] = nil
	}
	if len(shards) > 1 {
		idx := struct {
			Metadata  map[string]any    `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}{map[string]any{"total_size": res.Bytes}, weightMap}
		b, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := writeFileSync(filepath.Join(tmp, "model.safetensors.index.json"), append(b, '\n')); err != nil {
			return nil, err
		}
	}
	sort.Strings(res.Files)
	return res, nil
}
