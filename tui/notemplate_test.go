package tui_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/tui/common"
)

// openNoTemplate writes the tiny checkpoint with model_type "foo_bar", which no family has.
func openNoTemplate(t *testing.T) (*loader.Checkpoint, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "foo-bar")
	if err := fixture.WriteTinyAs(dir, fixture.DefaultTiny(), "foo_bar"); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	return ck, dir
}

// noTemplateMsg starts the no-template message; the list of registered families after it
// grows as families are added (and wraps), so the test checks each name separately.
const noTemplateMsg = `no template for model_type "foo_bar"; omnitui has templates for:`

// A checkpoint of a model type without a template opens: Overview, Config and Weights work
// as for any checkpoint, and the views that need a template say plainly that there is none.
func TestNoTemplateOpens(t *testing.T) {
	ck, dir := openNoTemplate(t)
	m := newAppFor(t, ck, dir)
	resize(m, 100, 30)
	tests := []struct {
		key  string
		view common.ViewID
		want []string
		not  []string
	}{
		// the breakdown falls back to the names' first elements, largest first
		{"1", common.ViewOverview, []string{"foo_bar", "455 tensors", "thinker              225", "code2wav             153", "talker                77", noTemplateMsg}, []string{"thinker text"}},
		{"2", common.ViewConfig, []string{"437 values", "architectures", "code2wav_config"}, nil},
		{"3", common.ViewWeights, []string{"455 tensors", "▾ thinker", "audio_tower"}, nil},
		{"4", common.ViewMapping, []string{noTemplateMsg}, nil},
		{"5", common.ViewPlacement, []string{`no template for model_type "foo_bar";`, "qwen3_omni_moe", "skip unmapped", "allow uneven"}, []string{"drop audio output", "ignore deepstack"}},
		{"c", common.ViewConvert, []string{"cannot convert this model type", noTemplateMsg}, []string{"fix them in 5 Placement"}},
	}
	for _, tc := range tests {
		press(m, tc.key)
		if m.Active() != tc.view {
			t.Fatalf("key %s: active view %s, want %s", tc.key, m.Active().Name(), tc.view.Name())
		}
		v := m.Screen()
		// long messages wrap: compare with runs of spaces, newlines and frame borders as one space
		flat := strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\n' || r == '│' }), " ")
		for _, w := range tc.want {
			if !strings.Contains(v, w) && !strings.Contains(flat, w) {
				t.Errorf("%s view lacks %q:\n%s", tc.view.Name(), w, v)
			}
		}
		if slices.Contains(tc.want, noTemplateMsg) {
			for _, mt := range core.ModelTypes() {
				if !strings.Contains(v, mt) {
					t.Errorf("%s view does not list model type %s", tc.view.Name(), mt)
				}
			}
		}
		for _, w := range tc.not {
			if strings.Contains(v, w) {
				t.Errorf("%s view shows %q:\n%s", tc.view.Name(), w, v)
			}
		}
	}
	// the Convert button explains instead of converting
	if strings.Contains(m.Screen(), "this model type has no template") {
		t.Fatal("the note shows before Convert is pressed")
	}
	press(m, "down down enter")
	if v := m.Screen(); !strings.Contains(v, "this model type has no template") {
		t.Errorf("pressing Convert does not say why nothing happens:\n%s", v)
	}
}
