package core

// A conversion split into independent tasks: the output files of a plan, what each
// reads, and a deterministic partition of the files into N tasks that a scheduler
// (a Slurm job array, a Kubernetes Indexed Job, xargs -P) runs without any
// communication between them. The staging protocol that lets the tasks write into
// one output is in staging.go.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// WorkFile is one output file of a split conversion.
type WorkFile struct {
	Name    string `json:"name"` // relative to the output directory, slash-separated
	Bytes   int64  `json:"bytes"`
	Tensors int    `json:"tensors"`
	Reads   []int  `json:"-"` // indices into Workload.Units, ascending
}

// ReadUnit is one piece of input a conversion reads (a tensor slice, or a group of
// source slices); files that need the same unit share it when they are in one task.
type ReadUnit struct {
	File  string // input file it is read from, relative to the input directory
	Bytes int64
}

// Workload is what a split conversion writes and reads.
type Workload struct {
	Files []WorkFile
	Units []ReadUnit
}

// unitKey identifies a read: the same group slice read for two files is one unit.
type unitKey struct{ a, b, c, d int }

type workBuilder struct {
	w    *Workload
	ids  map[unitKey]int
	seen []map[int]bool
}

func newWorkBuilder(files []WorkFile) *workBuilder {
	b := &workBuilder{w: &Workload{Files: files}, ids: map[unitKey]int{}, seen: make([]map[int]bool, len(files))}
	for i := range b.seen {
		b.seen[i] = map[int]bool{}
	}
	return b
}

func (b *workBuilder) unit(k unitKey, file string, bytes int64) int {
	if id, ok := b.ids[k]; ok {
		return id
	}
	id := len(b.w.Units)
	b.ids[k] = id
	b.w.Units = append(b.w.Units, ReadUnit{File: file, Bytes: bytes})
	return id
}

func (b *workBuilder) read(file, unit int) {
	if !b.seen[file][unit] {
		b.seen[file][unit] = true
		b.w.Files[file].Reads = append(b.w.Files[file].Reads, unit)
	}
}

func (b *workBuilder) done() *Workload {
	for i := range b.w.Files {
		slices.Sort(b.w.Files[i].Reads)
	}
	return b.w
}

// ForwardWorkload describes the rank files of a plan. inputFile names the input file
// tensor i is read from (relative to the input directory).
func ForwardWorkload(p *Plan, inputFile func(ti int) string) *Workload {
	files := make([]WorkFile, len(p.Ranks))
	for ri, rf := range p.Ranks {
		files[ri] = WorkFile{Name: rf.Path, Bytes: rf.Bytes, Tensors: rf.Tensors}
	}
	b := newWorkBuilder(files)
	for gi := range p.Groups {
		g := &p.Groups[gi]
		if len(g.Dests) == 0 || len(g.Inputs) == 0 {
			continue
		}
		src := p.Tensors[g.Inputs[0]]
		inElem := int64(src.DType.Size())
		for _, d := range g.Dests {
			// one TP slice of one group reads the same input bytes for every rank file holding it
			k := unitKey{gi, d.TPRank, d.Part, d.TPSize}
			n := numel(d.Shape) * inElem
			if g.Split == SplitRow && d.TPSize > 1 && !d.Transpose {
				// a row-parallel slice takes part of every row: the pages it touches are
				// the whole tensor's, shared by all its TP slices
				k = unitKey{gi, -1, d.Part, -1}
				n = numel(g.Shape) * inElem
			}
			b.read(d.Rank, b.unit(k, inputFile(g.Inputs[0]), n))
		}
	}
	return b.done()
}

// reverseUnits lists, per group of rp.Forward, the reads a gather of it makes: one unit
// per source rank file (every slice and copy held there).
func reverseUnits(b *workBuilder, rp *ReversePlan) [][]int {
	p := rp.Forward
	out := make([][]int, len(p.Groups))
	for gi := range p.Groups {
		g := &p.Groups[gi]
		elem := int64(g.DType.Size())
		per := map[int]int64{}
		var order []int
		for _, d := range g.Dests {
			if _, ok := per[d.Rank]; !ok {
				order = append(order, d.Rank)
			}
			per[d.Rank] += numel(d.Shape) * elem
		}
		for _, r := range order {
			file := p.Ranks[r].Path
			out[gi] = append(out[gi], b.unit(unitKey{-1, gi, r, 0}, file, per[r]))
		}
	}
	return out
}

