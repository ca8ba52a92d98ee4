//go:build linux

package main

// Faults during a real conversion, on the omnitui binary: SIGINT, SIGTERM and
// kill -9 mid-run (followed by a new run), a shard truncated mid-run, a real
// full disk (tmpfs), and the peak memory of a conversion with one 256 MB
// tensor and with 100,000 tiny tensors. After every failure the output name
// holds the complete previous state or nothing, no temporary sibling remains
// (after kill -9 the next run removes it and says so) and the input is
// byte-identical.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// shared holds what several subprocess tests use: the omnitui binary and a
// checkpoint big enough that a conversion is still running when the first
// progress line appears. Both are built once, on first use.
var shared struct {
	dir string

	binOnce sync.Once
	bin     string
	binErr  error

	slowOnce sync.Once
	slow     string
	slowSums map[string]string
	slowErr  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func sharedDir() (string, error) {
	if shared.dir == "" {
		d, err := os.MkdirTemp("", "omnitui-fault-test-")
		if err != nil {
			return "", err
		}
		shared.dir = d
	}
	return shared.dir, nil
}

// omnituiBin builds the command into a temporary directory (once).
func omnituiBin(t *testing.T) string {
	t.Helper()
	shared.binOnce.Do(func() {
		dir, err := sharedDir()
		if err != nil {
			shared.binErr = err
			return
		}
		shared.bin = filepath.Join(dir, "omnitui")
		out, err := exec.Command(goTool(), "build", "-o", shared.bin, ".").CombinedOutput()
		if err != nil {
			shared.binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shared.binErr != nil {
		t.Fatal(shared.binErr)
	}
	return shared.bin
}

func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// slowOptions is a sparse checkpoint of about 210 MB (8 layers of 16 experts
// with 512x512 weights): converting it with slowArgs takes a good fraction of
// a second even on a fast machine, and it costs no disk blocks.
func slowOptions() fixture.TinyOptions {
	return fixture.TinyOptions{Hidden: 512, Heads: 8, Groups: 4, HeadDim: 64, Layers: 8, Experts: 16, MoEFFN: 512,
		FFN: 1024, Vocab: 4096, DType: loader.BF16, Shards: 4, Seed: 1}
}

// slowArgs make the conversion of the slow checkpoint slower still: one worker,
// a cast to fp32 (twice the output, CPU work per element) and four rank files.
var slowArgs = []string{"--batch", "--workers", "1", "--dtype", "fp32", "--tp", "2", "--ep", "2"}

// slowCheckpoint returns the shared slow checkpoint and the sha256 of its files.
// Tests must not modify it.
func slowCheckpoint(t *testing.T) (string, map[string]string) {
	t.Helper()
	shared.slowOnce.Do(func() {
		dir, err := sharedDir()
		if err != nil {
			shared.slowErr = err
			return
		}
		shared.slow = filepath.Join(dir, "slow")
		if shared.slowErr = fixture.WriteTinySparse(shared.slow, slowOptions()); shared.slowErr != nil {
			return
		}
		shared.slowSums = treeSums(t, shared.slow)
	})
	if shared.slowErr != nil {
		t.Fatal(shared.slowErr)
	}
	return shared.slow, shared.slowSums
}

// proc is a running omnitui whose stderr is collected line by line.
type proc struct {
	cmd      *exec.Cmd
	mu       sync.Mutex
	stderr   bytes.Buffer
	progress chan string // the first progress line; closed at EOF
	eof      chan struct{}
}

var progressLineRE = regexp.MustCompile(`^\s*([0-9.]+)% `)

func startOmnitui(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(omnituiBin(t), args...), progress: make(chan string, 1), eof: make(chan struct{})}
	p.cmd.Stdout = io.Discard
	r, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.eof)
		sent := false
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if !sent && progressLineRE.MatchString(line) {
				p.progress <- line
				sent = true
			}
		}
		if !sent {
			close(p.progress)
		}
	}()
	return p
}

func (p *proc) wait(t *testing.T) (exit int, signaled syscall.Signal, stderr string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { <-p.eof; done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("omnitui did not exit within 60 s after the fault")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		signaled = ws.Signal()
	}
	return p.cmd.ProcessState.ExitCode(), signaled, p.stderr.String()
}

