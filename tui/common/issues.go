package common

import (
	"github.com/omnitui/omnitui/loader/safetext"
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
	msg := safetext.Escape(is.Message)
	if is.OptOut != "" {
		msg += " (to accept it anyway: " + OptOutName(is.OptOut) + " in 5 Placement)"
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

// OptOutName turns an opt-out flag into the Placement setting that accepts it
// ("--allow-uneven" → "allow uneven").
func OptOutName(flag string) string {
	return strings.ReplaceAll(strings.TrimLeft(flag, "-"), "-", " ")
}
