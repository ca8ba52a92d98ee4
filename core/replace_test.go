package core_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
)

func TestInspectOutputReplacesOnlyOwnCheckpoints(t *testing.T) {
	mca := []string{"mca_config.json", "latest_checkpointed_iteration.txt", "tokenizer_config.json",
		"iter_0000001/mp_rank_00_000/model_optim_rng.pt", "iter_0000001/mp_rank_01_000/model_optim_rng.pt"}
	hf := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		"model.safetensors.index.json", "generation_config.json", "vocab.json"}
	tests := []struct {
		name    string
		files   []string
		dirs    []string
		kind    string
		ok      bool
		foreign string // in the refusal
	}{
		{"megatron", mca, nil, "Megatron checkpoint", true, ""},
		{"hugging face", hf, nil, "Hugging Face checkpoint", true, ""},
		{"empty directory", nil, nil, "", true, ""},
		{"megatron plus a user file", append(mca, "important.txt"), nil, "Megatron checkpoint", false, "important.txt"},
		{"hf plus a folder", append(hf, "notes/a.md", "notes/b.md"), nil, "Hugging Face checkpoint", false, "notes"},
		{"megatron with an optimizer file", append(mca, "iter_0000001/mp_rank_00_000/distrib_optim.pt"), nil, "Megatron checkpoint", false, "distrib_optim.pt"},
		{"config without weights", []string{"mca_config.json"}, nil, "", false, ""},
		{"hf config without weights", []string{"config.json", "README.md"}, nil, "", false, "README.md"},
		{"unrelated files", []string{"important.txt", "data.csv"}, nil, "", false, "data.csv and important.txt"},
		{"an empty subfolder", nil, []string{"keep"}, "", false, "keep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, d := range tc.dirs {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			e, err := core.InspectOutput(dir)
			if err != nil || e == nil {
				t.Fatalf("InspectOutput: %v %v", e, err)
			}
			if e.Kind != tc.kind || e.Replaceable() != tc.ok {
				t.Errorf("kind %q replaceable %v, want %q %v (foreign %v)", e.Kind, e.Replaceable(), tc.kind, tc.ok, e.Foreign)
			}
			if e.Files != len(tc.files) || e.Bytes != int64(10*len(tc.files)) {
				t.Errorf("%d files, %d bytes; want %d, %d", e.Files, e.Bytes, len(tc.files), 10*len(tc.files))
			}
			err = e.Refusal("--out")
			if tc.ok != (err == nil) {
				t.Fatalf("refusal %v, want one: %v", err, !tc.ok)
			}
			if err != nil {
				if !errors.Is(err, core.ErrNotReplaceable) || !strings.Contains(err.Error(), tc.foreign) || !strings.Contains(err.Error(), "--out") {
					t.Errorf("refusal %q should name %q and --out", err, tc.foreign)
				}
			}
		})
	}
}

func TestInspectOutputOfAFileAndOfNothing(t *testing.T) {
	dir := t.TempDir()
	if e, err := core.InspectOutput(filepath.Join(dir, "none")); e != nil || err != nil {
		t.Fatalf("a missing path: %v %v, want nothing", e, err)
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := core.InspectOutput(f)
	if err != nil || !e.NotDir || e.Replaceable() {
		t.Fatalf("a file: %+v %v, want a non-replaceable non-directory", e, err)
	}
	if s := e.Summary(); !strings.HasPrefix(s, "a file, not a directory · 1 file · 1 B · modified ") {
		t.Errorf("summary %q", s)
	}
}
