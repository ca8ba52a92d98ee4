package convert

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// setReshard chooses what a Megatron checkpoint is converted to, and moves the
// output directory along when it is still the default of the other choice.
func (m *Model) setReshard(v bool) {
	if v == m.reshard {
		return
	}
	was := defaultOutFor(m.ctx, m.reshard)
	m.reshard = v
	if strings.TrimSpace(m.out.Value()) == was {
		m.out.SetValue(defaultOutFor(m.ctx, v))
	}
	m.note = ""
}

// defaultOutFor is the default output directory of a Megatron checkpoint.
func defaultOutFor(ctx *common.Context, reshard bool) string {
	if reshard {
		return defaultOutSuffix(ctx, "-reshard")
	}
	return defaultOutSuffix(ctx, "-hf")
}

// Reshard reports whether the form converts a Megatron checkpoint to Megatron
// (with the layout of 5 Placement) instead of Hugging Face.
func (m *Model) Reshard() bool { return m.reshard }

// mcaFormView is the form for a Megatron checkpoint: the output directory, what
// to write, what to do where copies disagree, and what will be written.
func (m *Model) mcaFormView() []string {
	ctx := m.ctx
	x := ctx.MCA
	st := ctx.Styles
	w := m.width
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 12)) }
	cur := func(f int) string {
		if f == m.at() {
			return "› "
		}
		return "  "
	}
	title := "Megatron → Hugging Face: write safetensors and config.json"
	if m.reshard {
		title = "Megatron → Megatron: reshard to the layout of 5 Placement"
	}
	out := []string{st.Title.Render("Convert") + st.Muted.Render("  "+title), ""}
	out = append(out, cur(focusOut)+lbl("output dir")+m.out.View(max(w-16, 8), st))
	format := "Hugging Face"
	if m.reshard {
		format = "Megatron (reshard)"
	}
	if m.at() == focusFormat {
		format = "‹ " + format + " ›"
	}
	out = append(out, cur(focusFormat)+lbl("write")+format)
	box := "[ ]"
	if m.takeRank0 {
		box = "[x]"
	}
	if m.at() == focusTake0 {
		box = "‹ " + box + " ›"
	}
	out = append(out, cur(focusTake0)+lbl("take rank 0")+box+st.Muted.Render("  where copies of a tensor disagree (else stop)"))
	out = append(out, cur(focusStart)+lbl("")+m.startButton())
	out = append(out, "")
	if x.Reverse != nil && ctx.Plan != nil {
		out = append(out, lbl("reads")+fmt.Sprintf("%s · %s · %s", common.Plural(len(x.Ranks), "rank file"),
			common.Plural(x.Total.Tensors, "tensor"), common.Bytes(x.Total.Bytes)))
	}
	if m.reshard {
		return append(out, m.reshardLines(lbl)...)
	}
	if rp := x.Reverse; rp != nil && ctx.Plan != nil {
		shards := rp.PlanHFShards(0)
		var bytes int64
		for _, sh := range shards {
			bytes += sh.Bytes
		}
		out = append(out, lbl("writes")+fmt.Sprintf("%s · %s · %s", common.Plural(len(shards), "safetensors file"),
			common.Plural(len(ctx.Plan.Tensors), "tensor"), common.Bytes(bytes)))
		extra := "config.json"
		if len(rp.ConfigChanged) > 0 {
			extra += fmt.Sprintf(" (%d value(s) written back)", len(rp.ConfigChanged))
		}
		if n := len(x.Ck.ExtraFiles); n > 0 {
			extra += " + " + common.Plural(n, "tokenizer/processor file")
		}
		out = append(out, lbl("")+st.Muted.Render(extra))
	}
	if x.Reverse == nil || ctx.HasErrors() {
		out = append(out, m.planErrorLines("✗ the checkpoint does not map back to Hugging Face:", w)...)
	}
	out = append(out, m.stagedLines(w)...)
	if m.note != "" {
		out = append(out, "", st.Warning.Render(m.note))
	}
	return out
}

