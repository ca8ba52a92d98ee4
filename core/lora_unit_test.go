package core

import (
	"math"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
)

func TestSplitLoRAName(t *testing.T) {
	for _, tc := range []struct {
		name, base, ab, suffix, infix, why string
	}{
		{"decoder.layers.0.self_attention.linear_qkv.lora_A.weight", "decoder.layers.0.self_attention.linear_qkv", "A", "", "", ""},
		{"decoder.layers.1.mlp.experts.linear_fc1.lora_B.weight17", "decoder.layers.1.mlp.experts.linear_fc1", "B", "17", "", ""},
		{"decoder.layers.0.self_attention.linear_proj.lora_A.default.weight", "decoder.layers.0.self_attention.linear_proj", "A", "", "default", ""},
		{"decoder.layers.0.self_attention.linear_proj.lora_magnitude_vector.weight", "", "", "", "", "DoRA"},
		{"decoder.layers.0.self_attention.linear_proj.lora_B.bias", "", "", "", "", "LoRA bias"},
		{"embedding.lora_embedding_A", "", "", "", "", "LoRA embedding"},
		{"decoder.layers.0.self_attention.linear_proj.weight", "", "", "", "", "not a LoRA tensor"},
		{"decoder.layers.0.mlp.modules_to_save.default.weight", "", "", "", "", "modules_to_save"},
		{"decoder.layers.0.mlp.linear_fc1.lora_A.weightx", "", "", "", "", "unexpected"},
	} {
		base, ab, suffix, infix, why := splitLoRAName(tc.name)
		if base != tc.base || ab != tc.ab || suffix != tc.suffix || infix != tc.infix || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
			t.Errorf("%s: got (%q %q %q %q %q)", tc.name, base, ab, suffix, infix, why)
		}
	}
}

func planFixture(t *testing.T, spec fixture.LoRASpec, opt LoRAOptions) *LoRAPlan {
	t.Helper()
	dir := t.TempDir()
	if err := fixture.WriteLoRA(dir, spec); err != nil {
		t.Fatal(err)
	}
	set, err := mca.OpenAdapters(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	p, err := BuildLoRAPlan(set, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoRAScalePatterns: the default alpha_pattern keeps the trained scale of rank-r/topk
// experts (with and without rsLoRA); no rank_pattern entry names a module of rank r; ROLL's
// config is refused where PEFT would load rank-r experts at rank r/topk.
func TestLoRAScalePatterns(t *testing.T) {
	for _, rs := range []bool{false, true} {
		spec := omniLoRASpec(1, 1, 1, true, 4, 2, 16)
		spec.TopK = 4
		spec.Adapters[0].RSLoRA = rs
		p := planFixture(t, spec, LoRAOptions{})
		if p.HasErrors() {
			t.Fatal(p.ErrorText())
		}
		la := p.Adapters[0]
		f := func(k float64) float64 {
			if rs {
				return math.Sqrt(k)
			}
			return k
		}
		trained := la.Alpha / f(16)
		if len(la.RankPattern) != 3 {
			t.Errorf("rank_pattern %v", la.RankPattern)
		}
		for k, r := range la.RankPattern {
			if r != 4 || !strings.Contains(k, `experts\.\d+\.`) {
				t.Errorf("rank_pattern %s: %d", k, r)
			}
			if got := la.AlphaPattern[k] / f(float64(r)); math.Abs(got-trained) > 1e-12 {
				t.Errorf("rslora %v: %s: PEFT scale %g, trained %g", rs, k, got, trained)
			}
		}
	}
	seq := omniLoRASpec(1, 1, 1, false, 4, 2, 16)
	p := planFixture(t, seq, LoRAOptions{})
	if p.HasErrors() || len(p.Adapters[0].RankPattern) != 0 || len(p.Adapters[0].AlphaPattern) != 0 {
		t.Errorf("sequential experts have rank r: no patterns expected, got %v %v %s", p.Adapters[0].RankPattern, p.Adapters[0].AlphaPattern, p.ErrorText())
	}
	p = planFixture(t, seq, LoRAOptions{Scale: LoRAScaleROLL})
	if !p.HasErrors() || !strings.Contains(p.ErrorText(), "--lora-scale roll") {
		t.Errorf("ROLL's rank_pattern on rank-r sequential experts must be refused: %s", p.ErrorText())
	}
	p = planFixture(t, omniLoRASpec(1, 1, 1, true, 4, 2, 16), LoRAOptions{Scale: LoRAScaleROLL})
	if p.HasErrors() || p.Adapters[0].RankPattern["gate_proj"] != 8 || len(p.Adapters[0].AlphaPattern) != 0 || len(p.Adapters[0].Notes) == 0 {
		t.Errorf("roll scale: %v %v %s", p.Adapters[0].RankPattern, p.Adapters[0].Notes, p.ErrorText())
	}
}

// TestLoRARefusals: configurations ROLL's LoRA layout does not have.
func TestLoRARefusals(t *testing.T) {
	spec := omniLoRASpec(2, 1, 1, true, 4, 2, 8)
	spec.ExtraMCA = map[string]any{"transformer_impl": "local"}
	if p := planFixture(t, spec, LoRAOptions{}); !strings.Contains(p.ErrorText(), "Transformer Engine") {
		t.Errorf("local impl: %s", p.ErrorText())
	}
	spec = omniLoRASpec(2, 1, 1, true, 4, 2, 8)
	spec.ExtraMCA = map[string]any{"expert_tensor_parallel_size": 1}
	if p := planFixture(t, spec, LoRAOptions{}); !strings.Contains(p.ErrorText(), "expert_tensor_parallel_size") {
		t.Errorf("ETP != TP: %s", p.ErrorText())
	}
	spec = omniLoRASpec(1, 1, 1, true, 4, 2, 8)
	spec.Adapters[0].Extra = map[string]any{"modules_to_save": []string{"output_layer"}}
	if p := planFixture(t, spec, LoRAOptions{}); !strings.Contains(p.ErrorText(), "modules_to_save") {
		t.Errorf("modules_to_save: %s", p.ErrorText())
	}
	spec = omniLoRASpec(1, 1, 1, true, 4, 2, 8)
	spec.NoSubMCA = true
	if p := planFixture(t, spec, LoRAOptions{}); p.HasErrors() || !p.Adapters[0].src.ConfigShare {
		t.Errorf("an adapter folder without its own mca_config.json uses the top one: %s", p.ErrorText())
	}
}
