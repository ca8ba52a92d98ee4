package dcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// mcaConfigName is ROLL's config next to the iter_* folder.
const mcaConfigName = "mca_config.json"

// DiscoverConfig finds num_layers and num_moe_experts for the view: ROLL's
// mca_config.json up to two folders above the checkpoint, else common.pt's
// args (megatron-core up to 0.18), else the common_state item (0.19+). The
// zero ViewConfig (with Source saying so) is returned when none holds them.
func (c *Checkpoint) DiscoverConfig() (ViewConfig, error) {
	dir := c.Dir
	for i := 0; i < 3; i++ {
		path := filepath.Join(dir, mcaConfigName)
		if b, err := loader.ReadRegular(path, 64<<20); err == nil {
			var cfg struct {
				Layers  *int `json:"num_layers"`
				Experts *int `json:"num_moe_experts"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return ViewConfig{}, &loader.FileError{File: path, Kind: loader.ErrCorrupt, Detail: "not valid JSON: " + err.Error(), Fix: "fix or restore the file", Err: err}
			}
			vc := ViewConfig{Source: path}
			if cfg.Layers != nil {
				vc.Layers = *cfg.Layers
			}
			if cfg.Experts != nil {
				vc.Experts = *cfg.Experts
			}
			return vc, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if c.HasCommonPT {
		path := filepath.Join(c.Dir, CommonName)
		f, err := pt.Open(path)
		if err != nil {
			return ViewConfig{}, &loader.FileError{File: path, Kind: loader.ErrCorrupt, Detail: err.Error(), Fix: "restore common.pt from the original save, or give the model config another way", Err: err}
		}
		defer f.Close()
		root, err := f.Root()
		if err != nil {
			return ViewConfig{}, &loader.FileError{File: path, Kind: loader.ErrCorrupt, Detail: err.Error(), Fix: "restore common.pt from the original save", Err: err}
		}
		return configFromCommon(root, path+" args")
	}
	for _, o := range c.Objects {
		if o.Key != "common_state/shard_0_1" {
			continue
		}
		name := fmt.Sprintf("%s bytes [%d, %d)", filepath.Join(c.Dir, o.File.Name), o.Off, o.Off+o.Len)
		f, err := pt.OpenReaderAt(name, bytes.NewReader(o.File.data[o.Off:o.Off+o.Len]), o.Len)
		if err != nil {
			return ViewConfig{}, &loader.FileError{File: filepath.Join(c.Dir, o.File.Name), Tensor: o.Key, Kind: loader.ErrCorrupt, Detail: err.Error(), Fix: "restore the checkpoint from the original save", Err: err}
		}
		root, err := f.Root()
		if err != nil {
			return ViewConfig{}, &loader.FileError{File: filepath.Join(c.Dir, o.File.Name), Tensor: o.Key, Kind: loader.ErrCorrupt, Detail: err.Error(), Fix: "restore the checkpoint from the original save", Err: err}
		}
		// torch.save([common_state_dict])
		if l, ok := root.(*pt.List); ok && len(l.Items) > 0 {
			root = l.Items[0]
		}
		return configFromCommon(root, o.Key+" args")
	}
	return ViewConfig{Source: "none found (stored lengths taken as they are)"}, nil
}

// configFromCommon reads args.num_layers and args.num_experts from a common
// state dict; args is an argparse.Namespace whose attributes are its BUILD
// state.
func configFromCommon(root any, source string) (ViewConfig, error) {
	vc := ViewConfig{Source: source}
	d, ok := root.(*pt.Dict)
	if !ok {
		return ViewConfig{Source: source + ": not a dict"}, nil
	}
	a, ok := d.Get("args")
	if !ok {
		return ViewConfig{Source: source + ": no args"}, nil
	}
	var attrs *pt.Dict
	switch o := a.(type) {
	case *pt.Object:
		attrs, _ = o.State.(*pt.Dict)
	case *pt.Dict:
		attrs = o
	}
	if attrs == nil {
		return ViewConfig{Source: source + ": args unreadable"}, nil
	}
	if v, ok := attrs.Get("num_layers"); ok {
		if n, ok := v.(int64); ok && n > 0 && n < 1<<20 {
			vc.Layers = int(n)
		}
	}
	if v, ok := attrs.Get("num_experts"); ok {
		if n, ok := v.(int64); ok && n > 0 && n < 1<<20 {
			vc.Experts = int(n)
		}
	}
	return vc, nil
}
