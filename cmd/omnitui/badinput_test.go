package main

// Bad inputs of the model-family kind: a config.json that names one family over weights of
// another, and a known family with tensors no rule covers. Both are plan errors: exit 2,
// nothing written; the extra tensors can be left out with --skip-unmapped.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/fixture"
)

// writeMixed writes the release of weightsOf with config.json's model_type set to configOf.
func writeMixed(t *testing.T, weightsOf, configOf string, extra ...string) string {
	t.Helper()
	spec, err := fixture.Release(weightsOf)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range extra {
		spec.Add(n, 2, 2)
	}
	spec.Config = []byte(strings.Replace(string(spec.Config), `"model_type": "`+weightsOf+`"`, `"model_type": "`+configOf+`"`, 1))
	spec.ModelType = configOf
	dir := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteRelease(dir, spec, fixture.ReleaseOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestForeignFamilyAndExtraTensors(t *testing.T) {
	cases := []struct {
		name      string
		hf        string
		args      []string
		code      int
		want      []string // substrings of stdout+stderr
		wantNot   []string
		written   bool
		notInside []string // tensor names the output must not hold
	}{
		{name: "llama config over mixtral weights", hf: writeMixed(t, "mixtral", "llama"), code: exitBadUsage,
			want: []string{"foreign-layout", `model_type "llama"`, "mixtral naming", "model.layers.0.block_sparse_moe"}},
		{name: "foreign layout is not skippable", hf: writeMixed(t, "mixtral", "llama"), args: []string{"--skip-unmapped"}, code: exitBadUsage,
			want: []string{"foreign-layout", "mixtral naming"}},
		{name: "qwen3_moe config over qwen2_moe weights", hf: writeMixed(t, "qwen2_moe", "qwen3_moe"), code: exitBadUsage,
			want: []string{"foreign-layout", "qwen2_moe naming", "shared_expert"}},
		{name: "llama with extra tensors", hf: writeMixed(t, "llama", "llama", "model.layers.0.self_attn.q_proj.weight_scale", "model.mm_projector.weight"), code: exitBadUsage,
			want:    []string{"unmapped", "model.layers.0.self_attn.q_proj.weight_scale", "model.mm_projector.weight", "--skip-unmapped"},
			wantNot: []string{"foreign-layout"}},
		{name: "llama with extra tensors, skipped", hf: writeMixed(t, "llama", "llama", "model.layers.0.self_attn.q_proj.weight_scale", "model.mm_projector.weight"),
			args: []string{"--skip-unmapped"}, code: exitOK, written: true,
			want:      []string{"model.mm_projector.weight"},
			notInside: []string{"model.mm_projector.weight", "weight_scale"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			args := append([]string{"--batch", "--out", out}, c.args...)
			code, stdout, stderr := runCLI(t, append(args, c.hf)...)
			all := stdout + stderr
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, all)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
			ents, _ := os.ReadDir(parent)
			if !c.written {
				if len(ents) != 0 {
					t.Fatalf("%d entries written for a refused plan", len(ents))
				}
				return
			}
			files, _ := filepath.Glob(filepath.Join(out, "iter_0000001", "mp_rank_*", "model_optim_rng.pt"))
			if len(files) == 0 {
				t.Fatal("no rank files written")
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range c.notInside {
					if strings.Contains(string(b), n) {
						t.Errorf("%s holds %s, which --skip-unmapped leaves out", f, n)
					}
				}
			}
		})
	}
}
