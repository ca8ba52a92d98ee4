package convert

import (
	"fmt"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// mcaFormView is the form for a Megatron checkpoint: the output directory, what
// to do where copies disagree, and what will be written.
func (m *Model) mcaFormView() []string {
	ctx := m.ctx
	x := ctx.MCA
	st := ctx.Styles
	w := m.width
	lbl := func(s string) string { return st.Label.Render(common.Pad(s, 12)) }
	cur := func(f int) string {
		if f == m.focus {
			return "› "
		}
		return "  "
	}
	out := []string{st.Title.Render("Convert") + st.Muted.Render("  Megatron → Hugging Face: write safetensors and config.json"), ""}
	out = append(out, cur(focusOut)+lbl("output dir")+m.out.View(max(w-16, 8), st.Value, st.Cursor, st.Muted))
	box := "[ ]"
	if m.takeRank0 {
		box = "[x]"
	}
	if m.focus == focusDType {
		box = "‹ " + box + " ›"
	}
	out = append(out, cur(focusDType)+lbl("take rank 0")+box+st.Muted.Render("  where copies of a tensor disagree (else stop)"))
	btn := "[ Convert ]"
	if m.focus == focusStart && !st.Plain {
		btn = st.TabActive.Render("Convert")
	}
	out = append(out, cur(focusStart)+lbl("")+btn)
	out = append(out, "")
	if rp := x.Reverse; rp != nil && ctx.Plan != nil {
		shards := rp.PlanHFShards(0)
		var bytes int64
		for _, sh := range shards {
			bytes += sh.Bytes
		}
		out = append(out, lbl("reads")+fmt.Sprintf("%s · %s · %s", common.Plural(len(x.Ranks), "rank file"),
			common.Plural(x.Total.Tensors, "tensor"), common.Bytes(x.Total.Bytes)))
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
		out = append(out, st.Error.Render("✗ the checkpoint does not map back to Hugging Face:"))
		if ctx.PlanErr != nil {
			out = append(out, common.WrapStyled(st.Error, "  "+ctx.PlanErr.Error(), w, "    ")...)
		} else if ctx.Plan != nil {
			for _, is := range ctx.Plan.Issues {
				if is.Severity == core.SevError {
					out = append(out, common.IssueLines(st, is, w)...)
				}
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
