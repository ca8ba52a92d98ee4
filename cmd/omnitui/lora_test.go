package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

func loraSpec() fixture.LoRASpec {
	return fixture.LoRASpec{
		HFConfig: map[string]any{"model_type": "qwen3_omni_moe", "_name_or_path": "Qwen/Qwen3-Omni-30B-A3B-Instruct"},
		Hidden:   32, Heads: 4, Groups: 2, HeadDim: 8, MoEFFN: 16, Experts: 4, TopK: 2,
		Layers: 2, Vocab: 64, TP: 2, PP: 1, EP: 2, Grouped: true, DType: loader.BF16, Seed: 3,
		Adapters: []fixture.LoRAAdapterSpec{
			{Name: "default", R: 8, Alpha: 16, Targets: []string{"linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"}},
			{Name: "second", R: 4, Alpha: 4, Targets: []string{"linear_qkv"}},
		},
	}
}

// TestLoRACLI: plan, JSON plan, export with both adapters laid out like PEFT, --dtype, and the
// scale modes.
func TestLoRACLI(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "roll")
	if err := fixture.WriteLoRA(src, loraSpec()); err != nil {
		t.Fatal(err)
	}
	code, out, e := runCLI(t, "--batch", "--plan", src)
	for _, want := range []string{"adapter default", "adapter second -> second/", "r 8, lora_alpha 16", "grouped-GEMM experts: rank r/topk", "alpha_pattern", "de-interleave", "merge"} {
		if !strings.Contains(out, want) {
			t.Errorf("--plan lacks %q (exit %d)\n%s%s", want, code, out, e)
		}
	}
	code, out, _ = runCLI(t, "--batch", "--plan", "--json", src)
	if code != exitOK || !strings.Contains(out, `"module_ranks"`) || !strings.Contains(out, `"sources"`) {
		t.Errorf("--plan --json: exit %d\n%s", code, out)
	}
	peft := filepath.Join(dir, "peft")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--dtype", "fp32", "--base-model", "my/base", "--out", peft, src); code != exitOK {
		t.Fatalf("export: exit %d\n%s", code, e)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "second/adapter_config.json", "second/adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(peft, f)); err != nil {
			t.Error(err)
		}
	}
	h, err := loader.ReadSafetensorsHeader(filepath.Join(peft, "adapter_model.safetensors"))
	if err != nil || h.Tensors[0].DType != loader.F32 {
		t.Errorf("--dtype fp32 not honoured: %v %v", err, h)
	}
	cfg, _ := os.ReadFile(filepath.Join(peft, "adapter_config.json"))
	if !strings.Contains(string(cfg), `"base_model_name_or_path": "my/base"`) {
		t.Errorf("--base-model not written:\n%s", cfg)
	}
	if code, out, e := runCLI(t, "--batch", "--verify", src, peft); code != exitOK || strings.Count(out, "MATCH") != 2 {
		t.Errorf("--verify: exit %d\n%s%s", code, out, e)
	}
	st := filepath.Join(peft, "second", "adapter_model.safetensors")
	b, _ := os.ReadFile(st)
	b[len(b)-1] ^= 0x40
	os.WriteFile(st, b, 0o644)
	if code, out, _ := runCLI(t, "--batch", "--verify", src, peft); code != exitFailed || !strings.Contains(out, "values differ") {
		t.Errorf("--verify of a tampered adapter: exit %d\n%s", code, out)
	}
	if code, _, e := runCLI(t, "--batch", "--plan", filepath.Join(src, "default")); code != exitBadUsage || !strings.Contains(e, "one adapter of the LoRA checkpoint") {
		t.Errorf("an adapter folder: exit %d\n%s", code, e)
	}
	roll := filepath.Join(dir, "peft-roll")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--lora-scale", "roll", "--out", roll, src); code != exitOK {
		t.Fatalf("--lora-scale roll: exit %d\n%s", code, e)
	}
	cfg, _ = os.ReadFile(filepath.Join(roll, "adapter_config.json"))
	if !strings.Contains(string(cfg), `"alpha_pattern": {}`) || !strings.Contains(string(cfg), `"gate_proj": 4`) {
		t.Errorf("--lora-scale roll config:\n%s", cfg)
	}
}

