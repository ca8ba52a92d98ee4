package placement

import (
	"testing"

	"github.com/omnitui/omnitui/core"
)

func TestIssuesLandOnTheirSetting(t *testing.T) {
	tests := []struct {
		is   core.Issue
		want Field
		ok   bool
	}{
		{core.Issue{Code: "tp-divisibility", Severity: core.SevError}, FTP, true},
		{core.Issue{Code: "groups-lt-tp", Severity: core.SevWarning}, FTP, true},
		{core.Issue{Code: "etp-not-tp", Severity: core.SevError}, FETP, true},
		{core.Issue{Code: "vpp-without-pp", Severity: core.SevError}, FVPP, true},
		{core.Issue{Code: "layout-with-account", Severity: core.SevError}, FLayout, true},
		{core.Issue{Code: "ep-divisibility", Severity: core.SevError}, FEP, true},
		{core.Issue{Code: "unmapped", Severity: core.SevError}, FSkipUnmapped, true},
		{core.Issue{Code: "audio-output-disabled", Severity: core.SevError}, FDropAudio, true},
		// A deepstack error is fixed by a different split; once accepted it is a warning on the toggle.
		{core.Issue{Code: "deepstack-first-stage", Severity: core.SevError}, FPP, true},
		{core.Issue{Code: "deepstack-first-stage", Severity: core.SevWarning}, FIgnoreDeepstack, true},
		{core.Issue{Code: "bad-size", Message: "--ep 0 is out of range"}, FEP, true},
		{core.Issue{Code: "bad-size", Message: "--vpp 99 is out of range"}, FVPP, true},
		{core.Issue{Code: "config-key-missing"}, 0, false},
	}
	for _, tc := range tests {
		f, ok := fieldOf(tc.is)
		if ok != tc.ok || (ok && f != tc.want) {
			t.Errorf("fieldOf(%s %q) = %v, %v; want %v, %v", tc.is.Code, tc.is.Message, fieldNames[f], ok, fieldNames[tc.want], tc.ok)
		}
	}
}

func TestOptOutTogglesAreNamedLikeTheirFlags(t *testing.T) {
	// Issue messages tell the user to toggle the opt-out by its flag's words.
	for flag, f := range map[string]Field{
		"allow uneven": FAllowUneven, "skip unmapped": FSkipUnmapped,
		"drop audio output": FDropAudio, "ignore deepstack": FIgnoreDeepstack,
	} {
		if fieldNames[f] != flag {
			t.Errorf("field %d is named %q, want %q", f, fieldNames[f], flag)
		}
	}
}
