package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/pt"
)

// badCorpus is the committed corpus of hostile inputs (go run ./testdata/bad).
const badCorpus = "../../testdata/bad"

// TestHostileInputs runs omnitui on every case of the corpus, once printing the
// plan and once converting (for a Megatron checkpoint: --plan, --to-hf and
// --verify), and checks that it
//   - exits 2 (unreadable input or a plan with errors),
//   - names the file (and the tensor, when one is concerned) and says what to do,
//   - prints no stack trace,
//   - creates nothing in the output's parent (no output, no temporary sibling),
//   - leaves every input file as it was.
func TestHostileInputs(t *testing.T) {
	for _, c := range fixture.BadCases() {
		t.Run(c.Name, func(t *testing.T) {
			caseDir := filepath.Join(badCorpus, c.Name)
			arg := caseDir
			if c.Arg != "" {
				arg = filepath.Join(caseDir, c.Arg)
			}
			before := treeSums(t, caseDir)
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			modes := [][]string{{"--batch", "--plan", arg}, {"--batch", "--out", out, arg}}
			if c.MCA {
				modes = [][]string{{"--batch", "--plan", arg}, {"--batch", "--to-hf", "--out", out, arg}, {"--batch", "--verify", arg, arg}}
			}
			for _, mode := range modes {
				code, stdout, stderr := runCLI(t, mode...)
				msg := stdout + stderr
				if code != exitBadUsage {
					t.Fatalf("%v: exit %d, want %d\n%s", mode, code, exitBadUsage, msg)
				}
				if slices.Contains(mode, "--out") && stdout != "" {
					t.Errorf("%v: a failed conversion wrote to stdout:\n%s", mode, stdout)
				}
				assertNoTrace(t, msg)
				assertTerminalSafe(t, msg)
				if !namesFile(msg, c, caseDir) {
					t.Errorf("%v: message does not name %s:\n%s", mode, c.File, msg)
				}
				want := c.Want
				if c.Caught == fixture.CaughtByPT && !c.MCA {
					// omnitui takes Hugging Face checkpoints only; loader/pt's own
					// message is checked by TestHostilePTFiles.
					want = []string{"not a checkpoint", "give the directory of a Hugging Face checkpoint"}
				}
				if c.Tensor != "" {
					want = append(want, strconv.Quote(c.Tensor))
				}
				for _, w := range want {
					if !strings.Contains(msg, w) {
						t.Errorf("%v: message lacks %q:\n%s", mode, w, msg)
					}
				}
			}
			assertEmptyDir(t, parent)
			assertSameSums(t, before, treeSums(t, caseDir))
		})
	}
}

