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
  --force       replace an existing output
` + settingsHelp("output") + `  --workers N   conversion goroutines (default: number of CPUs)
  --no-fsync    do not flush rank files to disk before the output is renamed into place:
                faster; an interrupted or killed run still leaves nothing, but after a power
                loss or OS crash the output may hold unwritten data. For scratch outputs.

Plan:
  --batch       no UI: print the plan (--plan) or convert (--out)
  --plan        print the plan instead of converting
  --json        plan as JSON; during conversion, progress as JSON lines on stdout
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

Exit status: 0 success, 1 conversion failed, 2 bad usage, unreadable input or a plan with errors.
`
}

type options struct {
	batch, plan, jsonOut, verbose, force, help, version bool
	noSync                                              bool
	out                                                 string
	workers                                             int
	s                                                   core.Settings

	// Megatron -> HF and verification (reverse.go)
	toHF, verify, takeRank0 bool
	maxShardSize            string
	atol, rtol              float64

	given map[string]bool // flags given on the command line (a reshard keeps the source's settings for the others)
}

func parseArgs(args []string, stderr io.Writer) (*options, []string, error) {
	o := &options{s: core.DefaultSettings()}
	fs := flag.NewFlagSet("omnitui", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.batch, "batch", false, "")
	fs.BoolVar(&o.plan, "plan", false, "")
	fs.BoolVar(&o.jsonOut, "json", false, "")
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
	// flags may follow the checkpoint path
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
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

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, pos, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\nRun 'omnitui --help' for usage.\n", err)
		return exitBadUsage
	}
	if o.help {
		fmt.Fprint(stdout, usageText())
		return exitOK
	}
	if o.version {
		fmt.Fprintln(stdout, "omnitui", version)
		return exitOK
	}
	if !o.batch && !o.plan && !o.jsonOut && !o.toHF && !o.verify && len(pos) == 1 && mca.IsMCA(pos[0]) {
		// The interactive app over a Megatron (mcore_adapter) checkpoint.
		if f, ok := stdout.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
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
	if o.batch && !o.plan && outputExists(o, stderr) {
		return exitBadUsage
	}
	ck, err := loader.OpenHF(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage
	}
	defer ck.Close()

	if !o.batch {
		if f, ok := stdout.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
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
			err = p.WriteJSON(stdout, path)
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
		fmt.Fprintf(stderr, "omnitui: wrote %s: %d rank file(s), %d tensors, %s in %s (%.1f MiB/s)\n",
			res.Out, len(res.Files), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond), rate)
	}
	return exitOK
}

var version = "dev"

// outputExists reports (and says) that --out already exists when --force was not given:
// checked before any input is opened, so the refusal is immediate.
func outputExists(o *options, stderr io.Writer) bool {
	if o.force || o.out == "" {
		return false
	}
	if _, err := os.Lstat(o.out); err != nil {
		return false
	}
	fmt.Fprintf(stderr, "omnitui: output %s already exists: pass --force to replace it, or choose another --out\n", o.out)
	return true
}

// progressPrinter renders conversion progress: JSON lines on stdout with --json,
// a live line on a terminal, plain lines (at most one per second) otherwise.
type progressPrinter struct {
	stdout, stderr io.Writer
	json, tty      bool
	last           time.Time
	dirty          bool
}

func newProgressPrinter(stdout, stderr io.Writer, jsonOut bool) *progressPrinter {
	pp := &progressPrinter{stdout: stdout, stderr: stderr, json: jsonOut}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(f.Fd()) {
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
	line := progressLine(ev)
	if pp.tty {
		fmt.Fprintf(pp.stderr, "\r\033[K%s", line)
		pp.dirty = true
		return
	}
	fmt.Fprintln(pp.stderr, line)
}

func (pp *progressPrinter) clear() {
	if pp.dirty {
		fmt.Fprint(pp.stderr, "\r\033[K")
		pp.dirty = false
	}
}

func (pp *progressPrinter) finish() {
	if pp.dirty {
		fmt.Fprintln(pp.stderr)
		pp.dirty = false
	}
}

func progressLine(ev core.Progress) string {
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
	return strings.TrimSpace(fmt.Sprintf("%5.1f%% %s/%s %d/%d ops %.1f MiB/s eta %s %s", pct,
		core.HumanBytes(ev.BytesDone), core.HumanBytes(ev.BytesTotal), ev.TensorsDone, ev.TensorsTotal, rate/(1<<20), eta, name))
}
