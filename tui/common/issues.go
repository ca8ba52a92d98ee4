package common

import (
	"regexp"
	"strings"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/safetext"
	"github.com/omnitui/omnitui/tui/styles"
)

// IssueLines renders a plan issue word-wrapped to w cells: "✗ " for errors in the
// error colour, "! " for warnings, with the opt-out flag when there is one.
func IssueLines(st *styles.Styles, is core.Issue, w int) []string {
	mark, style := "! ", st.Warning
	if is.Severity == core.SevError {
		mark, style = "✗ ", st.Error
	}
	msg := AppWording(safetext.Escape(is.Message))
	if is.OptOut != "" && !strings.Contains(is.Message, is.OptOut) {
		msg += " (to accept it anyway: turn on " + OptOutName(is.OptOut) + " in 5 Placement)"
	}
	lines := Wrap(msg, w-4, "")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "  " + style.Render(mark+l)
		} else {
			lines[i] = "    " + style.Render(l)
		}
	}
	return lines
}

var (
	passFlag = regexp.MustCompile(`\b(?:pass|use) --([a-z][a-z0-9-]*)\b`)
	anyFlag  = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
)

// settingByFlag finds the setting of a command-line flag in core's settings table:
// omnitui's own settings and every registered family's opt-outs.
func settingByFlag(flag string) (core.SettingSpec, bool) {
	lists := [][]core.SettingSpec{core.SettingSpecs(nil)}
	for _, mt := range core.ModelTypes() {
		if t, err := core.LookupTemplate(mt); err == nil {
			lists = append(lists, core.SettingSpecs(t))
		}
	}
	for _, l := range lists {
		for _, sp := range l {
			if sp.Flag == flag {
				return sp, true
			}
		}
	}
	return core.SettingSpec{}, false
}

// appName is the app's name of a flag's setting (its Placement label), if the
// settings table has one.
func appName(flag string) (string, bool) {
	sp, ok := settingByFlag(flag)
	if !ok {
		return "", false
	}
	if sp.Label != "" {
		return sp.Label, true
	}
	return strings.ReplaceAll(sp.Name, "_", " "), true
}

// AppWording rewrites a plan message written for the command line in the app's
// terms: "pass --allow-uneven" becomes "turn on allow uneven in 5 Placement"
// (an opt-out's words are its label in the settings table), "--tp 3" becomes
// "TP 3", and other flags their setting's name. Flags the app has no setting for
// (--out, --force) stay as they are.
func AppWording(msg string) string {
	msg = passFlag.ReplaceAllStringFunc(msg, func(m string) string {
		f := passFlag.FindStringSubmatch(m)[1]
		if !isToggle(f) {
			return m
		}
		return "turn on " + OptOutName(f) + " in 5 Placement"
	})
	return anyFlag.ReplaceAllStringFunc(msg, func(m string) string {
		if n, ok := appName(m[2:]); ok {
			return n
		}
		return m
	})
}

// isToggle reports whether a flag is one of the on/off settings of 5 Placement.
func isToggle(f string) bool {
	sp, ok := settingByFlag(f)
	return ok && sp.Form && sp.Kind == core.SettingBool
}

// OptOutName turns an opt-out flag into the Placement setting that accepts it
// ("--allow-uneven" → "allow uneven"): its label in the settings table, else
// the flag's words.
func OptOutName(flag string) string {
	f := strings.TrimLeft(flag, "-")
	if n, ok := appName(f); ok {
		return n
	}
	return strings.ReplaceAll(f, "-", " ")
}

// OpSplit is "(op, split)" for a group, without an empty part ("(rename)").
func OpSplit(g *core.Group) string {
	if g.Split == "" {
		return "(" + string(g.Op) + ")"
	}
	return "(" + string(g.Op) + ", " + string(g.Split) + ")"
}
