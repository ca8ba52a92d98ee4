package dcp

import (
	"bytes"
	"fmt"
	"github.com/omnitui/omnitui/loader/dcp/dcptest"
	"strings"
	"testing"
)

func openFixture(t *testing.T, f *dcptest.Fixture) *Checkpoint {
	t.Helper()
	dir := f.Write(t, t.TempDir())
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func fxByKey(f *dcptest.Fixture, key string) dcptest.Tensor {
	for _, t := range f.Tensors {
		if t.Key == key {
			return t
		}
	}
	panic(key)
}

func TestStackedMoEView(t *testing.T) {
	for _, variant := range []struct {
		name              string
		newTorch, mcore15 bool
	}{{"torch2.1-props", false, false}, {"torch2.4+", true, false}, {"mcore0.15", true, true}} {
		t.Run(variant.name, func(t *testing.T) {
			f := dcptest.TinyMoE()
			f.NewTorch, f.MCore15 = variant.newTorch, variant.mcore15
			c := openFixture(t, f)
			if len(c.Files) != 4 || len(c.Tensors) != len(f.Tensors) || len(c.Objects) != 3 {
				t.Fatalf("files %d tensors %d objects %d", len(c.Files), len(c.Tensors), len(c.Objects))
			}
			v, err := c.View(ViewConfig{Layers: 2, Experts: 4, Source: "test"})
			if err != nil {
				t.Fatal(err)
			}
			// 2 global + 2 layers x (3 attn + router) + 2x4x2 experts + final norm.
			if want := 2 + 2*4 + 2*4*2 + 1; len(v.Tensors) != want {
				var names []string
				for _, vt := range v.Tensors {
					names = append(names, vt.Name)
				}
				t.Fatalf("%d tensors, want %d: %s", len(v.Tensors), want, strings.Join(names, "\n"))
			}
			skipped := map[string]string{}
			for _, s := range v.Skipped {
				skipped[s.Key] = s.Why
			}
			for _, k := range []string{"optimizer.state.exp_avg.decoder.final_layernorm.weight", "rng_state/shard_0.0_1.4", "common_state/shard_0_1", "decoder.layers.self_attention.linear_qkv._extra_state/shard_0_2"} {
				if skipped[k] == "" {
					t.Errorf("%s not listed as skipped (%v)", k, skipped)
				}
			}
			checks := []struct {
				name  string
				key   string
				off   []int64
				shape []int64
			}{
				{"embedding.word_embeddings.weight", "embedding.word_embeddings.weight", []int64{0, 0}, []int64{16, 8}},
				{"decoder.layers.1.self_attention.linear_qkv.weight", "decoder.layers.self_attention.linear_qkv.weight", []int64{1, 0, 0}, []int64{24, 8}},
				{"decoder.layers.0.self_attention.linear_proj.weight", "decoder.layers.self_attention.linear_proj.weight", []int64{0, 0, 0}, []int64{8, 8}},
				{"decoder.layers.1.mlp.experts.local_experts.3.linear_fc1.weight", "decoder.layers.mlp.experts.linear_fc1.weight", []int64{1, 3, 0, 0}, []int64{12, 8}},
				{"decoder.layers.0.mlp.experts.local_experts.2.linear_fc2.weight", "decoder.layers.mlp.experts.linear_fc2.weight", []int64{0, 2, 0, 0}, []int64{8, 6}},
				{"decoder.layers.1.mlp.router.weight", "decoder.layers.mlp.router.weight", []int64{1, 0, 0}, []int64{4, 8}},
				{"decoder.final_layernorm.weight", "decoder.final_layernorm.weight", []int64{0}, []int64{8}},
			}
			for _, ck := range checks {
				i, ok := v.Index(ck.name)
				if !ok {
					t.Fatalf("no %s in the view", ck.name)
				}
				vt := v.Tensors[i]
				if fmt.Sprint(vt.Shape) != fmt.Sprint(ck.shape) {
					t.Errorf("%s shape %v, want %v", ck.name, vt.Shape, ck.shape)
				}
				got, err := v.TensorData(i)
				if err != nil {
					t.Fatal(err)
				}
				ft := fxByKey(f, ck.key)
				size := append(make([]int64, len(ck.off)-len(ck.shape)), ck.shape...)
				for d := range size[:len(ck.off)-len(ck.shape)] {
					size[d] = 1
				}
				if want := dcptest.BoxBytes(ft, ck.off, size); !bytes.Equal(got, want) {
					t.Errorf("%s: bytes differ from the stored global tensor", ck.name)
				}
				if v.FileOf(i) == "" {
					t.Errorf("%s: no file", ck.name)
				}
			}
		})
	}
}

func TestSingletonSwiGLUView(t *testing.T) {
	f := dcptest.TinySingleton()
	c := openFixture(t, f)
	v, err := c.View(ViewConfig{Layers: 2, Experts: 2, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, w, vv string }{
		{"decoder.layers.0.mlp.linear_fc1.weight", "decoder.layers.0.mlp.linear_fc1.weight_w", "decoder.layers.0.mlp.linear_fc1.weight_v"},
		{"decoder.layers.1.mlp.experts.local_experts.1.linear_fc1.weight", "decoder.layers.1.mlp.experts.1.linear_fc1.weight_w", "decoder.layers.1.mlp.experts.1.linear_fc1.weight_v"},
	} {
		i, ok := v.Index(tc.name)
		if !ok {
			t.Fatalf("no %s", tc.name)
		}
		if got := v.Tensors[i].Shape; fmt.Sprint(got) != "[12 4]" {
			t.Errorf("%s shape %v, want [12 4]", tc.name, got)
		}
		got, err := v.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		want := append(dcptest.GlobalBytes(fxByKey(f, tc.w)), dcptest.GlobalBytes(fxByKey(f, tc.vv))...)
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not [gate; up]", tc.name)
		}
	}
	if _, ok := v.Index("decoder.layers.0.mlp.linear_fc2.weight"); !ok {
		t.Error("fc2 missing")
	}
	if len(v.Tensors) != 4 {
		t.Errorf("%d tensors, want 4", len(v.Tensors))
	}
}

func TestReadBoxAcrossChunks(t *testing.T) {
	f := &dcptest.Fixture{Tensors: []dcptest.Tensor{dcptest.Grid("w", "F32", []int64{6, 8, 4}, []int64{3, 2, 2}, "__0_0.distcp", "__1_0.distcp")}}
	c := openFixture(t, f)
	for _, box := range [][2][]int64{
		{{0, 0, 0}, {6, 8, 4}},
		{{1, 3, 1}, {4, 4, 2}},
		{{5, 7, 3}, {1, 1, 1}},
		{{2, 0, 0}, {0, 8, 4}},
	} {
		got, err := c.ReadBox("w", box[0], box[1])
		if err != nil {
			t.Fatal(err)
		}
		if want := dcptest.BoxBytes(f.Tensors[0], box[0], box[1]); !bytes.Equal(got, want) {
			t.Errorf("box %v+%v differs", box[0], box[1])
		}
	}
	if _, err := c.ReadBox("w", []int64{5, 0, 0}, []int64{2, 1, 1}); err == nil {
		t.Error("a box past the shape was read")
	}
	c.Close()
	if _, err := c.ReadBox("w", []int64{0, 0, 0}, []int64{1, 1, 1}); err == nil {
		t.Error("read after Close")
	}
}
