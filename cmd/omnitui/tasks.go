package main

// Split conversions: --tasks N [--task I], --commit, --status, --abort, --emit.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
)

// taskOptions are the command-line options of split conversions. They are not
// conversion settings: they never change the bytes of the output.
type taskOptions struct {
	tasks, task, taskBase int
	commit, status, abort bool
	recheck               bool
	emit                  string
	maxParallel           int
	sbatchArgs            string
	k8sImage              string
	k8sIn, k8sOut, k8sBin string
}

// taskOnlyFlags are left out of a task's recorded command line.
var taskOnlyFlags = map[string]bool{"task": true, "task-base": true, "emit": true, "max-parallel": true, "sbatch-args": true,
	"k8s-image": true, "k8s-input-volume": true, "k8s-output-volume": true, "k8s-bin-volume": true, "json": true, "json-indent": true, "plan": true, "verbose": true, "v": true}

func (t *taskOptions) flags(fs *flag.FlagSet) {
	fs.IntVar(&t.tasks, "tasks", 0, "")
	fs.IntVar(&t.task, "task", -1, "")
	fs.IntVar(&t.taskBase, "task-base", -1, "")
	fs.BoolVar(&t.commit, "commit", false, "")
	fs.BoolVar(&t.status, "status", false, "")
	fs.BoolVar(&t.abort, "abort", false, "")
	fs.BoolVar(&t.recheck, "recheck", false, "")
	fs.StringVar(&t.emit, "emit", "", "")
	fs.IntVar(&t.maxParallel, "max-parallel", 0, "")
	fs.StringVar(&t.sbatchArgs, "sbatch-args", "", "")
	fs.StringVar(&t.k8sImage, "k8s-image", "debian:bookworm-slim", "")
	fs.StringVar(&t.k8sIn, "k8s-input-volume", "", "")
	fs.StringVar(&t.k8sOut, "k8s-output-volume", "", "")
	fs.StringVar(&t.k8sBin, "k8s-bin-volume", "", "")
}

