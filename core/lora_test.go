package core

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/loader/pt"
)

// loraDenseFamily is a test-only llama-shaped dense family (main has no dense family yet).
func loraDenseFamily() *family.Template {
	return &family.Template{
		ModelType:   "lora_test_dense",
		LayerPrefix: "model.layers.",
		Rules: []family.Rule{
			{Op: family.OpRename, HF: []string{"model.embed_tokens.weight"}, MCA: family.MCAEmbedding},
			{Op: family.OpRename, HF: []string{"model.norm.weight"}, MCA: family.MCAFinalNorm},
			{Op: family.OpRename, HF: []string{"lm_head.weight"}, MCA: family.MCAOutputLayer},
			{Op: family.OpRename, HF: []string{".input_layernorm.weight"}, MCA: ".self_attention.linear_qkv.layer_norm_weight"},
			{Op: family.OpQKV, HF: []string{".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight"}, MCA: ".self_attention.linear_qkv.weight"},
			{Op: family.OpRename, HF: []string{".self_attn.o_proj.weight"}, MCA: ".self_attention.linear_proj.weight"},
			{Op: family.OpRename, HF: []string{".post_attention_layernorm.weight"}, MCA: ".mlp.linear_fc1.layer_norm_weight"},
			{Op: family.OpStack, HF: []string{".mlp.gate_proj.weight", ".mlp.up_proj.weight"}, MCA: ".mlp.linear_fc1.weight"},
			{Op: family.OpRename, HF: []string{".mlp.down_proj.weight"}, MCA: ".mlp.linear_fc2.weight"},
		},
		Dist: family.DefaultDist,
	}
}

func denseLoRASpec(tp, pp int, heads, groups, r int) fixture.LoRASpec {
	return fixture.LoRASpec{
		HFConfig: map[string]any{"model_type": "lora_test_dense", "_name_or_path": "org/dense-tiny", "architectures": []string{"LlamaForCausalLM"}},
		Hidden:   32, Heads: heads, Groups: groups, HeadDim: 8, FFN: 48, Layers: 4, Vocab: 64, TP: tp, PP: pp, EP: 1,
		DType: loader.F32, Seed: 11,
		Adapters: []fixture.LoRAAdapterSpec{{Name: "default", R: r, Alpha: 16,
			Targets: []string{"linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"}}},
	}
}

type loraCase struct {
	name   string
	spec   fixture.LoRASpec
	prefix string
	opt    LoRAOptions
}

func loraCases() []loraCase {
	omni := "thinker.model.layers."
	dense := "model.layers."
	c := []loraCase{
		{"omni/tp1-ep1-grouped-gqa-r8", omniLoRASpec(1, 1, 1, true, 4, 2, 8), omni, LoRAOptions{}},
		{"omni/tp2-ep2-grouped-mha-r16", omniLoRASpec(2, 1, 2, true, 4, 4, 16), omni, LoRAOptions{}},
		{"omni/tp4-ep4-grouped-mha-r8", omniLoRASpec(4, 1, 4, true, 4, 4, 8), omni, LoRAOptions{}},
		{"omni/tp4-ep1-sequential-gqa-r16", omniLoRASpec(4, 1, 1, false, 8, 4, 16), omni, LoRAOptions{}},
		{"omni/tp2-pp2-ep4-sequential-gqa-r8", omniLoRASpec(2, 2, 4, false, 4, 2, 8), omni, LoRAOptions{}},
		{"omni/tp1-ep2-grouped-mqa-r16-rslora", omniLoRASpec(1, 1, 2, true, 4, 1, 16), omni, LoRAOptions{}},
		{"omni/tp2-ep2-grouped-roll-scale", omniLoRASpec(2, 1, 2, true, 4, 2, 8), omni, LoRAOptions{Scale: LoRAScaleROLL}},
		{"dense/tp1-mha-r8", denseLoRASpec(1, 1, 4, 4, 8), dense, LoRAOptions{}},
		{"dense/tp2-pp2-gqa-r16", denseLoRASpec(2, 2, 4, 2, 16), dense, LoRAOptions{}},
		{"dense/tp4-gqa-r8", denseLoRASpec(4, 1, 8, 4, 8), dense, LoRAOptions{}},
		{"dense/tp1-mqa-r16", denseLoRASpec(1, 1, 4, 1, 16), dense, LoRAOptions{}},
		{"omni/tp2-ep2-two-adapters-bf16", omniLoRASpec(2, 1, 2, true, 4, 2, 8), omni, LoRAOptions{}},
	}
	c[5].spec.Adapters[0].RSLoRA = true
	two := &c[len(c)-1].spec
	two.DType = loader.BF16
	two.Adapters = append(two.Adapters, fixture.LoRAAdapterSpec{Name: "math", R: 16, Alpha: 8, Targets: []string{"linear_qkv", "linear_fc2"}})
	return c
}

