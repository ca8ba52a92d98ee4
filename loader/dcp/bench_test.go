package dcp

import (
	"path/filepath"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/dcp/dcptest"
)

// moeGrid is a 30B-A3B-shaped chunk grid (48 layers, 128 experts, TP 4,
// expert TP 2, 8 writer ranks) at tiny hidden sizes: what Open and View cost
// per chunk, independent of tensor bytes.
func moeGrid() *dcptest.Fixture {
	const L, E, H, F = 48, 128, 8, 4
	var files []string
	for r := 0; r < 8; r++ {
		files = append(files, "__"+string(rune('0'+r))+"_0.distcp")
	}
	bf := loader.BF16
	return &dcptest.Fixture{Tensors: []dcptest.Tensor{
		dcptest.Grid("embedding.word_embeddings.weight", bf, []int64{64, H}, []int64{4, 1}, files...),
		dcptest.Grid("decoder.layers.self_attention.linear_qkv.weight", bf, []int64{L, 4 * H, H}, []int64{L, 4, 1}, files...),
		dcptest.Grid("decoder.layers.self_attention.linear_proj.weight", bf, []int64{L, H, 4 * H}, []int64{L, 1, 4}, files...),
		dcptest.Grid("decoder.layers.self_attention.linear_qkv.layer_norm_weight", bf, []int64{L, H}, []int64{L, 1}, files...),
		dcptest.Grid("decoder.layers.pre_mlp_layernorm.weight", bf, []int64{L, H}, []int64{L, 1}, files...),
		dcptest.Grid("decoder.layers.mlp.router.weight", bf, []int64{L, E, H}, []int64{L, 1, 1}, files...),
		dcptest.Grid("decoder.layers.mlp.experts.linear_fc1.weight", bf, []int64{L, E, 4 * F, H}, []int64{L, E, 4, 1}, files...),
		dcptest.Grid("decoder.layers.mlp.experts.linear_fc2.weight", bf, []int64{L, E, H, 2 * F}, []int64{L, E, 1, 2}, files...),
		dcptest.Grid("output_layer.weight", bf, []int64{64, H}, []int64{4, 1}, files...),
	}}
}

// BenchmarkOpenAndView is the plan-time cost of a torch_dist input: decode
// .metadata, locate and parse every chunk archive, check the tiling, build
// the view.
func BenchmarkOpenAndView(b *testing.B) {
	dir := moeGrid().Write(b, filepath.Join(b.TempDir(), "ckpt"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		v, err := c.View(ViewConfig{Layers: 48, Experts: 128})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			n := 0
			for _, t := range c.Tensors {
				n += len(t.Chunks)
			}
			b.ReportMetric(float64(n), "chunks")
			b.ReportMetric(float64(len(v.Tensors)), "view-tensors")
		}
		c.Close()
	}
}

// BenchmarkViewRead reads every tensor of the view once (assembling each from
// its chunks out of the mapped files).
func BenchmarkViewRead(b *testing.B) {
	const L, H, F = 4, 256, 512
	files := []string{"__0_0.distcp", "__1_0.distcp", "__2_0.distcp", "__3_0.distcp"}
	f := &dcptest.Fixture{Tensors: []dcptest.Tensor{
		dcptest.Grid("decoder.layers.self_attention.linear_qkv.weight", loader.BF16, []int64{L, 3 * H, H}, []int64{L, 4, 1}, files...),
		dcptest.Grid("decoder.layers.mlp.linear_fc1.weight", loader.BF16, []int64{L, 2 * F, H}, []int64{L, 8, 1}, files...),
		dcptest.Grid("decoder.layers.mlp.linear_fc2.weight", loader.BF16, []int64{L, H, F}, []int64{L, 1, 4}, files...),
	}}
	dir := f.Write(b, filepath.Join(b.TempDir(), "ckpt"))
	c, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	v, err := c.View(ViewConfig{})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for i := range v.Tensors {
		d, _ := v.TensorData(i)
		total += int64(len(d))
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range v.Tensors {
			if _, err := v.TensorData(j); err != nil {
				b.Fatal(err)
			}
		}
	}
}