// faultMidRun starts omnitui with args and, as soon as the first progress line
// shows the conversion under way (below 100%), calls fault(pid). When the
// conversion turned out too fast to be caught mid-run it is repeated (at most 3
// times) after prepare, which must restore the state before the run.
func faultMidRun(t *testing.T, args []string, prepare func(), fault func(p *os.Process)) (exit int, sig syscall.Signal, stderr, firstLine string) {
	t.Helper()
	for attempt := 1; attempt <= 3; attempt++ {
		prepare()
		p := startOmnitui(t, args...)
		var line string
		var ok bool
		select {
		case line, ok = <-p.progress:
		case <-time.After(60 * time.Second):
			p.cmd.Process.Kill()
			t.Fatal("no progress line within 60 s")
		}
		if m := progressLineRE.FindStringSubmatch(line); ok && m != nil && m[1] != "100.0" {
			fault(p.cmd.Process)
			exit, sig, stderr = p.wait(t)
			if exit != 0 || sig != 0 {
				return exit, sig, stderr, line
			}
		} else {
			exit, sig, stderr = p.wait(t)
		}
		t.Logf("attempt %d: the conversion finished before the fault could land (first progress line %q); retrying", attempt, line)
	}
	t.Fatalf("could not interrupt the conversion mid-run in 3 attempts; last stderr:\n%s", stderr)
	return
}

// tempSiblings lists the temporary outputs in dir.
func tempSiblings(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".omnitui-tmp-") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// previousOutput converts the committed example into out (the "previous
// state" a --force run must not damage) and returns its checksum listing.
func previousOutput(t *testing.T, out string) map[string]string {
	t.Helper()
	if code, _, stderr := runCLI(t, "--batch", "--force", "--out", out, example); code != exitOK {
		t.Fatalf("converting the example: exit %d\n%s", code, stderr)
	}
	return treeSums(t, out)
}

// assertOutputState checks the parent of out: with prev, out holds exactly
// prev; without, nothing is there at all.
func assertOutputState(t *testing.T, parent, out string, prev map[string]string) {
	t.Helper()
	if prev != nil {
		assertSameSums(t, prev, treeSums(t, out))
		if ts := tempSiblings(t, parent); len(ts) > 0 {
			t.Errorf("temporary output left behind: %v", ts)
		}
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Errorf("the output's parent holds %d entries, want only %s", len(ents), filepath.Base(out))
		}
		return
	}
	assertEmptyDir(t, parent)
}

// TestSignalMidRun sends SIGINT or SIGTERM to a running conversion (to a new
// output, and replacing an output with --force): omnitui exits 1 saying it
// was interrupted and that nothing was left, the output name holds nothing or
// the previous output byte for byte, no temporary sibling remains, and the
// input is unchanged.
func TestSignalMidRun(t *testing.T) {
	slow, slowSums := slowCheckpoint(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, force := range []bool{false, true} {
			name := sig.String()
			if force {
				name += " replacing an output with --force"
			}
			t.Run(name, func(t *testing.T) {
				parent := t.TempDir()
				out := filepath.Join(parent, "mca")
				var prev map[string]string
				args := append(append([]string(nil), slowArgs...), "--out", out, slow)
				if force {
					args = append(args, "--force")
				}
				prepare := func() {
					os.RemoveAll(out)
					if force {
						prev = previousOutput(t, out)
					}
				}
				exit, _, stderr, first := faultMidRun(t, args, prepare, func(p *os.Process) { p.Signal(sig) })
				t.Logf("signalled after %q", first)
				if exit != exitFailed {
					t.Errorf("exit %d, want %d\n%s", exit, exitFailed, stderr)
				}
				if !strings.Contains(stderr, "interrupted; nothing was left under the output name") {
					t.Errorf("stderr does not say the run was interrupted:\n%s", stderr)
				}
				assertNoTrace(t, stderr)
				assertOutputState(t, parent, out, prev)
				assertSameSums(t, slowSums, treeSums(t, slow))
			})
		}
	}
}

