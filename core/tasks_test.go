package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnitui/omnitui/loader/fixture"
)

// synthetic workload: files with given sizes, each reading its own unit plus a shared
// unit of its input file
func synthWork(sizes []int64, inputs []string) *Workload {
	w := &Workload{}
	ids := map[string]int{}
	for i, s := range sizes {
		in := inputs[i]
		if _, ok := ids[in]; !ok {
			ids[in] = len(w.Units)
			w.Units = append(w.Units, ReadUnit{File: in, Bytes: 1000})
		}
		own := len(w.Units)
		w.Units = append(w.Units, ReadUnit{File: in, Bytes: s})
		w.Files = append(w.Files, WorkFile{Name: fmt.Sprintf("f%03d", i), Bytes: s, Reads: []int{ids[in], own}})
	}
	return w
}

func TestPartitionProperties(t *testing.T) {
	cases := []struct {
		name   string
		sizes  []int64
		inputs []string
		n      int
	}{
		{"equal files, 2 tasks", []int64{10, 10, 10, 10}, []string{"a", "a", "b", "b"}, 2},
		{"more tasks than files", []int64{5, 7}, []string{"a", "b"}, 4},
		{"one task", []int64{3, 1, 4, 1, 5}, []string{"a", "b", "a", "b", "c"}, 1},
		{"uneven", []int64{100, 1, 1, 1, 1, 50, 50}, []string{"x", "x", "y", "y", "z", "z", "x"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := synthWork(c.sizes, c.inputs)
			p, err := w.Partition(c.n)
			if err != nil {
				t.Fatal(err)
			}
			if p.N != c.n || len(p.Tasks) != c.n || len(p.TaskOf) != len(c.sizes) {
				t.Fatalf("partition shape: N %d, %d tasks, %d assignments", p.N, len(p.Tasks), len(p.TaskOf))
			}
			seen := make([]int, len(c.sizes))
			var total, written int64
			for ti, tl := range p.Tasks {
				var sum int64
				for _, f := range tl.Files {
					seen[f]++
					if p.TaskOf[f] != ti {
						t.Errorf("file %d listed in task %d but assigned to %d", f, ti, p.TaskOf[f])
					}
					sum += w.Files[f].Bytes
				}
				if sum != tl.Written {
					t.Errorf("task %d: written %d, files sum to %d", ti, tl.Written, sum)
				}
				written += tl.Written
			}
			for f, k := range seen {
				if k != 1 {
					t.Errorf("file %d is in %d tasks", f, k)
				}
				total += c.sizes[f]
			}
			if written != total {
				t.Errorf("written %d, want %d", written, total)
			}
			again, _ := w.Partition(c.n)
			if !slices.Equal(again.TaskOf, p.TaskOf) {
				t.Errorf("not deterministic: %v then %v", p.TaskOf, again.TaskOf)
			}
		})
	}
}

// The largest task is never more than 2% above the plain balanced split, and on a
// workload where that allows it, files of one input stay on one task (fewer bytes read).
func TestPartitionBalanceAndLocality(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 50; trial++ {
		n := 1 + rng.Intn(8)
		k := 1 + rng.Intn(40)
		sizes := make([]int64, k)
		inputs := make([]string, k)
		for i := range sizes {
			sizes[i] = 1 + rng.Int63n(1000)
			inputs[i] = fmt.Sprintf("in%d", rng.Intn(5))
		}
		w := synthWork(sizes, inputs)
		p, err := w.Partition(n)
		if err != nil {
			t.Fatal(err)
		}
		order := make([]int, k)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int {
			if sizes[a] != sizes[b] {
				return int(sizes[b] - sizes[a])
			}
			return 0
		})
		plain := w.assign(n, order, nil)
		lpt := maxLoad(w, plain, n)
		if busy(p.TaskOf, n) < busy(plain, n) {
			t.Errorf("trial %d: %d tasks get files, the plain split uses %d", trial, busy(p.TaskOf, n), busy(plain, n))
		}
		if got := maxLoad(w, p.TaskOf, n); float64(got) > float64(lpt)*1.02+0.5 {
			t.Errorf("trial %d: largest task %d, balanced split %d", trial, got, lpt)
		}
	}
	// 4 files of input a and 4 of input b, all equal: 2 tasks can hold one input each
	w := synthWork([]int64{10, 10, 10, 10, 10, 10, 10, 10}, []string{"a", "b", "a", "b", "a", "b", "a", "b"})
	p, _ := w.Partition(2)
	for _, tl := range p.Tasks {
		ins := map[string]bool{}
		for _, f := range tl.Files {
			ins[w.Units[w.Files[f].Reads[0]].File] = true
		}
		if len(ins) != 1 {
			t.Errorf("task with files %v reads %d inputs, want 1 (files of one input kept together)", tl.Files, len(ins))
		}
	}
	if got, want := p.TotalRead(), int64(2*1000+80); got != want {
		t.Errorf("total read %d, want %d (each shared unit read once)", got, want)
	}
}

