// Package mca opens Megatron-Core (mcore_adapter) legacy checkpoints:
// mca_config.json, latest_checkpointed_iteration.txt (or a "release" folder) and
// iter_*/mp_rank_*/model_optim_rng.pt, one per (TP, PP, EP) rank. Opening reads the
// config and every rank file's pickle; tensor bytes are read later through File.
package mca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// ConfigName is the config file of an mcore_adapter checkpoint.
const ConfigName = "mca_config.json"

// Checkpoint is an opened mcore_adapter checkpoint.
type Checkpoint struct {
	Dir         string
	Config      *loader.JSONNode // mca_config.json as an ordered tree
	ConfigBytes []byte           // read-only: Config shares its memory
	IterDir     string           // e.g. "iter_0000001" or "release"
	TP, PP, EP  int              // parallel sizes from mca_config.json
	Ranks       []*Rank
	ExtraFiles  []string // tokenizer/processor files next to mca_config.json
	Warnings    []string // what looks wrong but does not stop reading (e.g. a rank file copied over another)
}

// Rank is one model_optim_rng.pt.
type Rank struct {
	TP, PP, EP int
	Path       string // relative to Checkpoint.Dir
	File       *pt.File
	Chunks     []Chunk
	Skipped    []string // top-level keys that hold no model weights (optimizer, rng_state, args, ...)
}

// Chunk is one model state dict of a rank file ("model" or "modelN").
type Chunk struct {
	Key     string
	VP      int
	Tensors []pt.TensorRef
}

// IsMCA reports whether dir looks like an mcore_adapter checkpoint: it holds an
// mca_config.json (of any type: Open says what is wrong with one that is not a
// regular file).
func IsMCA(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ConfigName))
	return err == nil
}

// maxConfigBytes bounds mca_config.json (it embeds config.json: kilobytes to megabytes).
const maxConfigBytes = 1 << 30

var chunkKey = regexp.MustCompile(`^model([0-9]*)$`)

// Open reads an mcore_adapter checkpoint directory.
func Open(dir string) (*Checkpoint, error) {
	cfgPath := filepath.Join(dir, ConfigName)
	data, err := loader.ReadRegular(cfgPath, maxConfigBytes)
	if err != nil {
		if errors.Is(err, loader.ErrMissingFile) {
			return nil, fmt.Errorf("mca: %w: an mcore_adapter checkpoint needs %s next to its iter_* folder", err, ConfigName)
		}
		return nil, fmt.Errorf("mca: %w", err)
	}
	cfg, err := loader.ParseJSONTreeShared(data) // data is kept, unmodified, as ConfigBytes
	if err != nil {
		return nil, fmt.Errorf("mca: %s: %w: fix or restore the file", cfgPath, err)
	}
	if cfg.Kind != loader.JSONObject {
		return nil, fmt.Errorf("mca: %s must be a JSON object, found %s", cfgPath, cfg.KindName())
	}
	c := &Checkpoint{Dir: dir, Config: cfg, ConfigBytes: data}
	size := func(key string) (int, error) {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return 1, nil
		}
		v, err := n.Int()
		if err != nil || v < 1 || v > 1<<16 {
			return 0, fmt.Errorf("mca: %s: %s must be a positive whole number, found %s: fix the file", cfgPath, key, n.Raw)
		}
		return int(v), nil
	}
	if c.TP, err = size("tensor_model_parallel_size"); err != nil {
		return nil, err
	}
	if c.PP, err = size("pipeline_model_parallel_size"); err != nil {
		return nil, err
	}
	if c.EP, err = size("expert_model_parallel_size"); err != nil {
		return nil, err
	}
	if c.TP*c.PP*c.EP > 1<<14 {
		return nil, fmt.Errorf("mca: %s: %d x %d x %d rank files is more than omnitui opens: check the parallel sizes", cfgPath, c.TP, c.PP, c.EP)
	}
	if c.IterDir, err = iterDir(dir); err != nil {
		return nil, err
	}
	if err := c.openRanks(); err != nil {
		c.Close()
		return nil, err
	}
	c.Warnings = append(c.Warnings, copiedRanks(c.Ranks)...)
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() && e.Name() != ConfigName && loader.IsExtraFile(e.Name()) {
				c.ExtraFiles = append(c.ExtraFiles, e.Name())
			}
		}
	}
	return c, nil
}

