package main

import (
	"encoding/json"
	"fmt"
	"github.com/omnitui/omnitui/loader"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader/dcp"
	"github.com/omnitui/omnitui/loader/mca"
)

// torchDistDir returns the torch_dist directory an input path names: the path
// itself (metadata.json or .metadata in it), or for a ROLL checkpoint whose
// iteration folder was saved with ckpt_format torch_dist, that folder (or one
// folder inside it).
func torchDistDir(path string) (string, bool) {
	// A .metadata, or a metadata.json naming a sharded_backend (any: other
	// backends are refused by name); a stray metadata.json in a Hugging Face
	// folder does not count.
	looks := func(d string) bool {
		if st, err := os.Stat(filepath.Join(d, dcp.MetadataName)); err == nil && st.Mode().IsRegular() {
			return true
		}
		b, err := loader.ReadRegular(filepath.Join(d, dcp.ConfigName), 1<<20)
		if err != nil || len(b) > 1<<20 {
			return false
		}
		var cfg map[string]json.RawMessage
		if json.Unmarshal(b, &cfg) != nil {
			return false
		}
		_, ok := cfg["sharded_backend"]
		return ok
	}
	if looks(path) {
		return path, true
	}
	if !mca.IsMCA(path) {
		return "", false
	}
	iter := "release"
	if b, err := loader.ReadRegular(filepath.Join(path, "latest_checkpointed_iteration.txt"), 1<<10); err == nil {
		if s := strings.TrimSpace(string(b)); s != "release" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", false
			}
			iter = fmt.Sprintf("iter_%07d", n)
		}
	}
	d := filepath.Join(path, iter)
	if looks(d) {
		return d, true
	}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		if e.IsDir() && looks(filepath.Join(d, e.Name())) {
			return filepath.Join(d, e.Name()), true
		}
	}
	return "", false
}

// runTorchDist handles inputs that are Megatron torch_dist checkpoints:
// --plan validates and describes them; conversions are refused until the
// reader is wired into core's reverse path (issue 16).
func runTorchDist(o *options, pos []string, stdout, stderr io.Writer) (code int, handled bool) {
	dir := ""
	for _, p := range pos {
		if d, ok := torchDistDir(p); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		return 0, false
	}
	if !o.plan || o.verify || o.toHF || o.out != "" || len(pos) != 1 {
		fmt.Fprintf(stderr, "omnitui: %s is a Megatron torch_dist checkpoint: omnitui can validate and describe it (omnitui --batch --plan %s) but does not convert, reshard or verify it yet\n", strconv.Quote(dir), strconv.Quote(pos[0]))
		return exitBadUsage, true
	}
	c, err := dcp.Open(dir)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	defer c.Close()
	cfg, err := c.DiscoverConfig()
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	v, err := c.View(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	s := c.Summarize(v)
	s.Write(stdout)
	fmt.Fprintf(stdout, "  config: %s\n", cfg.Source)
	return exitOK, true
}
