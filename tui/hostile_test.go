package tui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui"
)

// hostileNamePath is the corpus case whose tensor name holds terminal escape
// sequences, a NUL, a DEL, a C1 control and a bidi override.
const hostileNamePath = "../testdata/bad/hostile-tensor-name"

// TestHostileNameWeightsView: the Weights view of a checkpoint with a hostile
// tensor name shows the name escaped (golden) and the frame holds no control
// a terminal would act on, in the tree row and in the detail panel.
func TestHostileNameWeightsView(t *testing.T) {
	ck, err := loader.OpenHF(hostileNamePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	for _, tc := range []struct{ name, script string }{
		{"hostile_weights", "3"},
		{"hostile_weights_selected", "3 / type:pwned enter"},
		{"hostile_overview", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := newProgram(t, newAppFor(t, ck, hostileNamePath), 100, 30)
			for _, k := range script(tc.script) {
				tm.Send(k)
			}
			tm.Send(tui.QuitWhenIdleMsg{})
			fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*tui.Model)
			view := fm.Screen()
			checkFrame(t, view, 100, 30)
			for i, r := range view {
				if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)) {
					t.Fatalf("frame holds the raw control %U at byte %d", r, i)
				}
			}
			if strings.Contains(tc.script, "pwned") && !strings.Contains(view, `\x1b[2J\x00\x7f\u009b1m`) {
				t.Errorf("the hostile name is not shown escaped:\n%s", view)
			}
			golden.RequireEqual(t, []byte(view))
		})
	}
}
