package tui_test

import (
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui"
)

// TestLoRAApp: the app over a ROLL LoRA checkpoint shows the adapters in Overview, every PEFT
// tensor with its sources in Mapping, and points elsewhere from the other views.
func TestLoRAApp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "roll")
	spec := fixture.LoRASpec{
		HFConfig: map[string]any{"model_type": "qwen3_omni_moe"},
		Hidden:   32, Heads: 4, Groups: 2, HeadDim: 8, MoEFFN: 16, Experts: 4, TopK: 2,
		Layers: 2, Vocab: 64, TP: 2, PP: 1, EP: 2, Grouped: true, DType: loader.BF16, Seed: 3,
		Adapters: []fixture.LoRAAdapterSpec{{Name: "default", R: 8, Alpha: 16, Targets: []string{"linear_qkv", "linear_fc1"}}},
	}
	if err := fixture.WriteLoRA(dir, spec); err != nil {
		t.Fatal(err)
	}
	set, err := mca.OpenAdapters(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	p, err := core.BuildLoRAPlan(set, core.LoRAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := tui.NewLoRA(p, dir)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	view := func() string { return m.Screen() }
	for _, want := range []string{"adapter default", "r 8 · lora_alpha 16", "grouped experts: r/topk", "✓ maps to PEFT"} {
		if !strings.Contains(view(), want) {
			t.Errorf("overview lacks %q:\n%s", want, view())
		}
	}
	m.Update(keyMsg("4"))
	for _, want := range []string{"Mapping", "base_model.model.thinker.model.layers.0.", "de-interleave"} {
		if !strings.Contains(view(), want) {
			t.Errorf("mapping lacks %q:\n%s", want, view())
		}
	}
	m.Update(keyMsg("3"))
	if !strings.Contains(view(), "nothing to show for LoRA adapters") {
		t.Errorf("weights view:\n%s", view())
	}
}