func TestPartitionRefuses(t *testing.T) {
	w := synthWork([]int64{1}, []string{"a"})
	for _, n := range []int{0, -1, MaxTasks + 1} {
		if _, err := w.Partition(n); err == nil {
			t.Errorf("Partition(%d) accepted", n)
		}
	}
	if _, err := (&Workload{}).Partition(2); err == nil {
		t.Error("an empty workload was partitioned")
	}
}

// Every direction's workload lists the plan's files with their bytes, and every rank
// file of a forward plan reads something.
func TestForwardWorkloadMatchesPlan(t *testing.T) {
	_, ck, p := ftSetup(t, fixture.DefaultTiny(), Settings{TP: 2, PP: 2, EP: 2}.Normalized())
	w := ForwardWorkload(p, func(ti int) string { return ck.ShardOf(ti).Name })
	if len(w.Files) != len(p.Ranks) {
		t.Fatalf("%d files, plan has %d ranks", len(w.Files), len(p.Ranks))
	}
	var in int64
	for _, tt := range p.Tensors {
		in += tt.Size
	}
	var units int64
	for _, u := range w.Units {
		units += u.Bytes
	}
	if units > in || units < in/2 {
		t.Errorf("units read %d bytes, the input holds %d", units, in)
	}
	for i, f := range w.Files {
		if f.Name != p.Ranks[i].Path || f.Bytes != p.Ranks[i].Bytes || len(f.Reads) == 0 {
			t.Errorf("file %d: %+v vs rank %s %d", i, f, p.Ranks[i].Path, p.Ranks[i].Bytes)
		}
	}
	one, _ := w.Partition(1)
	if one.TotalRead() != units {
		t.Errorf("one task reads %d, all units are %d", one.TotalRead(), units)
	}
}

