package core

import (
	"os"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// omniLoRASpec is a Qwen3-Omni-shaped LoRA checkpoint.
func omniLoRASpec(tp, pp, ep int, grouped bool, heads, groups, r int) fixture.LoRASpec {
	return fixture.LoRASpec{
		HFConfig: map[string]any{"model_type": "qwen3_omni_moe", "_name_or_path": "Qwen/Qwen3-Omni-30B-A3B-Instruct",
			"architectures": []string{"Qwen3OmniMoeForConditionalGeneration"}},
		Hidden: 32, Heads: heads, Groups: groups, HeadDim: 8, MoEFFN: 16, FFN: 64, Experts: 8, TopK: 2,
		Layers: 4, Vocab: 64, TP: tp, PP: pp, EP: ep, Grouped: grouped, DType: loader.F32, Seed: 7,
		Adapters: []fixture.LoRAAdapterSpec{{Name: "default", R: r, Alpha: 2 * float64(r),
			Targets: []string{"linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"}}},
	}
}

func TestLoRAFixtureSmoke(t *testing.T) {
	dir := t.TempDir() + "/lora"
	if d := os.Getenv("OMNITUI_LORA_FIXTURE"); d != "" {
		dir = d
	}
	if err := fixture.WriteLoRA(dir, omniLoRASpec(2, 2, 2, true, 4, 2, 8)); err != nil {
		t.Fatal(err)
	}
	t.Log(dir)
}
