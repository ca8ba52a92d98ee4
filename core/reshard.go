package core

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
)

// ReshardPlan is a Megatron -> Megatron conversion (a new parallel layout for an
// mcore_adapter checkpoint). The source is read as the Hugging Face tensors its reverse
// plan maps it back to ("virtual" tensors: they are gathered from the rank files on
// demand and never written in HF form), and Plan is the ordinary forward plan of those
// tensors with the new settings, so the output is exactly what converting the
// original HF checkpoint with those settings gives.
type ReshardPlan struct {
	Reverse *ReversePlan // how the source maps back to HF tensors
	Plan    *Plan        // forward plan with the new settings; nil when the source cannot be mapped back
}

// BuildReshardPlan plans resharding the opened checkpoint m to settings s. As with
// Build, an error means the checkpoint cannot be planned at all; a source that does not
// map back, or a target layout the rules reject, are issues (see HasErrors, Errors).
func BuildReshardPlan(m *mca.Checkpoint, s Settings) (*ReshardPlan, error) {
	rp, err := BuildReversePlanWith(m, ReverseOptions{HFLayout: s.HFLayout})
	if err != nil {
		return nil, err
	}
	rs := &ReshardPlan{Reverse: rp}
	if rp.HasErrors() || rp.Forward == nil {
		return rs, nil
	}
	cfg, err := loader.ParseJSONTree(rp.Config)
	if err != nil {
		return nil, fmt.Errorf("the Hugging Face config restored from mca_config.json is not valid JSON: %w", err)
	}
	// The virtual tensors, each marked with the source rank file its first slice is read
	// from (Shard indexes m.Ranks), so plan summaries count source files.
	rankIndex := map[*mca.Rank]int{}
	for i, r := range m.Ranks {
		rankIndex[r] = i
	}
	fwd := rp.Forward
	tensors := slices.Clone(fwd.Tensors)
	for i := range tensors {
		tensors[i].Shard = 0
		if gi := fwd.TensorGroup[i]; gi >= 0 && len(fwd.Groups[gi].Dests) > 0 {
			if r := rp.files[fwd.Groups[gi].Dests[0].Rank]; r != nil {
				tensors[i].Shard = rankIndex[r]
			}
		}
	}
	nameOrPath := ""
	if n, ok := m.Config.Get("name_or_path"); ok {
		nameOrPath, _ = n.Str()
	}
	// hf_config_json of the output is the restored HF config, so a resharded checkpoint
	// records the same original config as one converted from HF directly.
	rs.Plan, err = Build(PlanInput{Config: cfg, ConfigBytes: rp.Config, Tensors: tensors, NameOrPath: nameOrPath, CarryOptional: true}, s)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// HasErrors reports whether the reshard cannot be executed.
func (rs *ReshardPlan) HasErrors() bool {
	return rs.Reverse.HasErrors() || rs.Plan == nil || rs.Plan.HasErrors()
}

// Errors lists what stops the reshard: the source's reverse-mapping errors first, then
// the target plan's.
func (rs *ReshardPlan) Errors() []Issue {
	out := errorsOf(rs.Reverse.Issues)
	if rs.Plan != nil {
		out = append(out, rs.Plan.Errors()...)
	} else if len(out) == 0 {
		out = append(out, Issue{Severity: SevError, Code: "no-plan", Message: "the source checkpoint could not be planned: run --batch --plan on it to see why"})
	}
	return out
}

// ReshardInput is the conversion input of a reshard: Source yields the virtual HF
// tensors of rs.Plan.Tensors by gathering them from the source rank files, Dir is the
// source checkpoint (never written) and ExtraFiles its tokenizer files.
func ReshardInput(rs *ReshardPlan, opt GatherOptions) Input {
	m := rs.Reverse.Source
	return Input{Source: newReshardSource(rs, opt), Dir: m.Dir, ExtraFiles: m.ExtraFiles}
}

// Reshard executes a reshard plan with the one-pass executor (ConvertInput).
func Reshard(ctx context.Context, rs *ReshardPlan, gopt GatherOptions, opt ConvertOptions) (*Result, error) {
	if rs.HasErrors() {
		var msgs []string
		for _, is := range rs.Errors() {
			msgs = append(msgs, is.Message)
		}
		return nil, fmt.Errorf("the reshard plan has %d error(s), nothing was written:\n  - %s", len(msgs), strings.Join(msgs, "\n  - "))
	}
	return ConvertInput(ctx, ReshardInput(rs, gopt), rs.Plan, opt)
}

// reshardSource gathers virtual HF tensors from the rank files. One gather of a reverse
// group yields all its HF tensors at once (q, k and v; gate and up), so the results are
// kept until each is released; concurrent requests for the same group wait for the
// first. Memory is bounded by the groups in flight.
type reshardSource struct {
	rp   *ReversePlan
	opt  GatherOptions
	need []bool // per tensor: the target plan reads it (siblings it never reads are not kept)
	uses []int  // per tensor: target groups reading it (a fan-out's pieces each read it whole)

	mu      sync.Mutex
	flights map[int]*flight // by reverse group
}

// flight is one reverse group's gather, in progress or done.
type flight struct {
	done chan struct{}
	data [][]byte // per group input; nil once released (or never needed)
	uses []int    // per group input: target reads not yet released
	err  error
	left int // needed inputs not yet released
}

func newReshardSource(rs *ReshardPlan, opt GatherOptions) *reshardSource {
	src := &reshardSource{rp: rs.Reverse, opt: opt, flights: map[int]*flight{}}
	if p := rs.Plan; p != nil && len(p.TensorGroup) == len(rs.Reverse.Forward.Tensors) {
		src.need = make([]bool, len(p.TensorGroup))
		for i, gi := range p.TensorGroup {
			src.need[i] = gi >= 0 && len(p.Groups[gi].Dests) > 0
		}
		src.uses = make([]int, len(p.TensorGroup))
		for gi := range p.Groups {
			if len(p.Groups[gi].Dests) == 0 {
				continue
			}
			for _, ti := range p.Groups[gi].Inputs {
				src.uses[ti]++
			}
		}
	}
	return src
}

// slot finds tensor i's reverse group and its position among the group's inputs.
func (s *reshardSource) slot(i int) (gi, k int, err error) {
	fwd := s.rp.Forward
	if i < 0 || i >= len(fwd.Tensors) {
		return 0, 0, fmt.Errorf("tensor index %d is out of range (this is a bug in omnitui; please report it)", i)
	}
	gi = fwd.TensorGroup[i]
	if gi < 0 {
		return 0, 0, fmt.Errorf("%s is produced by no tensor of the rank files (this is a bug in omnitui; please report it)", fwd.Tensors[i].Name)
	}
	k = slices.Index(fwd.Groups[gi].Inputs, i)
	if k < 0 {
		return 0, 0, fmt.Errorf("%s is no input of its group (this is a bug in omnitui; please report it)", fwd.Tensors[i].Name)
	}
	return gi, k, nil
}

func (s *reshardSource) needed(i int) bool { return s.need == nil || s.need[i] }

// usesOf is how many target groups read tensor i (1 when unknown).
func (s *reshardSource) usesOf(i int) int {
	if s.uses == nil {
		return 1
	}
	return s.uses[i]
}

// gather runs one reverse group's gather, turning a panic into an error so that
// goroutines waiting for the same group are never left blocked.
func (s *reshardSource) gather(gi int) (data [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gathering %s: internal error: %v (this is a bug in omnitui; please report it)", s.rp.Forward.Groups[gi].Name, r)
		}
	}()
	var st GatherStats
	ga := &gatherer{rp: s.rp} // no cache: safe for concurrent use
	return ga.gatherTensors(gi, s.opt, &st)
}