// TestKill9ThenRerun kills a running conversion with SIGKILL, which no
// program can handle: the temporary sibling stays, but the output name holds
// nothing (or the previous output, intact). The next run removes the
// temporary, says so on stderr, and succeeds; the input is unchanged.
func TestKill9ThenRerun(t *testing.T) {
	slow, slowSums := slowCheckpoint(t)
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "new output", true: "replacing an output with --force"}[force], func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			var prev map[string]string
			args := append(append([]string(nil), slowArgs...), "--out", out, slow)
			if force {
				args = append(args, "--force")
			}
			prepare := func() {
				for _, ts := range tempSiblings(t, parent) {
					os.RemoveAll(ts)
				}
				os.RemoveAll(out)
				if force {
					prev = previousOutput(t, out)
				}
			}
			_, sig, stderr, _ := faultMidRun(t, args, prepare, func(p *os.Process) { p.Kill() })
			if sig != syscall.SIGKILL {
				t.Fatalf("omnitui was not killed (signal %v)\n%s", sig, stderr)
			}
			stale := tempSiblings(t, parent)
			if len(stale) != 1 {
				t.Fatalf("after kill -9: temporary outputs %v, want exactly one (the test proves nothing otherwise)", stale)
			}
			if prev != nil {
				assertSameSums(t, prev, treeSums(t, out))
			} else if _, err := os.Lstat(out); !os.IsNotExist(err) {
				t.Fatalf("after kill -9 the output name exists: %v", err)
			}
			assertSameSums(t, slowSums, treeSums(t, slow))

			// The next run (here: converting the small example) cleans up.
			rerun := []string{"--batch", "--out", out, example}
			if force {
				rerun = append(rerun, "--force")
			}
			code, _, errOut := runCLI(t, rerun...)
			if code != exitOK {
				t.Fatalf("the run after kill -9: exit %d\n%s", code, errOut)
			}
			if want := "removed " + stale[0] + ", a partial output left by an interrupted run"; !strings.Contains(errOut, want) {
				t.Errorf("the run after kill -9 does not say %q:\n%s", want, errOut)
			}
			if ts := tempSiblings(t, parent); len(ts) > 0 {
				t.Errorf("temporary outputs remain after the next run: %v", ts)
			}
			for _, f := range []string{"mca_config.json", "iter_0000001/mp_rank_00/model_optim_rng.pt"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("the next run's output lacks %s: %v", f, err)
				}
			}
		})
	}
}

// TestShardTruncatedMidRunCLI truncates every shard to its header while the
// conversion runs (the mapped pages vanish: reading them raises SIGBUS, and
// shards not mapped yet have changed size). omnitui exits 1 with a message
// naming a shard and saying the file changed, prints no stack trace, and
// leaves nothing under or beside the output name.
func TestShardTruncatedMidRunCLI(t *testing.T) {
	in := filepath.Join(t.TempDir(), "hf")
	parent := t.TempDir()
	out := filepath.Join(parent, "mca")
	args := append(append([]string(nil), slowArgs...), "--out", out, in)
	prepare := func() {
		os.RemoveAll(in)
		if err := fixture.WriteTinySparse(in, slowOptions()); err != nil {
			t.Fatal(err)
		}
	}
	truncate := func(*os.Process) {
		for i := 0; i < slowOptions().Shards; i++ {
			p := filepath.Join(in, fixture.ShardName(i, slowOptions().Shards))
			h, err := loader.ReadSafetensorsHeader(p)
			if err != nil {
				t.Error(err)
				continue
			}
			if err := os.Truncate(p, h.DataStart()); err != nil {
				t.Error(err)
			}
		}
	}
	exit, _, stderr, _ := faultMidRun(t, args, prepare, truncate)
	if exit != exitFailed {
		t.Errorf("exit %d, want %d\n%s", exit, exitFailed, stderr)
	}
	if !regexp.MustCompile(`model-0000[1-4]-of-00004\.safetensors`).MatchString(stderr) || !strings.Contains(stderr, "changed") {
		t.Errorf("stderr does not name a shard and say it changed:\n%s", stderr)
	}
	assertNoTrace(t, stderr)
	assertEmptyDir(t, parent)
}

// mountTmpfs mounts a tmpfs of the given size (e.g. "2m") on a new directory,
// unmounted at the end of the test; it skips the test where mounting is not
// permitted (not root, no CAP_SYS_ADMIN, a restricted container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs here (%v); the simulated full disk of core/fault_test.go still runs", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// TestDiskFullTmpfs converts onto a really full disk: a 2 MB tmpfs while the
// output needs about 6 MB (the rank files fill it), and a 16 KB tmpfs where
// even mca_config.json does not fit. omnitui exits 1 naming the cause, the
// tmpfs is left holding nothing (or, with --force, exactly the previous
// output), and the input is unchanged.
func TestDiskFullTmpfs(t *testing.T) {
	in := filepath.Join(t.TempDir(), "hf")
	o := fixture.DefaultTiny()
	o.Hidden, o.Experts, o.MoEFFN, o.FFN = 128, 16, 128, 256
	if err := fixture.WriteTiny(in, o); err != nil {
		t.Fatal(err)
	}
	inSums := treeSums(t, in)
	cases := []struct {
		name, size string
		force      bool
		where      string // the file being written when the disk filled up
	}{
		{"rank files fill a 2 MB disk", "2m", false, "model_optim_rng.pt"},
		{"rank files fill a 2 MB disk holding the previous output, with --force", "2m", true, "model_optim_rng.pt"},
		{"mca_config.json does not fit in 16 KB", "16k", false, "mca_config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := mountTmpfs(t, tc.size)
			out := filepath.Join(parent, "mca")
			var prev map[string]string
			args := []string{"--batch", "--tp", "2", "--out", out, in}
			if tc.force {
				prev = previousOutput(t, out)
				args = append(args, "--force")
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != exitFailed {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, stdout, stderr)
			}
			if !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, tc.where) {
				t.Errorf("stderr does not name the cause and %s:\n%s", tc.where, stderr)
			}
			assertNoTrace(t, stderr)
			assertOutputState(t, parent, out, prev)
			assertSameSums(t, inSums, treeSums(t, in))
		})
	}
}

