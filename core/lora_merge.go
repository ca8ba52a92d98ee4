package core

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// MergeLoRA writes the base Hugging Face checkpoint with one adapter merged in: every weight
// the adapter targets becomes W + scale·B·A, computed in float32 with the trained scale
// (alpha/r, or alpha/sqrt(r) with rsLoRA, for every module, the rank-r/topk experts too) and
// cast back to W's dtype; every other tensor, config.json, the index and the tokenizer files
// are copied. Shard files keep their names and tensors. One tensor is in memory at a time.
// The output is built beside Out and renamed into place.
func MergeLoRA(ctx context.Context, p *LoRAPlan, adapter string, base *loader.Checkpoint, opt LoRAExportOptions) (*Result, error) {
	if p.HasErrors() {
		return nil, fmt.Errorf("the adapters cannot be mapped, nothing was written:\n  - %s", p.ErrorText())
	}
	var la *LoRAAdapter
	for _, a := range p.Adapters {
		if a.Name == adapter || adapter == "" && len(p.Adapters) == 1 || adapter == "" && a.Name == "default" {
			la = a
			break
		}
	}
	if la == nil {
		var names []string
		for _, a := range p.Adapters {
			names = append(names, strconv.Quote(a.Name))
		}
		return nil, fmt.Errorf("no adapter %q to merge: choose one with --adapter (%s)", adapter, strings.Join(names, ", "))
	}
	scale := la.Alpha / float64(la.R)
	if la.RSLoRA {
		scale = la.Alpha / math.Sqrt(float64(la.R))
	}
	// check every target first: nothing is written when one is missing
	type target struct {
		lm *loraModule
		i  int
	}
	targets := map[int]target{}
	for _, lm := range la.modules {
		for i, h := range lm.hf {
			w := h + ".weight"
			ti, ok := base.ByName[w]
			if !ok {
				return nil, fmt.Errorf("the base checkpoint %s has no %s, which adapter %s trains: is it the adapter's base model?", base.Dir, w, strconv.Quote(la.Name))
			}
			t := base.Tensors[ti]
			a, b := la.Tensors[lm.outA[i]], la.Tensors[lm.outB[i]]
			if len(t.Shape) != 2 || t.Shape[0] != b.Shape[0] || t.Shape[1] != a.Shape[1] {
				return nil, fmt.Errorf("the base weight %s has shape %s, but the adapter's lora_B·lora_A is %d x %d: is it the adapter's base model?", w, shapeStr(t.Shape), b.Shape[0], a.Shape[1])
			}
			if err := ops.CastSupported(loader.F32, t.DType); err != nil {
				return nil, fmt.Errorf("the base weight %s: %w", w, err)
			}
			targets[ti] = target{lm, i}
		}
	}
	st, err := stageOutput(opt.Out, base.Dir, opt.Force, func(Progress) {})
	if err != nil {
		return nil, explainIO(err, opt.Out)
	}
	start := time.Now()
	res := &Result{}
	err = func() error {
		writers := make([]*loader.SafetensorsWriter, len(base.Shards))
		defer func() {
			for _, w := range writers {
				if w != nil {
					_ = w.Abort()
				}
			}
		}()
		for si, sh := range base.Shards {
			var specs []loader.WriteTensorSpec
			for _, t := range base.Tensors {
				if t.Shard == si {
					specs = append(specs, loader.WriteTensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape})
				}
			}
			w, err := loader.NewSafetensorsWriter(filepath.Join(st.tmp, sh.Name), specs, sh.Metadata)
			if err != nil {
				return err
			}
			writers[si] = w
		}
		// merged weights, module by module
		done := map[int]bool{}
		for _, lm := range la.modules {
			if err := ctx.Err(); err != nil {
				return err
			}
			parts, err := p.gatherModule(la, lm)
			if err != nil {
				return err
			}
			for i, h := range lm.hf {
				ti := base.ByName[h+".weight"]
				t := base.Tensors[ti]
				data, err := base.TensorData(ti)
				if err != nil {
					return err
				}
				merged, err := mergeWeight(data, t, parts[lm.outA[i]], la.Tensors[lm.outA[i]], parts[lm.outB[i]], la.Tensors[lm.outB[i]], scale)
				base.Release(ti)
				if err != nil {
					return fmt.Errorf("%s: %w", t.Name, err)
				}
				if err := writers[t.Shard].WriteTensor(t.Name, merged); err != nil {
					return err
				}
				done[ti] = true
				res.Tensors++
			}
		}
		// everything else, copied
		for ti, t := range base.Tensors {
			if done[ti] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			data, err := base.TensorData(ti)
			if err != nil {
				return err
			}
			err = writers[t.Shard].WriteTensor(t.Name, data)
			base.Release(ti)
			if err != nil {
				return err
			}
		}
		for si, w := range writers {
			writers[si] = nil
			if err := w.Close(); err != nil {
				return err
			}
			res.Files = append(res.Files, base.Shards[si].Name)
			res.Bytes += w.Size()
		}
		if err := os.WriteFile(filepath.Join(st.tmp, "config.json"), base.ConfigBytes, 0o644); err != nil {
			return err
		}
		files := append([]string(nil), base.ExtraFiles...)
		if base.IndexPath != "" {
			files = append(files, filepath.Base(base.IndexPath))
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(base.Dir, f))
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(st.tmp, f)), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(st.tmp, f), b, 0o644); err != nil {
				return err
			}
		}
		return nil
	}()
	if err = explainIO(st.finish(err), st.out); err != nil {
		return nil, err
	}
	res.Out = st.out
	res.Elapsed = time.Since(start)
	return res, nil
}

// mergeWeight returns W + scale·B·A in W's dtype, accumulated in float32.
func mergeWeight(w []byte, wt loader.TensorInfo, a []byte, at LoRATensor, b []byte, bt LoRATensor, scale float64) ([]byte, error) {
	f32 := func(data []byte, dt loader.DType, n int64) ([]float32, error) {
		raw := make([]byte, n*4)
		if err := ops.Cast(raw, loader.F32, data, dt); err != nil {
			return nil, err
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	rows, cols, r := wt.Shape[0], wt.Shape[1], at.Shape[0]
	W, err := f32(w, wt.DType, rows*cols)
	if err != nil {
		return nil, err
	}
	A, err := f32(a, at.DType, r*cols)
	if err != nil {
		return nil, err
	}
	B, err := f32(b, bt.DType, rows*r)
	if err != nil {
		return nil, err
	}
	s := float32(scale)
	delta := make([]float32, cols)
	for i := int64(0); i < rows; i++ {
		clear(delta)
		for k := int64(0); k < r; k++ {
			bk := B[i*r+k]
			ak := A[k*cols : (k+1)*cols]
			for j := range delta {
				delta[j] += bk * ak[j]
			}
		}
		row := W[i*cols : (i+1)*cols]
		for j := range row {
			row[j] += s * delta[j]
		}
	}
	raw := make([]byte, rows*cols*4)
	for i, v := range W {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	if wt.DType == loader.F32 {
		return raw, nil
	}
	out := make([]byte, rows*cols*int64(wt.DType.Size()))
	if err := ops.Cast(out, wt.DType, raw, loader.F32); err != nil {
		return nil, err
	}
	return out, nil
}
