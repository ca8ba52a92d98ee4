package core

import "strings"

// hasErrors reports whether any of the issues is an error (the plan cannot be executed).
func hasErrors(issues []Issue) bool {
	for _, is := range issues {
		if is.Severity == SevError {
			return true
		}
	}
	return false
}

// errorsOf returns the error-severity issues, in order.
func errorsOf(issues []Issue) []Issue {
	var out []Issue
	for _, is := range issues {
		if is.Severity == SevError {
			out = append(out, is)
		}
	}
	return out
}

// errorText joins the error messages of the issues for a one-paragraph report.
func errorText(issues []Issue) string {
	var msgs []string
	for _, is := range errorsOf(issues) {
		msgs = append(msgs, is.Message)
	}
	return strings.Join(msgs, "\n  - ")
}