// runTasks handles the split-conversion commands; handled is false when none is asked for.
func runTasks(ctx context.Context, o *options, pos []string, stdout, stderr io.Writer) (int, bool) {
	t := &o.tk
	nModes := 0
	for _, b := range []bool{t.commit, t.status, t.abort} {
		if b {
			nModes++
		}
	}
	if nModes > 1 {
		fmt.Fprintln(stderr, "omnitui: give one of --commit, --status and --abort")
		return exitBadUsage, true
	}
	if nModes == 1 {
		target := o.out
		if len(pos) == 1 && target == "" {
			target = pos[0]
		}
		if target == "" || len(pos) > 1 || (len(pos) == 1 && o.out != "") {
			fmt.Fprintln(stderr, "omnitui: --commit, --status and --abort take the output directory: omnitui --batch --commit OUT")
			return exitBadUsage, true
		}
		switch {
		case t.commit:
			return runCommit(o, target, stdout, stderr), true
		case t.status:
			s, err := core.ReadStatus(target, t.recheck)
			if err != nil {
				return taskErr(stderr, err), true
			}
			s.WriteText(stdout)
			if len(s.Missing()) > 0 {
				return exitFailed, true
			}
			return exitOK, true
		default:
			dir, err := core.Abort(target)
			if err != nil {
				return taskErr(stderr, err), true
			}
			fmt.Fprintf(stderr, "omnitui: removed %s; %s was not touched\n", dir, target)
			return exitOK, true
		}
	}
	if !o.given["tasks"] {
		for _, f := range []string{"task", "task-base", "emit", "recheck", "max-parallel", "sbatch-args"} {
			if o.given[f] {
				fmt.Fprintf(stderr, "omnitui: --%s belongs to a split conversion: add --tasks N\n", f)
				return exitBadUsage, true
			}
		}
		return 0, false
	}
	if t.tasks < 1 || t.tasks > core.MaxTasks {
		fmt.Fprintf(stderr, "omnitui: --tasks %d is out of range: use 1 to %d\n", t.tasks, core.MaxTasks)
		return exitBadUsage, true
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "omnitui: expected exactly one checkpoint path, got %d\n", len(pos))
		return exitBadUsage, true
	}
	if !o.plan && o.out == "" {
		fmt.Fprintln(stderr, "omnitui: --tasks needs --out OUT (or --plan to show the split)")
		return exitBadUsage, true
	}
	if t.emit != "" && t.emit != "slurm" && t.emit != "k8s" {
		fmt.Fprintf(stderr, "omnitui: --emit %q: use slurm or k8s\n", t.emit)
		return exitBadUsage, true
	}
	// the task index is checked before any input is read
	task := -1
	if !o.plan && t.emit == "" {
		var err error
		if task, err = taskIndex(t, os.Getenv); err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitBadUsage, true
		}
		if task >= t.tasks {
			fmt.Fprintf(stderr, "omnitui: task index %d is out of range: --tasks %d has tasks 0 to %d\n", task, t.tasks, t.tasks-1)
			return exitBadUsage, true
		}
	}
	job, closer, code := buildSplitJob(o, pos[0], stderr)
	if closer != nil {
		defer closer()
	}
	if job == nil {
		return code, true
	}
	part, err := job.Work.Partition(t.tasks)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	out := ""
	if o.out != "" {
		out, _ = filepath.Abs(o.out)
	}
	rec := core.NewPlanRecord(job, part, version, out)
	if o.plan {
		writeSplit(stdout, job, part, rec, o.jsonOut, o.verbose)
		return exitOK, true
	}
	cmd, err := taskCommand(o, pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitFailed, true
	}
	if t.emit != "" {
		if o.out == "" {
			fmt.Fprintln(stderr, "omnitui: --emit needs --out OUT")
			return exitBadUsage, true
		}
		for _, a := range cmd {
			if strings.ContainsAny(a, "\n\r") {
				fmt.Fprintf(stderr, "omnitui: --emit: the argument %q holds a line break, which a job script cannot carry: rename the path\n", a)
				return exitBadUsage, true
			}
		}
		if t.emit == "slurm" {
			writeSlurm(stdout, t, cmd, rec)
		} else {
			writeK8s(stdout, t, cmd, rec, job.Input)
		}
		return exitOK, true
	}
	pr := newProgressPrinter(stdout, stderr, o.jsonOut)
	pr.task = &task
	start := time.Now()
	res, err := core.RunTask(ctx, job, part, core.TaskOptions{Out: o.out, Task: task, Force: o.force, Recheck: t.recheck,
		Version: version, Command: cmd, Sbatch: slurmJobOptions(os.Getenv), Progress: pr.event})
	pr.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "omnitui: task %d interrupted; files already receipted are kept, the rest is redone by the next run of this task\n", task)
			return exitFailed, true
		}
		return taskErr(stderr, fmt.Errorf("task %d: %w", task, err)), true
	}
	for _, d := range res.Removed {
		fmt.Fprintf(stderr, "omnitui: task %d: removed %s, left by an interrupted run of this task\n", task, d)
	}
	if o.jsonOut {
		json.NewEncoder(stdout).Encode(map[string]any{"event": "task-summary", "task": task, "plan_id": res.PlanID,
			"written": res.Written, "skipped": res.Skipped, "bytes": res.Bytes, "elapsed_ns": time.Since(start)})
	} else {
		fmt.Fprintf(stderr, "omnitui: task %d of %d (plan %s): wrote %d file(s), %s in %s; %d already done\n",
			task, t.tasks, res.PlanID, len(res.Written), core.HumanBytes(res.Bytes), time.Since(start).Round(time.Millisecond), len(res.Skipped))
	}
	return exitOK, true
}

