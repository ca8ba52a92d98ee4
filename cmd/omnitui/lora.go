package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui"
)

// loraOptions are the flags of LoRA adapter exports.
type loraOptions struct {
	scale     string
	baseModel string
	mergeInto string
	adapter   string
}

func (l *loraOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&l.scale, "lora-scale", core.LoRAScaleKeep, "")
	fs.StringVar(&l.baseModel, "base-model", "", "")
	fs.StringVar(&l.mergeInto, "merge-into", "", "")
	fs.StringVar(&l.adapter, "adapter", "", "")
}

const loraHelp = `
LoRA adapters (a ROLL/mcore_adapter LoRA checkpoint: mca_config.json at the top, one folder per
adapter with adapter_config.json and iter_*/mp_rank_*/model_optim_rng.pt) -> Hugging Face PEFT:
  omnitui --batch --plan [--json] LORA_CKPT        show adapters, ranks, scales and every PEFT tensor
  omnitui --batch --to-hf --out DIR LORA_CKPT      write adapter_config.json + adapter_model.safetensors
                         ("default" at the top of DIR, other adapters in DIR/<name>); no base model needed
  --lora-scale keep|roll keep (default): rank-reduced grouped-GEMM experts get the alpha_pattern that keeps
                         their trained scale alpha/r; roll: ROLL's config exactly (rank_pattern only)
  --base-model NAME      base_model_name_or_path to record (default: the embedded HF config's)
  --dtype and --take-rank0 work as for --to-hf.
  omnitui --batch --verify LORA_CKPT PEFT_DIR      compare an exported adapter with the mapping
  omnitui --batch --to-hf --merge-into BASE [--adapter NAME] --out DIR LORA_CKPT
                         write BASE (a Hugging Face checkpoint) with the adapter merged: W + scale·B·A in
                         float32, cast back; every other file copied (--adapter: default, or the only one)
`

// runLoRA handles ROLL LoRA checkpoints; handled is false for every other input.
func runLoRA(ctx context.Context, o *options, pos []string, stdout, stderr io.Writer) (code int, handled bool) {
	idx := -1
	for _, p := range pos {
		if _, err := os.Stat(filepath.Join(p, mca.AdapterConfigName)); err == nil && mca.IsAdapterSet(filepath.Dir(filepath.Clean(p))) {
			fmt.Fprintf(stderr, "omnitui: %s is one adapter of the LoRA checkpoint %s: point omnitui at that folder (it holds the top mca_config.json and every adapter)\n", quote(p), quote(filepath.Dir(filepath.Clean(p))))
			return exitBadUsage, true
		}
	}
	for i, p := range pos {
		if mca.IsAdapterSet(p) {
			idx = i
			break
		}
	}
	if idx < 0 {
		return 0, false
	}
	path := pos[idx]
	if o.tk.tasks > 0 || o.tk.commit || o.tk.status {
		fmt.Fprintf(stderr, "omnitui: %s is a LoRA adapter checkpoint: its export is small and is not split into tasks; run it without --tasks\n", quote(path))
		return exitBadUsage, true
	}
	if o.verify {
		if len(pos) != 2 || idx != 0 {
			fmt.Fprintln(stderr, "omnitui: --verify LORA_CKPT PEFT_DIR compares a ROLL LoRA checkpoint with an exported PEFT adapter folder")
			return exitBadUsage, true
		}
		return verifyLoRA(o, path, pos[1], stdout, stderr), true
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "omnitui: expected exactly one checkpoint path, got %d\n", len(pos))
		return exitBadUsage, true
	}
	interactive := !o.batch && !o.plan && !o.jsonOut && !o.toHF && o.out == ""
	if interactive {
		if f, ok := stdout.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
			fmt.Fprintln(stderr, "omnitui: the interactive UI needs a terminal; use --batch --plan or --batch --to-hf --out DIR")
			return exitBadUsage, true
		}
	} else if !o.plan && !o.jsonOut && !o.toHF && o.out == "" {
		fmt.Fprintf(stderr, "omnitui: %s is a LoRA adapter checkpoint: use --batch --plan to see how it maps to PEFT, or --batch --to-hf --out DIR to export it\n", quote(path))
		return exitBadUsage, true
	}
	if !o.plan && o.out == "" {
		fmt.Fprintln(stderr, "omnitui: exporting LoRA adapters needs --out DIR")
		return exitBadUsage, true
	}
	if !o.plan && outputExists(o, stderr) {
		return exitBadUsage, true
	}
	set, err := mca.OpenAdapters(path)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	defer set.Close()
	p, err := core.BuildLoRAPlan(set, core.LoRAOptions{Scale: o.lora.scale, BaseModel: o.lora.baseModel, DType: o.s.DType, TakeRank0: o.takeRank0})
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage, true
	}
	if interactive {
		if err := tui.RunLoRA(p, path); err != nil {
			fmt.Fprintf(stderr, "omnitui: %v\n", err)
			return exitFailed, true
		}
		return exitOK, true
	}
	if o.plan || o.jsonOut {
		if o.jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p); err != nil {
				fmt.Fprintf(stderr, "omnitui: writing the plan: %v\n", err)
				return exitFailed, true
			}
		} else {
			writeLoRAPlan(stdout, p, o.verbose)
		}
		if p.HasErrors() {
			return exitBadUsage, true
		}
		return exitOK, true
	}
	if p.HasErrors() {
		fmt.Fprintf(stderr, "omnitui: %s cannot be exported to PEFT; nothing was written:\n  - %s\n", quote(path), p.ErrorText())
		return exitBadUsage, true
	}
	if o.lora.mergeInto != "" {
		return mergeLoRA(ctx, o, p, stderr), true
	}
	res, err := core.ExportLoRA(ctx, p, core.LoRAExportOptions{Out: o.out, Force: o.force})
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: export failed: %v\n", err)
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "omnitui: interrupted; nothing was left under the output name")
		}
		return exitBadUsage, true
	}
	fmt.Fprintf(stderr, "omnitui: wrote %s: %d adapter(s), %d tensors, %s in %s\n", res.Out, len(res.Files), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
	return exitOK, true
}

