package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/loader/safetext"
	"github.com/omnitui/omnitui/tui"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // conversion failed
	exitBadUsage = 2 // bad usage, unreadable input, or a plan with errors
)

// usageText is the --help text; the settings sections come from core's settings table.
func usageText() string {
	return `omnitui - see what a Hugging Face -> Megatron-Core (mcore_adapter) conversion will do, then do it.

Usage:
  omnitui [flags] CHECKPOINT                 interactive terminal UI
  omnitui --batch --plan [--json] CHECKPOINT  print the plan (config mapping, every op, placement, issues)
  omnitui --batch --out DIR [flags] CHECKPOINT convert headless; progress on stderr

CHECKPOINT is a directory with config.json and model.safetensors (or model.safetensors.index.json
plus shards), or a single .safetensors file next to its config.json.

Examples:
  omnitui testdata/example/qwen3-omni-tiny
  omnitui --batch --plan testdata/example/qwen3-omni-tiny
  omnitui --batch --plan --json --tp 2 --pp 2 testdata/example/qwen3-omni-tiny | jq .summary
  omnitui --batch --tp 2 --pp 2 --ep 4 --out /data/mca/qwen3-omni /data/hf/Qwen3-Omni-30B-A3B-Instruct
  omnitui --batch --pp 4 --layout "Ettttttttttttt|t*12|t*12|t*11L" --out OUT CKPT

Parallel settings:
` + settingsHelp("parallel") + `
Output:
  --out DIR     output directory (built beside it and renamed into place when complete)
  --force       replace an existing output if it is a checkpoint omnitui could have
                written (Megatron or Hugging Face) holding nothing else; else exit 2
` + settingsHelp("output") + `  --workers N   conversion goroutines (default: number of CPUs)
  --no-fsync    do not flush the written files (rank files; --to-hf: safetensors) to disk before
                the output is renamed into place:
                faster; an interrupted or killed run still leaves nothing, but after a power
                loss or OS crash the output may hold unwritten data. For scratch outputs.

Plan:
  --batch       no UI: print the plan (--plan) or convert (--out)
  --plan        print the plan instead of converting
  --json        plan as JSON; during conversion, progress as JSON lines on stdout
  --json-indent  as --json, with the plan JSON indented (--json writes it compact, on one line)
  --verbose     with --plan: list every op group, destination and affected tensor

Opt-outs (a plan with errors converts nothing unless the error's opt-out is given):
` + settingsHelp("opt-out") + `
Megatron -> Hugging Face (MCA_CKPT holds mca_config.json and iter_*/mp_rank_*/model_optim_rng.pt):
  omnitui --batch --to-hf --out DIR MCA_CKPT   convert back to HF safetensors
  omnitui --batch --plan MCA_CKPT              explain how it maps back
  --max-shard-size SIZE  largest safetensors file (default 5GB; e.g. 500MB, 2GiB, bytes)
  --take-rank0           where duplicated copies disagree, keep rank 0's instead of failing
  omnitui --batch --verify A B                 compare two checkpoints (HF or mca) tensor by tensor
  --atol X --rtol Y      float tolerance for --verify: |a-b| <= atol + rtol*|b| (default exact bytes)

Megatron -> Megatron (reshard an mcore_adapter checkpoint to a new parallel layout, streaming,
without Hugging Face files on disk):
  omnitui --batch --out DIR [--tp N --pp N ...] MCA_CKPT   write the resharded checkpoint
  omnitui --batch --plan --tp N [...] MCA_CKPT             print the reshard plan; --plan with no
                         output flag (--tp ... --dtype, opt-outs) explains how MCA_CKPT maps back
  Settings not given are the checkpoint's own (from mca_config.json). --tp without --etp makes ETP
  follow it. Any of --pp/--vpp/--layout/--account-* replaces the pipeline split: VPP, layout and
  account-* not given are unset, PP is kept unless given. --dtype and the opt-outs come from the
  flags. --take-rank0 works as for --to-hf.

Split one conversion into N independent tasks (Slurm job array, Kubernetes Indexed Job, xargs -P):
  omnitui --batch --plan --tasks N [flags] CKPT          show which task writes which files
  omnitui --batch --tasks N [--task I] --out OUT [flags] CKPT   run task I (every direction above);
                         without --task, I is $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN or
                         $JOB_COMPLETION_INDEX. Tasks write into .OUT.omnitui-staging beside OUT
  omnitui --batch --commit OUT     publish OUT once every task's files are receipted
  omnitui --batch --status OUT     what is done and missing, per task
  omnitui --batch --abort OUT      remove the staging directory (OUT itself is never touched)
  --recheck              re-hash finished files against their receipts (tasks and --commit)
  --task-base B          the array index of task 0 (default $SLURM_ARRAY_TASK_MIN)
  --emit slurm|k8s       print a job script (array + commit job) for the tasks, instead of running
  --max-parallel N       with --emit: at most N tasks at once (sbatch --array=0-7%N, parallelism N)
  --sbatch-args ARGS     with --emit slurm: extra sbatch options (e.g. "--partition=cpu --time=2:00:00")
  --k8s-image IMAGE      with --emit k8s: container image (default debian:bookworm-slim)
  --k8s-input-volume V, --k8s-output-volume V, --k8s-bin-volume V
                         with --emit k8s: a host path, or pvc:NAME, mounted at the input, the
                         output's parent and omnitui's folder (default: those host paths)

` + loraHelp + `
Exit status: 0 success, 1 conversion failed, 2 bad usage, unreadable input or a plan with errors.
`
}

