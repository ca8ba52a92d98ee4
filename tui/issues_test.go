package tui_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/mapping"
)

// A checkpoint with a tensor no rule covers: the error shows in Mapping (listed,
// in the error colour), in Weights, and goes away with the Placement opt-out.
func TestUnmappedTensorsAndTheirOptOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck")
	o := fixture.DefaultTiny()
	o.ExtraTensors = []string{"thinker.model.layers.0.self_attn.rotary_emb.inv_freq"}
	if err := fixture.WriteTiny(dir, o); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := newAppFor(t, ck, dir)
	resize(m, 120, 40)
	ctx := m.Context()
	if !ctx.HasErrors() {
		t.Fatalf("an unmapped tensor should be a plan error: %+v", ctx.Plan.Issues)
	}
	press(m, "4")
	tr := m.Component(common.ViewMapping).(*mapping.Model).Tree()
	root := tr.Row(0)
	if root == nil || !strings.HasPrefix(root.Label, "unmapped (1)") || !root.Expanded {
		t.Fatalf("the first mapping row should be the open unmapped list, got %+v", root)
	}
	if tr.Row(1) == nil || tr.Row(1).Label != o.ExtraTensors[0] {
		t.Fatalf("the unmapped tensor should be listed under it, got %+v", tr.Row(1))
	}
	press(m, "down")
	if v := m.Screen(); !strings.Contains(v, "✗") || !strings.Contains(v, "skip unmapped") {
		t.Errorf("the detail should explain the error and its opt-out:\n%s", v)
	}
	// The Weights detail says no rule maps it.
	press(m, "3")
	if v := m.Screen(); !strings.Contains(v, "no rule maps this tensor") {
		t.Errorf("weights should flag the unmapped tensor:\n%s", v)
	}
	// Accept it in Placement: "skip unmapped" is the 12th setting.
	press(m, "5 G up up up space")
	if !ctx.Settings.SkipUnmapped {
		t.Fatalf("space on skip unmapped should set it (settings %+v)", ctx.Settings)
	}
	if ctx.HasErrors() {
		t.Fatalf("with skip unmapped the plan should convert: %+v", ctx.Plan.Issues)
	}
}
