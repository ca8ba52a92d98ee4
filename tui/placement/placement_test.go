package placement

import (
	"fmt"
	"testing"

	"github.com/charmbracelet/colorprofile"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/internal/keys"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
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

func TestETPFollowsTP(t *testing.T) {
	// ETP must equal TP: unset, it follows TP; ←/→ on an ETP typed different
	// brings it back to following TP, and otherwise does nothing.
	tests := []struct {
		tp, etp int
		keys    string
		want    int
	}{
		{2, 0, "+", 0},
		{2, 0, "-", 0},
		{2, 3, "-", 0},
		{2, 1, "+", 0},
	}
	for _, tc := range tests {
		ctx := newTestContext(core.Settings{TP: tc.tp, PP: 1, EP: 1, ETP: tc.etp, TransformerImpl: "transformer_engine", DType: "keep"})
		m := New(ctx)
		m.focus = FETP
		for _, r := range tc.keys {
			m.Update(keys.Press(string(r)))
		}
		if ctx.Settings.ETP != tc.want {
			t.Errorf("TP %d ETP %d then %q: ETP %d, want %d", tc.tp, tc.etp, tc.keys, ctx.Settings.ETP, tc.want)
		}
		if v := m.value(FETP); ctx.Settings.ETP == 0 && v != fmt.Sprintf("= TP (%d)", tc.tp) {
			t.Errorf("ETP following TP %d shows %q", tc.tp, v)
		}
	}
}

func newTestContext(s core.Settings) *common.Context {
	planner := func(*loader.Checkpoint, core.Settings) (*core.Plan, error) { return &core.Plan{}, nil }
	return common.NewContext(&loader.Checkpoint{}, "ck", s, styles.New(colorprofile.Ascii, true), keymap.Default(), planner, nil, nil)
}