type options struct {
	batch, plan, jsonOut, verbose, force, help, version bool
	jsonIndent                                          bool
	noSync                                              bool
	out                                                 string
	workers                                             int
	s                                                   core.Settings

	// Megatron -> HF and verification (reverse.go)
	toHF, verify, takeRank0 bool
	maxShardSize            string
	atol, rtol              float64

	given map[string]bool // flags given on the command line (a reshard keeps the source's settings for the others)

	tk   taskOptions   // split conversions (tasks.go)
	lora loraOptions   // LoRA adapter exports (lora.go)
	fs   *flag.FlagSet // the parsed flags, to print a task's command line
}

// planIndent is the plan JSON's indent: none unless --json-indent.
func (o *options) planIndent() string {
	if o.jsonIndent {
		return "  "
	}
	return ""
}

func parseArgs(args []string, stderr io.Writer) (*options, []string, error) {
	o := &options{s: core.DefaultSettings()}
	fs := flag.NewFlagSet("omnitui", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.batch, "batch", false, "")
	fs.BoolVar(&o.plan, "plan", false, "")
	fs.BoolVar(&o.jsonOut, "json", false, "")
	fs.BoolVar(&o.jsonIndent, "json-indent", false, "")
	fs.BoolVar(&o.verbose, "verbose", false, "")
	fs.BoolVar(&o.verbose, "v", false, "")
	fs.BoolVar(&o.force, "force", false, "")
	fs.BoolVar(&o.noSync, "no-fsync", false, "")
	fs.BoolVar(&o.help, "help", false, "")
	fs.BoolVar(&o.help, "h", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.StringVar(&o.out, "out", "", "")
	fs.StringVar(&o.out, "o", "", "")
	fs.IntVar(&o.workers, "workers", 0, "")
	for _, sp := range core.SettingSpecs(nil) {
		fs.Var(settingFlag{sp, &o.s}, sp.Flag, "")
	}
	fs.BoolVar(&o.toHF, "to-hf", false, "")
	fs.BoolVar(&o.verify, "verify", false, "")
	fs.BoolVar(&o.takeRank0, "take-rank0", false, "")
	fs.StringVar(&o.maxShardSize, "max-shard-size", "5GB", "")
	fs.Float64Var(&o.atol, "atol", 0, "")
	fs.Float64Var(&o.rtol, "rtol", 0, "")
	o.tk.flags(fs)
	o.lora.flags(fs)
	o.fs = fs
	// flags may follow the checkpoint path
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, suggestFlag(fs, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if o.jsonIndent {
		o.jsonOut = true // --json-indent is --json, indented
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"tp", o.s.TP}, {"pp", o.s.PP}, {"ep", o.s.EP}, {"etp", o.s.ETP}} {
		if f.v == 0 && flagGiven(fs, f.name) {
			return nil, nil, fmt.Errorf("--%s 0 is not a size: parallel sizes start at 1", f.name)
		}
	}
	o.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	if o.s.VPP == 0 && flagGiven(fs, "vpp") {
		return nil, nil, errors.New("--vpp 0 is not a size: leave --vpp out for no virtual pipeline")
	}
	// Values no model accepts are bad usage, refused before anything is opened or planned.
	if err := o.s.Normalized().UsageError(); err != nil {
		return nil, nil, err
	}
	if o.workers < 0 {
		return nil, nil, fmt.Errorf("--workers %d is not a count: leave it out for one per CPU", o.workers)
	}
	if _, err := parseSize(o.maxShardSize); err != nil {
		return nil, nil, err
	}
	return o, pos, nil
}

// settingFlag parses one setting of core's settings table.
type settingFlag struct {
	sp core.SettingSpec
	s  *core.Settings
}

func (f settingFlag) String() string {
	if f.s == nil {
		return ""
	}
	return f.sp.Get(*f.s)
}
func (f settingFlag) Set(v string) error { return f.sp.Set(f.s, v) }
func (f settingFlag) IsBoolFlag() bool   { return f.sp.Kind == core.SettingBool }

// settingsHelp renders the --help lines of one section of the settings table.
func settingsHelp(section string) string {
	var b strings.Builder
	for _, sp := range core.SettingSpecs(nil) {
		if sp.Section != section {
			continue
		}
		head := "  --" + sp.Flag
		if sp.Arg != "" {
			head += " " + sp.Arg
		}
		words := strings.Fields(sp.Help)
		const col, width = 25, 100
		line := head
		if len(line) < col-1 {
			line += strings.Repeat(" ", col-1-len(line))
		} else {
			line += " " // a long flag: two spaces before its help
		}
		for i, w := range words {
			if i > 0 && len(line)+1+len(w) > width {
				b.WriteString(line + "\n")
				line = strings.Repeat(" ", col-1)
			}
			line += " " + w
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// suggestFlag adds the nearest known flag to an unknown-flag error
// ("flag provided but not defined: -tpp" → "… (did you mean --tp?)").
func suggestFlag(fs *flag.FlagSet, err error) error {
	const prefix = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return err
	}
	given := strings.TrimLeft(strings.TrimPrefix(msg, prefix), "-")
	best, bestD := "", 0
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			return // -h, -o, -v: suggest the long names
		}
		// Nearest first; on a tie, the one that starts more like it (--tpp: --tp, not --pp).
		d := editDistance(given, f.Name)
		if best == "" || d < bestD || (d == bestD && commonPrefix(given, f.Name) > commonPrefix(given, best)) {
			best, bestD = f.Name, d
		}
	})
	// Only a plausible typo: at most a third of the name differs.
	if best == "" || bestD > max(1, len(given)/3) {
		return fmt.Errorf("unknown flag --%s", given)
	}
	return fmt.Errorf("unknown flag --%s: did you mean --%s?", given, best)
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the number of single-letter insertions, deletions,
// substitutions and swaps of neighbours that turn a into b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

// run is the whole command. Everything it prints passes through safetext: tensor names,
// paths and config values come from input files and must not drive the terminal.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	rawStdout := stdout
	serr := safetext.NewWriter(stderr)
	defer serr.Flush()
	stderr = serr
	o, pos, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\nRun 'omnitui --help' for usage.\n", err)
		return exitBadUsage
	}
	if o.jsonOut {
		jw := safetext.NewJSONWriter(stdout)
		defer jw.Flush()
		stdout = jw
	} else {
		sw := safetext.NewWriter(stdout)
		defer sw.Flush()
		stdout = sw
	}
	if o.help {
		fmt.Fprint(stdout, usageText())
		return exitOK
	}
	if o.version {
		fmt.Fprintln(stdout, "omnitui", version)
		return exitOK
	}
	if code, handled := runLoRA(ctx, o, pos, stdout, stderr); handled {
		return code
	}
	if code, handled := runTorchDist(o, pos, stdout, stderr); handled {
		return code
	}
	if !o.batch && !o.plan && !o.jsonOut && !o.toHF && !o.verify && len(pos) == 1 && mca.IsMCA(pos[0]) {
		// The interactive app over a Megatron (mcore_adapter) checkpoint.
		if f, ok := rawStdout.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
			fmt.Fprintln(stderr, "omnitui: the interactive UI needs a terminal; use --batch --plan or --batch --to-hf --out DIR")
			return exitBadUsage
		}
		m, err := mca.Open(pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitBadUsage
		}
		defer m.Close()
		if err := tui.RunMCA(m, pos[0]); err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	if code, handled := runTasks(ctx, o, pos, stdout, stderr); handled {
		return code
	}
	if code, handled := runReverse(ctx, o, pos, stdout, stderr); handled {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "omnitui: expected exactly one checkpoint path, got %d\nRun 'omnitui --help' for usage.\n", len(pos))
		return exitBadUsage
	}
	path := pos[0]
	if !o.batch && (o.plan || o.jsonOut) {
		o.batch = true // --plan/--json only make sense headless
	}
	if o.batch && !o.plan && o.out == "" {
		fmt.Fprintln(stderr, "omnitui: --batch needs --plan (print the plan) or --out DIR (convert)")
		return exitBadUsage
	}
	if o.batch && !o.plan && (outputOverlaps(o.out, path, stderr) || outputExists(o, stderr)) {
		return exitBadUsage
	}
	ck, err := loader.OpenHF(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage
	}
	defer ck.Close()

	if !o.batch {
		if f, ok := rawStdout.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
			fmt.Fprintln(stderr, "omnitui: the interactive UI needs a terminal; use --batch --plan or --batch --out DIR")
			return exitBadUsage
		}
		if err := tui.Run(ck, path, o.s); err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitFailed
		}
		return exitOK
	}

	p, err := core.BuildPlan(ck, o.s)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %s: %v\n", path, err)
		return exitBadUsage
	}
	if o.plan {
		if o.jsonOut {
			err = p.WriteJSONIndent(stdout, path, o.planIndent())
		} else {
			err = p.WriteText(stdout, path, o.verbose)
		}
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: writing the plan: %v\n", err)
			return exitFailed
		}
		if p.HasErrors() {
			return exitBadUsage
		}
		return exitOK
	}
	if p.HasErrors() {
		fmt.Fprintf(stderr, "omnitui: the plan for %s has errors; nothing was written:\n", path)
		for _, is := range p.Errors() {
			fmt.Fprintf(stderr, "  - [%s] %s\n", is.Code, is.Message)
			if brief := is.TensorsBrief(3); brief != "" {
				fmt.Fprintf(stderr, "      %s\n", brief)
			}
		}
		fmt.Fprintln(stderr, "Run with --batch --plan to see the whole plan.")
		return exitBadUsage
	}
	for _, is := range p.Issues {
		fmt.Fprintf(stderr, "omnitui: warning [%s] %s\n", is.Code, is.Message)
	}
	if err := core.CheckFP8Scales(core.CheckpointInput(ck).Source, p); err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err) // bad input data: like a plan error
		return exitBadUsage
	}
	pr := newProgressPrinter(stdout, stderr, o.jsonOut)
	res, err := core.Convert(ctx, ck, p, core.ConvertOptions{Out: o.out, Force: o.force, Progress: pr.event, Workers: o.workers, NoSync: o.noSync})
	pr.finish()
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: conversion failed: %v\n", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "omnitui: interrupted; nothing was left under the output name")
		}
		return exitFailed
	}
	if o.jsonOut {
		json.NewEncoder(stdout).Encode(map[string]any{"event": "summary", "out": res.Out, "files": res.Files, "bytes": res.Bytes, "tensors": res.Tensors, "elapsed_ns": res.Elapsed})
	} else {
		rate := float64(res.Bytes) / res.Elapsed.Seconds() / (1 << 20)
		fmt.Fprintf(stderr, "omnitui: wrote %s: %d rank file(s), %d Megatron tensors (%d entries with their TP slices and copies), %s in %s (%.1f MiB/s)\n",
			res.Out, len(res.Files), len(p.Groups), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond), rate)
	}
	return exitOK
}