// reshardLines say what a reshard writes, or why it cannot.
func (m *Model) reshardLines(lbl func(string) string) []string {
	ctx := m.ctx
	x := ctx.MCA
	st := ctx.Styles
	w := m.width
	var out []string
	s := x.Target.Settings.Normalized()
	out = append(out, lbl("layout")+common.SettingsLine(s.TP, s.PP, s.VPP, s.EP, s.ETP)+st.Muted.Render("  (5 Placement)"))
	p, err := ctx.TargetPlan()
	switch {
	case ctx.Planning():
		out = append(out, st.Accent.Render("… planning the new layout"))
	case !x.Resharding():
		out = append(out, st.Warning.Render("this is the recorded layout: choose a new one in 5 Placement"))
	case p == nil:
		out = append(out, common.WrapStyled(st.Error, "✗ "+err.Error(), w, "  ")...)
	default:
		var bytes int64
		var tensors int
		for _, r := range p.Ranks {
			bytes += r.Bytes
			tensors += r.Tensors
		}
		out = append(out, lbl("writes")+fmt.Sprintf("%s · %s · %s", common.Plural(len(p.Ranks), "rank file"),
			common.Plural(tensors, "tensor"), common.Bytes(bytes)))
		out = append(out, lbl("")+st.Muted.Render("mca_config.json, latest_checkpointed_iteration.txt"))
		errs := false
		for _, is := range p.Issues {
			if is.Severity == core.SevError {
				if !errs {
					out = append(out, st.Error.Render("✗ the new layout has errors; fix them in 5 Placement:"))
					errs = true
				}
				out = append(out, common.IssueLines(st, is, w)...)
			}
		}
	}
	if m.note != "" {
		out = append(out, "", st.Warning.Render(m.note))
	}
	return out
}

// shardLines lists the safetensors files a Megatron -> HF conversion writes.
func (m *Model) shardLines(r *run, room int) []string {
	st := m.ctx.Styles
	lines := []string{st.Title.Render("files")}
	lw := 0
	for _, sh := range r.shards {
		lw = max(lw, common.Width(sh.File))
	}
	lw = min(lw, max(m.width-30, 10))
	for i, sh := range r.shards {
		if i >= room-2 && len(r.shards) > room-1 {
			lines = append(lines, st.Muted.Render(fmt.Sprintf("  … %d more", len(r.shards)-i)))
			break
		}
		lines = append(lines, "  "+common.Pad(sh.File, lw)+common.PadLeft(common.Bytes(sh.Bytes), 11)+
			st.Muted.Render(common.PadLeft(common.Plural(len(sh.Tensors), "tensor"), 14)))
	}
	return lines
}

// mcaDoneLines is the finish screen of a Megatron -> HF conversion.
func (m *Model) mcaDoneLines(out string) []string {
	st := m.ctx.Styles
	w := m.width
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 9)) }
	res := m.res
	if res == nil {
		res = &core.Result{Out: out}
	}
	if res.Out != "" {
		out = res.Out
	}
	rate := ""
	if s := res.Elapsed.Seconds(); s > 0 {
		rate = " · " + common.Bytes(int64(float64(res.Bytes)/s)) + "/s"
	}
	lines := []string{st.OK.Render("✓ Converted to Hugging Face") + st.Muted.Render(" in "+common.Duration(res.Elapsed)), ""}
	lines = append(lines, lbl("output")+common.TruncateLeft(out, max(w-9, 8)))
	lines = append(lines, lbl("wrote")+fmt.Sprintf("%s · %s · %s%s", common.Plural(len(res.Files), "safetensors file"),
		common.Plural(res.Tensors, "tensor"), common.Bytes(res.Bytes), rate))
	room := m.height - len(lines) - 5
	for i, f := range res.Files {
		if i >= room-1 && len(res.Files) > room {
			lines = append(lines, st.Muted.Render(fmt.Sprintf("  … %d more", len(res.Files)-i)))
			break
		}
		lines = append(lines, "  "+f)
	}
	other := "  config.json"
	if len(res.Files) > 1 {
		other += ", model.safetensors.index.json"
	}
	lines = append(lines, other)
	if n := len(m.ctx.MCA.Ck.ExtraFiles); n > 0 {
		lines = append(lines, st.Muted.Render("  + "+common.Plural(n, "tokenizer/processor file")+" copied"))
	}
	return lines
}
