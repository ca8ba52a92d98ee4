package mca

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/omnitui/omnitui/loader"
)

// AdapterConfigName is the PEFT config of one adapter of a ROLL LoRA checkpoint.
const AdapterConfigName = "adapter_config.json"

// AdapterSet is an opened ROLL (mcore_adapter) LoRA checkpoint: the top folder holds
// mca_config.json, and one sub-folder per adapter name holds adapter_config.json (PEFT's
// LoraConfig with Megatron module names), its own mca_config.json, the tracker and
// iter_*/mp_rank_*/model_optim_rng.pt with the adapter's lora_A / lora_B tensors.
type AdapterSet struct {
	Dir         string
	Config      *loader.JSONNode // top mca_config.json
	ConfigBytes []byte
	Adapters    []*Adapter // sorted by name
}

// Adapter is one adapter sub-folder.
type Adapter struct {
	Name        string
	PEFT        *loader.JSONNode // adapter_config.json
	PEFTBytes   []byte
	Checkpoint  *Checkpoint // the sub-folder opened as an mcore_adapter checkpoint
	ConfigShare bool        // the sub-folder has no mca_config.json of its own; the top one was used
}

// IsAdapterSet reports whether dir looks like a ROLL LoRA checkpoint: mca_config.json at
// the top and no iteration of its own, and a sub-folder with adapter_config.json, or a
// sub-folder holding an iteration (an adapter whose adapter_config.json is missing).
func IsAdapterSet(dir string) bool {
	if !IsMCA(dir) {
		return false
	}
	if _, err := iterDir(dir); err == nil {
		return false
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if st, err := os.Stat(filepath.Join(sub, AdapterConfigName)); err == nil && st.Mode().IsRegular() {
			return true
		}
		if _, err := os.Stat(filepath.Join(sub, "latest_checkpointed_iteration.txt")); err == nil {
			return true
		}
	}
	return false
}

// OpenAdapters opens every adapter of a ROLL LoRA checkpoint. A sub-folder holding rank
// files but no adapter_config.json is an error naming it.
func OpenAdapters(dir string) (*AdapterSet, error) {
	cfgPath := filepath.Join(dir, ConfigName)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("mca: %w: a LoRA checkpoint needs %s at its top", err, ConfigName)
	}
	cfg, err := loader.ParseJSONTree(data)
	if err != nil {
		return nil, fmt.Errorf("mca: %s: %w: fix or restore the file", cfgPath, err)
	}
	if cfg.Kind != loader.JSONObject {
		return nil, fmt.Errorf("mca: %s must be a JSON object, found %s", cfgPath, cfg.KindName())
	}
	s := &AdapterSet{Dir: dir, Config: cfg, ConfigBytes: data}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mca: reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		sub := filepath.Join(dir, name)
		acPath := filepath.Join(sub, AdapterConfigName)
		ac, acErr := os.ReadFile(acPath)
		_, trErr := os.Stat(filepath.Join(sub, "latest_checkpointed_iteration.txt"))
		if acErr != nil {
			if trErr == nil || hasIter(sub) {
				s.Close()
				return nil, fmt.Errorf("mca: adapter folder %s holds rank files but no %s: restore the adapter's %s (ROLL writes it with the weights)", strconv.Quote(sub), AdapterConfigName, AdapterConfigName)
			}
			continue // tokenizer or other folders
		}
		pc, err := loader.ParseJSONTree(ac)
		if err == nil && pc.Kind != loader.JSONObject {
			err = fmt.Errorf("must be a JSON object, found %s", pc.KindName())
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("mca: %s: %w: fix or restore the file", acPath, err)
		}
		a := &Adapter{Name: name, PEFT: pc, PEFTBytes: ac}
		if !IsMCA(sub) {
			// Give the sub-folder the top config through a private copy of the paths.
			a.ConfigShare = true
			a.Checkpoint, err = openWithConfig(sub, data, cfg)
		} else {
			a.Checkpoint, err = Open(sub)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("adapter %s: %w", strconv.Quote(name), err)
		}
		s.Adapters = append(s.Adapters, a)
	}
	if len(s.Adapters) == 0 {
		return nil, fmt.Errorf("mca: %s has no adapter folder with %s: a ROLL LoRA checkpoint holds one sub-folder per adapter name", strconv.Quote(dir), AdapterConfigName)
	}
	return s, nil
}

func hasIter(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && (e.Name() == "release" || len(e.Name()) > 5 && e.Name()[:5] == "iter_") {
			return true
		}
	}
	return false
}

// openWithConfig opens dir as a checkpoint whose mca_config.json is given.
func openWithConfig(dir string, data []byte, cfg *loader.JSONNode) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, Config: cfg, ConfigBytes: data}
	size := func(key string) int {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return 1
		}
		v, err := n.Int()
		if err != nil || v < 1 || v > 1<<16 {
			return -1
		}
		return int(v)
	}
	c.TP, c.PP, c.EP = size("tensor_model_parallel_size"), size("pipeline_model_parallel_size"), size("expert_model_parallel_size")
	if c.TP < 1 || c.PP < 1 || c.EP < 1 || c.TP*c.PP*c.EP > 1<<14 {
		return nil, errors.New("mca: the parallel sizes of the top mca_config.json are not positive whole numbers: fix the file")
	}
	var err error
	if c.IterDir, err = iterDir(dir); err != nil {
		return nil, err
	}
	if err := c.openRanks(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every adapter's rank files.
func (s *AdapterSet) Close() error {
	var errs []error
	for _, a := range s.Adapters {
		if a.Checkpoint != nil {
			errs = append(errs, a.Checkpoint.Close())
		}
	}
	return errors.Join(errs...)
}
