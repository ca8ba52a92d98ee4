package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/mca"
)

// mcaDigest describes an mca checkpoint for comparison: mca_config.json and tokenizer
// files by content, and per rank file and state dict every tensor's dtype, shape and
// sha256 by name (entry order is not compared: Megatron loads state dicts by name).
func mcaDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	m, err := mca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := map[string]string{}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	for _, f := range append([]string{"mca_config.json", "latest_checkpointed_iteration.txt"}, m.ExtraFiles...) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		d[f] = sum(b)
	}
	for _, r := range m.Ranks {
		for _, c := range r.Chunks {
			for _, ref := range c.Tensors {
				b, err := r.File.ReadTensor(ref)
				if err != nil {
					t.Fatal(err)
				}
				d[fmt.Sprintf("%s[%s] %s", r.Path, c.Key, ref.Name)] = fmt.Sprintf("%s %v %s", ref.DType, ref.Shape, sum(b))
			}
		}
	}
	return d
}

func sameDigest(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		} else if g != v {
			t.Errorf("%s: %s, want %s", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s", k)
		}
	}
}

// TestReshardCLI: HF -> mca (TP2 PP2) -> --out with --tp 4 --pp 1 --ep 2 equals HF -> mca
// (TP4 EP2) directly; --plan with output flags prints the reshard plan and without them
// the mapping back; impossible targets exit 2 writing nothing; --to-hf still works and
// refuses parallel flags.
func TestReshardCLI(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--pp", "2", "--out", src, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	direct := filepath.Join(dir, "direct")
	if code, _, e := runCLI(t, "--batch", "--tp", "4", "--ep", "2", "--out", direct, example); code != exitOK {
		t.Fatalf("direct: exit %d\n%s", code, e)
	}
	re := filepath.Join(dir, "resharded")
	code, _, e := runCLI(t, "--batch", "--tp", "4", "--pp", "1", "--ep", "2", "--out", re, src)
	if code != exitOK || !strings.Contains(e, "wrote "+re) || !strings.Contains(e, "resharded from TP 2, PP 2") {
		t.Fatalf("reshard: exit %d\n%s", code, e)
	}
	sameDigest(t, mcaDigest(t, direct), mcaDigest(t, re))

	code, out, e := runCLI(t, "--batch", "--plan", "--tp", "4", "--pp", "1", src)
	if code != exitOK {
		t.Fatalf("reshard --plan: exit %d\n%s%s", code, out, e)
	}
	for _, want := range []string{"Megatron -> Megatron reshard of", "from: TP 2, PP 2, EP 1", "to:   TP 4, PP 1, EP 1",
		"(4 rank file(s), 830 tensors)", "read as 455 Hugging Face tensors", "settings: TP 4, PP 1", "== pipeline =="} {
		if !strings.Contains(out, want) {
			t.Errorf("reshard plan lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "--batch", "--plan", src)
	if code != exitOK || !strings.Contains(out, "maps back to 455 Hugging Face tensors") || strings.Contains(out, "reshard") {
		t.Errorf("--plan without output flags should explain the mapping back: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "--batch", "--plan", "--json", "--tp", "4", src)
	var pj struct {
		Settings core.Settings        `json:"settings"`
		Summary  struct{ Errors int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &pj); err != nil || code != exitOK || pj.Settings.TP != 4 || pj.Settings.PP != 2 || pj.Summary.Errors != 0 {
		t.Errorf("--plan --json --tp 4: exit %d, %v, %+v\n%s", code, err, pj, out)
	}

	// impossible targets: errors from the plan, exit 2, nothing written
	code, out, _ = runCLI(t, "--batch", "--plan", "--tp", "3", src)
	if code != exitBadUsage || !strings.Contains(out, "tp-divisibility") {
		t.Errorf("--plan --tp 3: exit %d\n%s", code, out)
	}
	parent := filepath.Join(dir, "refused")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--tp", "3"}, {"--ep", "3"}, {"--pp", "4"}, {"--vpp", "2", "--pp", "1"}} {
		code, _, e := runCLI(t, append(append([]string{"--batch"}, args...), "--out", filepath.Join(parent, "x"), src)...)
		if code != exitBadUsage || !strings.Contains(e, "nothing was written") {
			t.Errorf("%v: exit %d\n%s", args, code, e)
		}
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("refused reshards left %d entries in %s", len(ents), parent)
	}
	if code, _, e := runCLI(t, "--batch", "--tp", "4", "--out", re, src); code != exitBadUsage || !strings.Contains(e, "--force") {
		t.Errorf("existing output without --force: exit %d\n%s", code, e)
	}
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--tp", "2", "--out", filepath.Join(dir, "hf"), src); code != exitBadUsage || !strings.Contains(e, "--to-hf") {
		t.Errorf("--to-hf with --tp: exit %d\n%s", code, e)
	}
	back := filepath.Join(dir, "back")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--out", back, re); code != exitOK {
		t.Fatalf("--to-hf of the resharded checkpoint: exit %d\n%s", code, e)
	}
	if code, out, e := runCLI(t, "--batch", "--verify", example, back); code != exitOK || !strings.Contains(out, "MATCH") {
		t.Errorf("--verify original vs resharded-and-back: exit %d\n%s%s", code, out, e)
	}
	if code, _, e := runCLI(t, "--batch", src); code != exitBadUsage || !strings.Contains(e, "reshard") {
		t.Errorf("--batch alone on an mca checkpoint: exit %d\n%s", code, e)
	}
}

// TestReshardSettings: flags not given keep the source checkpoint's settings; --tp moves
// ETP along; a pipeline flag replaces the pipeline split; --dtype and opt-outs come from
// the flags.
func TestReshardSettings(t *testing.T) {
	src := core.Settings{TP: 2, PP: 2, VPP: 2, EP: 4, ETP: 2, GroupedGEMM: true, LegacyGroupedGEMM: true,
		TransformerImpl: "local", DType: "keep", Layout: "Et|t|t|tL"}
	cases := []struct {
		args []string
		edit func(*core.Settings)
	}{
		{nil, nil},
		{[]string{"--tp", "4"}, func(s *core.Settings) { s.TP, s.ETP = 4, 4 }},
		{[]string{"--tp", "4", "--etp", "2"}, func(s *core.Settings) { s.TP = 4 }},
		{[]string{"--ep", "1"}, func(s *core.Settings) { s.EP = 1 }},
		{[]string{"--pp", "1"}, func(s *core.Settings) { s.PP, s.VPP, s.Layout = 1, 0, "" }},
		{[]string{"--vpp", "3"}, func(s *core.Settings) { s.VPP, s.Layout = 3, "" }},
		{[]string{"--account-embedding"}, func(s *core.Settings) { s.VPP, s.Layout, s.AccountEmbedding = 0, "", true }},
		{[]string{"--moe-grouped-gemm=false"}, func(s *core.Settings) { s.GroupedGEMM = false }},
		{[]string{"--moe-legacy-grouped-gemm=false", "--transformer-impl", "transformer_engine"}, func(s *core.Settings) {
			s.LegacyGroupedGEMM, s.TransformerImpl = false, "transformer_engine"
		}},
		{[]string{"--dtype", "bf16", "--ignore-deepstack", "--allow-uneven"}, func(s *core.Settings) {
			s.DType, s.AllowUneven = "bf16", true
			*s = s.WithOptOut("ignore_deepstack", true)
		}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			o, _, err := parseArgs(c.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := src
			if c.edit != nil {
				c.edit(&want)
			}
			if got := reshardSettings(src, o); !reflect.DeepEqual(got, want.Normalized()) {
				t.Errorf("got  %+v\nwant %+v", got, want.Normalized())
			}
		})
	}
}