// TestPeakMemory converts (a) a checkpoint whose data is one 256 MiB tensor
// and (b) one of about 100,000 tiny tensors, measuring the process.
//
// (a) The anonymous memory (heap and buffers) stays under 64 MiB: the tensor
// is streamed from its memory mapping to the rank file, never copied to the
// heap. The peak resident set (VmHWM, see hwmPeak) stays under 64 MiB too: the
// tensor streams in pieces whose mapped pages are dropped once written.
//
// (b) Peak RSS stays under 400 MiB: per-tensor metadata (names, plan entries,
// zip records) costs about 1 KB of live heap per tensor, twice that with the
// garbage collector's headroom; tensor data adds nothing.
func TestPeakMemory(t *testing.T) {
	const mib = 1 << 20
	root := t.TempDir()
	bigVocab := 131072 // 256 MiB; OMNITUI_BIG=1 makes it 2 GiB (the figure; slow, so not in CI)
	bigName := "one 256 MiB tensor"
	if os.Getenv("OMNITUI_BIG") == "1" {
		bigVocab, bigName = 1<<20, "one 2 GiB tensor"
	}
	t.Run(bigName, func(t *testing.T) {
		in := filepath.Join(root, "big")
		o := fixture.TinyOptions{Hidden: 1024, Heads: 2, Groups: 1, HeadDim: 8, Layers: 1, Experts: 2, MoEFFN: 8, FFN: 8,
			Vocab: bigVocab, DType: loader.BF16, Shards: 1, Seed: 1, Tied: true}
		if err := fixture.WriteTinySparse(in, o); err != nil {
			t.Fatal(err)
		}
		tensor := int64(o.Vocab * o.Hidden * 2)
		out := filepath.Join(root, "big-out")
		maxRSS, anon, stderr := hwmPeak(t, "--batch", "--out", out, in)
		os.RemoveAll(out)
		t.Logf("tensor %d MiB: peak RSS %d MiB, peak anonymous RSS %d MiB", tensor/mib, maxRSS/mib, anon/mib)
		if !strings.Contains(stderr, "wrote "+out) {
			t.Fatalf("conversion did not finish:\n%s", stderr)
		}
		if anon >= 64*mib {
			t.Errorf("peak anonymous RSS %d MiB >= 64 MiB: the tensor was copied to the heap", anon/mib)
		}
		// the tensor streams in pieces whose mapped pages are dropped once written:
		// peak RSS must not follow the tensor's size
		if maxRSS >= 64*mib || maxRSS >= tensor/2 {
			t.Errorf("peak RSS %d MiB for a %d MiB tensor: want under 64 MiB, independent of the tensor's size", maxRSS/mib, tensor/mib)
		}
	})
	t.Run("100,000 tiny tensors", func(t *testing.T) {
		in := filepath.Join(root, "many")
		o := fixture.TinyOptions{Hidden: 8, Heads: 2, Groups: 1, HeadDim: 4, Layers: 24, Experts: 1400, MoEFFN: 4, FFN: 8,
			Vocab: 16, DType: loader.BF16, Shards: 4, Seed: 1}
		if err := fixture.WriteTinySparse(in, o); err != nil {
			t.Fatal(err)
		}
		rows, err := fixture.TinyManifest(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < 100_000 {
			t.Fatalf("only %d tensors", len(rows))
		}
		out := filepath.Join(root, "many-out")
		maxRSS, anon, stderr := hwmPeak(t, "--batch", "--out", out, in)
		os.RemoveAll(out)
		t.Logf("%d tensors: peak RSS %d MiB, peak anonymous RSS %d MiB (%d bytes per tensor)", len(rows), maxRSS/mib, anon/mib, maxRSS/int64(len(rows)))
		if !strings.Contains(stderr, "wrote "+out) {
			t.Fatalf("conversion did not finish:\n%s", stderr)
		}
		if maxRSS >= 400*mib {
			t.Errorf("peak RSS %d MiB >= 400 MiB for %d tiny tensors", maxRSS/mib, len(rows))
		}
	})
}
