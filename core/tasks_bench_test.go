package core

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
)

// deepSeekScaleWorkload is the shape of DeepSeek-V3 (671B, bf16, ~1.3 TB) at TP 8, PP 16,
// EP 64 as a split workload: 8,192 rank files; 61 layers (the first 3 dense) spread over
// 16 stages; 256 routed experts per MoE layer, 4 per EP rank, each 3 matrices of
// 7168x2048 sliced by TP; the attention, shared expert and norms of a layer (~0.36 GB)
// sliced by TP and duplicated over the 64 EP ranks; 163 input shards in layer order.
// omnitui has no DeepSeek-V3 template, so this is the workload a plan of it would give,
// built directly: it measures the partition at that scale, not the template.
func deepSeekScaleWorkload() *Workload {
	const (
		tp, pp, ep      = 8, 16, 64
		layers, dense   = 61, 3
		experts         = 256
		expertBytes     = 3 * 7168 * 2048 * 2
		layerDenseBytes = 360 << 20
		denseLayerFFN   = 3 * 7168 * 18432 * 2
		shards          = 163
		embedBytes      = 129280 * 7168 * 2
	)
	w := &Workload{}
	stageOf := func(l int) int { return l * pp / layers }
	shardOf := func(l int) string {
		return fmt.Sprintf("model-%05d-of-%05d.safetensors", 1+l*shards/(layers+1), shards)
	}
	files := map[[3]int]int{}
	for t := 0; t < tp; t++ {
		for p := 0; p < pp; p++ {
			for e := 0; e < ep; e++ {
				files[[3]int{t, p, e}] = len(w.Files)
				w.Files = append(w.Files, WorkFile{Name: fmt.Sprintf("iter_0000001/mp_rank_%02d_%03d_%03d/model_optim_rng.pt", t, p, e)})
			}
		}
	}
	add := func(f int, file string, n int64) {
		w.Units = append(w.Units, ReadUnit{File: file, Bytes: n})
		w.Files[f].Reads = append(w.Files[f].Reads, len(w.Units)-1)
		w.Files[f].Bytes += n
		w.Files[f].Tensors++
	}
	for l := 0; l < layers; l++ {
		p := stageOf(l)
		for t := 0; t < tp; t++ {
			// the layer's dense part: one unit per TP slice, read by all 64 EP ranks
			n := int64(layerDenseBytes) / tp
			if l < dense {
				n += denseLayerFFN / tp
			}
			w.Units = append(w.Units, ReadUnit{File: shardOf(l), Bytes: n})
			u := len(w.Units) - 1
			for e := 0; e < ep; e++ {
				f := files[[3]int{t, p, e}]
				w.Files[f].Reads = append(w.Files[f].Reads, u)
				w.Files[f].Bytes += n
				w.Files[f].Tensors += 8
			}
			if l < dense {
				continue
			}
			for x := 0; x < experts; x++ {
				add(files[[3]int{t, p, x / (experts / ep)}], shardOf(l), expertBytes/tp)
			}
		}
	}
	for t := 0; t < tp; t++ {
		for e := 0; e < ep; e++ {
			add(files[[3]int{t, 0, e}], shardOf(0), embedBytes/tp)
			add(files[[3]int{t, pp - 1, e}], shardOf(layers), embedBytes/tp)
		}
	}
	return w
}

// BenchmarkPartitionDeepSeekScale: --tasks 256 over DeepSeek-V3's 8,192 rank files.
func BenchmarkPartitionDeepSeekScale(b *testing.B) {
	w := deepSeekScaleWorkload()
	var in, out int64
	for _, u := range w.Units {
		in += u.Bytes
	}
	for _, f := range w.Files {
		out += f.Bytes
	}
	b.ResetTimer()
	var p *Partition
	for i := 0; i < b.N; i++ {
		var err error
		if p, err = w.Partition(256); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var hi int64
	for _, t := range p.Tasks {
		hi = max(hi, t.Written)
	}
	lpt := maxLoad(w, w.assign(256, sortedBySize(w), nil), 256)
	b.ReportMetric(float64(len(w.Files)), "files")
	b.ReportMetric(float64(out)/1e12, "TB_written")
	b.ReportMetric(float64(hi)/(float64(out)/256), "max/mean_task")
	b.ReportMetric(float64(hi)/float64(lpt), "max/balanced")
	b.ReportMetric(float64(p.TotalRead())/float64(in), "read/input")
}

func sortedBySize(w *Workload) []int {
	order := make([]int, len(w.Files))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(w.Files[b].Bytes, w.Files[a].Bytes), cmp.Compare(w.Files[a].Name, w.Files[b].Name))
	})
	return order
}
