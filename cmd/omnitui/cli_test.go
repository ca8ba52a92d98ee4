package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const example = "../../testdata/example/qwen3-omni-tiny"

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestHelpTeachesEveryFlag(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, f := range []string{"--batch", "--plan", "--json", "--tp", "--pp", "--vpp", "--ep", "--etp", "--layout",
		"--account-embedding", "--account-loss", "--moe-grouped-gemm", "--moe-legacy-grouped-gemm",
		"--transformer-impl", "--dtype", "--out", "--force", "--skip-unmapped", "--drop-audio-output",
		"--ignore-deepstack", "--allow-uneven", "--no-fsync", "--json-indent", "Examples:", "Exit status"} {
		if !strings.Contains(out, f) {
			t.Errorf("--help does not mention %s", f)
		}
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	existing := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring
		stdout string // substring
	}{
		{"no path", []string{"--batch", "--plan"}, exitBadUsage, "expected exactly one checkpoint path", ""},
		{"two paths", []string{"--batch", "--plan", "a", "b"}, exitBadUsage, "expected exactly one checkpoint path", ""},
		{"unknown flag", []string{"--bogus", example}, exitBadUsage, "unknown flag --bogus", ""},
		{"mistyped flag", []string{"--batch", "--plan", "--tpp", "2", example}, exitBadUsage, "unknown flag --tpp: did you mean --tp?", ""},
		{"mistyped long flag", []string{"--batch", "--plan", "--skip-unmaped", example}, exitBadUsage, "did you mean --skip-unmapped?", ""},
		{"mistyped dtype flag", []string{"--batch", "--plan", "--dtpye", "bf16", example}, exitBadUsage, "did you mean --dtype?", ""},
		{"bad dtype", []string{"--batch", "--plan", "--dtype", "bf32", example}, exitBadUsage, `--dtype "bf32" is not one of keep, bf16, fp16, fp32`, ""},
		{"bad dtype, no planning", []string{"--batch", "--plan", "--dtype", "bf32", "/nonexistent/ckpt"}, exitBadUsage, "bf32", ""},
		{"bad impl", []string{"--batch", "--plan", "--transformer-impl", "te", example}, exitBadUsage, `--transformer-impl "te" is not transformer_engine or local`, ""},
		{"tp negative", []string{"--batch", "--plan", "--tp", "-1", example}, exitBadUsage, "--tp -1 is out of range", ""},
		{"vpp negative", []string{"--batch", "--plan", "--vpp", "-2", example}, exitBadUsage, "--vpp -2 is out of range", ""},
		{"tp too large", []string{"--batch", "--plan", "--tp", "100000", example}, exitBadUsage, "--tp 100000 is out of range", ""},
		{"workers negative", []string{"--batch", "--plan", "--workers", "-3", example}, exitBadUsage, "--workers -3", ""},
		{"bad shard size", []string{"--batch", "--plan", "--max-shard-size", "5XB", example}, exitBadUsage, "5XB", ""},
		{"batch without plan or out", []string{"--batch", example}, exitBadUsage, "--batch needs --plan", ""},
		{"missing checkpoint", []string{"--batch", "--plan", "/nonexistent/ckpt"}, exitBadUsage, "/nonexistent/ckpt", ""},
		{"vpp zero", []string{"--batch", "--plan", "--vpp", "0", example}, exitBadUsage, "--vpp 0", ""},
		{"tp zero", []string{"--batch", "--plan", "--tp", "0", example}, exitBadUsage, "--tp 0 is not a size", ""},
		{"ep negative", []string{"--batch", "--plan", "--ep", "-2", example}, exitBadUsage, "--ep -2 is out of range", ""},
		{"plan ok", []string{"--batch", "--plan", example}, exitOK, "", "plan OK"},
		{"op table is labelled", []string{"--batch", "--plan", example}, exitOK, "", "HF names (the rule's pattern)                                 Megatron name (the first, e.g.)"},
		{"plan ok, flags after path", []string{"--batch", example, "--plan", "--tp", "2"}, exitOK, "", "TP 2"},
		{"plan with errors", []string{"--batch", "--plan", "--tp", "3", example}, exitBadUsage, "", "tp-divisibility"},
		{"etp differs", []string{"--batch", "--plan", "--tp", "2", "--etp", "1", example}, exitBadUsage, "", "etp-not-tp"},
		{"convert refused on plan errors", []string{"--batch", "--tp", "3", "--out", filepath.Join(t.TempDir(), "o"), example}, exitBadUsage, "nothing was written", ""},
		{"existing output without force", []string{"--batch", "--out", existing, example}, exitBadUsage, "--force", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errOut)
			}
			if c.stderr != "" && !strings.Contains(errOut, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, errOut)
			}
			if c.stdout != "" && !strings.Contains(out, c.stdout) {
				t.Errorf("stdout lacks %q:\n%s", c.stdout, out)
			}
			if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
				t.Errorf("stack trace on stderr:\n%s", errOut)
			}
		})
	}
}

