package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/dcp/dcptest"
)

// torch_dist inputs (hand-made by dcptest): --plan validates and describes
// them; every broken one exits 2 naming the file and key; conversions are
// refused clearly, with nothing written.
func TestTorchDistPlan(t *testing.T) {
	dir := dcptest.TinyMoE().Write(t, filepath.Join(t.TempDir(), "ckpt"))
	code, out, errOut := runCLI(t, "--batch", "--plan", dir)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"torch_dist checkpoint", "4 writer rank(s), TP 2, expert TP 2",
		"10 stored tensors in", "view at TP=PP=EP=1: 27 tensors",
		`"__3_0.distcp"`, `"optimizer.state.exp_avg.decoder.final_layernorm.weight": optimizer state`,
		`"rng_state/shard_0.0_1.4": RNG state`, "StorageMeta",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	// A ROLL checkpoint whose iteration folder holds the torch_dist save.
	roll := t.TempDir()
	dcptest.TinyMoE().Write(t, filepath.Join(roll, "iter_0000002"))
	os.WriteFile(filepath.Join(roll, "mca_config.json"), []byte(`{"num_layers": 3}`), 0o644)
	os.WriteFile(filepath.Join(roll, "latest_checkpointed_iteration.txt"), []byte("2\n"), 0o644)
	code, out, errOut = runCLI(t, "--batch", "--plan", roll)
	if code != exitBadUsage || !strings.Contains(errOut, "stacked layer axis has length 2 but the config") || !strings.Contains(errOut, "mca_config.json") {
		t.Fatalf("ROLL torch_dist with a 3-layer config: exit %d\n%s%s", code, out, errOut)
	}
	for _, mode := range [][]string{{"--batch", "--to-hf", "--out", filepath.Join(t.TempDir(), "hf"), dir}, {"--batch", "--verify", dir, dir}, {"--batch", "--out", filepath.Join(t.TempDir(), "o"), dir}} {
		code, out, errOut := runCLI(t, mode...)
		if code != exitBadUsage || !strings.Contains(errOut, "torch_dist checkpoint") || !strings.Contains(errOut, "does not convert") {
			t.Errorf("%v: exit %d\n%s%s", mode, code, out, errOut)
		}
	}
}

// A metadata.json that names no sharded_backend (some Hugging Face folders
// carry one) does not make a folder a torch_dist checkpoint.
func TestTorchDistNotClaimingOtherFolders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"format": "pt"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := torchDistDir(dir); ok {
		t.Fatal("a folder with an unrelated metadata.json was taken for torch_dist")
	}
	_, out, errOut := runCLI(t, "--batch", "--plan", dir)
	if strings.Contains(out+errOut, "torch_dist") {
		t.Fatalf("message speaks of torch_dist:\n%s%s", out, errOut)
	}
}

func TestTorchDistHostilePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(dir string) error
		want    []string
	}{
		{"metadata.json missing", func(d string) error { return os.Remove(filepath.Join(d, "metadata.json")) }, []string{"metadata.json", "incomplete"}},
		{"other backend", func(d string) error {
			return os.WriteFile(filepath.Join(d, "metadata.json"), []byte(`{"sharded_backend": "zarr"}`), 0o644)
		}, []string{"metadata.json", `"zarr"`}},
		{".metadata truncated", func(d string) error { return os.Truncate(filepath.Join(d, ".metadata"), 100) }, []string{".metadata", "truncated"}},
		{"missing .distcp", func(d string) error { return os.Remove(filepath.Join(d, "__1_0.distcp")) }, []string{"__1_0.distcp", "tensor \"", "missing"}},
		{"truncated .distcp", func(d string) error { return os.Truncate(filepath.Join(d, "__0_0.distcp"), 2000) }, []string{"__0_0.distcp", "tensor \"", "spans bytes"}},
		{"stray .distcp", func(d string) error { return os.WriteFile(filepath.Join(d, "__7_0.distcp"), []byte("x"), 0o644) }, []string{"__7_0.distcp", "two saves"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := dcptest.TinyMoE().Write(t, filepath.Join(t.TempDir(), "ckpt"))
			if err := tc.breakIt(dir); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "--batch", "--plan", dir)
			if code != exitBadUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitBadUsage, out, errOut)
			}
			assertNoTrace(t, errOut)
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("message lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}
