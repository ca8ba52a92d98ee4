package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/fixture"
)

// --batch on a model type without a template exits 2 with the plain no-template message.
func TestBatchNoTemplate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "foo-bar")
	if err := fixture.WriteTinyAs(dir, fixture.DefaultTiny(), "foo_bar"); err != nil {
		t.Fatal(err)
	}
	want := `no template for model_type "foo_bar"; omnitui has templates for: ` + strings.Join(core.ModelTypes(), ", ")
	for _, args := range [][]string{
		{"--batch", "--plan", dir},
		{"--batch", "--plan", "--json", dir},
		{"--batch", "--out", filepath.Join(t.TempDir(), "out"), dir},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitBadUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitBadUsage)
		}
		if !strings.Contains(stderr, want) {
			t.Errorf("%v: stderr lacks %q:\n%s%s", args, want, stdout, stderr)
		}
	}
}

// --help lists every setting of the settings table, family opt-outs included.
func TestHelpListsEverySetting(t *testing.T) {
	code, stdout, _ := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"--tp N", "--vpp N", "--layout STR", "--account-embedding", "--moe-legacy-grouped-gemm",
		"--transformer-impl transformer_engine|local", "--dtype keep|bf16|fp16|fp32", "--skip-unmapped", "--allow-uneven",
		"--drop-audio-output", "--ignore-deepstack"} {
		if !strings.Contains(stdout, "  "+flag+" ") {
			t.Errorf("--help lacks %q", flag)
		}
	}
}