// splitSetup is a forward split job over a tiny checkpoint, its partition, and the
// checksums of a single-process conversion of the same plan.
func splitSetup(t *testing.T, n int) (*SplitJob, *Partition, map[string]string, func(ConvertOptions) *SplitJob) {
	t.Helper()
	_, ck, p := ftSetup(t, fixture.DefaultTiny(), Settings{TP: 2, PP: 2, EP: 2}.Normalized())
	ref := filepath.Join(t.TempDir(), "ref")
	if _, err := Convert(context.Background(), ck, p, ConvertOptions{Out: ref}); err != nil {
		t.Fatal(err)
	}
	mk := func(opt ConvertOptions) *SplitJob {
		job, err := ForwardJob(ck, p, opt)
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	job := mk(ConvertOptions{})
	part, err := job.Work.Partition(n)
	if err != nil {
		t.Fatal(err)
	}
	return job, part, ftSums(t, ref), mk
}

// A full disk and a task that dies mid-file leave no receipt and no temporaries; the
// staging directory and the other tasks' files stay; a rerun of that task alone and
// the commit give the single-process bytes.
func TestTaskFaultsThenResume(t *testing.T) {
	job, part, want, mk := splitSetup(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if i == 1 {
			continue
		}
		if _, err := RunTask(ctx, job, part, TaskOptions{Out: out, Task: i, Version: "test"}); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	var written atomic.Int64
	faulty := mk(ConvertOptions{Workers: 1, beforeWrite: func(n int) error {
		if written.Add(int64(n)) > 20000 {
			return enospc("rank file")
		}
		return nil
	}})
	_, err := RunTask(ctx, faulty, part, TaskOptions{Out: out, Task: 1, Version: "test"})
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("disk full: got %v, want an error saying the disk is full", err)
	}
	st, err := ReadStatus(out, false)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Missing(); !slices.Equal(m, []int{1}) {
		t.Errorf("missing tasks %v after the fault, want [1]", m)
	}
	if ents, _ := os.ReadDir(filepath.Join(StagingDir(out), "tmp")); len(ents) != 0 {
		t.Errorf("temporaries left after the failed task: %v", ents)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output exists before the commit: %v", err)
	}
	// a killed run: its temporary directory is left unlocked; the next run of the task removes it
	stale := filepath.Join(StagingDir(out), "tmp", "task-1-otherhost-1-dead")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, ".lock"), []byte("otherhost 1\n"), 0o644)
	os.WriteFile(filepath.Join(stale, "partial.pt"), []byte("half"), 0o644)
	res, err := RunTask(ctx, job, part, TaskOptions{Out: out, Task: 1, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0] != stale {
		t.Errorf("removed %v, want the stale %s", res.Removed, stale)
	}
	// a second run skips everything
	res, err = RunTask(ctx, job, part, TaskOptions{Out: out, Task: 1, Version: "test", Recheck: true})
	if err != nil || len(res.Written) != 0 || len(res.Skipped) != len(part.Tasks[1].Files) {
		t.Fatalf("rerun: %+v, %v; want every file skipped", res, err)
	}
	if _, err := Commit(out, CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	ftSameSums(t, "committed split output", want, ftSums(t, out))
	if _, err := os.Stat(StagingDir(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging directory left after the commit: %v", err)
	}
}

// The staging directory removed (--abort) while a task writes: the task fails saying
// so and does not recreate it.
func TestTaskStagingRemovedUnderIt(t *testing.T) {
	_, part, _, mk := splitSetup(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	var once atomic.Bool
	job := mk(ConvertOptions{Workers: 1, beforeWrite: func(int) error {
		if once.CompareAndSwap(false, true) {
			if _, err := Abort(out); err != nil {
				t.Errorf("abort: %v", err)
			}
		}
		return nil
	}})
	_, err := RunTask(context.Background(), job, part, TaskOptions{Out: out, Task: 0, Version: "test"})
	if err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("got %v, want an error saying the staging directory was removed", err)
	}
	if _, err := os.Stat(StagingDir(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the task recreated the staging directory: %v", err)
	}
}

// A receipted file whose bytes changed is caught: by size always, by hash with recheck.
func TestReceiptMismatch(t *testing.T) {
	job, part, want, _ := splitSetup(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	for i := 0; i < 2; i++ {
		if _, err := RunTask(context.Background(), job, part, TaskOptions{Out: out, Task: i, Version: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	f := job.Work.Files[part.Tasks[1].Files[0]].Name
	path := filepath.Join(StagingDir(out), "out", filepath.FromSlash(f))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o644)
	if _, err := Commit(out, CommitOptions{Recheck: true}); err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("commit --recheck over a changed file: %v, want it refused naming %s", err, f)
	}
	os.WriteFile(path, b[:len(b)-1], 0o644)
	if _, err := Commit(out, CommitOptions{}); err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("commit over a truncated file: %v, want it refused naming %s", err, f)
	}
	if _, err := RunTask(context.Background(), job, part, TaskOptions{Out: out, Task: 1, Version: "test", Recheck: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Commit(out, CommitOptions{Recheck: true}); err != nil {
		t.Fatal(err)
	}
	ftSameSums(t, "output after the rerun", want, ftSums(t, out))
}

// A commit killed after publishing but before removing the staging directory, and one
// killed (with --force) after moving the previous output aside: both explain or undo
// themselves.
func TestCommitInterrupted(t *testing.T) {
	job, part, want, _ := splitSetup(t, 2)
	out := filepath.Join(t.TempDir(), "out")
	run := func() {
		for i := 0; i < 2; i++ {
			if _, err := RunTask(context.Background(), job, part, TaskOptions{Out: out, Task: i, Version: "test", Force: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	st := StagingDir(out)
	// published, staging left behind
	if err := os.Rename(filepath.Join(st, "out"), out); err != nil {
		t.Fatal(err)
	}
	_, err := ReadStatus(out, false)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--abort") {
		t.Fatalf("status after a half-finished commit: %v", err)
	}
	if _, err := Abort(out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("--abort touched the output: %v", err)
	}
	// --force: the previous output moved aside, then killed. The test job writes no
	// mca_config.json; with one, the output is a Megatron checkpoint --force may replace
	// (a folder omnitui could not have written is refused, core/replace.go).
	if err := os.WriteFile(filepath.Join(out, "mca_config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	run()
	if err := os.Rename(out, filepath.Join(st, "out.old")); err != nil {
		t.Fatal(err)
	}
	if _, err := Commit(out, CommitOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	ftSameSums(t, "output after the resumed commit", want, ftSums(t, out))
	if _, err := os.Stat(st); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging left: %v", err)
	}
}