// taskIndex is --task, or the scheduler's index: SLURM_ARRAY_TASK_ID minus the base
// (--task-base, else SLURM_ARRAY_TASK_MIN), or JOB_COMPLETION_INDEX.
func taskIndex(t *taskOptions, env func(string) string) (int, error) {
	if t.task >= 0 {
		return t.task, nil
	}
	num := func(name string) (int, bool, error) {
		v := strings.TrimSpace(env(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, true, fmt.Errorf("$%s=%q is not a task index", name, v)
		}
		return n, true, nil
	}
	if id, ok, err := num("SLURM_ARRAY_TASK_ID"); ok || err != nil {
		if err != nil {
			return 0, err
		}
		base := t.taskBase
		if base < 0 {
			m, _, err := num("SLURM_ARRAY_TASK_MIN")
			if err != nil {
				return 0, err
			}
			base = m
		}
		if id < base {
			return 0, fmt.Errorf("$SLURM_ARRAY_TASK_ID=%d is below the array base %d: check --task-base", id, base)
		}
		return id - base, nil
	}
	if id, ok, err := num("JOB_COMPLETION_INDEX"); ok || err != nil {
		return id, err
	}
	return 0, errors.New("no task index: pass --task I, or run as a Slurm array task ($SLURM_ARRAY_TASK_ID) or in a Kubernetes Indexed Job ($JOB_COMPLETION_INDEX); neither is set")
}

func taskErr(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "omnitui: %v\n", err)
	var ue *core.UsageError
	if errors.As(err, &ue) {
		return exitBadUsage
	}
	return exitFailed
}

// buildSplitJob opens the input and plans the conversion the flags ask for.
func buildSplitJob(o *options, path string, stderr io.Writer) (*core.SplitJob, func(), int) {
	copt := core.ConvertOptions{Workers: o.workers, NoSync: o.noSync}
	if mca.IsMCA(path) {
		m, err := mca.Open(path)
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return nil, nil, exitBadUsage
		}
		closer := func() { m.Close() }
		if o.toHF {
			if o.anyGiven(targetFlags()) {
				fmt.Fprintln(stderr, "omnitui: --to-hf writes Hugging Face safetensors, which have no parallel layout or Megatron options: drop the --tp/--pp/... flags, or drop --to-hf to reshard")
				return nil, closer, exitBadUsage
			}
			maxShard, err := parseSize(o.maxShardSize)
			if err != nil {
				fmt.Fprintf(stderr, "omnitui: %v\n", err)
				return nil, closer, exitBadUsage
			}
			rp, err := core.BuildReversePlan(m)
			if err != nil {
				fmt.Fprintf(stderr, "omnitui: %v\n", err)
				return nil, closer, exitBadUsage
			}
			if rp.HasErrors() {
				fmt.Fprintf(stderr, "omnitui: %s cannot be mapped back to Hugging Face; nothing was written:\n  - %s\n", path, rp.ErrorText())
				return nil, closer, exitBadUsage
			}
			job, err := core.ReverseJob(rp, core.ToHFOptions{MaxShardSize: maxShard, TakeRank0: o.takeRank0, NoSync: o.noSync})
			if err != nil {
				fmt.Fprintf(stderr, "omnitui: %v\n", err)
				return nil, closer, exitBadUsage
			}
			return job, closer, 0
		}
		src, err := core.SettingsFromMCAConfig(m.Config)
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return nil, closer, exitBadUsage
		}
		rs, err := core.BuildReshardPlan(m, reshardSettings(src, o))
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return nil, closer, exitBadUsage
		}
		if rs.HasErrors() {
			fmt.Fprintf(stderr, "omnitui: the reshard plan for %s has errors; nothing was written:\n", path)
			for _, is := range rs.Errors() {
				fmt.Fprintf(stderr, "  - [%s] %s\n", is.Code, is.Message)
			}
			return nil, closer, exitBadUsage
		}
		job, err := core.ReshardJob(rs, core.GatherOptions{TakeRank0: o.takeRank0}, copt)
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return nil, closer, exitBadUsage
		}
		return job, closer, 0
	}
	if o.toHF {
		fmt.Fprintf(stderr, "omnitui: --to-hf reads an mcore_adapter checkpoint, but %s has no mca_config.json\n", path)
		return nil, nil, exitBadUsage
	}
	ck, err := loader.OpenHF(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return nil, nil, exitBadUsage
	}
	closer := func() { ck.Close() }
	p, err := core.BuildPlan(ck, o.s)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %s: %v\n", path, err)
		return nil, closer, exitBadUsage
	}
	if p.HasErrors() {
		fmt.Fprintf(stderr, "omnitui: the plan for %s has errors; nothing was written:\n", path)
		for _, is := range p.Errors() {
			fmt.Fprintf(stderr, "  - [%s] %s\n", is.Code, is.Message)
		}
		fmt.Fprintln(stderr, "Run with --batch --plan to see the whole plan.")
		return nil, closer, exitBadUsage
	}
	job, err := core.ForwardJob(ck, p, copt)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return nil, closer, exitBadUsage
	}
	return job, closer, 0
}

