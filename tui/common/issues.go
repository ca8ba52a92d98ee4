package common

import (
	"regexp"
	"strings"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/styles"
)

// IssueLines renders a plan issue word-wrapped to w cells: "✗ " for errors in the
// error colour, "! " for warnings, with the opt-out flag when there is one.
func IssueLines(st *styles.Styles, is core.Issue, w int) []string {
	mark, style := "! ", st.Warning
	if is.Severity == core.SevError {
		mark, style = "✗ ", st.Error
	}
	msg := AppWording(is.Message)
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

// appNames are the app's names of the command-line flags that plan messages
// mention, for the app's wording.
var appNames = map[string]string{
	"tp": "TP", "pp": "PP", "vpp": "VPP", "ep": "EP", "etp": "ETP", "layout": "layout",
	"dtype": "dtype", "transformer-impl": "impl", "moe-grouped-gemm": "grouped GEMM",
	"moe-legacy-grouped-gemm": "legacy GEMM",
}

var (
	passFlag = regexp.MustCompile(`\b(?:pass|use) --([a-z][a-z0-9-]*)\b`)
	anyFlag  = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
)

// AppWording rewrites a plan message written for the command line in the app's
// terms: "pass --ignore-deepstack" becomes "turn on ignore deepstack in 5
// Placement", "--tp 3" becomes "TP 3", and other flags their setting's name.
// Flags the app has no setting for (--out, --force) stay as they are.
func AppWording(msg string) string {
	msg = passFlag.ReplaceAllStringFunc(msg, func(m string) string {
		f := passFlag.FindStringSubmatch(m)[1]
		if _, named := appNames[f]; named || !isToggle(f) {
			return m
		}
		return "turn on " + OptOutName(f) + " in 5 Placement"
	})
	return anyFlag.ReplaceAllStringFunc(msg, func(m string) string {
		f := m[2:]
		if n, ok := appNames[f]; ok {
			return n
		}
		if isToggle(f) {
			return OptOutName(f)
		}
		return m
	})
}

// isToggle reports whether a flag is one of the on/off settings of 5 Placement.
func isToggle(f string) bool {
	switch f {
	case "account-embedding", "account-loss", "skip-unmapped", "drop-audio-output", "ignore-deepstack", "allow-uneven":
		return true
	}
	return false
}

// OptOutName turns an opt-out flag into the Placement setting that accepts it
// ("--allow-uneven" → "allow uneven").
func OptOutName(flag string) string {
	return strings.ReplaceAll(strings.TrimLeft(flag, "-"), "-", " ")
}

// OpSplit is "(op, split)" for a group, without an empty part ("(rename)").
func OpSplit(g *core.Group) string {
	if g.Split == "" {
		return "(" + string(g.Op) + ")"
	}
	return "(" + string(g.Op) + ", " + string(g.Split) + ")"
}