// ReverseWorkload describes the safetensors shards of a Megatron -> HF conversion.
func ReverseWorkload(rp *ReversePlan, shards []HFShard) *Workload {
	p := rp.Forward
	files := make([]WorkFile, len(shards))
	shardOf := make([]int, len(p.Tensors))
	for si, sh := range shards {
		files[si] = WorkFile{Name: sh.File, Bytes: sh.Bytes, Tensors: len(sh.Tensors)}
		for _, ti := range sh.Tensors {
			shardOf[ti] = si
		}
	}
	b := newWorkBuilder(files)
	units := reverseUnits(b, rp)
	for gi := range p.Groups {
		for _, ti := range p.Groups[gi].Inputs {
			for _, u := range units[gi] {
				b.read(shardOf[ti], u)
			}
		}
	}
	return b.done()
}

// ReshardWorkload describes the rank files of a Megatron -> Megatron reshard: a
// target file reads every source slice of the virtual tensors it is made of.
func ReshardWorkload(rs *ReshardPlan) *Workload {
	p, rp := rs.Plan, rs.Reverse
	files := make([]WorkFile, len(p.Ranks))
	for ri, rf := range p.Ranks {
		files[ri] = WorkFile{Name: rf.Path, Bytes: rf.Bytes, Tensors: rf.Tensors}
	}
	b := newWorkBuilder(files)
	units := reverseUnits(b, rp)
	for gi := range p.Groups {
		g := &p.Groups[gi]
		for _, ti := range g.Inputs {
			rg := -1
			if ti < len(rp.Forward.TensorGroup) {
				rg = rp.Forward.TensorGroup[ti]
			}
			if rg < 0 {
				continue
			}
			for _, d := range g.Dests {
				for _, u := range units[rg] {
					b.read(d.Rank, u)
				}
			}
		}
	}
	return b.done()
}

// TaskLoad is one task of a partition.
type TaskLoad struct {
	Files   []int `json:"files"`         // indices into Workload.Files, by name
	Written int64 `json:"bytes_written"` // output bytes
	Read    int64 `json:"bytes_read"`    // input bytes (each unit once per task)
}

// Partition assigns every output file to one of N tasks.
type Partition struct {
	N      int        `json:"tasks"`
	TaskOf []int      `json:"-"` // per file
	Tasks  []TaskLoad `json:"per_task"`
}

// MaxTasks bounds --tasks.
const MaxTasks = 1 << 16

// localityTolerance is how much more than the plain balanced split the largest task
// may hold so that files reading the same input stay together.
const localityTolerance = 0.02

// Partition divides the files into n tasks, balanced by output bytes: largest files
// first onto the least loaded task (ties by name, then lowest task). Files whose main
// input file is the same are kept on one task where that keeps the largest task
// within 2% of the plain balanced split and leaves no task idle that it would use.
// The result depends only on the workload and n.
func (w *Workload) Partition(n int) (*Partition, error) {
	if n < 1 || n > MaxTasks {
		return nil, fmt.Errorf("--tasks %d is out of range: use 1 to %d", n, MaxTasks)
	}
	if len(w.Files) == 0 {
		return nil, errors.New("the plan writes no files, so there is nothing to split into tasks")
	}
	order := make([]int, len(w.Files))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		fa, fb := &w.Files[a], &w.Files[b]
		return cmp.Or(cmp.Compare(fb.Bytes, fa.Bytes), cmp.Compare(fa.Name, fb.Name))
	})
	balanced := w.assign(n, order, nil)
	limit := float64(maxLoad(w, balanced, n)) * (1 + localityTolerance)
	main := w.mainInputs()
	local := w.assign(n, w.clusterOrder(order, main), func(f int, loads []int64, last map[string]int) int {
		t, ok := last[main[f]]
		if ok && float64(loads[t]+w.Files[f].Bytes) <= limit {
			return t
		}
		return -1
	})
	taskOf := balanced
	if float64(maxLoad(w, local, n)) <= limit && busy(local, n) >= busy(balanced, n) {
		taskOf = local
	}
	return w.partitionOf(n, taskOf), nil
}

