package core_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// TestConfigWeightMismatchIsAnError: a config.json whose sizes disagree with the weights would
// make a checkpoint Megatron builds with other shapes and cannot load, so the plan refuses it
// and names the tensors, the shapes and the config keys.
func TestConfigWeightMismatchIsAnError(t *testing.T) {
	cases := []struct {
		key, from, to string
		wantIn        []string // substrings of one error message
	}{
		{"vocab_size", "64", "128", []string{"embedding.word_embeddings.weight", "[64, 32]", "[128, 32]", "vocab_size"}},
		{"moe_intermediate_size", "16", "24", []string{".linear_fc1.weight", "[32, 32]", "[48, 32]", "moe_intermediate_size"}},
		{"num_experts", "8", "16", []string{".mlp.router.weight", "[8, 32]", "[16, 32]", "num_experts"}},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hf")
			if err := fixture.WriteTiny(dir, fixture.DefaultTiny()); err != nil {
				t.Fatal(err)
			}
			cfgPath := filepath.Join(dir, "config.json")
			b, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			// change the thinker text value only (the first occurrence sits in thinker_config.text_config
			// for these keys in the fixture; check that by parsing)
			re := regexp.MustCompile(`"` + c.key + `": ` + c.from + `\b`)
			text := string(b)
			locs := re.FindAllStringIndex(text, -1)
			changed := false
			for _, l := range locs {
				try := text[:l[0]] + `"` + c.key + `": ` + c.to + text[l[1]:]
				tree, err := loader.ParseJSONTree([]byte(try))
				if err != nil {
					t.Fatal(err)
				}
				if n, ok := tree.Get("thinker_config.text_config." + c.key); ok && string(n.Compact()) == c.to {
					text, changed = try, true
					break
				}
			}
			if !changed {
				t.Fatalf("could not find thinker_config.text_config.%s = %s in the fixture config", c.key, c.from)
			}
			if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			ck, err := loader.OpenHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			p, err := core.BuildPlan(ck, core.DefaultSettings())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, is := range p.Errors() {
				if is.Code != "config-mismatch" {
					continue
				}
				all := true
				for _, w := range c.wantIn {
					all = all && strings.Contains(is.Message, w)
				}
				if all && len(is.Tensors) > 0 && strings.Contains(is.Message, "use the checkpoint's own config.json") {
					found = true
				}
			}
			if !found {
				t.Errorf("no config-mismatch error containing %q; errors: %+v", c.wantIn, p.Errors())
			}
		})
	}
}

// TestFusedExpertLayoutIsExplained: the transformers v5 fused-expert layout is not what ROLL
// converts; the plan says what it is and how to get the per-expert layout.
func TestFusedExpertLayoutIsExplained(t *testing.T) {
	rows, err := fixture.ReferenceManifest(fixture.VariantFusedV5)
	if err != nil {
		t.Fatal(err)
	}
	cfgBytes, err := fixture.RealScaleConfig(fixture.VariantFusedV5)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loader.ParseJSONTree(cfgBytes)
	if err != nil {
		t.Fatal(err)
	}
	var ts []loader.TensorInfo
	for _, r := range rows {
		ts = append(ts, loader.TensorInfo{Name: r.Name, DType: r.DType, Shape: r.Shape, Size: r.Bytes()})
	}
	p, err := core.Build(core.PlanInput{Config: cfg, ConfigBytes: cfgBytes, Tensors: ts}, core.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	var hint bool
	for _, is := range p.Errors() {
		if is.Code == "unmapped-layout" && strings.Contains(is.Message, "gate_up_proj") && strings.Contains(is.Message, "save_original_format") {
			hint = true
		}
	}
	if !hint {
		t.Errorf("no unmapped-layout error explaining the fused layout: %+v", p.Errors())
	}
	// the per-expert release gets no such hint
	rows, _ = fixture.ReferenceManifest(fixture.VariantInstruct)
	ts = ts[:0]
	for _, r := range rows {
		ts = append(ts, loader.TensorInfo{Name: r.Name, DType: r.DType, Shape: r.Shape, Size: r.Bytes()})
	}
	p, err = core.Build(core.PlanInput{Config: cfg, ConfigBytes: cfgBytes, Tensors: ts}, core.DefaultSettings())
	if err != nil || p.HasErrors() {
		t.Fatalf("instruct release: %v %+v", err, p.Errors())
	}
}

// TestChunkExtrasComeFromWhatIsPlaced: the modules a pipeline chunk lists besides its layers
// are the ones it actually holds (no talker for a thinker-only model or when audio output is
// dropped; the tied output layer marked as such; none at the first stage but embedding,
// vision and audio).
func TestChunkExtrasComeFromWhatIsPlaced(t *testing.T) {
	cases := []struct {
		name        string
		o           func(*fixture.TinyOptions)
		s           func(*core.Settings)
		first, last []string
	}{
		{"full model pp2", nil, func(s *core.Settings) { s.PP = 2 },
			[]string{"embedding", "vision", "audio"}, []string{"output_layer", "final_layernorm", "talker", "code2wav"}},
		{"tied pp2", func(o *fixture.TinyOptions) { o.Tied = true }, func(s *core.Settings) { s.PP = 2 },
			[]string{"embedding", "vision", "audio"}, []string{"output_layer (tied)", "final_layernorm", "talker", "code2wav"}},
		{"thinker only, no encoders", func(o *fixture.TinyOptions) { o.Talker, o.Code2Wav, o.Vision, o.Audio = false, false, false, false }, func(s *core.Settings) { s.PP = 2 },
			[]string{"embedding"}, []string{"output_layer", "final_layernorm"}},
		{"audio output dropped", func(o *fixture.TinyOptions) { o.EnableAudioOutput = false }, func(s *core.Settings) { s.PP = 2; *s = s.WithOptOut("drop_audio_output", true) },
			[]string{"embedding", "vision", "audio"}, []string{"output_layer", "final_layernorm"}},
		{"tied pp1", func(o *fixture.TinyOptions) { o.Tied = true }, nil,
			[]string{"embedding", "vision", "audio", "final_layernorm", "talker", "code2wav"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fixture.DefaultTiny()
			if c.o != nil {
				c.o(&o)
			}
			dir := filepath.Join(t.TempDir(), "hf")
			if err := fixture.WriteTiny(dir, o); err != nil {
				t.Fatal(err)
			}
			ck, err := loader.OpenHF(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			s := core.DefaultSettings()
			if c.s != nil {
				c.s(&s)
			}
			p, err := core.BuildPlan(ck, s)
			if err != nil || p.HasErrors() {
				t.Fatalf("plan: %v %+v", err, p.Errors())
			}
			first := p.Ranks[0].Chunks[0].Extras
			last := p.Ranks[len(p.Ranks)-1].Chunks[len(p.Ranks[len(p.Ranks)-1].Chunks)-1].Extras
			if len(p.Ranks) == 1 {
				last = nil
			}
			if strings.Join(first, ",") != strings.Join(c.first, ",") {
				t.Errorf("first chunk extras %v, want %v", first, c.first)
			}
			if strings.Join(last, ",") != strings.Join(c.last, ",") {
				t.Errorf("last chunk extras %v, want %v", last, c.last)
			}
		})
	}
}