var version = "dev"

// outputOverlaps reports (and says) that --out is the input checkpoint, lies inside
// it or contains it: bad usage, refused before anything is opened.
func outputOverlaps(out, input string, stderr io.Writer) bool {
	if out == "" {
		return false
	}
	what := core.OutputOverlap(out, input)
	if what == "" {
		return false
	}
	fmt.Fprintf(stderr, "omnitui: --out %s %s: choose an output directory outside the input\n", out, what)
	return true
}

// outputExists reports (and says) that --out already exists when --force was not given,
// or that --force would replace something that is not a checkpoint omnitui could have
// written (it then says what the directory holds). Checked before any input is opened,
// so the refusal is immediate.
func outputExists(o *options, stderr io.Writer) bool {
	if o.out == "" {
		return false
	}
	e, err := core.InspectOutput(o.out)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return true
	}
	if e == nil {
		return false
	}
	if err := e.Refusal("--out"); err != nil {
		// Not a checkpoint of omnitui's: --force would not replace it either.
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return true
	}
	if !o.force {
		fmt.Fprintf(stderr, "omnitui: output %s already exists (%s): pass --force to replace it, or choose another --out\n", o.out, e.Summary())
		return true
	}
	return false
}

// progressPrinter renders conversion progress: JSON lines on stdout with --json,
// a live line on a terminal, plain lines (at most one per second) otherwise.
type progressPrinter struct {
	stdout, stderr io.Writer
	raw            io.Writer // stderr without escaping, for the live line's own control sequences
	json, tty      bool
	task           *int // a split conversion's task index, added to JSON events
	last           time.Time
	dirty          bool
	noun           string // what the tensor counts count: "Megatron tensors" (as the plan and the app say) or "HF tensors"
}