func TestPlanJSONIsStable(t *testing.T) {
	code, out, errOut := runCLI(t, "--batch", "--plan", "--json", "--tp", "2", "--pp", "2", example)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var j map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("plan JSON does not parse: %v", err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("--json plan should be compact, one line; has %d newlines", strings.Count(out, "\n"))
	}
	code, indented, errOut := runCLI(t, "--batch", "--plan", "--json-indent", "--tp", "2", "--pp", "2", example)
	var again map[string]json.RawMessage
	if err := json.Unmarshal([]byte(indented), &again); code != exitOK || err != nil || !strings.Contains(indented, "\n  \"schema\": 2,\n") {
		t.Errorf("--json-indent: exit %d, %v, %s\n%.300s", code, err, errOut, indented)
	}
	if len(again) != len(j) {
		t.Errorf("--json-indent has %d fields, --json %d", len(again), len(j))
	}
	for _, k := range []string{"schema", "source", "model_type", "settings", "dims", "config_mapping", "mca_config", "stages", "rules", "groups", "ranks", "issues", "summary"} {
		if _, ok := j[k]; !ok {
			t.Errorf("plan JSON lacks %q", k)
		}
	}
	var sum struct {
		RankFiles int `json:"rank_files"`
		Errors    int `json:"errors"`
	}
	if err := json.Unmarshal(j["summary"], &sum); err != nil || sum.RankFiles != 4 || sum.Errors != 0 {
		t.Errorf("summary %s: want 4 rank files and no errors", j["summary"])
	}
}

