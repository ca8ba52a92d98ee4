package core

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// HumanBytes renders a byte count with binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// HumanCount renders a parameter count (1.23B, 45.6M, 789K).
func HumanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// ShapeString renders a shape like [4096, 2048].
func ShapeString(s []int64) string { return shapeStr(s) }

// RuleSummary aggregates the groups of one rule.
type RuleSummary struct {
	Op      OpKind    `json:"op"`
	Rule    string    `json:"rule"`
	MCA     string    `json:"mca_example"`
	Split   SplitKind `json:"split"`
	Groups  int       `json:"groups"`
	Inputs  int       `json:"hf_tensors"`
	Example string    `json:"hf_example"`
}

// RuleSummaries groups the plan's ops by rule, in first-seen order.
func (p *Plan) RuleSummaries() []RuleSummary {
	var out []RuleSummary
	idx := map[string]int{}
	for _, g := range p.Groups {
		key := string(g.Op) + "|" + g.Rule + "|" + string(g.Split)
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, RuleSummary{Op: g.Op, Rule: g.Rule, MCA: g.Name, Split: g.Split, Example: g.HFNames[0]})
		}
		out[i].Groups++
		out[i].Inputs += len(g.HFNames)
	}
	return out
}

// WriteText prints a plan for people. verbose lists every op group and destination.
func (p *Plan) WriteText(w io.Writer, source string, verbose bool) error {
	bw := &errWriter{w: w}
	pf := bw.printf
	var params, bytes int64
	shards := map[int]bool{}
	for i := range p.Tensors {
		params += p.Tensors[i].NumEl()
		bytes += p.Tensors[i].Size
		shards[p.Tensors[i].Shard] = true
	}
	s := p.Settings
	pf("omnitui plan for %s\n", source)
	pf("model_type %s: %d tensors, %s parameters, %s in %d shard file(s)\n", p.ModelType, len(p.Tensors), HumanCount(params), HumanBytes(bytes), len(shards))
	if p.MatchedBy != "" {
		pf("%s\n", p.TemplateLine())
	}
	vpp := "unset"
	if s.VPP > 0 {
		vpp = fmt.Sprint(s.VPP)
	}
	layout := "uniform"
	if s.Layout != "" {
		layout = fmt.Sprintf("%q", s.Layout)
	}
	pf("settings: TP %d, PP %d, VPP %s, EP %d, ETP %d, layout %s, account embedding %v / loss %v, grouped GEMM %v (legacy %v), impl %s, dtype %s\n",
		s.TP, s.PP, vpp, s.EP, s.ETP, layout, s.AccountEmbedding, s.AccountLoss, s.GroupedGEMM, s.LegacyGroupedGEMM, s.TransformerImpl, s.DType)

	pf("\n== config mapping (config.json -> mca_config.json) ==\n")
	for _, m := range p.Config {
		v := m.Value
		if m.Missing {
			v = "(missing: left out)"
		} else if len(v) > 60 {
			v = v[:57] + "..."
		}
		pf("  %-52s -> %-36s %s\n", m.HFKey, m.MCAKey, v)
	}
	pf("  constants:")
	for _, kv := range p.MCAConfig {
		if kv.Key == "hf_config_json" {
			continue
		}
		if isConstantOrParallel(kv.Key, p) {
			pf(" %s=%s", kv.Key, kv.Value)
		}
	}
	pf("\n")

	pf("\n== ops (by rule) ==\n")
	pf("  %-8s %-58s    %-46s %-10s %s\n", "op", "HF names (the rule's pattern)", "Megatron name (the first, e.g.)", "split", "op groups")
	for _, r := range p.RuleSummaries() {
		pf("  %-8s %-58s -> %-46s %-10s x%d\n", r.Op, r.Rule, r.MCA, r.Split, r.Groups)
	}

	if n, f8, sc, bf := p.FP8Bytes(); n > 0 {
		pf("\n== FP8 ==\n  %d weight(s) %s on the fly: %s F8_E4M3 + %s F32 scales -> %s bf16\n", n, DequantLabel, HumanBytes(f8), HumanBytes(sc), HumanBytes(bf))
	}
	if m := p.MTPSummary(); m != "" {
		pf("\n== MTP ==\n  %s\n", m)
	}
	if len(p.Stages) > 0 {
		pf("\n== pipeline ==\n")
		for _, st := range p.Stages {
			var extras []string
			if len(p.Ranks) > 0 && st.VP < len(p.Ranks[0].Chunks) {
				for _, rf := range p.Ranks {
					if rf.PP == st.PP {
						extras = rf.Chunks[st.VP].Extras
						break
					}
				}
			}
			rng := "no layers"
			if st.Count > 0 {
				rng = fmt.Sprintf("layers %d-%d (%d)", st.First, st.First+st.Count-1, st.Count)
			}
			ex := ""
			if len(extras) > 0 {
				ex = " + " + strings.Join(extras, ", ")
			}
			pf("  pp %d vp %d: %s%s\n", st.PP, st.VP, rng, ex)
		}
	}
	if len(p.Ranks) > 0 {
		pf("\n== rank files ==\n")
		largest := 0
		for i, rf := range p.Ranks {
			if rf.Bytes > p.Ranks[largest].Bytes {
				largest = i
			}
		}
		for i, rf := range p.Ranks {
			mark := ""
			if i == largest && len(p.Ranks) > 1 {
				mark = "  <- largest"
			}
			pf("  %-52s tp %d pp %d ep %d: %6d tensors %12s%s\n", rf.Path, rf.TP, rf.PP, rf.EP, rf.Tensors, HumanBytes(rf.Bytes), mark)
		}
		pf("  total: %d files, %d tensors, %s\n", len(p.Ranks), p.TotalEntries(), HumanBytes(p.TotalBytes()))
	}
	if verbose {
		pf("\n== every op ==\n")
		for _, g := range p.Groups {
			fp8 := ""
			if g.Scales != nil {
				fp8 = " (" + DequantLabel + ")"
			}
			pf("  %s %s %s%s -> %s %s %s\n", g.Op, strings.Join(g.HFNames, " + "), g.DType, fp8, g.Name, shapeStr(g.Shape), g.Split)
			for _, d := range g.Dests {
				rf := p.Ranks[d.Rank]
				pf("      %s [%s] %s %s tp slice %d/%d\n", rf.Path, rf.Chunks[d.Chunk].Key, d.Name, shapeStr(d.Shape), d.TPRank, d.TPSize)
			}
		}
	}
	pf("\n== issues ==\n")
	if len(p.Issues) == 0 {
		pf("  none\n")
	}
	issues := append([]Issue(nil), p.Issues...)
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].Severity == SevError && issues[j].Severity != SevError })
	for _, is := range issues {
		pf("  %s [%s] %s\n", is.Severity, is.Code, is.Message)
		if brief := is.TensorsBrief(3); brief != "" && !verbose {
			pf("      %s\n", brief)
		}
		if len(is.Tensors) > 0 && verbose {
			for _, t := range is.Tensors {
				pf("      %s\n", t)
			}
		}
	}
	if p.HasErrors() {
		pf("\nplan has errors: nothing would be written\n")
	} else {
		pf("\nplan OK\n")
	}
	return bw.err
}

func isConstantOrParallel(key string, p *Plan) bool {
	for _, m := range p.Config {
		if m.MCAKey == key {
			return false
		}
	}
	return key != "name_or_path"
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}
