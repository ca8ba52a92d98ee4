// Package statusbar draws the bottom status line: which checkpoint, which
// settings, whether the plan converts, and a pointer to the help.
package statusbar

import (
	"github.com/omnitui/omnitui/loader/safetext"
	"path/filepath"

	"github.com/omnitui/omnitui/core"

	"github.com/omnitui/omnitui/tui/common"
)

// View draws the status line in width cells. running is a short note about a
// conversion in flight ("" for none).
func View(ctx *common.Context, running string, width int) string {
	st := ctx.Styles
	name := ctx.Path
	if ctx.Ck != nil && ctx.Ck.Dir != "" {
		name = ctx.Ck.Dir
	}
	name = safetext.Escape(name)
	name = filepath.Base(filepath.Clean(name))
	s := ctx.Settings
	etp := s.ETP
	kind := ""
	if ctx.IsMCA() && !ctx.MCA.Resharding() {
		kind = " · Megatron" // while resharding, the arrow to the new layout says it
	}
	left := st.StatusKey.Render(name) + st.Status.Render(kind+" · "+common.SettingsLine(max(s.TP, 1), max(s.PP, 1), s.VPP, max(s.EP, 1), etp))
	if s.DType != "" && s.DType != "keep" {
		left += st.Status.Render(" · " + s.DType)
	}
	if x := ctx.MCA; x != nil && x.Resharding() {
		t := x.Target.Settings.Normalized()
		left += st.Accent.Render(" → " + common.SettingsLine(t.TP, t.PP, t.VPP, t.EP, t.ETP))
	}
	errs, warns := ctx.IssueCounts()
	resharding := ctx.IsMCA() && ctx.MCA.Resharding()
	var plan string
	switch {
	case ctx.IsLoRA() && ctx.LoRA.HasErrors():
		plan = st.Error.Render("✗ cannot export to PEFT")
	case ctx.IsLoRA():
		plan = st.OK.Render("✓ maps to PEFT")
	case ctx.Planning():
		plan = st.Accent.Render("planning…")
	case resharding:
		plan = reshardStatus(ctx)
		warns = 0 // the source's warnings are not the reshard's
	case ctx.Plan == nil && ctx.IsMCA():
		plan = st.Error.Render("✗ cannot map back")
	case ctx.Plan == nil:
		plan = st.Error.Render("✗ cannot plan")
	case errs > 0:
		plan = st.Error.Render("✗ " + common.Plural(errs, "error"))
	case ctx.IsMCA():
		plan = st.OK.Render("✓ maps back")
	default:
		plan = st.OK.Render("✓ plan ok")
	}
	if warns > 0 && ctx.Plan != nil {
		plan += st.Warning.Render(" · " + common.Plural(warns, "warning"))
	}
	left += st.Status.Render(" · ") + plan
	if running != "" {
		left += st.Status.Render(" · ") + st.Accent.Render(running)
	}
	// The pointer to the help comes from the key map, like the help line below it
	// (bubbles/help), so the two cannot disagree.
	hk := ctx.Keys.Help.Help()
	right := st.Status.Render(hk.Key + " " + hk.Desc)
	gap := width - common.Width(left) - common.Width(right)
	if gap < 1 {
		return common.Truncate(left, width)
	}
	return left + common.Pad("", gap) + right
}

// reshardStatus says whether the reshard chosen in 5 Placement can be written.
func reshardStatus(ctx *common.Context) string {
	st := ctx.Styles
	p, _ := ctx.TargetPlan()
	if p == nil {
		return st.Error.Render("✗ cannot reshard")
	}
	errs := 0
	for _, is := range p.Issues {
		if is.Severity == core.SevError {
			errs++
		}
	}
	if errs > 0 {
		return st.Error.Render("✗ " + common.Plural(errs, "error"))
	}
	return st.OK.Render("✓ reshard ok")
}
