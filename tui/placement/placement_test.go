package placement

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"

	"github.com/omnitui/omnitui/core"
	_ "github.com/omnitui/omnitui/core/families"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/internal/keys"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// omniSpecs are the form rows of the registered qwen3_omni_moe family.
func omniSpecs(t *testing.T) []core.SettingSpec {
	t.Helper()
	tmpl, err := core.LookupTemplate("qwen3_omni_moe")
	if err != nil {
		t.Fatal(err)
	}
	return formSpecs(tmpl)
}

func TestIssuesLandOnTheirSetting(t *testing.T) {
	specs := omniSpecs(t)
	f := func(name string) Field {
		t.Helper()
		x := fieldNamed(specs, name)
		if x < 0 {
			t.Fatalf("no form row %q", name)
		}
		return x
	}
	tests := []struct {
		is   core.Issue
		want Field
		ok   bool
	}{
		{core.Issue{Code: "tp-divisibility", Severity: core.SevError}, f("tp"), true},
		{core.Issue{Code: "groups-lt-tp", Severity: core.SevWarning}, f("tp"), true},
		{core.Issue{Code: "etp-not-tp", Severity: core.SevError}, f("etp"), true},
		{core.Issue{Code: "vpp-without-pp", Severity: core.SevError}, f("vpp"), true},
		{core.Issue{Code: "layout-with-account", Severity: core.SevError}, f("layout"), true},
		{core.Issue{Code: "ep-divisibility", Severity: core.SevError}, f("ep"), true},
		{core.Issue{Code: "unmapped", Severity: core.SevError}, f("skip_unmapped"), true},
		{core.Issue{Code: "audio-output-disabled", Severity: core.SevError}, f("drop_audio_output"), true},
		// A deepstack error is fixed by a different split; once accepted it is a warning on the toggle.
		{core.Issue{Code: "deepstack-first-stage", Severity: core.SevError}, f("pp"), true},
		{core.Issue{Code: "deepstack-first-stage", Severity: core.SevWarning}, f("ignore_deepstack"), true},
		{core.Issue{Code: "bad-size", Message: "--ep 0 is out of range"}, f("ep"), true},
		{core.Issue{Code: "bad-size", Message: "--vpp 99 is out of range"}, f("vpp"), true},
		{core.Issue{Code: "config-key-missing"}, 0, false},
	}
	for _, tc := range tests {
		got, ok := fieldOf(specs, tc.is)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("fieldOf(%s %q) = %v, %v; want %v, %v", tc.is.Code, tc.is.Message, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOptOutTogglesAreNamedLikeTheirFlags(t *testing.T) {
	// Issue messages tell the user to toggle the opt-out by its flag's words.
	specs := omniSpecs(t)
	for _, name := range []string{"allow_uneven", "skip_unmapped", "drop_audio_output", "ignore_deepstack"} {
		f := fieldNamed(specs, name)
		if f < 0 {
			t.Fatalf("no form row %q", name)
		}
		if want := strings.ReplaceAll(specs[f].Flag, "-", " "); specs[f].Label != want {
			t.Errorf("row %s is labelled %q, want %q (its flag --%s in words)", name, specs[f].Label, want, specs[f].Flag)
		}
	}
}

func TestFormRowsWithoutTemplate(t *testing.T) {
	// A model type without a template gets omnitui's own settings and no family opt-outs.
	generic := formSpecs(nil)
	for _, sp := range generic {
		if sp.OptOut {
			t.Errorf("generic form has family opt-out %q", sp.Name)
		}
	}
	if len(omniSpecs(t)) != len(generic)+2 {
		t.Errorf("qwen3_omni_moe form has %d rows, want the %d generic ones plus its 2 opt-outs", len(omniSpecs(t)), len(generic))
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
		m.focus = fieldNamed(formSpecs(nil), "etp")
		for _, r := range tc.keys {
			m.Update(keys.Press(string(r)))
		}
		if ctx.Settings.ETP != tc.want {
			t.Errorf("TP %d ETP %d then %q: ETP %d, want %d", tc.tp, tc.etp, tc.keys, ctx.Settings.ETP, tc.want)
		}
		if v := m.value(formSpecs(nil)[fieldNamed(formSpecs(nil), "etp")]); ctx.Settings.ETP == 0 && v != fmt.Sprintf("= TP (%d)", tc.tp) {
			t.Errorf("ETP following TP %d shows %q", tc.tp, v)
		}
	}
}

func newTestContext(s core.Settings) *common.Context {
	planner := func(*loader.Checkpoint, core.Settings) (*core.Plan, error) { return &core.Plan{}, nil }
	return common.NewContext(&loader.Checkpoint{}, "ck", s, styles.New(colorprofile.Ascii, true), keymap.Default(), planner, nil, nil)
}