// taskCommand is the command line of a task as it runs anywhere: this binary by its
// absolute path, the flags given (without --task and the --emit options), --out and
// the checkpoint as absolute paths.
func taskCommand(o *options, ckpt string) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the omnitui binary: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, err
	}
	cmd := []string{exe}
	var visitErr error
	o.fs.Visit(func(f *flag.Flag) {
		if taskOnlyFlags[f.Name] || f.Name == "out" || f.Name == "o" {
			return
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			cmd = append(cmd, "--"+f.Name+"="+f.Value.String())
			return
		}
		cmd = append(cmd, "--"+f.Name+"="+f.Value.String())
	})
	if visitErr != nil {
		return nil, visitErr
	}
	if !o.given["batch"] {
		cmd = append(cmd[:1], append([]string{"--batch=true"}, cmd[1:]...)...)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return nil, err
	}
	in, err := filepath.Abs(ckpt)
	if err != nil {
		return nil, err
	}
	return append(cmd, "--out="+out, in), nil
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./=:,+%@-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// runCommit publishes a staged conversion, or says exactly what is missing and how to
// resubmit only that.
func runCommit(o *options, target string, stdout, stderr io.Writer) int {
	s, err := core.Commit(target, core.CommitOptions{Force: o.force, Recheck: o.tk.recheck})
	var me *core.MissingError
	if errors.As(err, &me) {
		fmt.Fprintf(stderr, "omnitui: cannot commit %s: task(s) %s have files missing; nothing was published and the staging directory %s is kept\n",
			s.Out, intsComma(s.Missing()), s.Dir)
		for _, t := range s.Tasks {
			for _, f := range t.Missing {
				fmt.Fprintf(stderr, "  task %d: missing %s (%s)\n", t.Task, core.Printable(f), t.Why[f])
			}
		}
		missing := s.Missing()
		list := make([]string, len(missing))
		for i, m := range missing {
			list[i] = strconv.Itoa(m)
		}
		cmd := s.Record.Command
		if len(cmd) == 0 {
			cmd = []string{"omnitui", "--batch", fmt.Sprintf("--tasks=%d", s.Record.Tasks), "--out=" + s.Out, s.Record.Input, "(plus the flags of the other tasks)"}
		}
		fmt.Fprintln(stderr, "Resubmit only the missing task(s), then commit again:")
		sb := ""
		if len(s.Record.Sbatch) > 0 {
			sb = shellJoin(s.Record.Sbatch) + " "
		}
		fmt.Fprintf(stderr, "  sbatch --array=%s %s--wrap %s\n", strings.Join(list, ","), sb, shellQuote(shellJoin(append(slices.Clone(cmd), "--task-base=0"))))
		fmt.Fprintf(stderr, "  or here: for i in %s; do %s --task $i; done\n", strings.Join(list, " "), shellJoin(cmd))
		fmt.Fprintf(stderr, "  then: %s --batch --commit %s\n", shellQuote(cmd[0]), shellQuote(s.Out))
		return exitFailed
	}
	if err != nil {
		return taskErr(stderr, err)
	}
	var bytes int64
	for _, f := range s.Record.Files {
		bytes += f.Bytes
	}
	fmt.Fprintf(stderr, "omnitui: committed %s: %d file(s) from %d task(s), %s, plan %s\n", s.Out, len(s.Record.Files), s.Record.Tasks, core.HumanBytes(bytes), s.Record.ID)
	return exitOK
}

