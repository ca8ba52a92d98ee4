package loader

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// hfBenchCheckpoint writes a Qwen3-Omni-sized checkpoint: 15 sparse shards
// holding n tensors with realistic names and shapes (about 90 GB of holes, no
// disk cost), and the matching index (~3 MB).
func hfBenchCheckpoint(b *testing.B, dir string, n int) {
	b.Helper()
	const shards = 15
	names := make([]string, 0, n)
	for layer := 0; len(names) < n; layer++ {
		tower := "thinker.model"
		if layer >= 48 {
			tower = "talker.model"
		}
		for e := 0; e < 128 && len(names) < n; e++ {
			for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
				names = append(names, fmt.Sprintf("%s.layers.%d.mlp.experts.%d.%s.weight", tower, layer, e, p))
			}
		}
		for _, p := range []string{"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight", "mlp.gate.weight"} {
			names = append(names, fmt.Sprintf("%s.layers.%d.%s", tower, layer, p))
		}
	}
	names = names[:n]
	wm := make(map[string]string, n)
	var total int64
	per := (n + shards - 1) / shards
	for s := 0; s < shards; s++ {
		shard := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		lo, hi := s*per, min((s+1)*per, n)
		specs := make([]WriteTensorSpec, 0, hi-lo)
		for _, name := range names[lo:hi] {
			specs = append(specs, WriteTensorSpec{Name: name, DType: BF16, Shape: []int64{768, 2048}, Sparse: true})
			wm[name] = shard
			total += 768 * 2048 * 2
		}
		w, err := NewSafetensorsWriter(filepath.Join(dir, shard), specs, map[string]string{"format": "pt"})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	index, err := json.MarshalIndent(map[string]any{"metadata": map[string]int64{"total_size": total}, "weight_map": wm}, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), index, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(hfConfig), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpenHF opens a 15-shard, 30,000-tensor checkpoint (headers and
// index only); the budget is well under a second per open.
func BenchmarkOpenHF(b *testing.B) {
	dir := b.TempDir()
	const n = 30000
	hfBenchCheckpoint(b, dir, n)
	b.ReportAllocs()
	for b.Loop() {
		c, err := OpenHF(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Tensors) != n || len(c.Warnings) != 0 {
			b.Fatalf("%d tensors, warnings %v", len(c.Tensors), c.Warnings)
		}
		c.Close()
	}
}

// BenchmarkParseJSONTreeIndex parses a weight_map of 30,000 entries.
func BenchmarkParseJSONTreeIndex(b *testing.B) {
	dir := b.TempDir()
	hfBenchCheckpoint(b, dir, 30000)
	data, err := os.ReadFile(filepath.Join(dir, IndexFileName))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseJSONTree(data); err != nil {
			b.Fatal(err)
		}
	}
}
