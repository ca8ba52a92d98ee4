package core_test

// The cross-family conversion harness. One table of (release-shaped fixture, settings)
// cases, filled by each family group in its own file, core/familyconv_<group>_test.go:
//
//	func init() {
//		addFamCases(
//			famCase{Family: "llama", Name: "tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2 }},
//			famCase{Family: "llama", Variants: []string{"bias"}, Name: "bias", PlanError: "attention-bias"},
//		)
//	}
//
// For every case TestFamilyConversions writes fixture.Release(Family, Variants...) and:
//   - plans it with the case's settings (PlanError set: the plan must fail with that issue
//     code, and Convert must refuse it, writing nothing; the case ends there);
//   - converts HF → mca, then has PyTorch load every rank file and compare it, key for key
//     and value for value, with core/testdata/roll_ref.py, the independent torch restatement
//     of ROLL's converter (family data: core/testdata/roll_ref_families/<model_type>.py);
//     without torch that step is skipped (OMNITUI_REQUIRE_TORCH=1 makes it a failure);
//   - converts back (--to-hf) and checks the result byte-identical to the input, less the
//     tensors the plan leaves out on purpose (Skip buffers, a tied config's lm_head);
//   - reshards to the case's ReshardTo (default: TP1 PP1 EP1, or TP2 when the case is that)
//     and checks the result equal to converting the HF checkpoint to that directly;
//   - verifies the mca output against the HF input (core.Verify), then against a copy with
//     one flipped byte, which verify must report.

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

// famCase is one conversion checked by TestFamilyConversions.
type famCase struct {
	Family    string                        // model_type with a fixture.Release spec and a template
	Variants  []string                      // fixture.Release variants
	Name      string                        // sub-test name, unique within the family
	Settings  func(*core.Settings)          // edits core.DefaultSettings(); nil = TP1 PP1 EP1
	Options   func(*fixture.ReleaseOptions) // edits the fixture options (dtype, shards)
	PlanError string                        // the plan must fail with this issue code
	ReshardTo func(*core.Settings)          // reshard target; nil = TP1 PP1 EP1 (TP2 if the case is TP1 PP1 EP1)
}

// famCases is filled by init() in the core/familyconv_<group>_test.go files.
var famCases []famCase

// addFamCases registers cases (call from init()).
func addFamCases(cs ...famCase) { famCases = append(famCases, cs...) }

// writeRelease writes a release fixture (2 shards, seed 7, tokenizer files) for a case.
func writeRelease(t *testing.T, family string, variants []string, edit func(*fixture.ReleaseOptions)) string {
	t.Helper()
	spec, err := fixture.Release(family, variants...)
	if err != nil {
		t.Fatal(err)
	}
	o := fixture.ReleaseOptions{Shards: 2, Seed: 7, Tokenizer: true}
	if edit != nil {
		edit(&o)
	}
	hf := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteRelease(hf, spec, o); err != nil {
		t.Fatal(err)
	}
	return hf
}

// planHF plans an HF checkpoint.
func planHF(t *testing.T, hf string, s core.Settings) (*loader.Checkpoint, *core.Plan) {
	t.Helper()
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	p, err := core.BuildPlan(ck, s)
	if err != nil {
		t.Fatal(err)
	}
	return ck, p
}

// issueCodes lists a plan's error codes.
func issueCodes(p *core.Plan) []string {
	var out []string
	for _, is := range p.Errors() {
		out = append(out, is.Code)
	}
	return out
}

// torchPythonOrEmpty is torchPython without skipping: "" when no torch (unless required).
func torchPythonOrEmpty(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("OMNITUI_PYTHON"), "/usr/bin/python3", "python3"} {
		if c != "" && exec.Command(c, "-c", "import torch").Run() == nil {
			return c
		}
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") == "1" {
		t.Fatal("PyTorch is required (OMNITUI_REQUIRE_TORCH=1) but no python3 imports torch")
	}
	return ""
}

// checkTorchRef runs roll_ref.py on a conversion.
func checkTorchRef(t *testing.T, py, hf, out string, s core.Settings) {
	t.Helper()
	ref, err := filepath.Abs("testdata/roll_ref.py")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(s)
	b, err := exec.Command(py, ref, hf, out, string(js)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(b), "OK ") {
		t.Fatalf("torch reference check failed: %v\n%s", err, b)
	}
	t.Log(strings.TrimSpace(string(b)))
}

