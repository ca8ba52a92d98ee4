package tui_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui"
)

// TestMCAOverviewWarnsAboutCopiedRank: the app's overview of a Megatron
// checkpoint whose mp_rank_01_000 is a copy of mp_rank_00_000 shows the warning.
func TestMCAOverviewWarnsAboutCopiedRank(t *testing.T) {
	src := mcaExampleDir(t)
	dir := filepath.Join(t.TempDir(), mcaName)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dir, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	iter := filepath.Join(dir, "iter_0000001")
	b, err := os.ReadFile(filepath.Join(iter, "mp_rank_00_000", "model_optim_rng.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(iter, "mp_rank_01_000", "model_optim_rng.pt"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tm := newProgram(t, tui.NewMCA(m, mcaName, plainColors()), 120, 40)
	tm.Send(tui.QuitWhenIdleMsg{})
	view := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*tui.Model).Screen()
	flat := strings.Join(strings.Fields(view), " ")
	if !strings.Contains(flat, "byte-identical") {
		t.Errorf("the overview does not warn about the copied rank file:\n%s", view)
	}
}