// assign places files in the given order: on the task prefer returns (>= 0), else on
// the least loaded task (lowest index on ties).
func (w *Workload) assign(n int, order []int, prefer func(f int, loads []int64, last map[string]int) int) []int {
	loads := make([]int64, n)
	taskOf := make([]int, len(w.Files))
	last := map[string]int{}
	main := []string(nil)
	if prefer != nil {
		main = w.mainInputs()
	}
	for _, f := range order {
		t := -1
		if prefer != nil {
			t = prefer(f, loads, last)
		}
		if t < 0 {
			t = 0
			for i := 1; i < n; i++ {
				if loads[i] < loads[t] {
					t = i
				}
			}
		}
		taskOf[f] = t
		loads[t] += w.Files[f].Bytes
		if main != nil {
			last[main[f]] = t
		}
	}
	return taskOf
}

// busy counts the tasks that got at least one file: keeping files together must not
// leave a task idle that the plain split would have used.
func busy(taskOf []int, n int) int {
	used := make([]bool, n)
	k := 0
	for _, t := range taskOf {
		if !used[t] {
			used[t] = true
			k++
		}
	}
	return k
}

func maxLoad(w *Workload, taskOf []int, n int) int64 {
	loads := make([]int64, n)
	var m int64
	for f, t := range taskOf {
		loads[t] += w.Files[f].Bytes
		m = max(m, loads[t])
	}
	return m
}

// mainInputs is, per file, the input file it reads the most bytes from (ties by name).
func (w *Workload) mainInputs() []string {
	out := make([]string, len(w.Files))
	for i, f := range w.Files {
		per := map[string]int64{}
		for _, u := range f.Reads {
			per[w.Units[u].File] += w.Units[u].Bytes
		}
		best, bb := "", int64(-1)
		for name, b := range per {
			if b > bb || (b == bb && name < best) {
				best, bb = name, b
			}
		}
		out[i] = best
	}
	return out
}

// clusterOrder orders files by cluster (files sharing a main input), clusters by total
// bytes descending then name, files inside a cluster in the given order.
func (w *Workload) clusterOrder(order []int, main []string) []int {
	total := map[string]int64{}
	for f, m := range main {
		total[m] += w.Files[f].Bytes
	}
	out := slices.Clone(order)
	pos := make([]int, len(w.Files))
	for i, f := range order {
		pos[f] = i
	}
	slices.SortStableFunc(out, func(a, b int) int {
		ma, mb := main[a], main[b]
		if ma == mb {
			return cmp.Compare(pos[a], pos[b])
		}
		return cmp.Or(cmp.Compare(total[mb], total[ma]), cmp.Compare(ma, mb))
	})
	return out
}

func (w *Workload) partitionOf(n int, taskOf []int) *Partition {
	p := &Partition{N: n, TaskOf: taskOf, Tasks: make([]TaskLoad, n)}
	units := make([]map[int]bool, n)
	for f, t := range taskOf {
		tl := &p.Tasks[t]
		tl.Files = append(tl.Files, f)
		tl.Written += w.Files[f].Bytes
		if units[t] == nil {
			units[t] = map[int]bool{}
		}
		for _, u := range w.Files[f].Reads {
			if !units[t][u] {
				units[t][u] = true
				tl.Read += w.Units[u].Bytes
			}
		}
	}
	for t := range p.Tasks {
		slices.SortFunc(p.Tasks[t].Files, func(a, b int) int { return cmp.Compare(w.Files[a].Name, w.Files[b].Name) })
	}
	return p
}

// TotalRead is the input bytes all tasks read together (a unit read by two tasks
// counts twice): the cost of the split in input traffic.
func (p *Partition) TotalRead() int64 {
	var n int64
	for _, t := range p.Tasks {
		n += t.Read
	}
	return n
}

// Select marks task t's files (for ConvertOptions.Select / ToHFOptions.Select).
func (p *Partition) Select(t int) []bool {
	sel := make([]bool, len(p.TaskOf))
	for f, tt := range p.TaskOf {
		sel[f] = tt == t
	}
	return sel
}
