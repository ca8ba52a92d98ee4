package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutOverlapsInput: --out equal to the input, inside it, containing it, or
// the same folder through a symbolic link is bad usage (exit 2), said before
// anything is read, with or without --force, for HF -> mca, --to-hf and reshard;
// the input is left as it was.
func TestOutOverlapsInput(t *testing.T) {
	base := t.TempDir()
	hf := filepath.Join(base, "hf")
	copyTreeAll(t, example, hf)
	mcaDir := filepath.Join(base, "mca")
	if code, _, e := runCLI(t, "--batch", "--out", mcaDir, hf); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	link := filepath.Join(base, "hf-link")
	if err := os.Symlink(hf, link); err != nil {
		t.Fatal(err)
	}
	before := treeSums(t, base)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"forward equal", []string{"--batch", "--out", hf, hf}, "is the input checkpoint itself"},
		{"forward equal via symlink", []string{"--batch", "--out", link, hf}, "is the input checkpoint itself"},
		{"forward inside", []string{"--batch", "--out", filepath.Join(hf, "mca"), hf}, "lies inside the input checkpoint"},
		{"forward inside, input a file", []string{"--batch", "--out", filepath.Join(hf, "mca"), filepath.Join(hf, "model.safetensors.index.json")}, "lies inside the input checkpoint"},
		{"forward contains", []string{"--batch", "--out", base, hf}, "contains the input checkpoint"},
		{"to-hf inside", []string{"--batch", "--to-hf", "--out", filepath.Join(mcaDir, "hf"), mcaDir}, "lies inside the input checkpoint"},
		{"to-hf equal", []string{"--batch", "--to-hf", "--out", mcaDir, mcaDir}, "is the input checkpoint itself"},
		{"reshard contains", []string{"--batch", "--tp", "2", "--out", base, mcaDir}, "contains the input checkpoint"},
		{"reshard equal", []string{"--batch", "--tp", "2", "--out", mcaDir, mcaDir}, "is the input checkpoint itself"},
	} {
		for _, force := range []bool{false, true} {
			args := c.args
			if force {
				args = append([]string{"--force"}, args...)
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitBadUsage || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "choose an output directory outside the input") {
				t.Errorf("%s (force %v): exit %d, want %d and %q:\n%s", c.name, force, code, exitBadUsage, c.want, stderr)
			}
		}
	}
	assertSameSums(t, before, treeSums(t, base))
	// a sibling whose name merely starts like the input's is fine
	if code, _, e := runCLI(t, "--batch", "--out", hf+"-mca", hf); code != exitOK {
		t.Errorf("--out beside the input: exit %d\n%s", code, e)
	}
}

// copyTreeAll copies a folder of regular files (one level deep is enough for the example).
func copyTreeAll(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
