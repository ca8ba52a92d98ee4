package dcp

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Summary is what a plan shows about a torch_dist checkpoint.
type Summary struct {
	Dir            string
	BackendVersion int64
	Generation     []string // what the files reveal about the writers
	Writers        int      // distinct ranks that wrote .distcp files
	TP, ETP        int      // tensor / expert-tensor parallel sizes read off the chunk grid (0: not seen)
	Chunks         int
	Tensors        int // stored tensor items
	Files          []FileUse
	Skipped        []Skip
	View           int // tensors of the view
}

// FileUse is the payload of one .distcp file.
type FileUse struct {
	Name         string
	Size, Tensor int64 // file size, bytes of tensor chunks
	Items        int
}

var rankFile = regexp.MustCompile(`__(\d+)_\d+\.distcp$`)

// Summarize describes the checkpoint and its view for a plan.
func (c *Checkpoint) Summarize(v *View) Summary {
	s := Summary{Dir: c.Dir, BackendVersion: c.BackendVersion, Tensors: len(c.Tensors)}
	s.Generation = append(s.Generation, c.Meta.Features...)
	switch {
	case c.HasCommonPT:
		s.Generation = append(s.Generation, "common.pt (megatron-core <= 0.18)")
	case c.hasObject("common_state/shard_0_1"):
		s.Generation = append(s.Generation, "common_state item (megatron-core >= 0.19)")
	}
	if c.CommonBackend != "" {
		s.Generation = append(s.Generation, "metadata.json common_backend (megatron-core <= 0.18)")
	}
	if c.manifest != nil {
		s.Generation = append(s.Generation, "integrity.json")
	}
	ranks := map[string]bool{}
	for _, f := range c.Files {
		s.Files = append(s.Files, FileUse{Name: f.Name, Size: f.Size, Tensor: f.Bytes, Items: f.Items})
		if m := rankFile.FindStringSubmatch(f.Name); m != nil {
			ranks[m[1]] = true
		}
	}
	s.Writers = len(ranks)
	for _, t := range c.Tensors {
		s.Chunks += len(t.Chunks)
		// Column-parallel QKV: fragments on its first local axis are TP;
		// row-parallel expert fc2: fragments on its last axis are ETP.
		switch {
		case strings.HasSuffix(t.Key, "self_attention.linear_qkv.weight"):
			s.TP = max(s.TP, fragments(t, len(t.Shape)-2))
		case strings.Contains(t.Key, ".experts.") && strings.HasSuffix(t.Key, "linear_fc2.weight"):
			s.ETP = max(s.ETP, fragments(t, len(t.Shape)-1))
		}
	}
	if v != nil {
		s.Skipped = v.Skipped
		s.View = len(v.Tensors)
	}
	return s
}

func (c *Checkpoint) hasObject(key string) bool {
	for _, o := range c.Objects {
		if o.Key == key {
			return true
		}
	}
	return false
}

// fragments counts distinct chunk offsets along axis.
func fragments(t *Tensor, axis int) int {
	if axis < 0 {
		return 0
	}
	seen := map[int64]bool{}
	for _, ch := range t.Chunks {
		seen[ch.Offsets[axis]] = true
	}
	return len(seen)
}

// Write prints the summary as plain text. Names from the files are quoted.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "torch_dist checkpoint %s (sharded_backend_version %d)\n", strconv.Quote(s.Dir), s.BackendVersion)
	if len(s.Generation) > 0 {
		fmt.Fprintf(w, "  written by: %s\n", strings.Join(s.Generation, "; "))
	}
	par := fmt.Sprintf("%d writer rank(s)", s.Writers)
	if s.TP > 0 {
		par += fmt.Sprintf(", TP %d", s.TP)
	}
	if s.ETP > 0 {
		par += fmt.Sprintf(", expert TP %d", s.ETP)
	}
	fmt.Fprintf(w, "  training layout (from the chunk grid): %s\n", par)
	fmt.Fprintf(w, "  %d stored tensors in %d chunks, every one tiling its global shape exactly once\n", s.Tensors, s.Chunks)
	fmt.Fprintf(w, "  view at TP=PP=EP=1: %d tensors\n", s.View)
	files := append([]FileUse(nil), s.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		fmt.Fprintf(w, "  %-20s %10d bytes, %d items, %d bytes of tensor chunks\n", strconv.Quote(filepath.Base(f.Name)), f.Size, f.Items, f.Tensor)
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(w, "  skipped (%d):\n", len(s.Skipped))
		for _, k := range s.Skipped {
			fmt.Fprintf(w, "    %s: %s\n", strconv.Quote(k.Key), k.Why)
		}
	}
}
