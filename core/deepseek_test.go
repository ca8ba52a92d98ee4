package core_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
)

// convertAll converts hf with s into a fresh directory and returns it.
func convertAll(t *testing.T, hf string, s core.Settings) string {
	t.Helper()
	ck, p := planHF(t, hf, s)
	defer ck.Close()
	if p.HasErrors() {
		t.Fatalf("plan errors: %v", p.Errors())
	}
	out := filepath.Join(t.TempDir(), "mca")
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, NoSync: true}); err != nil {
		t.Fatal(err)
	}
	return out
}

// rankFiles maps every rank file under dir (relative path) to its bytes.
func rankFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(path, ".pt") {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The FP8 release converts, byte for byte, to what its bf16 form converts to, where the bf16
// form comes from an independent torch restatement of block dequantization
// (testdata/fp8_dequant.py).
func TestFP8EqualsDequantizedBF16(t *testing.T) {
	py := torchPythonOrEmpty(t)
	if py == "" {
		t.Skip("no python3 with torch")
	}
	for _, fam := range []string{"deepseek_v3", "glm4_moe"} {
		hf := writeRelease(t, t.TempDir(), fam, []string{"fp8", "mtp"}, func(o *fixture.ReleaseOptions) { o.Shards = 1 })
		bf := filepath.Join(t.TempDir(), "bf16")
		if b, err := exec.Command(py, "testdata/fp8_dequant.py", hf, bf).CombinedOutput(); err != nil {
			t.Fatalf("fp8_dequant.py: %v\n%s", err, b)
		}
		for _, s := range []func(*core.Settings){
			func(s *core.Settings) {},
			func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 },
			func(s *core.Settings) { s.EP, s.GroupedGEMM, s.LegacyGroupedGEMM = 2, true, true },
			func(s *core.Settings) { s.DType = "fp32" },
		} {
			st := core.DefaultSettings()
			s(&st)
			// mca_config.json: the same but for where it came from (bf16 true for both)
			cka, pa := planHF(t, hf, st)
			ckb, pb := planHF(t, bf, st)
			cka.Close()
			ckb.Close()
			ma, mb := mcaKV(pa), mcaKV(pb)
			for _, k := range []string{"name_or_path", "hf_config_json"} {
				delete(ma, k)
				delete(mb, k)
			}
			if !maps.Equal(ma, mb) || (st.DType == "keep" && ma["bf16"] != "true") {
				t.Errorf("%s %+v: mca_config.json differs from the dequantized checkpoint's (bf16 %s / %s)", fam, st, ma["bf16"], mb["bf16"])
			}
			a, b := rankFiles(t, convertAll(t, hf, st)), rankFiles(t, convertAll(t, bf, st))
			if len(a) == 0 || len(a) != len(b) {
				t.Fatalf("%s %+v: %d vs %d rank files", fam, st, len(a), len(b))
			}
			for k := range a {
				if !bytes.Equal(a[k], b[k]) {
					t.Errorf("%s %+v: %s differs between the FP8 input and its dequantized bf16 form", fam, st, k)
				}
			}
		}
	}
}

// MTP layers: names and placement (last stage, experts by EP, both inner names), the
// embedding copy on the last stage, --drop-mtp, and the release's copies left out.
func TestMTPPlan(t *testing.T) {
	for _, fam := range []string{"deepseek_v3", "glm4_moe"} {
		hf := writeRelease(t, t.TempDir(), fam, []string{"mtp"}, nil)
		for _, inner := range []string{core.MTPInnerDefault, core.MTPInnerOld} {
			s := core.DefaultSettings()
			s.TP, s.PP, s.EP, s.MTPLayerName = 2, 2, 2, inner
			ck, p := planHF(t, hf, s)
			ck.Close()
			if p.HasErrors() {
				t.Fatalf("%s: %v", fam, p.Errors())
			}
			last := map[string]bool{}
			first := map[string]bool{}
			for _, r := range p.Ranks {
				for _, e := range r.Chunks[0].Entries {
					if r.PP == 1 && r.EP == 1 {
						last[e.Name] = true
					}
					if r.PP == 0 {
						first[e.Name] = true
					}
				}
			}
			for _, want := range []string{"mtp.layers.0.enorm.weight", "mtp.layers.0.hnorm.weight", "mtp.layers.0.eh_proj.weight", "mtp.layers.0.final_layernorm.weight",
				"mtp.layers.0." + inner + ".mlp.router.expert_bias", "mtp.layers.0." + inner + ".mlp.experts.local_experts.3.linear_fc2.weight",
				"mtp.layers.0." + inner + ".mlp.shared_experts.linear_fc1.weight", "embedding.word_embeddings.weight", "output_layer.weight"} {
				if !last[want] {
					t.Errorf("%s %s: last stage (ep 1) lacks %s", fam, inner, want)
				}
			}
			for n := range first {
				if strings.HasPrefix(n, "mtp.") {
					t.Errorf("%s: MTP tensor %s on the first stage", fam, n)
				}
			}
			var codes []string
			for _, is := range p.Issues {
				codes = append(codes, is.Code)
			}
			if !slices.Contains(codes, "mtp-shared-copy") {
				t.Errorf("%s: the MTP layer's embed_tokens/shared_head.head are not reported as left out: %v", fam, codes)
			}
			if !strings.Contains(p.MTPSummary(), inner) {
				t.Errorf("%s: plan MTP summary %q does not name %s", fam, p.MTPSummary(), inner)
			}
		}
		// --drop-mtp
		s := core.DefaultSettings().WithOptOut("drop_mtp", true)
		ck, p := planHF(t, hf, s)
		ck.Close()
		for _, g := range p.Groups {
			if g.MTP != "" || g.Layer >= p.Dims.Layers {
				t.Errorf("%s: --drop-mtp kept %s", fam, g.Name)
			}
		}
		cfg := mcaKV(p)
		if cfg["mtp_num_layers"] != "0" {
			t.Errorf("%s: --drop-mtp wrote mtp_num_layers %s, want 0", fam, cfg["mtp_num_layers"])
		}
	}
}