func newProgressPrinter(stdout, stderr io.Writer, jsonOut bool) *progressPrinter {
	pp := &progressPrinter{stdout: stdout, stderr: stderr, raw: stderr, json: jsonOut, noun: "Megatron tensors"}
	if sw, ok := stderr.(*safetext.Writer); ok {
		pp.raw = sw.Raw()
	}
	if f, ok := pp.raw.(*os.File); ok && term.IsTerminal(f.Fd()) {
		pp.tty = true
	}
	return pp
}

func (pp *progressPrinter) event(ev core.Progress) {
	if pp.json {
		ev2 := ev
		if ev.Kind == core.ProgTensor && time.Since(pp.last) < time.Second {
			return
		}
		pp.last = time.Now()
		ev2.RankBytes = nil
		if pp.task != nil {
			json.NewEncoder(pp.stdout).Encode(struct {
				core.Progress
				Task int `json:"task"`
			}{ev2, *pp.task})
			return
		}
		json.NewEncoder(pp.stdout).Encode(ev2)
		return
	}
	if ev.Message != "" && ev.Kind != core.ProgError {
		pp.clear()
		fmt.Fprintf(pp.stderr, "omnitui: %s\n", ev.Message)
	}
	if ev.Kind != core.ProgTensor && ev.Kind != core.ProgDone {
		return
	}
	if !pp.tty && ev.Kind == core.ProgTensor && time.Since(pp.last) < time.Second {
		return
	}
	pp.last = time.Now()
	line := safetext.Escape(progressLine(ev, pp.noun))
	if pp.tty {
		fmt.Fprintf(pp.raw, "\r\033[K%s", line)
		pp.dirty = true
		return
	}
	fmt.Fprintln(pp.stderr, line)
}