func TestConvertHeadless(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mca")
	code, stdout, errOut := runCLI(t, "--batch", "--tp", "2", "--ep", "2", "--out", out, example)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if stdout != "" {
		t.Errorf("plain conversion wrote to stdout: %q", stdout)
	}
	if !strings.Contains(errOut, "100.0%") || !strings.Contains(errOut, "wrote "+out) {
		t.Errorf("stderr lacks progress and summary:\n%s", errOut)
	}
	for _, f := range []string{"mca_config.json", "latest_checkpointed_iteration.txt", "tokenizer_config.json",
		"iter_0000001/mp_rank_00_000/model_optim_rng.pt", "iter_0000001/mp_rank_01_001/model_optim_rng.pt"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// again without --force: refused, output untouched; with --force: replaced
	code, _, errOut = runCLI(t, "--batch", "--out", out, example)
	if code != exitBadUsage || !strings.Contains(errOut, "--force") {
		t.Fatalf("second run without --force: exit %d, %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "--batch", "--force", "--out", out, example)
	if code != exitOK {
		t.Fatalf("--force run: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(out, "iter_0000001/mp_rank_00/model_optim_rng.pt")); err != nil {
		t.Errorf("--force did not replace the output with the TP1 layout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "iter_0000001/mp_rank_01_001")); !os.IsNotExist(err) {
		t.Errorf("old rank dir survived --force: %v", err)
	}
}

func TestConvertJSONProgress(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mca")
	code, stdout, errOut := runCLI(t, "--batch", "--json", "--out", out, example)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var kinds []string
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		kinds = append(kinds, ev["event"].(string))
	}
	if kinds[0] != "start" || kinds[len(kinds)-2] != "done" || kinds[len(kinds)-1] != "summary" {
		t.Errorf("events %v: want start ... done, summary", kinds)
	}
}

// TestNoFsyncWritesTheSameBytes: --no-fsync only skips flushing to disk; the output is the
// same, file for file, as a default (durable) conversion.
func TestNoFsyncWritesTheSameBytes(t *testing.T) {
	a := filepath.Join(t.TempDir(), "durable")
	b := filepath.Join(t.TempDir(), "scratch")
	for _, args := range [][]string{
		{"--batch", "--tp", "2", "--ep", "2", "--out", a, example},
		{"--batch", "--tp", "2", "--ep", "2", "--no-fsync", "--out", b, example},
	} {
		if code, _, errOut := runCLI(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	n := 0
	err := filepath.Walk(a, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, path)
		x, _ := os.ReadFile(path)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs with --no-fsync (%v)", rel, err)
		}
		n++
		return nil
	})
	if err != nil || n < 6 {
		t.Fatalf("compared %d files: %v", n, err)
	}
}

func TestForceRefusesWhatOmnituiDidNotWrite(t *testing.T) {
	mca := filepath.Join(t.TempDir(), "mca")
	if code, _, errOut := runCLI(t, "--batch", "--out", mca, example); code != exitOK {
		t.Fatalf("making a Megatron checkpoint: exit %d %s", code, errOut)
	}
	tests := []struct {
		name string
		args []string // --out DIR is added
	}{
		{"hf to megatron", []string{"--batch", "--force", example}},
		{"megatron to hf", []string{"--batch", "--force", "--to-hf", mca}},
		{"megatron reshard", []string{"--batch", "--force", "--tp", "2", mca}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			keep := filepath.Join(out, "important.txt")
			if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, append(tc.args, "--out", out)...)
			if code != exitBadUsage {
				t.Fatalf("exit %d, want %d (usage): %s", code, exitBadUsage, errOut)
			}
			for _, want := range []string{"important.txt", "not a checkpoint omnitui could have written", "1 file"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr should say %q:\n%s", want, errOut)
				}
			}
			if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
				t.Fatalf("important.txt was touched: %q %v", b, err)
			}
		})
	}
	// A checkpoint omnitui wrote plus a user's file: still refused, naming the file.
	if err := os.WriteFile(filepath.Join(mca, "notes.md"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "--batch", "--force", "--out", mca, example)
	if code != exitBadUsage || !strings.Contains(errOut, "is a Megatron checkpoint but also holds notes.md") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// The counts the CLI prints agree with the plan's (and the app's): Megatron
// tensors, one per op group, whatever TP slices them into.
func TestConvertCountsMegatronTensorsAsThePlanDoes(t *testing.T) {
	code, planOut, _ := runCLI(t, "--batch", "--plan", "--json", "--tp", "2", example)
	if code != exitOK {
		t.Fatal(code)
	}
	var plan struct {
		Groups []json.RawMessage `json:"groups"`
	}
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil || len(plan.Groups) == 0 {
		t.Fatalf("plan JSON: %v (%d groups)", err, len(plan.Groups))
	}
	out := filepath.Join(t.TempDir(), "mca")
	code, _, errOut := runCLI(t, "--batch", "--tp", "2", "--out", out, example)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	n := len(plan.Groups)
	for _, want := range []string{fmt.Sprintf("%d/%d Megatron tensors", n, n), fmt.Sprintf("2 rank file(s), %d Megatron tensors", n)} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr should say %q:\n%s", want, errOut)
		}
	}
}
