package common

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultOutput proposes an output directory for converting the checkpoint at
// input: <name><suffix> beside it, unless that is inside the input's folder or a
// git repository (the bundled example lives in one), then beside the
// repository, then in the working directory, then in the system temp directory.
// It never proposes an existing path: "-2", "-3"… are appended. With base set,
// the proposal is in base (tests use it for stable screens).
func DefaultOutput(input, suffix, base string) string {
	in, err := filepath.Abs(input)
	if err != nil || input == "" {
		in = "out"
	}
	if st, err := os.Stat(in); err == nil && !st.IsDir() {
		in = filepath.Dir(in) // a single .safetensors file: its folder is the checkpoint
	}
	name := filepath.Base(filepath.Clean(in)) + suffix
	var dirs []string
	if base != "" {
		dirs = []string{base}
	} else {
		parent := filepath.Dir(in)
		dirs = append(dirs, parent)
		if root := repoRoot(parent); root != "" {
			dirs = append(dirs, filepath.Dir(root))
		}
		if wd, err := os.Getwd(); err == nil {
			dirs = append(dirs, wd)
		}
		dirs = append(dirs, os.TempDir())
	}
	for _, d := range dirs {
		if base == "" && (within(d, in) || repoRoot(d) != "") {
			continue
		}
		return unused(filepath.Join(d, name))
	}
	return unused(filepath.Join(os.TempDir(), name))
}

// repoRoot is the nearest directory at or above dir holding .git, or "".
func repoRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// within reports whether path a is b or inside it.
func within(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && (rel == "." || (rel != ".." && !filepath.IsAbs(rel) && !hasDotDot(rel)))
}

func hasDotDot(rel string) bool {
	return len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator)
}

// unused is p, or p-2, p-3… the first that does not exist.
func unused(p string) string {
	if !exists(p) {
		return p
	}
	for i := 2; ; i++ {
		if q := p + "-" + strconv.Itoa(i); !exists(q) {
			return q
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}
