package convert

import (
	"context"
	"github.com/charmbracelet/colorprofile"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// The Convert form explains a split conversion staged for its output directory: how
// many tasks are complete, which are missing, and what to run.
func TestFormExplainsAStagedSplit(t *testing.T) {
	ck, err := loader.OpenHF("../../testdata/example/qwen3-omni-tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	s := core.DefaultSettings()
	s.TP = 2
	ctx := common.NewContext(ck, "ck", s, styles.New(colorprofile.Ascii, true), keymap.Default(), core.BuildPlan, nil, nil)
	out := filepath.Join(t.TempDir(), "out")
	m := New(ctx)
	m.SetSize(100, 40)
	m.SetOut(out)
	if v := m.View(); strings.Contains(v, "staged") {
		t.Fatalf("a staged split is shown where none is:\n%s", v)
	}
	job, err := core.ForwardJob(ck, ctx.Plan, core.ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part, err := job.Work.Partition(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.RunTask(context.Background(), job, part, core.TaskOptions{Out: out, Task: 0, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	m.staged = staged{} // as 2 s later
	v := m.View()
	for _, want := range []string{"split conversion into this directory is staged", "1 of 2 complete", "missing tasks 1", "--status"} {
		if !strings.Contains(strings.Join(strings.Fields(v), " "), want) {
			t.Errorf("the form does not say %q:\n%s", want, v)
		}
	}
	if _, err := core.RunTask(context.Background(), job, part, core.TaskOptions{Out: out, Task: 1, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	m.staged.at = m.staged.at.Add(-3 * time.Second) // re-read after 2 s
	if v := strings.Join(strings.Fields(m.View()), " "); !strings.Contains(v, "2 of 2 complete") || !strings.Contains(v, "--commit") {
		t.Errorf("the form does not say every task is complete and how to commit:\n%s", v)
	}
}
