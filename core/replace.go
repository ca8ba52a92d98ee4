package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omnitui/omnitui/loader"
)

// Existing describes what an existing output directory holds, to decide whether
// replacing it can lose anything. omnitui replaces only a directory that is a
// checkpoint it could have written, holding nothing else:
//
//   - Megatron (mcore_adapter): mca_config.json and iter_*/mp_rank_*/model_optim_rng.pt,
//     with latest_checkpointed_iteration.txt and the tokenizer/processor files
//     (loader.IsExtraFile) beside mca_config.json;
//   - Hugging Face: config.json and *.safetensors, with model.safetensors.index.json
//     and the tokenizer/processor files;
//   - or an empty directory (nothing to lose).
type Existing struct {
	Path    string
	Kind    string    // "Megatron checkpoint", "Hugging Face checkpoint", or "" when it is neither
	Files   int       // regular files, at any depth
	Bytes   int64     // their total size
	ModTime time.Time // the newest modification time
	// Foreign are the entries (relative paths, at most maxForeign) that are not
	// part of such a checkpoint; ForeignN counts them all.
	Foreign  []string
	ForeignN int
	// NotDir is set when the path is a file or a symlink, not a directory.
	NotDir bool
}

const maxForeign = 5

// InspectOutput reads what the existing path out holds. It returns
// (nil, nil) when nothing exists there.
func InspectOutput(out string) (*Existing, error) {
	st, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checking the output %s: %w", out, err)
	}
	e := &Existing{Path: out, ModTime: st.ModTime()}
	if !st.IsDir() {
		e.NotDir, e.Files, e.Bytes = true, 1, st.Size()
		return e, nil
	}
	isMCA := fileExists(filepath.Join(out, "mca_config.json"))
	isHF := !isMCA && fileExists(filepath.Join(out, "config.json"))
	weights := 0
	foreign := func(rel string) {
		e.ForeignN++
		if len(e.Foreign) < maxForeign {
			e.Foreign = append(e.Foreign, rel)
		}
	}
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == out {
			return nil
		}
		rel, _ := filepath.Rel(out, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if info, ierr := d.Info(); ierr == nil {
			if info.ModTime().After(e.ModTime) {
				e.ModTime = info.ModTime()
			}
			if d.Type().IsRegular() {
				e.Files++
				e.Bytes += info.Size()
			}
		}
		ok, weight := ownEntry(parts, d, isMCA, isHF)
		if weight {
			weights++
		}
		if !ok {
			foreign(rel)
			if d.IsDir() {
				// Count what the foreign folder holds, but name only the folder.
				return countInside(p, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the existing output %s: %w", out, err)
	}
	switch {
	case isMCA && weights > 0:
		e.Kind = "Megatron checkpoint"
	case isHF && weights > 0:
		e.Kind = "Hugging Face checkpoint"
	}
	return e, nil
}

// countInside adds the files under a foreign folder to the totals and skips it.
func countInside(dir string, e *Existing) error {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if info, ierr := d.Info(); ierr == nil {
			if info.ModTime().After(e.ModTime) {
				e.ModTime = info.ModTime()
			}
			if d.Type().IsRegular() {
				e.Files++
				e.Bytes += info.Size()
			}
		}
		return nil
	})
	return filepath.SkipDir
}

// ownEntry says whether an entry (its path split in parts) belongs to a
// checkpoint omnitui writes, and whether it is a weights file.
func ownEntry(parts []string, d fs.DirEntry, isMCA, isHF bool) (ok, weight bool) {
	name := parts[len(parts)-1]
	regular := d.Type().IsRegular()
	switch {
	case isMCA:
		switch len(parts) {
		case 1:
			if d.IsDir() {
				return strings.HasPrefix(name, "iter_"), false
			}
			return regular && (name == "mca_config.json" || name == "latest_checkpointed_iteration.txt" || loader.IsExtraFile(name)), false
		case 2:
			return d.IsDir() && strings.HasPrefix(name, "mp_rank_"), false
		case 3:
			return regular && name == "model_optim_rng.pt", regular && name == "model_optim_rng.pt"
		}
	case isHF:
		if len(parts) != 1 || !regular {
			return false, false
		}
		if strings.HasSuffix(name, ".safetensors") {
			return true, true
		}
		return name == "config.json" || name == "model.safetensors.index.json" || loader.IsExtraFile(name), false
	}
	return false, false
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Replaceable reports whether replacing the path loses nothing omnitui did not
// write: a checkpoint of its own, or an empty directory.
func (e *Existing) Replaceable() bool {
	return e != nil && !e.NotDir && e.ForeignN == 0 && (e.Kind != "" || e.Files == 0)
}

// Summary says in one line what the path holds: kind, files, size and when it
// last changed ("Megatron checkpoint · 12 files · 1.2 GiB · modified 2026-12-04 16:55").
func (e *Existing) Summary() string {
	kind := e.Kind
	switch {
	case e.NotDir:
		kind = "a file, not a directory"
	case kind == "" && e.Files == 0 && e.ForeignN == 0:
		kind = "an empty directory"
	case kind == "":
		kind = "not a checkpoint"
	}
	files := "1 file"
	if e.Files != 1 {
		files = fmt.Sprintf("%d files", e.Files)
	}
	return fmt.Sprintf("%s · %s · %s · modified %s", kind, files, HumanBytes(e.Bytes), e.ModTime.Local().Format("2006-01-02 15:04"))
}

// ForeignList names what is not part of a checkpoint ("important.txt, notes/ and 3 more").
func (e *Existing) ForeignList() string {
	names := append([]string(nil), e.Foreign...)
	if more := e.ForeignN - len(names); more > 0 {
		names = append(names, fmt.Sprintf("%d more", more))
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Refusal is why e must not be replaced, saying what it holds; nil when it may be.
// what names the option that picks another output ("--out", or the app's field).
func (e *Existing) Refusal(what string) error {
	switch {
	case e.Replaceable():
		return nil
	case e.NotDir:
		return fmt.Errorf("%w: %s is a file, not a checkpoint directory; omnitui replaces only a checkpoint it could have written: move it away or choose another %s",
			ErrNotReplaceable, e.Path, what)
	case e.ForeignN > 0 && e.Kind != "":
		return fmt.Errorf("%w: %s is a %s but also holds %s, which omnitui did not write (%s); move %s away or choose another %s",
			ErrNotReplaceable, e.Path, e.Kind, e.ForeignList(), e.Summary(), e.them(), what)
	case e.ForeignN > 0:
		return fmt.Errorf("%w: %s is not a checkpoint omnitui could have written: it holds %s (%s); move %s away or choose another %s",
			ErrNotReplaceable, e.Path, e.ForeignList(), e.Summary(), e.them(), what)
	}
	return fmt.Errorf("%w: %s is %s; omnitui replaces only a checkpoint it could have written: remove it or choose another %s",
		ErrNotReplaceable, e.Path, strings.SplitN(e.Summary(), " · ", 2)[0], what)
}

func (e *Existing) them() string {
	if e.ForeignN == 1 {
		return "it"
	}
	return "them"
}

// ErrNotReplaceable marks a refusal to replace an existing output that is not a
// checkpoint omnitui could have written.
var ErrNotReplaceable = errors.New("refusing to replace the output")

// checkReplaceable refuses to replace out unless it is a checkpoint omnitui
// could have written, holding nothing else.
func checkReplaceable(out string) error {
	e, err := InspectOutput(out)
	if err != nil || e == nil {
		return err
	}
	return e.Refusal("--out")
}