// iterDir finds the iteration folder named by latest_checkpointed_iteration.txt.
func iterDir(dir string) (string, error) {
	tracker := filepath.Join(dir, "latest_checkpointed_iteration.txt")
	if _, err := os.Lstat(tracker); err != nil {
		if st, err2 := os.Stat(filepath.Join(dir, "release")); err2 == nil && st.IsDir() {
			return "release", nil
		}
		return "", fmt.Errorf("mca: %w: the checkpoint needs latest_checkpointed_iteration.txt (or a release folder) naming its iteration", err)
	}
	b, err := loader.ReadRegular(tracker, 4096)
	if err != nil {
		return "", fmt.Errorf("mca: %w", err)
	}
	s := strings.TrimSpace(string(b))
	name := "release"
	if s != "release" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return "", fmt.Errorf("mca: %s holds %q, which is neither an iteration number nor \"release\": fix the file", tracker, s)
		}
		name = fmt.Sprintf("iter_%07d", n)
	}
	if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.IsDir() {
		return "", fmt.Errorf("mca: %s names iteration %s but %s is not a folder: restore it or fix the tracker file", tracker, s, filepath.Join(dir, name))
	}
	return name, nil
}

// copiedRanks warns about rank files that are byte-identical to another: every
// record (data.pkl and each tensor storage) has the same name, size and CRC-32.
// Different ranks hold different slices (TP), layers (PP) or experts (EP), so an
// identical pair means one file was copied over the other, e.g. mp_rank_01 a copy
// of mp_rank_00; its "slices" would silently duplicate rank 0's. The check reads
// only the zip directories, already in memory.
func copiedRanks(ranks []*Rank) []string {
	first := map[string]*Rank{}
	var warn []string
	for _, r := range ranks {
		d := r.File.Digest()
		if o, seen := first[d]; seen {
			warn = append(warn, fmt.Sprintf("rank files %s (tp=%d pp=%d ep=%d) and %s (tp=%d pp=%d ep=%d) are byte-identical (every record has the same size and CRC-32), but different ranks must hold different slices, layers or experts: one is probably a copy of the other; restore it from the original checkpoint (its tensors are wrong, and --take-rank0 would not fix that)",
				o.Path, o.TP, o.PP, o.EP, r.Path, r.TP, r.PP, r.EP))
			continue
		}
		first[d] = r
	}
	return warn
}

// RankDir is the legacy folder name of a rank.
func RankDir(tp, pp, ep int, pipeline, expert bool) string {
	d := fmt.Sprintf("mp_rank_%02d", tp)
	if pipeline {
		d += fmt.Sprintf("_%03d", pp)
	}
	if expert {
		d += fmt.Sprintf("_%03d", ep)
	}
	return d
}

