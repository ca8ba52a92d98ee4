package tui_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui"
)

// mcaName is the folder name of the Megatron checkpoint the mca tests open, and
// the path the app shows for it (as if the user typed it), so captures do not
// depend on where the temporary directory is.
const mcaName = "qwen3-omni-tiny-mca"

var mcaFixture struct {
	once sync.Once
	dir  string
	err  error
}

// mcaExampleDir converts the committed example to an mcore_adapter checkpoint
// with TP 2 and PP 2, once per test binary, and returns its folder.
func mcaExampleDir(t testing.TB) string {
	t.Helper()
	mcaFixture.once.Do(func() {
		tmp, err := osMkdirTemp()
		if err != nil {
			mcaFixture.err = err
			return
		}
		ck, err := loader.OpenHF(examplePath)
		if err != nil {
			mcaFixture.err = err
			return
		}
		defer ck.Close()
		s := core.DefaultSettings()
		s.TP, s.PP = 2, 2
		p, err := core.BuildPlan(ck, s)
		if err != nil {
			mcaFixture.err = err
			return
		}
		if p.HasErrors() {
			mcaFixture.err = errorsOf(p)
			return
		}
		out := filepath.Join(tmp, mcaName)
		if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out}); err != nil {
			mcaFixture.err = err
			return
		}
		mcaFixture.dir = out
	})
	if mcaFixture.err != nil {
		t.Fatalf("converting the example to an mca checkpoint: %v", mcaFixture.err)
	}
	return mcaFixture.dir
}

type planErrors struct{ p *core.Plan }

func (e planErrors) Error() string {
	msg := "the plan of the example has errors:"
	for _, is := range e.p.Errors() {
		msg += " " + is.Message
	}
	return msg
}

func errorsOf(p *core.Plan) error { return planErrors{p} }

func openMCAExample(t testing.TB) *mca.Checkpoint {
	t.Helper()
	m, err := mca.Open(mcaExampleDir(t))
	if err != nil {
		t.Fatalf("opening the mca checkpoint: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newMCAApp(t testing.TB, opts ...tui.Option) *tui.Model {
	t.Helper()
	opts = append([]tui.Option{plainColors(), tui.WithOutputBase(testOutBase)}, opts...)
	return tui.NewMCA(openMCAExample(t), mcaName, opts...)
}