func (s *reshardSource) TensorData(i int) ([]byte, error) {
	gi, k, err := s.slot(i)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	f := s.flights[gi]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		s.flights[gi] = f
		s.mu.Unlock()
		data, err := s.gather(gi)
		s.mu.Lock()
		f.err = err
		if err == nil {
			f.uses = make([]int, len(data))
			for kk, ti := range s.rp.Forward.Groups[gi].Inputs {
				if s.needed(ti) || ti == i {
					f.left++
					f.uses[kk] = max(s.usesOf(ti), 1)
				} else {
					data[kk] = nil
				}
			}
			f.data = data
		}
		close(f.done)
	} else {
		s.mu.Unlock()
		<-f.done
		s.mu.Lock()
	}
	if f.err != nil {
		err := f.err
		if s.flights[gi] == f {
			delete(s.flights, gi) // a later request tries again
		}
		s.mu.Unlock()
		return nil, err
	}
	b := f.data[k]
	s.mu.Unlock()
	if b == nil {
		// Asked again after its release (or never expected): gather once more, uncached.
		data, err := s.gather(gi)
		if err != nil {
			return nil, err
		}
		return data[k], nil
	}
	return b, nil
}

func (s *reshardSource) Release(i int) {
	gi, k, err := s.slot(i)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flights[gi]
	if f == nil || f.data == nil || f.data[k] == nil {
		return
	}
	if f.uses[k]--; f.uses[k] > 0 {
		return // another target group (a fan-out's piece) still reads it
	}
	f.data[k] = nil
	f.left--
	if f.left <= 0 {
		delete(s.flights, gi)
	}
}

func (s *reshardSource) FileOf(i int) string {
	gi, _, err := s.slot(i)
	if err != nil {
		return ""
	}
	var files []string
	for _, d := range s.rp.Forward.Groups[gi].Dests {
		if r := s.rp.files[d.Rank]; r != nil {
			f := filepath.Join(s.rp.Source.Dir, r.Path)
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	return strings.Join(files, ", ")
}
