package core_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// A model type without a template cannot be planned, and the error says so plainly and
// lists the model types that have one.
func TestNoTemplate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "foo-bar")
	if err := fixture.WriteTinyAs(dir, fixture.DefaultTiny(), "foo_bar"); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	_, err = core.BuildPlan(ck, core.DefaultSettings())
	if err == nil {
		t.Fatal("BuildPlan planned model_type foo_bar")
	}
	want := `config.json: no template for model_type "foo_bar"; omnitui has templates for: ` + strings.Join(core.ModelTypes(), ", ")
	if !strings.Contains(want, "qwen3_omni_moe") {
		t.Fatalf("registered model types %v lack qwen3_omni_moe", core.ModelTypes())
	}
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var nt *family.NoTemplateError
	if !core.IsNoTemplate(err) || !errors.As(err, &nt) || nt.ModelType != "foo_bar" {
		t.Errorf("error %v is not a no-template error for foo_bar", err)
	}
	// the Overview's breakdown falls back to the names' first elements
	classify := core.ComponentFor("foo_bar")
	for name, want := range map[string]string{"thinker.model.norm.weight": "thinker", "talker.codec_head.weight": "talker", "lonely": "lonely"} {
		if got := classify(name); got != want {
			t.Errorf("ComponentFor(foo_bar)(%q) = %q, want %q", name, got, want)
		}
	}
	if got := core.ComponentOrder("foo_bar", map[string]int64{"other": 9, "a": 1, "b": 5}); len(got) != 3 || got[0] != "b" || got[1] != "a" || got[2] != "other" {
		t.Errorf("ComponentOrder without template = %v, want [b a other]", got)
	}
}
