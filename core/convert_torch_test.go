package core_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// torchPython finds a python3 that can import torch (Debian's python3-torch lives in
// /usr/bin/python3, which may not be the first python3 on PATH). It skips the test when
// there is none, unless OMNITUI_REQUIRE_TORCH=1, where that is a failure.
func torchPython(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("OMNITUI_PYTHON"), "/usr/bin/python3", "python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import torch").Run(); err == nil {
			return c
		}
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") == "1" {
		t.Fatal("PyTorch is required (OMNITUI_REQUIRE_TORCH=1) but no python3 imports torch: apt-get install -y python3-torch")
	}
	t.Skip("PyTorch not installed (apt-get install -y python3-torch); set OMNITUI_REQUIRE_TORCH=1 to make this a failure")
	return ""
}

type convCase struct {
	name string
	o    func(*fixture.TinyOptions)
	s    func(*core.Settings)
}

func convCases() []convCase {
	odd := func(o *fixture.TinyOptions) { o.Hidden, o.Heads, o.Groups, o.HeadDim = 24, 8, 2, 4 }
	return []convCase{
		{"default", nil, nil},
		{"tp2", nil, func(s *core.Settings) { s.TP = 2 }},
		{"tp2-pp2-ep2", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"tp4-gqa4-odd-hidden", odd, func(s *core.Settings) { s.TP = 4 }},
		{"mqa-tp2", func(o *fixture.TinyOptions) { o.Groups = 1 }, func(s *core.Settings) { s.TP = 2 }},
		{"mha-tp2-bias", func(o *fixture.TinyOptions) { o.Groups = 4; o.AttentionBias = true }, func(s *core.Settings) { s.TP = 2 }},
		{"pp2-vpp2", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) }},
		{"pp2-account-embedding-loss", func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} }, func(s *core.Settings) { s.PP = 2; s.AccountEmbedding, s.AccountLoss = true, true }},
		{"layout", func(o *fixture.TinyOptions) { o.Layers = 6 }, func(s *core.Settings) { s.PP = 2; s.Layout = "Ettt|tttL" }},
		{"layout-vpp", func(o *fixture.TinyOptions) { o.Layers = 6 }, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|t|t|ttL" }},
		{"tied-pp1", func(o *fixture.TinyOptions) { o.Tied = true }, nil},
		{"tied-pp2-tp2", func(o *fixture.TinyOptions) { o.Tied = true }, func(s *core.Settings) { s.PP, s.TP = 2, 2 }},
		{"grouped-te-ep2-tp2", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.EP, s.TP = 2, 2 }},
		{"grouped-legacy-ep4-tp2", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }},
		{"grouped-local-impl", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local"; s.TP = 2 }},
		{"local-impl-pp2", nil, func(s *core.Settings) { s.TransformerImpl = "local"; s.PP = 2 }},
		{"ep8", nil, func(s *core.Settings) { s.EP = 8 }},
		{"f32-to-bf16", func(o *fixture.TinyOptions) { o.DType = loader.F32 }, func(s *core.Settings) { s.DType = "bf16"; s.TP = 2 }},
		{"f16-single-shard", func(o *fixture.TinyOptions) { o.DType = loader.F16; o.Shards = 1 }, func(s *core.Settings) { s.TP = 2; s.EP = 2 }},
		{"audio-off-dropped", func(o *fixture.TinyOptions) { o.EnableAudioOutput = false }, func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true); s.PP = 2 }},
	}
}

func convertTiny(t *testing.T, c convCase) (hf, out string, s core.Settings) {
	t.Helper()
	o := fixture.DefaultTiny()
	o.Shards = 3
	if c.o != nil {
		c.o(&o)
	}
	hf = filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteTiny(hf, o); err != nil {
		t.Fatal(err)
	}
	s = core.DefaultSettings()
	if c.s != nil {
		c.s(&s)
	}
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	p, err := core.BuildPlan(ck, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("plan errors: %+v", p.Errors())
	}
	out = filepath.Join(t.TempDir(), "out")
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return hf, out, p.Settings
}

// TestConvertMatchesTorchReference converts tiny checkpoints under many parallel settings and
// has PyTorch load every rank file and compare it with an independent torch restatement of
// ROLL's converter (testdata/roll_ref.py).
func TestConvertMatchesTorchReference(t *testing.T) {
	py := torchPython(t)
	ref, err := filepath.Abs("testdata/roll_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range convCases() {
		t.Run(c.name, func(t *testing.T) {
			hf, out, s := convertTiny(t, c)
			js, _ := json.Marshal(s)
			cmd := exec.Command(py, ref, hf, out, string(js))
			b, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(b), "OK ") {
				t.Fatalf("torch reference check failed: %v\n%s", err, b)
			}
			t.Log(strings.TrimSpace(string(b)))
		})
	}
}