func mcaKV(p *core.Plan) map[string]string {
	m := map[string]string{}
	for _, kv := range p.MCAConfig {
		m[kv.Key] = kv.Value
	}
	return m
}

// Bad inputs of issue 14: each a plan error (so Convert writes nothing).
func TestDeepseekBadInputs(t *testing.T) {
	type edit func(spec *fixture.ReleaseSpec)
	cases := []struct {
		name     string
		variants []string
		edit     edit
		settings func(*core.Settings)
		code     string
	}{
		{"scale-shape", []string{"fp8"}, func(s *fixture.ReleaseSpec) { setShape(s, "model.layers.0.self_attn.o_proj.weight_scale_inv", 2, 1) }, nil, "fp8-scale-shape"},
		{"scale-without-weight", []string{"fp8"}, func(s *fixture.ReleaseSpec) { drop(s, "model.layers.0.self_attn.o_proj.weight") }, nil, "fp8-scale-orphan"},
		{"weight-without-scale", []string{"fp8"}, func(s *fixture.ReleaseSpec) { drop(s, "model.layers.0.self_attn.o_proj.weight_scale_inv") }, nil, "fp8-no-scale"},
		{"other-method", []string{"fp8"}, func(s *fixture.ReleaseSpec) {
			s.Config = bytes.Replace(s.Config, []byte(`"quant_method": "fp8"`), []byte(`"quant_method": "gptq"`), 1)
		}, nil, "quantized"},
		{"block-64", []string{"fp8"}, func(s *fixture.ReleaseSpec) {
			s.Config = bytes.Replace(s.Config, []byte("128,\n      128"), []byte("64,\n      64"), 1)
		}, nil, "quantized"},
		{"keep-fp8", []string{"fp8"}, nil, func(s *core.Settings) { s.KeepFP8 = true }, "keep-fp8"},
		{"mtp-index", []string{"mtp"}, func(s *fixture.ReleaseSpec) { renameLayer(s, "model.layers.4.", "model.layers.5.") }, nil, "mtp-index"},
		{"mtp-undeclared", []string{"mtp", "no_mtp_cfg"}, nil, nil, "mtp-disabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := fixture.Release("deepseek_v3", c.variants...)
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				c.edit(&spec)
			}
			hf := filepath.Join(t.TempDir(), "hf")
			if err := fixture.WriteRelease(hf, spec, fixture.ReleaseOptions{Seed: 3}); err != nil {
				t.Fatal(err)
			}
			s := core.DefaultSettings()
			if c.settings != nil {
				c.settings(&s)
			}
			ck, p := planHF(t, hf, s)
			defer ck.Close()
			if !slices.Contains(issueCodes(p), c.code) || !p.HasErrors() {
				t.Fatalf("plan issues %v lack error %s", issueCodes(p), c.code)
			}
			out := filepath.Join(t.TempDir(), "out")
			if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out}); err == nil {
				t.Fatal("Convert accepted a plan with errors")
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("Convert left %s behind", out)
			}
		})
	}
	// --drop-mtp accepts MTP tensors the config does not declare
	spec, _ := fixture.Release("deepseek_v3", "mtp", "no_mtp_cfg")
	hf := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteRelease(hf, spec, fixture.ReleaseOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	ck, p := planHF(t, hf, core.DefaultSettings().WithOptOut("drop_mtp", true))
	ck.Close()
	if p.HasErrors() {
		t.Errorf("--drop-mtp did not accept undeclared MTP tensors: %v", p.Errors())
	}
}

