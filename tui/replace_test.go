package tui_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/omnitui/omnitui/tui"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/convert"
)

// writeTree makes files (relative path → content) under dir, all modified at one
// fixed time so screens that show it are stable.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	// Local time, as the screen shows it: the same text in every time zone.
	when := time.Date(2026, 11, 30, 9, 15, 0, 0, time.Local)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Chtimes(p, when, when)
		}
		return err
	})
	_ = os.Chtimes(dir, when, when)
}

// megatronOutput is what omnitui writes for a Megatron checkpoint (contents aside).
var megatronOutput = map[string]string{
	"mca_config.json":                            "{}",
	"latest_checkpointed_iteration.txt":          "1",
	"tokenizer_config.json":                      "{}",
	"iter_0000001/mp_rank_00/model_optim_rng.pt": strings.Repeat("w", 2048),
	"iter_0000001/mp_rank_01/model_optim_rng.pt": strings.Repeat("w", 2048),
}

// inWorkDir runs the test in a fresh directory (so typed output paths are short
// and stable); back returns to the package directory (where the goldens are).
func inWorkDir(t *testing.T) (dir string, back func()) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	t.Chdir(dir)
	return dir, func() {
		if err := os.Chdir(wd); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConvertReplacePromptSaysWhatIsThere(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		name := "replace_prompt"
		if size.w == 80 {
			name += "_80x24"
		} else {
			name += "_120x40"
		}
		t.Run(name, func(t *testing.T) {
			f := &fakeConv{}
			m := newApp(t, tui.WithConverter(f.convert))
			dir, back := inWorkDir(t)
			writeTree(t, filepath.Join(dir, "out"), megatronOutput)
			resize(m, size.w, size.h)
			press(m, convertTo("out"))
			cv := m.Component(common.ViewConvert).(*convert.Model)
			if cv.State() != convert.StateConfirmReplace {
				t.Fatalf("state %v, want the replace question", cv.State())
			}
			v := m.Screen()
			for _, want := range []string{"already exists", "Megatron checkpoint · 5 files · 4.00 KiB · modified 2026-11-30 09:15"} {
				if !strings.Contains(v, want) {
					t.Errorf("the question should say %q:\n%s", want, v)
				}
			}
			checkFrame(t, v, size.w, size.h)
			back()
			golden.RequireEqual(t, []byte(v))
		})
	}
}

func TestConvertRefusesToReplaceWhatOmnituiDidNotWrite(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		name := "replace_refused"
		if size.w == 80 {
			name += "_80x24"
		} else {
			name += "_120x40"
		}
		t.Run(name, func(t *testing.T) {
			f := &fakeConv{}
			m := newApp(t, tui.WithConverter(f.convert))
			dir, back := inWorkDir(t)
			files := map[string]string{"important.txt": "my notes"}
			for k, v := range megatronOutput {
				files[k] = v
			}
			writeTree(t, filepath.Join(dir, "out"), files)
			resize(m, size.w, size.h)
			press(m, convertTo("out"))
			cv := m.Component(common.ViewConvert).(*convert.Model)
			if cv.State() != convert.StateForm || !cv.Capturing() {
				t.Fatalf("state %v (editing the path %v): want the form, back in the path field", cv.State(), cv.Capturing())
			}
			// esc leaves the path field; y then does nothing: there is no question.
			press(m, "esc y")
			if f.snapshot().calls != 0 {
				t.Fatal("the converter ran")
			}
			if b, err := os.ReadFile(filepath.Join(dir, "out", "important.txt")); err != nil || string(b) != "my notes" {
				t.Fatalf("important.txt: %q %v", b, err)
			}
			press(m, "up enter ctrl+u type:out esc") // back to the unchanged path
			press(m, "down down enter")
			v := m.Screen()
			for _, want := range []string{"important.txt", "omnitui did not write", "choose another output directory"} {
				if !strings.Contains(strings.Join(strings.Fields(v), " "), want) {
					t.Errorf("the form should say %q:\n%s", want, v)
				}
			}
			checkFrame(t, v, size.w, size.h)
			back()
			golden.RequireEqual(t, []byte(v))
		})
	}
}
