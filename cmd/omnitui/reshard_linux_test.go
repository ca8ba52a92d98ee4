//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omnitui/omnitui/loader/fixture"
)

// hwmPeak runs the binary with args, sampling /proc/<pid>/status every 2 ms, and returns
// the highest VmHWM (the kernel's peak resident set of the process's own address space)
// and RssAnon seen. rusage's Maxrss is no measure here: Go starts children with
// clone(CLONE_VM|CLONE_VFORK), and exec folds the peak RSS of the shared address space,
// i.e. of this test process, into the child's Maxrss.
func hwmPeak(t *testing.T, args ...string) (hwm, anon int64, stderr string) {
	t.Helper()
	cmd := exec.Command(omnituiBin(t), args...)
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(status); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					f := strings.Fields(l)
					if len(f) < 2 {
						continue
					}
					v, err := strconv.ParseInt(f[1], 10, 64)
					if err != nil {
						continue
					}
					switch f[0] {
					case "VmHWM:":
						hwm = max(hwm, v*1024)
					case "RssAnon:":
						anon = max(anon, v*1024)
					}
				}
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	<-sampled
	if err != nil {
		t.Fatalf("omnitui %v: %v\n%s", args, err, e.String())
	}
	if hwm == 0 {
		t.Skip("no VmHWM in /proc/<pid>/status on this system")
	}
	return hwm, anon, e.String()
}

// TestReshardPeakMemory reshards a generated mca checkpoint of about 230 MB (TP2 EP2 ->
// TP1 PP2 EP4) with the omnitui binary and measures the process (VmHWM sampled from /proc,
// and rusage Maxrss through GNU time when installed): the peak RSS stays under a third of
// the checkpoint, and the heap under fixed buffers plus a few of the largest op groups.
// Tensors are gathered one op group at a time and released once written, never the
// whole model: the bound of the HF -> Megatron path, with the gathered groups on the heap
// where that path reads its input through a memory mapping.
func TestReshardPeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads about 600 MB")
	}
	const mib = 1 << 20
	root := t.TempDir()
	hf := filepath.Join(root, "hf")
	o := slowOptions() // 8 layers of 16 experts with 512x512 weights, bf16: ~210 MB
	if err := fixture.WriteTinySparse(hf, o); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "mca")
	fwdRSS, fwdAnon, fwdErr := hwmPeak(t, "--batch", "--workers", "2", "--tp", "2", "--ep", "2", "--out", src, hf)
	if !strings.Contains(fwdErr, "wrote "+src) {
		t.Fatalf("HF -> mca did not finish:\n%s", fwdErr)
	}
	var size int64
	files, _ := filepath.Glob(filepath.Join(src, "iter_0000001", "mp_rank_*", "model_optim_rng.pt"))
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	if len(files) != 4 || size < 150*mib {
		t.Fatalf("%d rank files of %d MiB in all: the fixture is not the ~200 MB checkpoint this test needs", len(files), size/mib)
	}
	// The largest op group: one expert's gate+up (2 x 512 x 512 bf16 = 1 MiB) or the
	// embedding (4096 x 512 bf16 = 4 MiB).
	const largestGroup = 4 * mib
	out := filepath.Join(root, "resharded")
	maxRSS, anon, stderr := hwmPeak(t, "--batch", "--workers", "2", "--tp", "1", "--pp", "2", "--ep", "4", "--out", out, src)
	t.Logf("checkpoint %d MiB: reshard peak RSS %d MiB, peak anonymous RSS %d MiB (HF -> mca of the same model: %d / %d MiB)",
		size/mib, maxRSS/mib, anon/mib, fwdRSS/mib, fwdAnon/mib)
	if !strings.Contains(stderr, "wrote "+out) {
		t.Fatalf("reshard did not finish:\n%s", stderr)
	}
	if maxRSS >= size/3 {
		t.Errorf("peak RSS %d MiB >= a third of the %d MiB checkpoint: the reshard holds far more than the groups in flight", maxRSS/mib, size/mib)
	}
	if bound := int64(64*mib + 8*largestGroup); anon >= bound {
		t.Errorf("peak anonymous RSS %d MiB >= %d MiB (fixed buffers plus a few of the largest groups)", anon/mib, bound/mib)
	}

	// The same bound on rusage Maxrss, taken by GNU time, which starts omnitui with a plain
	// fork so the figure is omnitui's own.
	gnuTime, err := exec.LookPath("time")
	if err != nil {
		if _, err := os.Stat("/usr/bin/time"); err != nil {
			t.Log("no GNU time: rusage Maxrss not checked")
			return
		}
		gnuTime = "/usr/bin/time"
	}
	report := filepath.Join(root, "maxrss")
	out2 := filepath.Join(root, "resharded-2")
	cmd := exec.Command(gnuTime, "-f", "%M", "-o", report, omnituiBin(t), "--batch", "--workers", "2", "--tp", "1", "--pp", "2", "--ep", "4", "--out", out2, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("GNU time wrote %q: %v", b, err)
	}
	t.Logf("rusage Maxrss of the reshard (GNU time): %d MiB", kb*1024/mib)
	if kb*1024 >= size/3 {
		t.Errorf("rusage Maxrss %d MiB >= a third of the %d MiB checkpoint", kb*1024/mib, size/mib)
	}
}