// splitJSON is --batch --plan --json --tasks N.
type splitJSON struct {
	PlanID    string          `json:"plan_id"`
	Kind      string          `json:"kind"`
	Tasks     int             `json:"tasks"`
	Files     int             `json:"files"`
	Written   int64           `json:"bytes_written"`
	InputSize int64           `json:"input_bytes"`
	TotalRead int64           `json:"bytes_read"`
	PerTask   []splitTaskJSON `json:"per_task"`
}

type splitTaskJSON struct {
	Task    int      `json:"task"`
	Files   []string `json:"files"`
	Written int64    `json:"bytes_written"`
	Read    int64    `json:"bytes_read"`
}

func writeSplit(w io.Writer, job *core.SplitJob, part *core.Partition, rec *core.PlanRecord, jsonOut, verbose bool) {
	var written, input int64
	for _, f := range job.Work.Files {
		written += f.Bytes
	}
	for _, u := range job.Work.Units {
		input += u.Bytes
	}
	if jsonOut {
		sj := splitJSON{PlanID: rec.ID, Kind: job.Kind, Tasks: part.N, Files: len(job.Work.Files), Written: written, InputSize: input, TotalRead: part.TotalRead()}
		for i, t := range part.Tasks {
			tj := splitTaskJSON{Task: i, Files: []string{}, Written: t.Written, Read: t.Read}
			for _, f := range t.Files {
				tj.Files = append(tj.Files, job.Work.Files[f].Name)
			}
			sj.PerTask = append(sj.PerTask, tj)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(sj)
		return
	}
	fmt.Fprintf(w, "%s split into %d task(s), plan %s: %d file(s), %s written, input %s\n", job.Kind, part.N, rec.ID, len(job.Work.Files), core.HumanBytes(written), core.HumanBytes(input))
	fmt.Fprintf(w, "  %-6s %6s %12s %12s\n", "task", "files", "written", "read")
	for i, t := range part.Tasks {
		fmt.Fprintf(w, "  %-6d %6d %12s %12s\n", i, len(t.Files), core.HumanBytes(t.Written), core.HumanBytes(t.Read))
		if verbose {
			for _, f := range t.Files {
				fmt.Fprintf(w, "           %s (%s)\n", job.Work.Files[f].Name, core.HumanBytes(job.Work.Files[f].Bytes))
			}
		}
	}
	fmt.Fprintf(w, "  all tasks together read %s of input (%.2fx the input; files reading the same input share a task where that keeps the split balanced)\n",
		core.HumanBytes(part.TotalRead()), float64(part.TotalRead())/float64(max(input, 1)))
}

func intsComma(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// slurmJobOptions are the sbatch options of the Slurm job a task runs in that a
// resubmission must repeat and the job's environment tells: partition, account, QOS.
func slurmJobOptions(env func(string) string) []string {
	if env("SLURM_JOB_ID") == "" {
		return nil
	}
	var out []string
	for _, o := range []struct{ env, flag string }{{"SLURM_JOB_PARTITION", "--partition"}, {"SLURM_JOB_ACCOUNT", "--account"}, {"SLURM_JOB_QOS", "--qos"}} {
		if v := strings.TrimSpace(env(o.env)); v != "" && !strings.ContainsAny(v, "\n\r") {
			out = append(out, o.flag+"="+v)
		}
	}
	return out
}
