package common

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultOutputIsNeverInsideTheInputOrARepoNorExisting(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) string {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := mk("models/ckpt")
	repo := mk("src/proj")
	mk("src/proj/.git")
	inRepo := mk("src/proj/testdata/example/tiny")
	taken := mk("busy/ckpt")
	mk("busy/ckpt-mca")
	mk("busy/ckpt-mca-2")
	file := filepath.Join(plain, "model.safetensors")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, input, want string
	}{
		{"beside the input", plain, filepath.Join(root, "models/ckpt-mca")},
		{"a single file: beside its folder", file, filepath.Join(root, "models/ckpt-mca")},
		{"in a repository: beside the repository", inRepo, filepath.Join(root, "src/tiny-mca")},
		{"taken: the next free name", taken, filepath.Join(root, "busy/ckpt-mca-3")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultOutput(tc.input, "-mca", "")
			if got != tc.want {
				t.Errorf("DefaultOutput(%s) = %s, want %s", tc.input, got, tc.want)
			}
			if strings.HasPrefix(got, repo+string(filepath.Separator)) {
				t.Errorf("%s is inside the repository %s", got, repo)
			}
		})
	}
	if got := DefaultOutput(plain, "-hf", "/base"); got != "/base/ckpt-hf" {
		t.Errorf("with a base: %s", got)
	}
}