func (pp *progressPrinter) clear() {
	if pp.dirty {
		fmt.Fprint(pp.raw, "\r\033[K")
		pp.dirty = false
	}
}

func (pp *progressPrinter) finish() {
	if pp.dirty {
		fmt.Fprintln(pp.raw)
		pp.dirty = false
	}
}

func progressLine(ev core.Progress, noun string) string {
	pct := 0.0
	if ev.BytesTotal > 0 {
		pct = 100 * float64(ev.BytesDone) / float64(ev.BytesTotal)
	}
	secs := ev.Elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(ev.BytesDone) / secs
	}
	eta := "?"
	if rate > 0 && ev.BytesTotal >= ev.BytesDone {
		eta = (time.Duration(float64(ev.BytesTotal-ev.BytesDone)/rate) * time.Second / time.Second).Round(time.Second).String()
	}
	name := ev.Tensor
	if len(name) > 60 {
		name = "…" + name[len(name)-59:]
	}
	return strings.TrimSpace(fmt.Sprintf("%5.1f%% %s/%s %d/%d %s %.1f MiB/s eta %s %s", pct,
		core.HumanBytes(ev.BytesDone), core.HumanBytes(ev.BytesTotal), ev.TensorsDone, ev.TensorsTotal, noun, rate/(1<<20), eta, name))
}
