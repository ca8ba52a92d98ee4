package core_test

// Checkpoints shaped as ROLL's converter writes them where omnitui's own forward never does
// (issue 9, items 1-5): legacy grouped-GEMM names under a Transformer Engine config, one chunk
// stored as model0, a tied lm_head written at PP 1, a tied last-stage copy that is not the
// embedding, talker/code2wav under enable_audio_output false. The rank files are rewritten by
// real PyTorch (testdata/roll_writes.py) from omnitui outputs.

import (
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

// rollWrites runs testdata/roll_writes.py with the given arguments.
func rollWrites(t *testing.T, args ...string) string {
	t.Helper()
	py := torchPython(t)
	script, err := filepath.Abs("testdata/roll_writes.py")
	if err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(py, append([]string{script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("roll_writes.py %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// reversePlan opens dir and builds its reverse plan (errors fail the test unless allowed).
func reversePlan(t *testing.T, dir string, allowErrors bool) *core.ReversePlan {
	t.Helper()
	m, err := mca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rp, err := core.BuildReversePlan(m)
	if err != nil {
		t.Fatal(err)
	}
	if rp.HasErrors() && !allowErrors {
		t.Fatalf("reverse plan errors:\n  - %s", rp.ErrorText())
	}
	return rp
}

func issueOf(issues []core.Issue, code string) (core.Issue, bool) {
	for _, is := range issues {
		if is.Code == code {
			return is, true
		}
	}
	return core.Issue{}, false
}

// verifyMatch asserts --verify of a and b reports MATCH.
func verifyMatch(t *testing.T, a, b string) {
	t.Helper()
	rep, err := core.Verify(t.Context(), a, b, core.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Compared == 0 {
		t.Errorf("verify %s %s: %d compared, differences %+v", a, b, rep.Compared, rep.Diffs)
	}
}

// rankTensorNames lists every tensor name of every rank file of an mca checkpoint.
func rankTensorNames(t *testing.T, dir string) []string {
	t.Helper()
	m, err := mca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out []string
	for _, r := range m.Ranks {
		for _, ch := range r.Chunks {
			for _, ref := range ch.Tensors {
				out = append(out, ref.Name)
			}
		}
	}
	return out
}

func anyHas(names []string, sub string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, sub) })
}

// Item 1: ROLL without Transformer Engine writes weight1/weight2 under a config that says TE
// grouped GEMM; --plan, --to-hf, --verify and reshard read the names, and warn.
func TestROLLLegacyNamesUnderTEConfig(t *testing.T) {
	grouped := func(s *core.Settings) { s.GroupedGEMM = true; s.TP, s.PP, s.EP = 2, 2, 2 }
	for _, c := range []struct {
		name       string
		args       []string
		wantImpl   string
		wantLegacy bool
	}{
		{"legacy", nil, "transformer_engine", true},
		// local norms too: the names say transformer_impl local, so legacy stays as recorded
		{"legacy-local-norms", []string{"--local-norms"}, "local", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			hf, out, _ := convertTiny(t, convCase{c.name, nil, grouped})
			rollWrites(t, append([]string{"legacy", out}, c.args...)...)
			names := rankTensorNames(t, out)
			if !anyHas(names, ".mlp.experts.weight1") || anyHas(names, ".mlp.experts.linear_fc1.weight") {
				t.Fatal("the fixture did not rewrite the expert names")
			}
			rp := reversePlan(t, out, false)
			if rp.Settings.TransformerImpl != c.wantImpl || !rp.Settings.GroupedGEMM || rp.Settings.LegacyGroupedGEMM != c.wantLegacy || rp.Settings.TEGrouped() {
				t.Errorf("settings read from the names: %+v", rp.Settings)
			}
			is, ok := issueOf(rp.Issues, "naming-config-mismatch")
			if !ok || is.Severity != core.SevWarning {
				t.Fatalf("no naming-config-mismatch warning in %+v", rp.Issues)
			}
			mustContain(t, "naming warning", is.Message, "moe_grouped_gemm true", "moe_use_legacy_grouped_gemm false", `transformer_impl "transformer_engine"`, ".mlp.experts.weight", "legacy grouped-GEMM")
			if c.wantImpl == "local" {
				mustContain(t, "naming warning", is.Message, "input_layernorm", `transformer_impl "local"`)
			}
			sameHF(t, hf, toHF(t, out, core.ToHFOptions{}))
			verifyMatch(t, out, hf)

			// a reshard keeps the naming the files have, and reads back to the same weights
			rs, err := reshard(t, out, settingsOf(func(s *core.Settings) { *s = rp.Settings; s.TP, s.PP, s.EP, s.ETP = 1, 1, 1, 0 }), 2, core.GatherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !anyHas(rankTensorNames(t, rs), ".mlp.experts.weight1") {
				t.Error("the reshard did not keep the legacy names")
			}
			verifyMatch(t, rs, hf)
			// and writes the recorded naming when asked to
			te, err := reshard(t, out, settingsOf(func(s *core.Settings) { s.GroupedGEMM = true; s.EP = 2 }), 2, core.GatherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n := rankTensorNames(t, te); !anyHas(n, ".mlp.experts.linear_fc1.weight0") || anyHas(n, ".mlp.experts.weight1") {
				t.Error("a reshard to Transformer Engine grouped GEMM did not write its names")
			}
			verifyMatch(t, te, hf)
		})
	}
}

// Names that contradict each other are an error naming both.
func TestMixedExpertNamingsRefused(t *testing.T) {
	_, out, _ := convertTiny(t, convCase{"mixed", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.EP = 2 }})
	rollWrites(t, "legacy", out, "--only", "mp_rank_00_001")
	rp := reversePlan(t, out, true)
	is, ok := issueOf(rp.Issues, "naming-conflict")
	if !ok || is.Severity != core.SevError {
		t.Fatalf("no naming-conflict error in %+v", rp.Issues)
	}
	mustContain(t, "naming conflict", is.Message, "mp_rank_00_000", "mp_rank_00_001", ".mlp.experts.weight", ".mlp.experts.linear_fc")
}

// Item 2: one chunk stored as model0 (ROLL given --vpp 1) is read like model.
func TestROLLModel0Chunk(t *testing.T) {
	hf, out, _ := convertTiny(t, convCase{"tp2-ep2", nil, func(s *core.Settings) { s.TP, s.EP = 2, 2 }})
	rollWrites(t, "model0", out)
	rp := reversePlan(t, out, false)
	for _, r := range rp.Source.Ranks {
		if len(r.Chunks) != 1 || r.Chunks[0].Key != "model0" {
			t.Fatalf("%s: chunks %+v, the fixture wrote no model0", r.Path, r.Chunks)
		}
	}
	if rp.Settings.VPP != 1 {
		t.Errorf("VPP %d, want the recorded 1", rp.Settings.VPP)
	}
	sameHF(t, hf, toHF(t, out, core.ToHFOptions{}))
	verifyMatch(t, out, hf)
	rs, err := reshard(t, out, settingsOf(func(s *core.Settings) { s.TP = 1 }), 2, core.GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	verifyMatch(t, rs, hf)

	// both keys for the same stage: not one rank
	_, both, _ := convertTiny(t, convCase{"tp2", nil, func(s *core.Settings) { s.TP = 2 }})
	rollWrites(t, "model0", both, "--both")
	rp = reversePlan(t, both, true)
	if is, ok := issueOf(rp.Issues, "chunk-keys"); !ok || is.Severity != core.SevError || !strings.Contains(is.Message, `"model0"`) {
		t.Errorf("model and model0 together: issues %+v", rp.Issues)
	}
}

// tiedWithLMHead writes the tiny checkpoint with tie_word_embeddings true and lm_head kept.
func tiedWithLMHead(t *testing.T) string {
	t.Helper()
	o := fixture.DefaultTiny()
	o.Shards = 3
	hf := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteTiny(hf, o); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(hf, "config.json")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, editConfig(t, raw, "thinker_config.text_config.tie_word_embeddings", true, false), 0o644); err != nil {
		t.Fatal(err)
	}
	return hf
}

// Item 3: a tied config that ships lm_head, at PP 1: output_layer.weight = the TP-split lm_head
// beside the embedding (as ROLL writes it), and back to the lm_head losslessly.
func TestTiedLMHeadAtPP1(t *testing.T) {
	hf := tiedWithLMHead(t)
	out := convertHF(t, hf, settingsOf(func(s *core.Settings) { s.TP = 2 }))
	if got := strings.TrimSpace(rollWrites(t, "check-tied-lm", out, hf)); got != "OK" {
		t.Fatalf("torch check: %s", got)
	}
	rp := reversePlan(t, out, false)
	if _, ok := issueOf(rp.Issues, "tied-lm-head"); !ok {
		t.Errorf("the reverse does not say the lm_head is the output_layer copy: %+v", rp.Issues)
	}
	sameHF(t, hf, toHF(t, out, core.ToHFOptions{}))
	verifyMatch(t, out, hf)
}

// Item 5: a tied last-stage output_layer.weight that is not the embedding (ROLL's hash-order
// pick of the lm_head at PP > 1) is a verify difference and a --to-hf error.
func TestTiedCopyDiffersFromEmbedding(t *testing.T) {
	hf := tiedWithLMHead(t)
	s := settingsOf(func(s *core.Settings) { s.TP, s.PP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) })
	a := convertHF(t, hf, s)
	b := convertHF(t, hf, s)
	verifyMatch(t, a, b)
	rollWrites(t, "lm-head-wins", b, hf)

	rep, err := core.Verify(t.Context(), a, b, core.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Diffs) != 1 {
		t.Fatalf("verify: %d differences %+v, want one", len(rep.Diffs), rep.Diffs)
	}
	d := rep.Diffs[0]
	if d.Tensor != "thinker.model.embed_tokens.weight" || !strings.Contains(d.Detail, "output_layer.weight") {
		t.Errorf("difference %+v does not name the embedding and its output_layer copy", d)
	}
	rp := reversePlan(t, b, false)
	_, err = core.ConvertToHF(t.Context(), rp, core.ToHFOptions{Out: filepath.Join(t.TempDir(), "x")})
	if err == nil || !strings.Contains(err.Error(), "--take-rank0") || !strings.Contains(err.Error(), "output_layer.weight") {
		t.Fatalf("--to-hf of a differing tied copy: %v", err)
	}
	back := toHF(t, b, core.ToHFOptions{TakeRank0: true})
	verifyMatch(t, back, toHF(t, a, core.ToHFOptions{}))
}

// Item 4: enable_audio_output false with talker/code2wav in the files (ROLL writes them):
// --plan, --to-hf, --verify and reshard carry what is there.
func TestAudioOffCheckpointCarried(t *testing.T) {
	_, out, _ := convertTiny(t, convCase{"tp2-pp2", nil, func(s *core.Settings) { s.TP, s.PP = 2, 2 }})
	rollWrites(t, "audio-off", out)
	o := fixture.DefaultTiny()
	o.Shards = 3
	o.EnableAudioOutput = false
	want := filepath.Join(t.TempDir(), "hf-off")
	if err := fixture.WriteTiny(want, o); err != nil {
		t.Fatal(err)
	}
	rp := reversePlan(t, out, false)
	is, ok := issueOf(rp.Issues, "audio-output-carried")
	if !ok || is.Severity != core.SevWarning {
		t.Fatalf("no carried warning: %+v", rp.Issues)
	}
	if !slices.ContainsFunc(rp.Forward.Tensors, func(ti loader.TensorInfo) bool { return strings.HasPrefix(ti.Name, "talker.") }) {
		t.Fatal("talker tensors are not mapped back")
	}
	sameHF(t, want, toHF(t, out, core.ToHFOptions{}))
	verifyMatch(t, out, want)
	rs, err := reshard(t, out, settingsOf(nil), 2, core.GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !anyHas(rankTensorNames(t, rs), "talker.") {
		t.Error("the reshard dropped talker")
	}
	verifyMatch(t, rs, want)
	// the family's opt-out still leaves the part out when given
	dropped, err := reshard(t, out, settingsOf(func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true) }), 2, core.GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := rankTensorNames(t, dropped); anyHas(n, "talker.") || anyHas(n, "code2wav.") {
		t.Error("--drop-audio-output did not leave talker/code2wav out of the reshard")
	}
}
