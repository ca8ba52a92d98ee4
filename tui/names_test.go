package tui_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/convert"
)

// Global layer 3, expert 5 at PP 2, EP 2 is local layer 1, local expert 1 of
// the rank file of stage 1, expert rank 1.
const localName = "decoder.layers.1.mlp.experts.local_experts.1.linear_fc2.weight"

func TestRankLocalNamesInFullWhenWide(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{120, 40}, {200, 60}} {
		for _, s := range []string{
			"5 down right down down right 3 / type:layers.3.mlp.experts.5.down_proj enter 4",
			"3 / type:layers.3.mlp.experts.5.down_proj enter 5 down right down down right",
		} {
			m := newApp(t)
			resize(m, sz.w, sz.h)
			press(m, s)
			v := m.Screen()
			if !strings.Contains(v, localName) || !strings.Contains(v, "mp_rank_00_001_001") {
				t.Errorf("%d×%d after %q: the rank file and the whole local name should be shown:\n%s", sz.w, sz.h, s, v)
			}
			if !strings.Contains(v, "mp_rank_TT_PPP_EEE: TT tp rank · PPP pp stage · EEE ep rank") {
				t.Errorf("%d×%d: no legend of the rank file names:\n%s", sz.w, sz.h, v)
			}
		}
	}
}

func TestRankLocalNamesKeepTheirNumbersWhenNarrow(t *testing.T) {
	m := newApp(t)
	resize(m, 80, 24)
	press(m, "5 down right down down right 3 / type:layers.3.mlp.experts.5.down_proj enter 4")
	v := m.Screen()
	// Cut in the middle: the local layer 1 and the local expert 1 stay.
	re := regexp.MustCompile(`decoder\.(layers\.1|…1)\.…(local_experts\.)?1\.linear_fc2\.weight`)
	if !strings.Contains(v, localName) && !re.MatchString(v) {
		t.Fatalf("the local name should keep its layer and expert numbers:\n%s", v)
	}
	checkFrame(t, v, 80, 24)
}

func TestPlacementShowsImpliedVPPAndStaleness(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	// PP 2 and a layout of four stages: VPP 2 is implied.
	press(m, "5 down right down down down down enter type:Et|t|t|tL enter")
	if s := m.Context().Settings; s.PP != 2 || s.Layout != "Et|t|t|tL" {
		t.Fatalf("settings %+v", s)
	}
	if v := m.Screen(); !strings.Contains(v, "VPP                – (layout: 2)") {
		t.Fatalf("the VPP row should show the VPP the layout implies:\n%s", v)
	}
	// (One layer on the first stage is too few for deepstack: an error, but the
	// layers are still placed.) An EP that cannot be placed at all: the last
	// valid preview, PP 2 before the layout, stays, marked stale.
	press(m, "up up enter ctrl+u type:3 enter")
	v := m.Screen()
	if !strings.Contains(v, "stale") || !strings.Contains(v, "Rank files  2") || !strings.Contains(v, "EP 3 does not divide") {
		t.Fatalf("the error should sit beside the stale preview of PP 2:\n%s", v)
	}
}

func TestWeightsLeafListsItsRankFiles(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	press(m, "5 right 3 / type:thinker.model.layers.0.mlp.experts.3.gate_proj enter")
	v := m.Screen()
	for _, want := range []string{
		"mp_rank_00 model  decoder.layers.0.mlp.experts.local_experts.3.linear_fc1.weight  [16, 32] slice 0/2",
		"mp_rank_01 model  decoder.layers.0.mlp.experts.local_experts.3.linear_fc1.weight  [16, 32] slice 1/2",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("the leaf's detail should list %q:\n%s", want, v)
		}
	}
}