// TestLoRABadInput: every bad input exits 2, names the file and tensor, and writes nothing.
func TestLoRABadInput(t *testing.T) {
	rename := func(from, to string) func(string, int, int, int, *[]fixture.LoRATensor) {
		return func(a string, tp, pp, ep int, ts *[]fixture.LoRATensor) {
			for i := range *ts {
				(*ts)[i].Name = strings.Replace((*ts)[i].Name, from, to, 1)
			}
		}
	}
	add := func(name string) func(string, int, int, int, *[]fixture.LoRATensor) {
		return func(a string, tp, pp, ep int, ts *[]fixture.LoRATensor) {
			*ts = append(*ts, fixture.LoRATensor{Name: name, Shape: []int64{8}, Data: make([]float32, 8)})
		}
	}
	cases := []struct {
		name  string
		edit  func(*fixture.LoRASpec)
		after func(t *testing.T, src string)
		want  []string
		flags []string
		ok    bool // accepted (with a report)
	}{
		{name: "no adapter_config.json", after: func(t *testing.T, src string) { os.Remove(filepath.Join(src, "second", "adapter_config.json")) },
			want: []string{"second", "adapter_config.json"}},
		{name: "r disagrees", edit: func(s *fixture.LoRASpec) { s.Adapters[1].Extra = map[string]any{"r": 2} },
			want: []string{"model_optim_rng.pt", "decoder.layers.0.self_attention.linear_qkv.lora_A.weight", "r = 2"}},
		{name: "rank file missing", after: func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "default", "iter_0000001", "mp_rank_01_001"))
		}, want: []string{"mp_rank_01_001", "missing"}},
		{name: "rank file too many", after: func(t *testing.T, src string) {
			os.MkdirAll(filepath.Join(src, "default", "iter_0000001", "mp_rank_02_000"), 0o755)
		}, want: []string{"mp_rank_02_000"}},
		{name: "TP replicas differ", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = func(a string, tp, pp, ep int, ts *[]fixture.LoRATensor) {
				if a == "default" && tp == 1 {
					for i := range *ts {
						if strings.HasSuffix((*ts)[i].Name, "linear_qkv.lora_A.weight") {
							d := append([]float32(nil), (*ts)[i].Data...)
							d[0] += 1
							(*ts)[i].Data = d
						}
					}
				}
			}
		}, want: []string{"mp_rank_01_000", "linear_qkv.lora_A.weight", "--take-rank0"}},
		{name: "TP replicas differ, --take-rank0", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = func(a string, tp, pp, ep int, ts *[]fixture.LoRATensor) {
				if tp == 1 {
					for i := range *ts {
						if strings.HasSuffix((*ts)[i].Name, "linear_proj.lora_B.weight") {
							d := append([]float32(nil), (*ts)[i].Data...)
							d[0] += 1
							(*ts)[i].Data = d
						}
					}
				}
			}
		}, flags: []string{"--take-rank0"}, ok: true},
		{name: "lora_A without lora_B", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = func(a string, tp, pp, ep int, ts *[]fixture.LoRATensor) {
				var keep []fixture.LoRATensor
				for _, x := range *ts {
					if x.Name != "decoder.layers.1.self_attention.linear_proj.lora_B.weight" {
						keep = append(keep, x)
					}
				}
				*ts = keep
			}
		}, want: []string{"model_optim_rng.pt", "decoder.layers.1.self_attention.linear_proj.lora_A.weight", "lora_B"}},
		{name: "adapter-name infix", edit: func(s *fixture.LoRASpec) { s.EditRanks = rename(".lora_A.weight", ".lora_A.default.weight") },
			ok: true, want: []string{"lora-adapter-infix"}},
		{name: "DoRA", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = add("decoder.layers.0.self_attention.linear_proj.lora_magnitude_vector.weight")
		}, want: []string{"model_optim_rng.pt", "lora_magnitude_vector", "DoRA"}},
		{name: "use_dora", edit: func(s *fixture.LoRASpec) { s.Adapters[0].Extra = map[string]any{"use_dora": true} }, want: []string{"adapter_config.json", "DoRA"}},
		{name: "LoRA bias", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = add("decoder.layers.0.self_attention.linear_proj.lora_B.bias")
		},
			want: []string{"linear_proj.lora_B.bias", "LoRA bias"}},
		{name: "other PEFT type", edit: func(s *fixture.LoRASpec) { s.Adapters[1].Extra = map[string]any{"peft_type": "IA3"} }, want: []string{"IA3", "LoRA adapters only"}},
		{name: "unmapped base module", edit: func(s *fixture.LoRASpec) {
			s.EditRanks = add("decoder.layers.0.self_attention.linear_foo.lora_A.weight")
		}, want: []string{"linear_foo.lora_A.weight", "does not map it"}},
		{name: "hostile rank file", after: func(t *testing.T, src string) {
			p := filepath.Join(src, "default", "iter_0000001", "mp_rank_00_000", "model_optim_rng.pt")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, want: []string{"mp_rank_00_000", "model_optim_rng.pt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "roll")
			spec := loraSpec()
			if tc.edit != nil {
				tc.edit(&spec)
			}
			if err := fixture.WriteLoRA(src, spec); err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after(t, src)
			}
			out := filepath.Join(dir, "peft")
			args := append(append([]string{"--batch", "--to-hf", "--out", out}, tc.flags...), src)
			code, so, se := runCLI(t, args...)
			if tc.ok {
				if code != exitOK {
					t.Fatalf("exit %d, want 0\n%s%s", code, so, se)
				}
				if len(tc.want) > 0 {
					_, plan, _ := runCLI(t, "--batch", "--plan", src)
					for _, w := range tc.want {
						if !strings.Contains(plan, w) {
							t.Errorf("plan lacks %q:\n%s", w, plan)
						}
					}
				}
				return
			}
			if code != exitBadUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitBadUsage, so, se)
			}
			for _, w := range tc.want {
				if !strings.Contains(se, w) {
					t.Errorf("stderr lacks %q:\n%s", w, se)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("leftovers beside the output: %v", ents)
			}
		})
	}
}