func (c *Checkpoint) openRanks() error {
	iter := filepath.Join(c.Dir, c.IterDir)
	want := map[string]bool{}
	var missing []string
	for tp := 0; tp < c.TP; tp++ {
		for pp := 0; pp < c.PP; pp++ {
			for ep := 0; ep < c.EP; ep++ {
				rd := RankDir(tp, pp, ep, c.PP > 1, c.EP > 1)
				want[rd] = true
				rel := filepath.Join(c.IterDir, rd, "model_optim_rng.pt")
				path := filepath.Join(c.Dir, rel)
				if _, err := os.Lstat(path); err != nil {
					missing = append(missing, rel)
					continue
				}
				f, err := pt.Open(path)
				if err != nil {
					return fmt.Errorf("mca: rank tp=%d pp=%d ep=%d: %w", tp, pp, ep, err)
				}
				r := &Rank{TP: tp, PP: pp, EP: ep, Path: rel, File: f}
				c.Ranks = append(c.Ranks, r)
				if err := r.index(); err != nil {
					return err
				}
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("mca: %s says TP=%d PP=%d EP=%d but %d rank file(s) are missing: %s: copy the whole checkpoint, or fix the sizes in %s", ConfigName, c.TP, c.PP, c.EP, len(missing), strings.Join(first(missing, 5), ", "), ConfigName)
	}
	ents, err := os.ReadDir(iter)
	if err != nil {
		return fmt.Errorf("mca: reading %s: %w", iter, err)
	}
	var extra []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mp_rank_") && !want[e.Name()] {
			extra = append(extra, e.Name())
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("mca: %s holds rank folders %s that TP=%d PP=%d EP=%d from %s do not name: the sizes in %s are inconsistent with the files", iter, strings.Join(first(extra, 5), ", "), c.TP, c.PP, c.EP, ConfigName, ConfigName)
	}
	return nil
}

func (r *Rank) index() error {
	dicts := map[string]bool{}
	for _, k := range r.File.Dicts() {
		m := chunkKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		dicts[k] = true
		vp := 0
		if m[1] != "" {
			vp, _ = strconv.Atoi(m[1])
		}
		refs := r.File.Tensors(k)
		for _, ref := range refs {
			if ref.DType == "" {
				return fmt.Errorf("mca: %s: tensor %s of %s has storage type %s, which omnitui cannot convert", r.File.Path(), ref.Name, k, ref.TypeName)
			}
		}
		r.Chunks = append(r.Chunks, Chunk{Key: k, VP: vp, Tensors: refs})
	}
	for _, k := range r.File.Keys() {
		if !dicts[k] {
			r.Skipped = append(r.Skipped, k)
		}
	}
	if len(r.Chunks) == 0 {
		return fmt.Errorf("mca: %s holds no model state dict (keys: %s): it is no mcore_adapter model checkpoint", r.File.Path(), strings.Join(r.File.Keys(), ", "))
	}
	sort.SliceStable(r.Chunks, func(i, j int) bool { return r.Chunks[i].VP < r.Chunks[j].VP })
	return nil
}

// Rank returns the rank file with these coordinates, or nil.
func (c *Checkpoint) Rank(tp, pp, ep int) *Rank {
	for _, r := range c.Ranks {
		if r.TP == tp && r.PP == pp && r.EP == ep {
			return r
		}
	}
	return nil
}

// Chunk returns the chunk of virtual stage vp, or nil.
func (r *Rank) Chunk(vp int) *Chunk {
	for i := range r.Chunks {
		if r.Chunks[i].VP == vp {
			return &r.Chunks[i]
		}
	}
	return nil
}

// HFConfigJSON returns the Hugging Face config.json text recorded as hf_config_json.
func (c *Checkpoint) HFConfigJSON() ([]byte, error) {
	n, ok := c.Config.Get("hf_config_json")
	if !ok || n.Kind == loader.JSONNull {
		return nil, errors.New("mca: mca_config.json has no hf_config_json, so the Hugging Face config cannot be restored: convert with mcore_adapter or omnitui, which record it")
	}
	s, err := n.Str()
	if err != nil {
		return nil, fmt.Errorf("mca: mca_config.json hf_config_json: %w", err)
	}
	return []byte(s), nil
}

// NumTensors counts the tensors of every rank file and chunk.
func (c *Checkpoint) NumTensors() int {
	n := 0
	for _, r := range c.Ranks {
		for _, ch := range r.Chunks {
			n += len(ch.Tensors)
		}
	}
	return n
}

// Close closes every rank file.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, r := range c.Ranks {
		if r.File != nil {
			errs = append(errs, r.File.Close())
		}
	}
	return errors.Join(errs...)
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
