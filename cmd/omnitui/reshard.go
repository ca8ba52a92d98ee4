package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/mca"
)

// targetFlags are the flags that describe the output of a conversion (every setting of the
// settings table); on an mcore_adapter input any of them asks for a reshard.
func targetFlags() []string {
	var out []string
	for _, sp := range core.SettingSpecs(nil) {
		if sp.Name == "hf_layout" {
			continue // the HF naming: a choice of the reverse, not of the Megatron target
		}
		out = append(out, sp.Flag)
	}
	return out
}

func (o *options) anyGiven(names []string) bool {
	for _, n := range names {
		if o.given[n] {
			return true
		}
	}
	return false
}

// reshardSettings are the target settings: the source checkpoint's own settings with the
// given flags merged by the settings table's rules (core.MergeSettings).
func reshardSettings(src core.Settings, o *options) core.Settings {
	return core.MergeSettings(src, o.s, func(flag string) bool { return o.given[flag] })
}

// runReshard handles an mcore_adapter input with --out (and no --to-hf), or with --plan and
// output settings: Megatron -> Megatron with a new parallel layout. handled is false
// when the arguments ask for something else.
func runReshard(ctx context.Context, o *options, path string, stdout, stderr io.Writer) (code int, handled bool) {
	target := o.anyGiven(targetFlags())
	if o.toHF {
		if target {
			fmt.Fprintln(stderr, "omnitui: --to-hf writes Hugging Face safetensors, which have no parallel layout or Megatron options: drop the --tp/--pp/... flags, or drop --to-hf to reshard")
			return exitBadUsage, true
		}
		return 0, false
	}
	if o.out == "" && !(o.plan && target) {
		return 0, false
	}
	if !o.plan && (outputOverlaps(o.out, path, stderr) || outputExists(o, stderr)) {
		return exitBadUsage, true
	}
	m, err := mca.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	for _, msg := range m.Warnings {
		fmt.Fprintf(stderr, "omnitui: warning [rank-copy] %s\n", msg)
	}
	defer m.Close()
	// the source's settings as its files were written (the names decide, see core.CheckpointSettings)
	src, err := core.CheckpointSettings(m)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	s := reshardSettings(src, o)
	rs, err := core.BuildReshardPlan(m, s)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	if rs.Plan == nil {
		// the source does not map back: say why, as --plan on it does
		if o.plan {
			writeReversePlan(stdout, rs.Reverse, 0)
		} else {
			fmt.Fprintf(stderr, "omnitui: %s cannot be read as Hugging Face tensors, so it cannot be resharded; nothing was written:\n  - %s\n", path, rs.Reverse.ErrorText())
		}
		return exitBadUsage, true
	}
	if o.plan {
		if o.jsonOut {
			err = rs.Plan.WriteJSONIndent(stdout, path, o.planIndent())
		} else {
			writeReshardHeader(stdout, rs, src)
			for _, is := range rs.Reverse.Issues {
				fmt.Fprintf(stdout, "source %s [%s] %s\n", is.Severity, is.Code, is.Message)
			}
			err = rs.Plan.WriteText(stdout, path+" (read as Hugging Face tensors)", o.verbose)
		}
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: writing the plan: %v\n", err)
			return exitFailed, true
		}
		if rs.HasErrors() {
			return exitBadUsage, true
		}
		return exitOK, true
	}
	if rs.HasErrors() {
		fmt.Fprintf(stderr, "omnitui: the reshard plan for %s has errors; nothing was written:\n", path)
		for _, is := range rs.Errors() {
			fmt.Fprintf(stderr, "  - [%s] %s\n", is.Code, is.Message)
			if brief := is.TensorsBrief(3); brief != "" {
				fmt.Fprintf(stderr, "      %s\n", brief)
			}
		}
		fmt.Fprintln(stderr, "Run with --batch --plan (and the same flags) to see the whole plan.")
		return exitBadUsage, true
	}
	seen := map[string]bool{} // the source's warnings and the target plan's, each once
	for _, is := range append(slices.Clone(rs.Reverse.Issues), rs.Plan.Issues...) {
		if k := is.Code + "\x00" + is.Message; !seen[k] {
			seen[k] = true
			fmt.Fprintf(stderr, "omnitui: warning [%s] %s\n", is.Code, is.Message)
		}
	}
	pr := newProgressPrinter(stdout, stderr, o.jsonOut)
	res, err := core.Reshard(ctx, rs, core.GatherOptions{TakeRank0: o.takeRank0},
		core.ConvertOptions{Out: o.out, Force: o.force, Progress: pr.event, Workers: o.workers, NoSync: o.noSync})
	pr.finish()
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: resharding failed: %v\n", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "omnitui: interrupted; nothing was left under the output name")
		}
		return exitFailed, true
	}
	if o.jsonOut {
		json.NewEncoder(stdout).Encode(map[string]any{"event": "summary", "out": res.Out, "files": res.Files, "bytes": res.Bytes, "tensors": res.Tensors, "elapsed_ns": res.Elapsed})
	} else {
		fmt.Fprintf(stderr, "omnitui: wrote %s: %d rank file(s), %d tensors, %s in %s (resharded from %s)\n",
			res.Out, len(res.Files), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond), settingsLine(src))
	}
	return exitOK, true
}

// settingsLine is a one-line summary of parallel settings.
func settingsLine(s core.Settings) string {
	line := fmt.Sprintf("TP %d, PP %d", s.TP, s.PP)
	if s.VPP > 0 {
		line += fmt.Sprintf(", VPP %d", s.VPP)
	}
	line += fmt.Sprintf(", EP %d", s.EP)
	if s.ETP != s.TP {
		line += fmt.Sprintf(", ETP %d", s.ETP)
	}
	if s.Layout != "" {
		line += fmt.Sprintf(", layout %q", s.Layout)
	}
	if s.AccountEmbedding {
		line += ", account embedding"
	}
	if s.AccountLoss {
		line += ", account loss"
	}
	switch {
	case s.TEGrouped():
		line += ", grouped GEMM"
	case s.LegacyGrouped():
		line += ", legacy grouped GEMM"
	}
	return line + ", impl " + s.TransformerImpl
}

func writeReshardHeader(w io.Writer, rs *core.ReshardPlan, src core.Settings) {
	m, rp := rs.Reverse.Source, rs.Reverse
	var bytes int64
	for _, t := range rp.Forward.Tensors {
		bytes += t.Size
	}
	fmt.Fprintf(w, "Megatron -> Megatron reshard of %s (%s)\n", m.Dir, m.IterDir)
	fmt.Fprintf(w, "  from: %s (%d rank file(s), %d tensors)\n", settingsLine(src), len(m.Ranks), m.NumTensors())
	fmt.Fprintf(w, "  to:   %s (%d rank file(s), %d tensors)\n", settingsLine(rs.Plan.Settings), len(rs.Plan.Ranks), rs.Plan.TotalEntries())
	fmt.Fprintf(w, "  the rank files are read as %d Hugging Face tensors (%s), gathered in memory one op group at a time and never written as HF files; the plan below is the conversion of those tensors\n\n",
		len(rp.Forward.Tensors), core.HumanBytes(bytes))
}
