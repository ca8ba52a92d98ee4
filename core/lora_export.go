package core

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/ops"
)

// LoRAExportOptions say where the PEFT adapters go.
type LoRAExportOptions struct {
	Out   string
	Force bool
}

// ExportLoRA writes every adapter of the plan as a PEFT adapter (adapter_config.json and
// adapter_model.safetensors): "default" at the top of Out, the others in sub-folders named
// after them, as PEFT's save_pretrained lays them out. The output is built in a temporary
// sibling and renamed into place; nothing is left under Out on failure. It holds one
// module's LoRA tensors in memory at a time.
func ExportLoRA(ctx context.Context, p *LoRAPlan, opt LoRAExportOptions) (*Result, error) {
	if p.HasErrors() {
		return nil, fmt.Errorf("the adapters cannot be exported, nothing was written:\n  - %s", p.ErrorText())
	}
	st, err := stageOutput(opt.Out, p.Dir, opt.Force, func(Progress) {})
	if err != nil {
		return nil, explainIO(err, opt.Out)
	}
	start := time.Now()
	res := &Result{}
	err = func() error {
		for _, la := range p.Adapters {
			dir := st.tmp
			if la.OutDir != "" {
				dir = filepath.Join(st.tmp, la.OutDir)
				if err := os.Mkdir(dir, 0o755); err != nil {
					return err
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), la.config, 0o644); err != nil {
				return err
			}
			if err := p.writeAdapter(ctx, la, filepath.Join(dir, "adapter_model.safetensors")); err != nil {
				return err
			}
			res.Files = append(res.Files, filepath.Join(la.OutDir, "adapter_model.safetensors"))
			res.Tensors += len(la.Tensors)
			res.Bytes += la.Bytes
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

func (p *LoRAPlan) writeAdapter(ctx context.Context, la *LoRAAdapter, path string) error {
	specs := make([]loader.WriteTensorSpec, len(la.Tensors))
	for i, t := range la.Tensors {
		specs[i] = loader.WriteTensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	w, err := loader.NewSafetensorsWriter(path, specs, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	for _, lm := range la.modules {
		if err := ctx.Err(); err != nil {
			_ = w.Abort()
			return err
		}
		outs, err := p.gatherModule(la, lm)
		if err != nil {
			_ = w.Abort()
			return err
		}
		for ti, data := range outs {
			if err := w.WriteTensor(la.Tensors[ti].Name, data); err != nil {
				_ = w.Abort()
				return err
			}
		}
	}
	return w.Close()
}

// LoRAModuleTensors returns the PEFT tensors of every module (name -> bytes in the output
// dtype), for tests and --verify.
func (p *LoRAPlan) LoRAModuleTensors(la *LoRAAdapter, visit func(name string, t LoRATensor, data []byte) error) error {
	for _, lm := range la.modules {
		outs, err := p.gatherModule(la, lm)
		if err != nil {
			return err
		}
		for ti, data := range outs {
			if err := visit(la.Tensors[ti].Name, la.Tensors[ti], data); err != nil {
				return err
			}
		}
	}
	return nil
}

// gatherModule reads a module's LoRA slices and builds its PEFT tensors (index -> bytes).
func (p *LoRAPlan) gatherModule(la *LoRAAdapter, lm *loraModule) (map[int][]byte, error) {
	read := func(m map[int]loraSrc) ([][]byte, error) {
		out := make([][]byte, lm.tp)
		for tp := 0; tp < lm.tp; tp++ {
			ls := m[tp]
			b, err := ls.rank.File.ReadTensor(ls.ref)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", filepathJoin(la.src.Checkpoint.Dir, ls.rank.Path), ls.ref.Name, err)
			}
			out[tp] = b
		}
		return out, nil
	}
	as, err := read(lm.a)
	if err != nil {
		return nil, err
	}
	bs, err := read(lm.b)
	if err != nil {
		return nil, err
	}
	for _, d := range lm.epDup {
		b, err := d.ls.rank.File.ReadTensor(d.ls.ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", filepathJoin(la.src.Checkpoint.Dir, d.ls.rank.Path), d.ls.ref.Name, err)
		}
		ref, ab := as[d.tp], "A"
		if d.b {
			ref, ab = bs[d.tp], "B"
		}
		if !bytes.Equal(b, ref) && !p.Options.TakeRank0 {
			return nil, fmt.Errorf("%s: %s differs from EP rank 0's copy: the copies of lora_%s of a non-expert module on every EP rank must agree (pass --take-rank0 to keep rank 0's)", filepathJoin(la.src.Checkpoint.Dir, d.ls.rank.Path), d.ls.ref.Name, ab)
		}
	}
	srcType := lm.a[0].ref.DType
	elem := int64(srcType.Size())
	replica := func(ab string, m map[int]loraSrc, parts [][]byte) ([]byte, error) {
		for tp := 1; tp < len(parts); tp++ {
			if !bytes.Equal(parts[tp], parts[0]) && !p.Options.TakeRank0 {
				return nil, fmt.Errorf("%s: %s differs from TP rank 0's copy in %s: the TP replicas of lora_%s must agree (pass --take-rank0 to keep rank 0's)",
					filepathJoin(la.src.Checkpoint.Dir, m[tp].rank.Path), m[tp].ref.Name, m[0].rank.Path, ab)
			}
		}
		return parts[0], nil
	}
	// lora_A
	var a []byte
	if lm.aSplit() == SplitRow {
		rows := lm.a[0].ref.Shape[0]
		var cols []int64
		for tp := 0; tp < lm.tp; tp++ {
			cols = append(cols, lm.a[tp].ref.Shape[1])
		}
		a = concatCols(as, rows, cols, elem)
	} else if a, err = replica("A", lm.a, as); err != nil {
		return nil, err
	}
	// lora_B, one part per HF module
	rank := int64(lm.rank)
	rowBytes := rank * elem
	var bparts [][]byte
	switch lm.bSplit() {
	case SplitDuplicated:
		b, err := replica("B", lm.b, bs)
		if err != nil {
			return nil, err
		}
		bparts = splitRows(b, len(lm.hf))
	case SplitSwiGLU:
		n := len(lm.hf)
		bparts = make([][]byte, n)
		for tp := 0; tp < lm.tp; tp++ {
			for i, part := range splitRows(bs[tp], n) {
				bparts[i] = append(bparts[i], part...)
			}
		}
	default:
		var b []byte
		for tp := 0; tp < lm.tp; tp++ {
			b = append(b, bs[tp]...)
		}
		if lm.rule.Op == family.OpQKV {
			bparts = splitQKVRows(b, p.dims, rowBytes)
		} else {
			bparts = splitRows(b, len(lm.hf))
		}
	}
	out := map[int][]byte{}
	for i := range lm.hf {
		ta, tb := la.Tensors[lm.outA[i]], la.Tensors[lm.outB[i]]
		if out[lm.outA[i]], err = castTo(a, srcType, ta.DType); err != nil {
			return nil, err
		}
		if int64(len(bparts[i])) != tb.Shape[0]*rowBytes {
			return nil, fmt.Errorf("%s: lora_B part %d has %d bytes, want %d", lm.name, i, len(bparts[i]), tb.Shape[0]*rowBytes)
		}
		if out[lm.outB[i]], err = castTo(bparts[i], srcType, tb.DType); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitQKVRows undoes the per-query-group fusion of a gathered QKV lora_B: rows of group g
// are [q heads of g; k; v], like the base QKV weight with the LoRA rank as its width.
func splitQKVRows(whole []byte, d Dims, rowBytes int64) [][]byte {
	qpg := int64(d.Heads/d.Groups) * int64(d.KVChannels)
	kv := int64(d.KVChannels)
	group := (qpg + 2*kv) * rowBytes
	var q, k, v []byte
	for g := int64(0); g < int64(d.Groups); g++ {
		off := g * group
		q = append(q, whole[off:off+qpg*rowBytes]...)
		off += qpg * rowBytes
		k = append(k, whole[off:off+kv*rowBytes]...)
		off += kv * rowBytes
		v = append(v, whole[off:off+kv*rowBytes]...)
	}
	return [][]byte{q, k, v}
}

// splitRows cuts a row-major matrix into n equal row blocks.
func splitRows(b []byte, n int) [][]byte {
	if n == 1 {
		return [][]byte{b}
	}
	sz := len(b) / n
	out := make([][]byte, n)
	for i := range out {
		out[i] = b[i*sz : (i+1)*sz]
	}
	return out
}

// concatCols joins row-major matrices with the same rows side by side.
func concatCols(parts [][]byte, rows int64, cols []int64, elem int64) []byte {
	var total int64
	for _, c := range cols {
		total += c
	}
	out := make([]byte, 0, rows*total*elem)
	for r := int64(0); r < rows; r++ {
		for i, p := range parts {
			w := cols[i] * elem
			out = append(out, p[r*w:(r+1)*w]...)
		}
	}
	return out
}

func castTo(b []byte, src, dst loader.DType) ([]byte, error) {
	if src == dst {
		return b, nil
	}
	n := len(b) / src.Size()
	out := make([]byte, n*dst.Size())
	if err := ops.Cast(out, dst, b, src); err != nil {
		return nil, err
	}
	return out, nil
}

// LoRAVerifyResult compares the PEFT adapters in a folder with what the plan maps.
type LoRAVerifyResult struct {
	Adapter  string
	Compared int
	Diffs    []string // "name: reason"
}

// VerifyLoRA compares every planned PEFT tensor with the tensor of that name in dir's
// adapter_model.safetensors ("default" at the top, others in sub-folders), bytes exact after
// casting the mapped value to the file's dtype; tensors missing or extra are differences.
func VerifyLoRA(p *LoRAPlan, dir string) ([]LoRAVerifyResult, error) {
	if p.HasErrors() {
		return nil, fmt.Errorf("the adapters cannot be mapped:\n  - %s", p.ErrorText())
	}
	var out []LoRAVerifyResult
	for _, la := range p.Adapters {
		path := filepath.Join(dir, la.OutDir, "adapter_model.safetensors")
		h, err := loader.ReadSafetensorsHeader(path)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		res := LoRAVerifyResult{Adapter: la.Name}
		have := map[string]loader.TensorInfo{}
		for _, t := range h.Tensors {
			have[t.Name] = t
		}
		err = p.LoRAModuleTensors(la, func(name string, t LoRATensor, data []byte) error {
			ti, ok := have[name]
			if !ok {
				res.Diffs = append(res.Diffs, name+": missing")
				return nil
			}
			delete(have, name)
			res.Compared++
			if !equalShape(ti.Shape, t.Shape) {
				res.Diffs = append(res.Diffs, fmt.Sprintf("%s: shape %s, want %s", name, shapeStr(ti.Shape), shapeStr(t.Shape)))
				return nil
			}
			want, err := castTo(data, t.DType, ti.DType)
			if err != nil {
				return err
			}
			got := make([]byte, ti.Size)
			if _, err := f.ReadAt(got, ti.Offset); err != nil {
				return fmt.Errorf("%s: %s: %w", path, name, err)
			}
			if !bytes.Equal(got, want) {
				res.Diffs = append(res.Diffs, name+": values differ")
			}
			return nil
		})
		f.Close()
		if err != nil {
			return nil, err
		}
		for n := range have {
			res.Diffs = append(res.Diffs, n+": not produced by the mapping")
		}
		sort.Strings(res.Diffs)
		out = append(out, res)
	}
	return out, nil
}
