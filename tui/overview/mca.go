package overview

import (
	"fmt"
	"github.com/omnitui/omnitui/loader/safetext"
	"strings"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/bar"
	"github.com/omnitui/omnitui/tui/common"
)

// mcaLines is the overview of a Megatron checkpoint: what mca_config.json
// records, the rank files, whether it maps back to Hugging Face, and the model
// it holds by component.
func (m *Model) mcaLines() []string {
	ctx := m.ctx
	x := ctx.MCA
	st := ctx.Styles
	w := m.width
	lbl := func(l string) string { return st.Label.Render(common.Pad(l, 10)) }
	var out []string
	add := func(l ...string) { out = append(out, l...) }

	mt := common.ConfigString(x.Ck.Config, "hf_model_type")
	if mt == "" {
		mt = "(no hf_model_type in mca_config.json)"
	}
	add(st.Title.Render("Overview") + "  " + st.Value.Render(mt) + st.Muted.Render("  Megatron-Core checkpoint (mcore_adapter)"))
	add(lbl("path") + st.Value.Render(common.TruncateLeft(safetext.Escape(ctx.Path), max(w-10, 8))))
	add(lbl("iteration") + fmt.Sprintf("%s · %s · %s · %s", x.Ck.IterDir, common.Plural(len(x.Ck.Ranks), "rank file"),
		common.Plural(x.Total.Tensors, "tensor"), common.Bytes(x.Total.Bytes)))
	for i, l := range common.Wrap(recordedLine(x.Recorded), max(w-10, 8), "") {
		if i == 0 {
			add(lbl("recorded") + l)
		} else {
			add(strings.Repeat(" ", 10) + l)
		}
	}
	add("")

	add(m.reverseLines(w)...)
	add("")

	add(m.rankLines(w)...)
	if ctx.Plan == nil {
		return out // no Hugging Face tensors to show
	}
	add("")

	s := ctx.Stats
	var dts []string
	for _, d := range s.DTypes {
		t := s.ByDType[d]
		dts = append(dts, fmt.Sprintf("%s %s", d, common.Count(int64(t.Tensors))))
	}
	add(st.Title.Render("As Hugging Face") + st.Muted.Render(fmt.Sprintf("  %s params · %s · %s · %s",
		common.Params(s.Total.Params), common.Bytes(s.Total.Bytes), common.Plural(s.Total.Tensors, "tensor"), strings.Join(dts, " · "))))
	add(m.componentLines(w)...)
	return out
}

// recordedLine lists the parallel settings mca_config.json records.
func recordedLine(s core.Settings) string {
	parts := []string{common.SettingsLine(s.TP, s.PP, s.VPP, s.EP, s.ETP)}
	if s.Layout != "" {
		parts = append(parts, "layout "+s.Layout)
	}
	impl := "TE"
	if s.TransformerImpl == "local" {
		impl = "local"
	}
	parts = append(parts, impl)
	if s.GroupedGEMM {
		g := "grouped GEMM"
		if s.LegacyGroupedGEMM {
			g += " (legacy)"
		}
		parts = append(parts, g)
	}
	if s.AccountEmbedding {
		parts = append(parts, "account embedding")
	}
	if s.AccountLoss {
		parts = append(parts, "account loss")
	}
	return strings.Join(parts, " · ")
}

// reverseLines says whether the checkpoint maps back to Hugging Face.
func (m *Model) reverseLines(w int) []string {
	ctx := m.ctx
	st := ctx.Styles
	x := ctx.MCA
	title := st.Title.Render("Back to HF") + "  "
	p := ctx.Plan
	if p == nil {
		out := []string{title + st.Error.Render("✗ cannot map this checkpoint back")}
		if ctx.PlanErr != nil {
			out = append(out, indentAll(common.WrapStyled(st.Error, ctx.PlanErr.Error(), w-4, ""), "  ")...)
		}
		return out
	}
	files := 0
	if x.Reverse != nil {
		files = len(x.Reverse.PlanHFShards(0))
	}
	errs, _ := ctx.IssueCounts()
	status := st.OK.Render("✓ maps back")
	if errs > 0 {
		status = st.Error.Render("✗ " + common.Plural(errs, "error"))
	}
	cfg := "config.json unchanged"
	if x.Reverse != nil && len(x.Reverse.ConfigChanged) > 0 {
		cfg = fmt.Sprintf("%d config.json value(s) written back", len(x.Reverse.ConfigChanged))
	}
	out := []string{title + status + st.Muted.Render(fmt.Sprintf(" · %s · %s", common.Plural(files, "safetensors file"), cfg)),
		"  " + fmt.Sprintf("%s → %s", common.Plural(len(p.Groups), "Megatron tensor"), common.Plural(len(p.Tensors), "HF tensor"))}
	for _, is := range p.Issues {
		out = append(out, common.IssueLines(st, is, w)...)
	}
	if errs == 0 {
		out = append(out, st.Muted.Render("  c converts it back; 4 Mapping shows each tensor's way back"))
	}
	return out
}

// rankLines is the table of rank files with tensors, bytes and a size bar.
func (m *Model) rankLines(w int) []string {
	st := m.ctx.Styles
	x := m.ctx.MCA
	out := []string{st.Title.Render("Rank files") + st.Muted.Render(fmt.Sprintf("  %s in %s", common.Plural(len(x.Ranks), "file"), x.Ck.IterDir))}
	lw := 0
	var largest int64
	for _, r := range x.Ranks {
		lw = max(lw, common.Width(r.Label))
		largest = max(largest, r.Bytes)
	}
	lw = min(lw, 18)
	const numW = 10
	barW := min(w-lw-2*numW-16, 24)
	head := "  " + common.Pad("file", lw) + common.PadLeft("dicts", 9) + common.PadLeft("tensors", numW) + common.PadLeft("bytes", numW+1)
	out = append(out, st.Muted.Render(head))
	for i, r := range x.Ranks {
		rk := x.Ck.Ranks[i]
		dicts := ""
		switch n := len(rk.Chunks); {
		case n == 1:
			dicts = rk.Chunks[0].Key
		case n > 1:
			dicts = fmt.Sprintf("%s–%d", rk.Chunks[0].Key, rk.Chunks[n-1].VP)
		}
		row := "  " + common.Pad(r.Label, lw) + common.PadLeft(common.Truncate(dicts, 8), 9) +
			common.PadLeft(common.Count(int64(r.Tensors)), numW) + common.PadLeft(common.Bytes(r.Bytes), numW+1)
		if barW >= 6 && largest > 0 {
			row += "  " + bar.Render(float64(r.Bytes)/float64(largest), barW, st.BarFill, st.BarEmpty)
		}
		out = append(out, row)
		if len(rk.Skipped) > 0 {
			out = append(out, st.Muted.Render("    not weights, skipped: "+common.Truncate(strings.Join(rk.Skipped, ", "), max(w-30, 8))))
		}
	}
	return out
}
