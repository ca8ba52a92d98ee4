package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestToHFAndVerifyCLI: HF -> mca -> HF through the CLI, then --verify of every pair
// exits 0, and a tampered file makes --verify exit 1 naming the tensor.
func TestToHFAndVerifyCLI(t *testing.T) {
	dir := t.TempDir()
	mcaDir := filepath.Join(dir, "mca")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--pp", "2", "--out", mcaDir, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	code, out, e := runCLI(t, "--batch", "--plan", mcaDir)
	if code != exitOK || !strings.Contains(out, "maps back to 455 Hugging Face tensors") {
		t.Fatalf("--plan on mca: exit %d\n%s\n%s", code, out, e)
	}
	back := filepath.Join(dir, "back")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--max-shard-size", "100KB", "--out", back, mcaDir); code != exitOK {
		t.Fatalf("--to-hf: exit %d\n%s", code, e)
	}
	if _, err := os.Stat(filepath.Join(back, "model.safetensors.index.json")); err != nil {
		t.Errorf("100KB shards should need an index: %v", err)
	}
	// --no-fsync skips only the flush: the same bytes land in the same files
	quick := filepath.Join(dir, "back-nofsync")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--no-fsync", "--max-shard-size", "100KB", "--out", quick, mcaDir); code != exitOK {
		t.Fatalf("--to-hf --no-fsync: exit %d\n%s", code, e)
	}
	want, _ := filepath.Glob(filepath.Join(back, "*"))
	got, _ := filepath.Glob(filepath.Join(quick, "*"))
	if len(want) == 0 || len(got) != len(want) {
		t.Errorf("--no-fsync wrote %d files, without it %d", len(got), len(want))
	}
	for _, f := range want {
		a, errA := os.ReadFile(f)
		b, errB := os.ReadFile(filepath.Join(quick, filepath.Base(f)))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs with --no-fsync (%v, %v)", filepath.Base(f), errA, errB)
		}
	}
	if code, _, _ := runCLI(t, "--batch", "--to-hf", "--out", back, mcaDir); code != exitBadUsage {
		t.Errorf("existing output without --force: exit %d, want %d", code, exitBadUsage)
	}
	for _, pair := range [][2]string{{example, back}, {example, mcaDir}, {mcaDir, back}} {
		code, out, e := runCLI(t, "--batch", "--verify", pair[0], pair[1])
		if code != exitOK || !strings.Contains(out, "MATCH") {
			t.Errorf("--verify %s %s: exit %d\n%s%s", pair[0], pair[1], code, out, e)
		}
	}
	// tamper with one byte of a tensor's data in the back-converted shards
	files, _ := filepath.Glob(filepath.Join(back, "model-*.safetensors"))
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0x10
	if err := os.WriteFile(files[len(files)-1], b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "--batch", "--verify", mcaDir, back)
	if code != exitFailed || !strings.Contains(out, "values") || !strings.Contains(out, "MISMATCH") {
		t.Errorf("tampered --verify: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "--batch", "--verify", example); code != exitBadUsage {
		t.Errorf("--verify with one path: exit %d, want %d", code, exitBadUsage)
	}
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--out", filepath.Join(dir, "x"), example); code != exitBadUsage || !strings.Contains(e, "mca_config.json") {
		t.Errorf("--to-hf on an HF checkpoint: exit %d\n%s", code, e)
	}
}

// TestLegacyNamesUnderTEConfigCLI: rank files with legacy grouped-GEMM names whose
// mca_config.json says Transformer Engine grouped GEMM (what ROLL writes without TE) are read
// by --plan, --to-hf, --verify and a reshard, each saying that the config disagrees.
func TestLegacyNamesUnderTEConfigCLI(t *testing.T) {
	dir := t.TempDir()
	mcaDir := filepath.Join(dir, "mca")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--ep", "2", "--moe-grouped-gemm", "--moe-legacy-grouped-gemm", "--out", mcaDir, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	cfgPath := filepath.Join(mcaDir, "mca_config.json")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const legacyOn = `"moe_use_legacy_grouped_gemm": true`
	if !strings.Contains(string(cfg), legacyOn) {
		t.Fatalf("mca_config.json lacks %s", legacyOn)
	}
	cfg = []byte(strings.Replace(string(cfg), legacyOn, `"moe_use_legacy_grouped_gemm": false`, 1))
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	const warn = "[naming-config-mismatch]"
	code, out, e := runCLI(t, "--batch", "--plan", mcaDir)
	if code != exitOK || !strings.Contains(out, warn) || !strings.Contains(out, ".mlp.experts.weight") {
		t.Fatalf("--plan: exit %d\n%s\n%s", code, out, e)
	}
	back := filepath.Join(dir, "back")
	if code, _, e := runCLI(t, "--batch", "--to-hf", "--out", back, mcaDir); code != exitOK || !strings.Contains(e, warn) {
		t.Fatalf("--to-hf: exit %d\n%s", code, e)
	}
	if code, out, e := runCLI(t, "--batch", "--verify", example, back); code != exitOK || !strings.Contains(out, "MATCH") {
		t.Fatalf("--verify back: exit %d\n%s%s", code, out, e)
	}
	if code, out, e := runCLI(t, "--batch", "--verify", mcaDir, example); code != exitOK || !strings.Contains(out, "MATCH") {
		t.Fatalf("--verify mca: exit %d\n%s%s", code, out, e)
	}
	rs := filepath.Join(dir, "rs")
	code, _, e = runCLI(t, "--batch", "--tp", "1", "--out", rs, mcaDir)
	if code != exitOK || !strings.Contains(e, warn) || !strings.Contains(e, "legacy grouped GEMM") {
		t.Fatalf("reshard: exit %d\n%s", code, e)
	}
	if code, out, e := runCLI(t, "--batch", "--verify", rs, example); code != exitOK || !strings.Contains(out, "MATCH") {
		t.Fatalf("--verify reshard: exit %d\n%s%s", code, out, e)
	}
}