func exportLoRAFixture(t *testing.T, spec fixture.LoRASpec, opt LoRAOptions) (src, out string, p *LoRAPlan) {
	t.Helper()
	dir := t.TempDir()
	src, out = filepath.Join(dir, "roll"), filepath.Join(dir, "peft")
	if err := fixture.WriteLoRA(src, spec); err != nil {
		t.Fatal(err)
	}
	if !mca.IsAdapterSet(src) {
		t.Fatal("the fixture is not detected as a LoRA checkpoint")
	}
	set, err := mca.OpenAdapters(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	p, err = BuildLoRAPlan(set, opt)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("plan errors: %s", p.ErrorText())
	}
	if _, err := ExportLoRA(context.Background(), p, LoRAExportOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	return src, out, p
}

// TestLoRAAgainstTorchReference checks every exported PEFT tensor byte for byte against an
// independent PyTorch restatement of ROLL's LoRA mapping, and the functional equivalence
// scale_peft·B_hf·A_hf == trained scale·B·A per HF module in float64.
func TestLoRAAgainstTorchReference(t *testing.T) {
	py := loraTorchPython(t)
	for _, tc := range loraCases() {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "dense/") {
				family.RegisterForTest(t, loraDenseFamily())
			}
			src, out, p := exportLoRAFixture(t, tc.spec, tc.opt)
			exp := filepath.Join(t.TempDir(), "expect")
			args := []string{"testdata/roll_lora_ref.py", "both", src, tc.prefix, exp, out}
			if tc.opt.Scale == LoRAScaleROLL {
				// ROLL's config: PEFT scales the rank-r/topk experts by alpha/(r/topk), topk times
				// the trained alpha/r. The check must see exactly that factor.
				args = append(args, strconv.Itoa(tc.spec.TopK))
			}
			cmd := exec.Command(py, args...)
			msg, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(msg), "ok ") {
				t.Fatalf("reference: %v\n%s", err, msg)
			}
			for _, la := range p.Adapters {
				dir := filepath.Join(out, la.OutDir)
				got := readSafetensorsAll(t, filepath.Join(dir, "adapter_model.safetensors"))
				f, err := pt.Open(filepath.Join(exp, la.Name+".pt"))
				if err != nil {
					t.Fatal(err)
				}
				refs := f.Tensors("model")
				if len(refs) != len(got) {
					t.Errorf("adapter %s: %d tensors, reference has %d", la.Name, len(got), len(refs))
				}
				for _, ref := range refs {
					want, err := f.ReadTensor(ref)
					if err != nil {
						t.Fatal(err)
					}
					g, ok := got[ref.Name]
					if !ok {
						t.Errorf("%s missing", ref.Name)
						continue
					}
					if !equalShape(g.shape, ref.Shape) || !bytes.Equal(g.data, want) {
						t.Errorf("%s: shape %v, reference %v; bytes equal %v", ref.Name, g.shape, ref.Shape, bytes.Equal(g.data, want))
					}
				}
				f.Close()
				checkPEFTConfig(t, tc, la, dir)
			}
		})
	}
}

func checkPEFTConfig(t *testing.T, tc loraCase, la *LoRAAdapter, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		R            int                `json:"r"`
		Alpha        float64            `json:"lora_alpha"`
		RankPattern  map[string]int     `json:"rank_pattern"`
		AlphaPattern map[string]float64 `json:"alpha_pattern"`
		Targets      []string           `json:"target_modules"`
		Base         string             `json:"base_model_name_or_path"`
		PEFTType     string             `json:"peft_type"`
		Bias         string             `json:"bias"`
		TaskType     *string            `json:"task_type"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.PEFTType != "LORA" || c.Bias != "none" || c.R != la.R {
		t.Errorf("config %s", b)
	}
	grouped := tc.spec.Experts > 0 && tc.spec.Grouped
	if tc.opt.Scale == LoRAScaleROLL {
		if len(c.AlphaPattern) != 0 || c.RankPattern["down_proj"] != la.R/tc.spec.TopK {
			t.Errorf("roll scale: rank_pattern %v alpha_pattern %v", c.RankPattern, c.AlphaPattern)
		}
		return
	}
	if grouped != (len(c.RankPattern) > 0) || len(c.RankPattern) != len(c.AlphaPattern) {
		t.Errorf("rank_pattern %v alpha_pattern %v (grouped experts %v)", c.RankPattern, c.AlphaPattern, grouped)
	}
	for k, v := range c.RankPattern {
		if v == c.R {
			t.Errorf("rank_pattern %s = r", k)
		}
	}
	want := map[string]bool{}
	for _, tg := range tc.spec.Adapters[0].Targets {
		if la.Name != "default" {
			continue
		}
		for _, h := range map[string][]string{"linear_qkv": {"q_proj", "k_proj", "v_proj"}, "linear_proj": {"o_proj"}, "linear_fc1": {"gate_proj", "up_proj"}, "linear_fc2": {"down_proj"}}[tg] {
			want[h] = true
		}
	}
	if la.Name == "default" && len(want) != len(c.Targets) {
		t.Errorf("target_modules %v", c.Targets)
	}
	if strings.HasPrefix(tc.name, "dense/") != (c.TaskType != nil && *c.TaskType == "CAUSAL_LM") {
		t.Errorf("task_type %v", c.TaskType)
	}
}

type stTensor struct {
	shape []int64
	data  []byte
}

func readSafetensorsAll(t *testing.T, path string) map[string]stTensor {
	t.Helper()
	h, err := loader.ReadSafetensorsHeader(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stTensor{}
	for _, ti := range h.Tensors {
		out[ti.Name] = stTensor{ti.Shape, raw[ti.Offset : ti.Offset+ti.Size]}
	}
	return out
}

// loraTorchPython finds a python3 that imports torch; skips without one unless
// OMNITUI_REQUIRE_TORCH=1.
func loraTorchPython(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("OMNITUI_PYTHON"), "/usr/bin/python3", "python3"} {
		if c != "" && exec.Command(c, "-c", "import torch").Run() == nil {
			return c
		}
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") == "1" {
		t.Fatal("PyTorch is required (OMNITUI_REQUIRE_TORCH=1) but no python3 imports torch")
	}
	t.Skip("PyTorch not installed; set OMNITUI_REQUIRE_TORCH=1 to make this a failure")
	return ""
}
