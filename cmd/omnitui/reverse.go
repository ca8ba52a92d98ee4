package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/mca"
)

// parseSize reads a byte size: a number with an optional unit (B, KB, MB, GB, TB decimal;
// KiB, MiB, GiB, TiB binary).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suf string
		mul int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if len(t) > len(u.suf) && strings.EqualFold(t[len(t)-len(u.suf):], u.suf) {
			mul, t = u.mul, strings.TrimSpace(t[:len(t)-len(u.suf)])
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || v*float64(mul) > 1<<62 {
		return 0, fmt.Errorf("--max-shard-size %q is not a positive size: use e.g. 5GB, 500MB or a byte count", s)
	}
	return int64(v * float64(mul)), nil
}

// runReverse handles --verify, --to-hf and mcore_adapter inputs; handled is false when the
// arguments are for the HF -> Megatron path.
func runReverse(ctx context.Context, o *options, pos []string, stdout, stderr io.Writer) (code int, handled bool) {
	if o.verify {
		if len(pos) != 2 {
			fmt.Fprintf(stderr, "omnitui: --verify compares two checkpoints: omnitui --batch --verify A B (got %d paths)\n", len(pos))
			return exitBadUsage, true
		}
		if o.atol < 0 || o.rtol < 0 {
			fmt.Fprintln(stderr, "omnitui: --atol and --rtol must not be negative")
			return exitBadUsage, true
		}
		rep, err := core.Verify(ctx, pos[0], pos[1], core.VerifyOptions{Atol: o.atol, Rtol: o.rtol})
		if err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitBadUsage, true
		}
		if err := rep.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "omnitui: writing the report: %v\n", err)
			return exitFailed, true
		}
		if !rep.OK() {
			return exitFailed, true
		}
		return exitOK, true
	}
	isMCA := len(pos) == 1 && mca.IsMCA(pos[0])
	if !o.toHF && !isMCA {
		return 0, false
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "omnitui: expected exactly one checkpoint path, got %d\n", len(pos))
		return exitBadUsage, true
	}
	path := pos[0]
	if !isMCA {
		fmt.Fprintf(stderr, "omnitui: --to-hf reads an mcore_adapter checkpoint, but %s has no mca_config.json: point it at the folder holding mca_config.json and iter_*\n", path)
		return exitBadUsage, true
	}
	if code, handled := runReshard(ctx, o, path, stdout, stderr); handled {
		return code, true
	}
	if !o.plan && !o.toHF {
		fmt.Fprintf(stderr, "omnitui: %s is an mcore_adapter checkpoint: pass --batch --out DIR with new parallel flags (--tp, --pp, ...) to reshard it, --batch --to-hf --out DIR to convert it to Hugging Face, or --batch --plan to see how it maps back\n", path)
		return exitBadUsage, true
	}
	maxShard, err := parseSize(o.maxShardSize)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	if !o.plan && o.out == "" {
		fmt.Fprintln(stderr, "omnitui: --to-hf needs --out DIR")
		return exitBadUsage, true
	}
	if !o.plan && (outputOverlaps(o.out, path, stderr) || outputExists(o, stderr)) {
		return exitBadUsage, true
	}
	m, err := mca.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	defer m.Close()
	if !o.plan {
		for _, msg := range m.Warnings {
			fmt.Fprintf(stderr, "omnitui: warning [rank-copy] %s\n", msg)
		}
	}
	rp, err := core.BuildReversePlanWith(m, core.ReverseOptions{HFLayout: o.s.HFLayout})
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	if o.plan {
		writeReversePlan(stdout, rp, maxShard)
		if rp.HasErrors() {
			return exitBadUsage, true
		}
		return exitOK, true
	}
	if rp.HasErrors() {
		fmt.Fprintf(stderr, "omnitui: %s cannot be mapped back to Hugging Face; nothing was written:\n  - %s\n", path, rp.ErrorText())
		return exitBadUsage, true
	}
	for _, is := range rp.Issues {
		fmt.Fprintf(stderr, "omnitui: warning [%s] %s\n", is.Code, is.Message)
	}
	pr := newProgressPrinter(stdout, stderr, o.jsonOut)
	pr.noun = "HF tensors"
	res, err := core.ConvertToHF(ctx, rp, core.ToHFOptions{Out: o.out, Force: o.force, MaxShardSize: maxShard, TakeRank0: o.takeRank0, Progress: pr.event, NoSync: o.noSync})
	pr.finish()
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: conversion failed: %v\n", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "omnitui: interrupted; nothing was left under the output name")
		}
		return exitFailed, true
	}
	fmt.Fprintf(stderr, "omnitui: wrote %s: %d safetensors file(s), %d tensors, %s in %s\n",
		res.Out, len(res.Files), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
	return exitOK, true
}

func writeReversePlan(w io.Writer, rp *core.ReversePlan, maxShard int64) {
	m, p := rp.Source, rp.Forward
	fmt.Fprintf(w, "mcore_adapter checkpoint %s (%s)\n", m.Dir, m.IterDir)
	for _, msg := range m.Warnings {
		fmt.Fprintf(w, "warning [rank-copy] %s\n", msg)
	}
	fmt.Fprintf(w, "  TP=%d PP=%d EP=%d, %d rank file(s), %d tensors\n", m.TP, m.PP, m.EP, len(m.Ranks), m.NumTensors())
	for _, r := range m.Ranks {
		var chunks []string
		for _, c := range r.Chunks {
			chunks = append(chunks, fmt.Sprintf("%s: %d tensors", c.Key, len(c.Tensors)))
		}
		skipped := ""
		if len(r.Skipped) > 0 {
			skipped = "; skipped " + strings.Join(r.Skipped, ", ")
		}
		fmt.Fprintf(w, "  %s  %s%s\n", r.Path, strings.Join(chunks, ", "), skipped)
	}
	if p != nil {
		var bytes int64
		for _, t := range p.Tensors {
			bytes += t.Size
		}
		fmt.Fprintf(w, "maps back to %d Hugging Face tensors (%s) through %d op groups", len(p.Tensors), core.HumanBytes(bytes), len(p.Groups))
		if !rp.HasErrors() {
			fmt.Fprintf(w, " in %d safetensors file(s)", len(rp.PlanHFShards(maxShard)))
		}
		fmt.Fprintln(w)
		for _, rs := range p.RuleSummaries() {
			fmt.Fprintf(w, "  %-40s <- %-8s %-10s %4d group(s), e.g. %s <- %s\n", rs.MCA, rs.Op, rs.Split, rs.Groups, rs.Example, rs.Rule)
		}
	}
	if len(rp.ConfigChanged) > 0 {
		fmt.Fprintf(w, "config.json: values written back from mca_config.json: %s\n", strings.Join(rp.ConfigChanged, ", "))
	} else {
		fmt.Fprintln(w, "config.json: restored unchanged from hf_config_json")
	}
	for _, is := range rp.Issues {
		fmt.Fprintf(w, "%s [%s] %s\n", is.Severity, is.Code, is.Message)
		if brief := is.TensorsBrief(3); brief != "" {
			fmt.Fprintf(w, "    %s\n", brief)
		}
	}
}
