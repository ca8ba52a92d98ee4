package core

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
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

// TestLoRAFixtureSmoke writes a fixture and checks it is detected; with OMNITUI_LORA_FIXTURE
// (and OMNITUI_LORA_FIXTURE_SPEC) it writes one where asked, for manual and oracle runs.
func TestLoRAFixtureSmoke(t *testing.T) {
	dir := t.TempDir() + "/lora"
	if d := os.Getenv("OMNITUI_LORA_FIXTURE"); d != "" {
		dir = d
	}
	spec := omniLoRASpec(2, 2, 2, true, 4, 2, 8)
	if js := os.Getenv("OMNITUI_LORA_FIXTURE_SPEC"); js != "" {
		// For the ROLL oracle run outside the repo: a spec as JSON.
		spec = fixture.LoRASpec{}
		if err := json.Unmarshal([]byte(js), &spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := fixture.WriteLoRA(dir, spec); err != nil {
		t.Fatal(err)
	}
	if !mca.IsAdapterSet(dir) {
		t.Errorf("%s is not detected as a LoRA checkpoint", dir)
	}
	if mca.IsAdapterSet(dir + "/default") {
		t.Errorf("an adapter folder is taken for a whole LoRA checkpoint")
	}
}
