package placement

import (
	"github.com/charmbracelet/colorprofile"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/internal/keys"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// t / T split the conversion shown into tasks: the per-task files, bytes written and
// read are those of the partition omnitui --batch --tasks N runs; one task hides it.
func TestPlacementShowsTheSplit(t *testing.T) {
	ck, err := loader.OpenHF("../../testdata/example/qwen3-omni-tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	s := core.DefaultSettings()
	s.TP, s.PP, s.EP = 2, 2, 2
	ctx := common.NewContext(ck, "ck", s, styles.New(colorprofile.Ascii, true), keymap.Default(), core.BuildPlan, nil, nil)
	m := New(ctx)
	m.SetSize(120, 200)
	if v := m.View(); strings.Contains(v, "Split into") {
		t.Fatalf("the split shows at one task:\n%s", v)
	}
	press := func(r rune) { m.Update(keys.Press(string(r))) }
	press('t')
	press('t')
	v := m.View()
	if !strings.Contains(v, "Split into 4 tasks") {
		t.Fatalf("no split after t t:\n%s", v)
	}
	w := core.ForwardWorkload(ctx.Plan, func(ti int) string { return ck.ShardOf(ti).Name })
	part, err := w.Partition(4)
	if err != nil {
		t.Fatal(err)
	}
	for i, tl := range part.Tasks {
		want := []string{common.Bytes(tl.Written), common.Bytes(tl.Read)}
		found := false
		for _, line := range strings.Split(v, "\n") {
			if strings.Contains(line, " "+want[0]) && strings.Contains(line, want[1]) && strings.Contains(line, "  "+string(rune('0'+i))+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("task %d (%d files, %s written, %s read) is not shown:\n%s", i, len(tl.Files), want[0], want[1], v)
		}
	}
	press('T')
	press('T')
	if v := m.View(); strings.Contains(v, "Split into") {
		t.Errorf("the split still shows after T T:\n%s", v)
	}
}