// TestHostilePTFiles opens the corpus's .pt files with loader/pt (the reader
// omnitui uses for its own output): each is refused with a message naming the
// file, the malicious ones with pt.ErrUnsafe before anything is built; and the
// os.system payload is real: torch.load runs it.
func TestHostilePTFiles(t *testing.T) {
	n := 0
	for _, c := range fixture.BadCases() {
		if c.Caught != fixture.CaughtByPT {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(badCorpus, c.Name, c.File)
			f, err := pt.Open(path)
			if err == nil {
				f.Close()
				t.Fatalf("pt.Open accepted %s", path)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error does not name %s: %s", path, msg)
			}
			for _, w := range c.Want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(c.Name, "malicious") && !errors.Is(err, pt.ErrUnsafe) {
				t.Errorf("error %v is not pt.ErrUnsafe", err)
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d .pt cases in the corpus", n)
	}
	t.Run("payload runs under torch.load", func(t *testing.T) {
		py := torchPythonOrSkip(t)
		path := filepath.Join(badCorpus, "pt-malicious-pickle", "model_optim_rng.pt")
		out, err := exec.Command(py, "-c", "import sys, torch\ntry:\n    torch.load(sys.argv[1], weights_only=False)\nexcept TypeError:\n    torch.load(sys.argv[1])\nexcept Exception:\n    pass\n", path).CombinedOutput()
		if !strings.Contains(string(out), "this pickle runs shell commands") {
			t.Fatalf("torch.load did not run the payload, so the test proves nothing (err %v):\n%s", err, out)
		}
	})
}

// torchPythonOrSkip finds a python3 that imports torch (Debian's python3-torch is
// /usr/bin/python3, which may not be the first python3 on PATH).
func torchPythonOrSkip(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("OMNITUI_PYTHON"), "/usr/bin/python3", "python3"} {
		if c != "" && exec.Command(c, "-c", "import torch").Run() == nil {
			return c
		}
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") == "1" {
		t.Fatal("PyTorch is required (OMNITUI_REQUIRE_TORCH=1) but no python3 imports torch: apt-get install -y python3-torch")
	}
	t.Skip("PyTorch not installed (apt-get install -y python3-torch); set OMNITUI_REQUIRE_TORCH=1 to make this a failure")
	return ""
}

// namesFile reports whether msg names the case's file: by the path omnitui was
// given (relative) or the absolute one (loader errors), or by its name (plan
// errors are about config.json, and the message names the checkpoint).
func namesFile(msg string, c fixture.BadCase, caseDir string) bool {
	if c.Caught == fixture.CaughtByPlan {
		return c.File == "" || strings.Contains(msg, filepath.Base(c.File))
	}
	rel := filepath.Join(caseDir, c.File)
	abs, err := filepath.Abs(rel)
	return err == nil && (strings.Contains(msg, abs) || strings.Contains(msg, rel))
}

// assertTerminalSafe fails when s holds anything a terminal acts on: C0 controls
// other than newline and tab, DEL, C1 controls, bidi controls.
func assertTerminalSafe(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			lo := max(0, i-40)
			t.Fatalf("output holds the raw control %U at byte %d: ...%q...", r, i, s[lo:min(len(s), i+40)])
		}
	}
}

func assertNoTrace(t *testing.T, msg string) {
	t.Helper()
	for _, s := range []string{"panic", "goroutine ", "runtime.", ".go:"} {
		if strings.Contains(msg, s) {
			t.Errorf("output holds %q (a stack trace?):\n%s", s, msg)
		}
	}
}

// assertEmptyDir fails when dir holds anything (an output or a temporary sibling).
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s was left in the output's parent directory", e.Name())
	}
}

// treeSums maps every entry below root to the sha256 of its content (files) or
// its target (symlinks, which are not followed).
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			sums[rel] = "-> " + target
		case d.IsDir():
			sums[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sums[rel] = hex.EncodeToString(h[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func assertSameSums(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("input %s changed (sha256 %s -> %s)", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared in the input directory", k)
		}
	}
}

// TestHostileNamePlanJSON: --json escapes as JSON does (plus DEL, C1 and bidi as
// \u escapes): the output is terminal-safe and still decodes to the exact name.
func TestHostileNamePlanJSON(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--batch", "--plan", "--json", filepath.Join(badCorpus, "hostile-tensor-name"))
	if code != exitBadUsage {
		t.Fatalf("exit %d, want %d\n%s", code, exitBadUsage, stderr)
	}
	assertTerminalSafe(t, stdout+stderr)
	var plan struct {
		Issues []struct {
			Code    string   `json:"code"`
			Message string   `json:"message"`
			Tensors []string `json:"tensors"`
		} `json:"issues"`
	}
	if err := json.Unmarshal([]byte(stdout), &plan); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	found := false
	for _, is := range plan.Issues {
		if is.Code == "unmapped" && slices.Contains(is.Tensors, fixture.HostileTensorName) {
			found = true
		}
	}
	if !found {
		t.Errorf("no unmapped issue naming the exact hostile tensor:\n%s", stdout)
	}
}

// TestHostilePathInErrors: a path holding escape sequences, given on the command
// line or found on disk, is printed escaped in every error.
func TestHostilePathInErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ck"+fixture.HostileRaw)
	for _, args := range [][]string{
		{"--batch", "--plan", dir},
		{"--batch", "--out", filepath.Join(t.TempDir(), "o"), dir},
		{"--batch", "--verify", dir, dir},
		{"--batch", "--plan", "--json", dir},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitBadUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitBadUsage)
		}
		assertTerminalSafe(t, stdout+stderr)
		if !strings.Contains(stderr, fixture.HostileText) {
			t.Errorf("%v: the path is not shown escaped:\n%s", args, stderr)
		}
	}
}
