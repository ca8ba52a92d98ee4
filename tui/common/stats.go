package common

import (
	"sort"

	"github.com/omnitui/omnitui/core"

	"github.com/omnitui/omnitui/loader"
)

// Tally is a count of tensors with their parameters and bytes.
type Tally struct {
	Tensors int
	Params  int64
	Bytes   int64
}

// Add counts one tensor.
func (t *Tally) Add(ti *loader.TensorInfo) {
	t.Tensors++
	t.Params += ti.NumEl()
	t.Bytes += ti.Size
}

// Stats are the checkpoint's totals, computed once when the app opens.
type Stats struct {
	Total       Tally
	ByComponent map[string]Tally
	ByDType     map[loader.DType]Tally
	DTypes      []loader.DType // by descending bytes
	ByShard     []Tally        // per Checkpoint.Shards index
	Component   []string       // per tensor: its component
	// Order lists the component rows in display order (the model family's, or by size
	// when the model type has no template); Titles names them.
	Order  []string
	Titles map[string]string
}

// ComputeStats tallies a checkpoint (nil gives empty stats).
func ComputeStats(ck *loader.Checkpoint, classify func(string) string) *Stats {
	s := &Stats{ByComponent: map[string]Tally{}, ByDType: map[loader.DType]Tally{}}
	if ck == nil {
		return s
	}
	s.ByShard = make([]Tally, len(ck.Shards))
	s.Component = make([]string, len(ck.Tensors))
	for i := range ck.Tensors {
		ti := &ck.Tensors[i]
		s.Total.Add(ti)
		c := classify(ti.Name)
		s.Component[i] = c
		t := s.ByComponent[c]
		t.Add(ti)
		s.ByComponent[c] = t
		d := s.ByDType[ti.DType]
		d.Add(ti)
		s.ByDType[ti.DType] = d
		if ti.Shard >= 0 && ti.Shard < len(s.ByShard) {
			s.ByShard[ti.Shard].Add(ti)
		}
	}
	mt := ConfigString(ck.Config, "model_type")
	by := map[string]int64{}
	for c, t := range s.ByComponent {
		by[c] = t.Bytes
	}
	s.Order = core.ComponentOrder(mt, by)
	s.Titles = map[string]string{}
	for _, c := range s.Order {
		s.Titles[c] = core.ComponentTitle(mt, c)
	}
	for d := range s.ByDType {
		s.DTypes = append(s.DTypes, d)
	}
	sort.Slice(s.DTypes, func(i, j int) bool {
		a, b := s.ByDType[s.DTypes[i]], s.ByDType[s.DTypes[j]]
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		return s.DTypes[i] < s.DTypes[j]
	})
	return s
}
