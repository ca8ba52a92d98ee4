package core_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/mca"
)

// TestRoundTripThroughTorchSave: rank files re-saved by real PyTorch as training checkpoints
// (views, optimizer and RNG state, argparse args) still convert back to the original HF
// checkpoint byte for byte, and the non-model entries are reported as skipped.
func TestRoundTripThroughTorchSave(t *testing.T) {
	py := torchPython(t)
	script, err := filepath.Abs("testdata/resave_training.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []convCase{
		{"tp2-pp2-ep2", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"grouped-legacy-ep4-tp2", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }},
		{"pp2-vpp2", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			hf, out, _ := convertTiny(t, c)
			files, _ := filepath.Glob(filepath.Join(out, "iter_0000001", "mp_rank_*", "model_optim_rng.pt"))
			if len(files) == 0 {
				t.Fatal("no rank files")
			}
			cmd := exec.Command(py, append([]string{script}, files...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("torch re-save: %v\n%s", err, b)
			}
			m, err := mca.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range m.Ranks {
				got := strings.Join(r.Skipped, ",")
				for _, want := range []string{"optimizer", "rng_state", "args", "iteration"} {
					if !strings.Contains(got, want) {
						t.Errorf("%s: skipped keys %q lack %s", r.Path, got, want)
					}
				}
			}
			m.Close()
			back := toHF(t, out, core.ToHFOptions{})
			sameHF(t, hf, back)
		})
	}
}

// TestReverseDisagreeingCopies: duplicated copies that differ stop the conversion with an error
// naming the tensor and both ranks, unless TakeRank0 is set.
func TestReverseDisagreeingCopies(t *testing.T) {
	py := torchPython(t)
	hf, out, _ := convertTiny(t, convCase{"tp2", nil, func(s *core.Settings) { s.TP = 2 }})
	rank1 := filepath.Join(out, "iter_0000001", "mp_rank_01", "model_optim_rng.pt")
	edit := `import sys, torch
d = torch.load(sys.argv[1])
d["model"]["decoder.final_layernorm.weight"][0] += 1
torch.save(d, sys.argv[1])`
	if b, err := exec.Command(py, "-c", edit, rank1).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	m, err := mca.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rp, err := core.BuildReversePlan(m)
	if err != nil || rp.HasErrors() {
		t.Fatalf("plan: %v %v", err, rp)
	}
	parent := t.TempDir()
	_, err = core.ConvertToHF(t.Context(), rp, core.ToHFOptions{Out: filepath.Join(parent, "x")})
	if err == nil {
		t.Fatal("disagreeing copies were accepted")
	}
	for _, want := range []string{"decoder.final_layernorm.weight", "mp_rank_00", "mp_rank_01", "--take-rank0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("a failed conversion left %d entries behind in %s", len(ents), parent)
	}
	dst := filepath.Join(parent, "y")
	if _, err := core.ConvertToHF(t.Context(), rp, core.ToHFOptions{Out: dst, TakeRank0: true}); err != nil {
		t.Fatalf("with TakeRank0: %v", err)
	}
	sameHF(t, hf, dst) // rank 0 holds the original values
}