// A NaN scale is refused before anything is written.
func TestFP8NaNScale(t *testing.T) {
	hf := writeRelease(t, t.TempDir(), "deepseek_v3", []string{"fp8"}, func(o *fixture.ReleaseOptions) { o.Shards = 1 })
	ck, p := planHF(t, hf, core.DefaultSettings())
	name := "model.layers.1.self_attn.o_proj.weight_scale_inv"
	var ti loader.TensorInfo
	for _, x := range ck.Tensors {
		if x.Name == name {
			ti = x
		}
	}
	ck.Close()
	path := filepath.Join(hf, "model.safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[ti.Offset:], []byte{0x00, 0x00, 0xc0, 0x7f}) // NaN (ti.Offset is absolute)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ck2, p := planHF(t, hf, core.DefaultSettings())
	defer ck2.Close()
	out := filepath.Join(t.TempDir(), "out")
	_, err = core.Convert(context.Background(), ck2, p, core.ConvertOptions{Out: out})
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("NaN scale: err %v, want one naming %s", err, name)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("Convert left %s behind", out)
	}
}

// kimi_k2 (DeepseekV3ForCausalLM) is planned with the deepseek_v3 template.
func TestArchitectureAlias(t *testing.T) {
	spec, _ := fixture.Release("deepseek_v3", "no_yarn")
	spec.Config = bytes.Replace(spec.Config, []byte(`"model_type": "deepseek_v3"`), []byte(`"model_type": "kimi_k2"`), 1)
	spec.ModelType = "kimi_k2"
	hf := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteRelease(hf, spec, fixture.ReleaseOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	ck, p := planHF(t, hf, core.DefaultSettings())
	defer ck.Close()
	if p.HasErrors() {
		t.Fatal(p.Errors())
	}
	if want := "deepseek_v3 template, matched by architecture DeepseekV3ForCausalLM (model_type kimi_k2)"; p.TemplateLine() != want {
		t.Errorf("template line %q, want %q", p.TemplateLine(), want)
	}
	if mcaKV(p)["hf_model_type"] != `"deepseek_v3"` {
		t.Errorf("hf_model_type %s", mcaKV(p)["hf_model_type"])
	}
	// and back: the reverse finds the template the same way and restores kimi_k2's config
	out := convertAll(t, hf, core.DefaultSettings())
	m, err := mca.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rp, err := core.BuildReversePlan(m)
	if err != nil || rp.HasErrors() {
		t.Fatalf("reverse of a kimi_k2 conversion: %v %v", err, rp)
	}
	if !bytes.Contains(rp.Config, []byte(`"model_type": "kimi_k2"`)) {
		t.Errorf("restored config.json lost model_type kimi_k2:\n%s", rp.Config)
	}
}

func setShape(s *fixture.ReleaseSpec, name string, dims ...int64) {
	for i := range s.Tensors {
		if s.Tensors[i].Name == name {
			s.Tensors[i].Shape = dims
		}
	}
}

func drop(s *fixture.ReleaseSpec, name string) {
	s.Tensors = slices.DeleteFunc(s.Tensors, func(t fixture.ReleaseTensor) bool { return t.Name == name })
}

func renameLayer(s *fixture.ReleaseSpec, from, to string) {
	for i := range s.Tensors {
		s.Tensors[i].Name = strings.Replace(s.Tensors[i].Name, from, to, 1)
	}
}

// HF → Megatron → HF is byte-identical for the release forms (MTP with its copies, FP8's
// dequantized bf16 form, q_lora_rank null, tied, GLM with and without q/k norm), under
// both MTP inner-layer names, TP/PP/EP splits and grouped GEMM.
func TestDeepseekRoundTrip(t *testing.T) {
	cases := []struct {
		fam      string
		variants []string
		set      func(*core.Settings)
	}{
		{"deepseek_v3", []string{"mtp"}, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"deepseek_v3", []string{"mtp", "no_qlora", "tied"}, func(s *core.Settings) { s.PP, s.MTPLayerName = 2, core.MTPInnerOld }},
		{"deepseek_v3", []string{"mtp", "dense0"}, func(s *core.Settings) { s.EP, s.GroupedGEMM = 2, true }},
		{"glm4_moe", []string{"mtp"}, func(s *core.Settings) { s.TP, s.EP, s.GroupedGEMM, s.LegacyGroupedGEMM = 2, 2, true, true }},
		{"glm4_moe", []string{"mtp", "no_qknorm"}, func(s *core.Settings) { s.TP, s.TransformerImpl = 2, "local" }},
	}
	for _, c := range cases {
		hf := writeRelease(t, t.TempDir(), c.fam, c.variants, nil)
		st := core.DefaultSettings()
		c.set(&st)
		out := convertAll(t, hf, st)
		m, err := mca.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := core.BuildReversePlan(m)
		if err != nil {
			t.Fatal(err)
		}
		if rp.HasErrors() {
			t.Fatalf("%s %v: reverse plan: %s", c.fam, c.variants, rp.ErrorText())
		}
		back := filepath.Join(t.TempDir(), "hf")
		if _, err := core.ConvertToHF(context.Background(), rp, core.ToHFOptions{Out: back}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		a, b := hfTensorBytes(t, hf), hfTensorBytes(t, back)
		if len(a) != len(b) {
			t.Errorf("%s %v: %d tensors back, want %d", c.fam, c.variants, len(b), len(a))
		}
		for name, want := range a {
			if got, ok := b[name]; !ok || !bytes.Equal(got, want) {
				t.Errorf("%s %v: %s not restored byte for byte (present %v)", c.fam, c.variants, name, ok)
			}
		}
	}
}

func hfTensorBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ck, err := loader.OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	out := map[string][]byte{}
	for i, ti := range ck.Tensors {
		b, err := ck.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = append([]byte(nil), b...)
	}
	return out
}

// --verify compares a block-FP8 release with its Megatron output as the bf16 weights it
// stands for (scales consumed, quantization_config set aside, MTP copies checked), and
// catches a flipped byte.
func TestVerifyFP8(t *testing.T) {
	hf := writeRelease(t, t.TempDir(), "deepseek_v3", []string{"fp8", "mtp"}, nil)
	st := core.DefaultSettings()
	st.TP, st.PP, st.EP = 2, 2, 2
	out := convertAll(t, hf, st)
	rep, err := core.Verify(context.Background(), hf, out, core.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Compared == 0 {
		t.Fatalf("verify of the FP8 release against its conversion: %d compared, diffs %v", rep.Compared, rep.Diffs)
	}
	// flip one byte of an FP8 weight in the input
	ck, _ := planHF(t, hf, st)
	var ti loader.TensorInfo
	for _, x := range ck.Tensors {
		if x.Name == "model.layers.2.self_attn.o_proj.weight" {
			ti = x
		}
	}
	path := filepath.Join(hf, ck.Shards[ti.Shard].Name)
	ck.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[ti.Offset+5] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = core.Verify(context.Background(), hf, out, core.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Diffs[0].Tensor, "o_proj") {
		t.Fatalf("verify missed a flipped FP8 byte: %v", rep.Diffs)
	}
}

// Every FP8 scale belongs to its weight's group (it is consumed, not left out).
func TestFP8ScalesGrouped(t *testing.T) {
	hf := writeRelease(t, t.TempDir(), "deepseek_v3", []string{"fp8", "mtp"}, nil)
	ck, p := planHF(t, hf, core.DefaultSettings())
	defer ck.Close()
	idx := map[string]int{}
	for i, ti := range p.Tensors {
		idx[ti.Name] = i
	}
	n := 0
	for i, ti := range p.Tensors {
		if w, ok := strings.CutSuffix(ti.Name, "_scale_inv"); ok {
			n++
			if g := p.TensorGroup[i]; g < 0 || g != p.TensorGroup[idx[w]] {
				t.Errorf("%s: group %d, its weight's %d", ti.Name, g, p.TensorGroup[idx[w]])
			}
		}
	}
	if n == 0 {
		t.Fatal("the fp8 fixture has no scales")
	}
}

// The plan text, its JSON-facing summary and the Mapping view's op explanation say that FP8
// weights are dequantized, with byte counts.
func TestFP8Shown(t *testing.T) {
	hf := writeRelease(t, t.TempDir(), "deepseek_v3", []string{"fp8"}, nil)
	ck, p := planHF(t, hf, core.DefaultSettings())
	defer ck.Close()
	var buf bytes.Buffer
	if err := p.WriteText(&buf, hf, true); err != nil {
		t.Fatal(err)
	}
	txt := buf.String()
	for _, w := range []string{"== FP8 ==", core.DequantLabel, "F8_E4M3", "F32 scales", "bf16", "(" + core.DequantLabel + ")"} {
		if !strings.Contains(txt, w) {
			t.Errorf("plan text lacks %q", w)
		}
	}
	n, f8, sc, bf := p.FP8Bytes()
	if n == 0 || bf != 2*f8 || sc == 0 {
		t.Errorf("FP8Bytes = %d, %d, %d, %d", n, f8, sc, bf)
	}
	for gi := range p.Groups {
		g := &p.Groups[gi]
		if g.Scales == nil {
			continue
		}
		lines := core.ExplainOp(g, p.Dims, 1, 80)
		if len(lines) == 0 || !strings.Contains(lines[0].Parts[0].Text, core.DequantLabel) {
			t.Fatalf("Mapping explanation of %s does not say %s: %+v", g.Name, core.DequantLabel, lines)
		}
		return
	}
	t.Fatal("no FP8 group")
}