func TestConfigOpensLongValuesInFull(t *testing.T) {
	m := newApp(t)
	resize(m, 100, 30)
	// The side panel: move its cursor to hf_config_json and open it.
	press(m, "2 p")
	for i := 0; i < 60 && !strings.Contains(m.Screen(), "› hf_config_json"); i++ {
		press(m, "down")
	}
	if !strings.Contains(m.Screen(), "› hf_config_json") {
		t.Fatalf("the panel cursor should reach hf_config_json:\n%s", m.Screen())
	}
	press(m, "enter")
	v := m.Screen()
	for _, want := range []string{"hf_config_json  in full · esc closes", `"architectures": [`, `    "Qwen3OmniMoeForConditionalGeneration"`} {
		if !strings.Contains(v, want) {
			t.Fatalf("the value should be shown in full, pretty-printed (%q):\n%s", want, v)
		}
	}
	// It scrolls, and esc closes it, back to the panel.
	press(m, "pgdown")
	if m.Screen() == v {
		t.Error("pgdn should scroll the value")
	}
	press(m, "esc")
	if v := m.Screen(); !strings.Contains(v, "› hf_config_json") || strings.Contains(v, "esc closes") {
		t.Fatalf("esc should close the value:\n%s", v)
	}
	// In the tree, enter on a leaf opens its value too.
	press(m, "p / ctrl+u type:thinker_config.text_config.rope_scaling.mrope_section enter")
	press(m, "enter")
	if v := m.Screen(); !strings.Contains(v, "mrope_section  in full") {
		t.Fatalf("enter on a leaf should open it:\n%s", v)
	}
}

func TestConvertFollowsAReshardChosenInPlacement(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 100, 30)
	cv := m.Component(common.ViewConvert).(*convert.Model)
	if cv.Reshard() {
		t.Fatal("at the recorded layout, Convert writes Hugging Face")
	}
	press(m, "5 left") // TP 2 → 1: a new layout
	if !m.Context().MCA.Resharding() || !cv.Reshard() {
		t.Fatalf("after a settings change in Placement, Convert should write Megatron (resharding %v)", m.Context().MCA.Resharding())
	}
	press(m, "c")
	if v := m.Screen(); !strings.Contains(v, testOutBase+"/"+mcaName+"-reshard") {
		t.Fatalf("the output should default to the reshard's directory:\n%s", v)
	}
	// Back to the recorded layout: Hugging Face again.
	press(m, "5 right")
	if cv.Reshard() {
		t.Fatal("back at the recorded layout, Convert should write Hugging Face")
	}
	// Once the user picks, the choice stays.
	press(m, "c down right 5 left")
	if cv.Reshard() != true {
		t.Fatal("the user's choice (reshard) should stay")
	}
	press(m, "c down left 5 right 5 left")
	if cv.Reshard() {
		t.Fatal("the user's choice (Hugging Face) should stay after more settings changes")
	}
}

func TestPlacementExplainsWhereBytesGo(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	press(m, "5 right down right down down right") // TP 2, PP 2, EP 2
	v := strings.Join(strings.Fields(m.Screen()), " ")
	for _, want := range []string{
		"largest: mp_rank_00_001_000 102.9 KiB", "49% of it is code2wav", "per file, by part:",
		// The last stage's files carry talker and code2wav whole: that is why they are the largest.
		"pp1 code2wav 51.2 KiB · talker 30.3 KiB",
		"pp0 thinker text",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("Placement should say %q:\n%s", want, m.Screen())
		}
	}
}

func TestTensorCountsAgreeAcrossViews(t *testing.T) {
	m := newApp(t)
	resize(m, 120, 40)
	press(m, "5 right") // TP 2: 830 slices in 2 rank files, still 415 Megatron tensors
	n := len(m.Context().Plan.Groups)
	press(m, "4")
	if v := m.Screen(); !strings.Contains(v, fmt.Sprintf("→ %d Megatron tensors", n)) {
		t.Fatalf("Mapping should count %d Megatron tensors:\n%s", n, v)
	}
	press(m, "c")
	if v := m.Screen(); !strings.Contains(v, fmt.Sprintf("2 rank files · %d Megatron tensors", n)) {
		t.Fatalf("Convert should count the same %d Megatron tensors:\n%s", n, v)
	}
}

func TestMCAConfigOpensHFConfigJSONInFull(t *testing.T) {
	m := newMCAApp(t)
	resize(m, 100, 30)
	press(m, "2 / type:hf_config_json enter enter")
	v := m.Screen()
	if !strings.Contains(v, "hf_config_json  in full · esc closes") || !strings.Contains(v, `"architectures": [`) {
		t.Fatalf("enter on hf_config_json should show the HF config in full, pretty-printed:\n%s", v)
	}
	press(m, "esc")
	if strings.Contains(m.Screen(), "esc closes") {
		t.Fatal("esc should close it")
	}
}
