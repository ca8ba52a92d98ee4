package tui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
)

// goldenCases drive the running program to a screen and record it. Regenerate
// with: go test ./tui/ -run TestGolden -update
var goldenCases = []struct {
	name   string
	script string
	view   common.ViewID
}{
	{"overview", "", common.ViewOverview},
	{"config", "2", common.ViewConfig},
	{"config_panel", "2 down down down p down", common.ViewConfig},
	// mca_config.json's hf_config_json opened in full, pretty-printed.
	{"config_value_full", "2 p g" + strings.Repeat(" down", 15) + " enter", common.ViewConfig},
	{"weights", "3", common.ViewWeights},
	{"weights_filter", "3 / type:layers.1.mlp.experts.7 enter", common.ViewWeights},
	{"weights_glob", "3 / type:*experts.*.down_proj.weight enter", common.ViewWeights},
	{"weights_sorted_by_size", "3 s", common.ViewWeights},
	{"mapping_qkv", "3 / type:thinker.model.layers.1.self_attn.q_proj enter 4", common.ViewMapping},
	{"mapping_gate_up_tp2", "5 right 3 / type:thinker.model.layers.0.mlp.experts.3.gate_proj enter 4", common.ViewMapping},
	{"placement", "5", common.ViewPlacement},
	{"placement_tp2_pp2_ep2", "5 right down right down down right", common.ViewPlacement},
	{"placement_tp3_error", "5 enter ctrl+u type:3 enter", common.ViewPlacement},
	// EP 3 does not divide 8 experts: nothing can be placed; the first preview stays, stale.
	{"placement_ep3_stale", "5 down down down enter ctrl+u type:3 enter", common.ViewPlacement},
	{"placement_selected_weight", "3 / type:embed_tokens enter 5 right", common.ViewPlacement},
	// EP 2 and PP 2: rank files mp_rank_TT_PPP_EEE, a local expert number unlike the global one.
	{"placement_ep2_selected_expert", "3 / type:layers.3.mlp.experts.5.down_proj enter 5 down right down down right", common.ViewPlacement},
	{"mapping_expert_ep2", "5 down right down down right 3 / type:layers.3.mlp.experts.5.down_proj enter 4", common.ViewMapping},
	{"convert_form", "c", common.ViewConvert},
	{"convert_edit_out", "c enter backspace backspace backspace type:out left left left", common.ViewConvert},
	{"help", "?", common.ViewOverview},
}

// wideCases are also recorded at 120×40, where rank-local names are shown in full.
var wideCases = map[string]bool{
	"mapping_qkv": true, "mapping_gate_up_tp2": true, "placement_tp2_pp2_ep2": true, "placement_selected_weight": true,
	"placement_ep2_selected_expert": true, "mapping_expert_ep2": true, "placement_ep3_stale": true, "config_value_full": true,
}

func TestGolden(t *testing.T) {
	for _, size := range []struct{ w, h int }{{100, 30}, {80, 24}, {120, 40}} {
		for _, tc := range goldenCases {
			name := tc.name
			switch {
			case size.w == 80:
				name += "_80x24"
			case size.w == 120 && !wideCases[tc.name]:
				continue
			case size.w == 120:
				name += "_120x40"
			}
			t.Run(name, func(t *testing.T) {
				m := newApp(t)
				tm := newProgram(t, m, size.w, size.h)
				for _, k := range script(tc.script) {
					tm.Send(k)
				}
				// Messages are handled in order; this quits once the plan for the last settings is in.
				tm.Send(tui.QuitWhenIdleMsg{})
				fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*tui.Model)
				if fm.Active() != tc.view {
					t.Fatalf("active view %v, want %v", fm.Active().Name(), tc.view.Name())
				}
				view := fm.Screen()
				checkFrame(t, view, size.w, size.h)
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

// checkFrame asserts a frame fills the terminal exactly and nothing wraps.
func checkFrame(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if cw := common.Width(l); cw > w {
			t.Errorf("line %d is %d cells wide (terminal %d): %q", i, cw, w, l)
		}
	}
}