// withoutTensors copies an HF checkpoint (tokenizer files too) leaving out the named tensors.
func withoutTensors(t *testing.T, hf string, drop map[string]bool) string {
	t.Helper()
	dst := rewriteHF(t, hf, func(w *loader.WriteTensor) bool { return !drop[w.Name] })
	ents, err := os.ReadDir(hf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if n == "config.json" || strings.HasSuffix(n, ".safetensors") || strings.HasSuffix(n, ".index.json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(hf, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// droppedOnPurpose lists the HF tensors a plan leaves out (they cannot come back).
func droppedOnPurpose(p *core.Plan) map[string]bool {
	used := map[string]bool{}
	for _, g := range p.Groups {
		for _, n := range g.HFNames {
			used[n] = true
		}
	}
	out := map[string]bool{}
	for _, ti := range p.Tensors {
		if !used[ti.Name] {
			out[ti.Name] = true
		}
	}
	return out
}

func TestFamilyConversions(t *testing.T) {
	if len(famCases) == 0 {
		t.Fatal("no family conversion cases are registered")
	}
	py := torchPythonOrEmpty(t)
	seen := map[string]bool{}
	for _, c := range famCases {
		id := c.Family + "/" + c.Name
		if seen[id] {
			t.Fatalf("case %s registered twice", id)
		}
		seen[id] = true
		t.Run(id, func(t *testing.T) {
			hf := writeRelease(t, c.Family, c.Variants, c.Options)
			s := settingsOf(c.Settings)
			ck, p := planHF(t, hf, s)
			if c.PlanError != "" {
				codes := issueCodes(p)
				if !strings.Contains(","+strings.Join(codes, ",")+",", ","+c.PlanError+",") {
					t.Fatalf("plan error codes %v, want %s", codes, c.PlanError)
				}
				parent := t.TempDir()
				if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: filepath.Join(parent, "out")}); err == nil {
					t.Fatal("Convert accepted a plan with errors")
				}
				if ents, _ := os.ReadDir(parent); len(ents) != 0 {
					t.Fatalf("Convert wrote %d entries for a refused plan", len(ents))
				}
				return
			}
			if p.HasErrors() {
				t.Fatalf("plan errors: %+v", p.Errors())
			}
			out := filepath.Join(t.TempDir(), "mca")
			if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, Workers: 2}); err != nil {
				t.Fatal(err)
			}
			s = p.Settings
			if py != "" {
				checkTorchRef(t, py, hf, out, s)
			}

			// back to HF: byte-identical less what was left out on purpose
			drop := droppedOnPurpose(p)
			if s.DType == "keep" {
				want := hf
				if len(drop) > 0 {
					want = withoutTensors(t, hf, drop)
				}
				sameHF(t, want, toHF(t, out, core.ToHFOptions{}))
			}

			// reshard equals direct
			target := c.ReshardTo
			if target == nil {
				if s.TP == 1 && s.PP == 1 && s.EP == 1 {
					target = func(x *core.Settings) { x.TP = 2 }
				} else {
					target = func(*core.Settings) {}
				}
			}
			ts := settingsOf(func(x *core.Settings) {
				target(x)
				x.DType = s.DType
				x.OptOuts = s.OptOuts
			})
			direct := convertHF(t, hf, ts)
			got, err := reshard(t, out, ts, 2, core.GatherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameMCA(t, direct, got)

			// verify: equal, then one flipped byte is caught
			if s.DType == "keep" {
				src := hf
				if len(drop) > 0 {
					src = withoutTensors(t, hf, drop)
				}
				rep, err := core.Verify(t.Context(), src, out, core.VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.OK() {
					t.Fatalf("verify HF vs mca: %+v", rep.Diffs)
				}
				victim := p.Groups[len(p.Groups)/2].HFNames[0]
				flipped := rewriteHF(t, src, func(w *loader.WriteTensor) bool {
					if w.Name == victim {
						w.Data[len(w.Data)/2] ^= 0x40
					}
					return true
				})
				rep, err = core.Verify(t.Context(), flipped, out, core.VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK() {
					t.Fatalf("verify missed a flipped byte in %s", victim)
				}
			}
		})
	}
}