func verifyLoRA(o *options, src, peft string, stdout, stderr io.Writer) int {
	set, err := mca.OpenAdapters(src)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage
	}
	defer set.Close()
	p, err := core.BuildLoRAPlan(set, core.LoRAOptions{TakeRank0: o.takeRank0})
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage
	}
	res, err := core.VerifyLoRA(p, peft)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: %v\n", err)
		return exitBadUsage
	}
	code := exitOK
	for _, r := range res {
		if len(r.Diffs) == 0 {
			fmt.Fprintf(stdout, "adapter %s: MATCH (%d tensors)\n", quote(r.Adapter), r.Compared)
			continue
		}
		code = exitFailed
		fmt.Fprintf(stdout, "adapter %s: DIFF in %d of %d tensors\n", quote(r.Adapter), len(r.Diffs), r.Compared)
		for i, d := range r.Diffs {
			if i == 20 {
				fmt.Fprintf(stdout, "  ... %d more\n", len(r.Diffs)-i)
				break
			}
			fmt.Fprintf(stdout, "  %s\n", quote(d))
		}
	}
	return code
}

func mergeLoRA(ctx context.Context, o *options, p *core.LoRAPlan, stderr io.Writer) int {
	base, err := loader.OpenHF(o.lora.mergeInto)
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: --merge-into: %v\n", err)
		return exitBadUsage
	}
	defer base.Close()
	res, err := core.MergeLoRA(ctx, p, o.lora.adapter, base, core.LoRAExportOptions{Out: o.out, Force: o.force})
	if err != nil {
		fmt.Fprintf(stderr, "omnitui: merge failed; nothing was written: %v\n", err)
		return exitBadUsage
	}
	fmt.Fprintf(stderr, "omnitui: wrote %s: %d safetensors file(s), %d merged weights, %s in %s\n", res.Out, len(res.Files), res.Tensors, core.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
	return exitOK
}

func quote(s string) string { return core.Printable(s) }

// writeLoRAPlan prints the Overview (adapters, r, alpha, rslora, targets, per-module ranks)
// and the Mapping (each PEFT tensor, its source rank tensors and the op).
func writeLoRAPlan(w io.Writer, p *core.LoRAPlan, verbose bool) {
	fmt.Fprintf(w, "LoRA checkpoint %s (model_type %s)\n", core.Printable(p.Dir), core.Printable(p.ModelType))
	for _, a := range p.Adapters {
		out := "top of the output"
		if a.OutDir != "" {
			out = a.OutDir + "/"
		}
		fmt.Fprintf(w, "adapter %s -> %s\n", core.Printable(a.Name), core.Printable(out))
		fmt.Fprintf(w, "  r %d, lora_alpha %g, use_rslora %t, lora_dropout %g, base_model_name_or_path %s\n", a.R, a.Alpha, a.RSLoRA, a.Dropout, core.Printable(orDash(a.BaseModel)))
		fmt.Fprintf(w, "  Megatron targets %s -> PEFT target_modules %s\n", core.Printable(strings.Join(a.SourceTargets, ", ")), core.Printable(strings.Join(a.Targets, ", ")))
		if len(a.RankPattern) > 0 {
			fmt.Fprintf(w, "  rank_pattern %s\n", patternText(a.RankPattern, nil))
		}
		if len(a.AlphaPattern) > 0 {
			fmt.Fprintf(w, "  alpha_pattern %s\n", patternText(nil, a.AlphaPattern))
		}
		fmt.Fprintln(w, "  module ranks:")
		for _, mr := range a.ModuleRanks {
			g := ""
			if mr.Grouped {
				g = " (grouped-GEMM experts: rank r/topk)"
			}
			fmt.Fprintf(w, "    %-52s rank %3d  trained scale %-8g x%d%s\n", core.Printable(mr.Module), mr.Rank, mr.Scale, mr.Count, g)
		}
		for _, n := range a.Notes {
			fmt.Fprintf(w, "  note: %s\n", core.Printable(n))
		}
		fmt.Fprintf(w, "  mapping: %d PEFT tensors, %s\n", len(a.Tensors), core.HumanBytes(a.Bytes))
		limit := 12
		if verbose {
			limit = len(a.Tensors)
		}
		for i, t := range a.Tensors {
			if i == limit {
				fmt.Fprintf(w, "    ... %d more (--verbose lists all)\n", len(a.Tensors)-limit)
				break
			}
			src := t.Sources[0]
			if len(t.Sources) > 1 {
				src = fmt.Sprintf("%s (+%d TP slices)", src, len(t.Sources)-1)
			}
			fmt.Fprintf(w, "    %s %v <- %-13s %s\n", core.Printable(t.Name), t.Shape, t.Op, core.Printable(src))
		}
	}
	for _, is := range p.Issues {
		fmt.Fprintf(w, "%s [%s] %s\n", is.Severity, is.Code, core.Printable(is.Message))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func patternText(r map[string]int, a map[string]float64) string {
	var parts []string
	for k, v := range r {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	for k, v := range a {
		parts = append(parts, fmt.Sprintf("%s: %g", k, v))
	}
	sort.Strings(parts)
	return core.Printable("{" + strings.Join(parts, ", ") + "}")
}
