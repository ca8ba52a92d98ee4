//go:build linux

package core

// Faults during a conversion: a full disk (simulated through the beforeWrite
// seam), a shard truncated under the running conversion (the SIGBUS path), a
// cancelled context; and the file descriptors a conversion to many rank files
// holds. After every failure the output name must hold the complete previous
// state or nothing, no temporary sibling may remain and the input must be
// byte-identical. (Real signals, kill -9 and a real full tmpfs are tested on
// the binary in cmd/omnitui/fault_test.go.)

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// ftSetup writes a tiny checkpoint, opens it and plans it.
func ftSetup(t *testing.T, o fixture.TinyOptions, s Settings) (string, *loader.Checkpoint, *Plan) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteTiny(in, o); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	p, err := BuildPlan(ck, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("plan errors: %+v", p.Errors())
	}
	return in, ck, p
}

// ftSums maps every file below root (relative name) to its sha256.
func ftSums(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h := sha256.Sum256(b)
		sums[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func ftSameSums(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: empty checksum listing", what)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s changed or disappeared", what, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s appeared", what, k)
		}
	}
}

// ftParentHolds fails unless the output's parent directory holds exactly names
// (no temporary sibling, no ".old" copy).
func ftParentHolds(t *testing.T, parent string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("the output's parent holds %q, want %q", got, names)
	}
}

// ftEvents collects progress events (they come from several goroutines).
type ftEvents struct {
	mu  sync.Mutex
	evs []Progress
}

func (e *ftEvents) add(ev Progress) { e.mu.Lock(); e.evs = append(e.evs, ev); e.mu.Unlock() }

func (e *ftEvents) last() Progress {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.evs) == 0 {
		return Progress{}
	}
	return e.evs[len(e.evs)-1]
}

// enospc is what a write to a full disk returns.
func enospc(path string) error { return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC} }

// TestConvertDiskFullSimulated: rank-file writes start failing with ENOSPC
// after N bytes (at the first write, half way, at the very last write). The
// error is returned wrapping ENOSPC and naming the rank file, an error event
// ends the progress, the output name holds nothing (or, with --force, the
// previous output byte for byte), no temporary sibling remains, and the input
// is unchanged.
func TestConvertDiskFullSimulated(t *testing.T) {
	s := DefaultSettings()
	s.TP, s.EP = 2, 2
	in, ck, p := ftSetup(t, fixture.DefaultTiny(), s)
	total := p.TotalBytes()
	inSums := ftSums(t, in)

	// A good previous output, for the --force cases.
	prevDir := t.TempDir()
	prev := filepath.Join(prevDir, "mca")
	if _, err := Convert(context.Background(), ck, p, ConvertOptions{Out: prev, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	prevSums := ftSums(t, prev)

	cases := []struct {
		name  string
		after int64
		force bool
	}{
		{"at the first write", 0, false},
		{"half way", total / 2, false},
		{"at the last write", total - 1, false},
		{"half way, replacing an output with --force", total / 2, true},
		{"at the last write, replacing an output with --force", total - 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			if tc.force {
				if err := os.CopyFS(out, os.DirFS(prev)); err != nil {
					t.Fatal(err)
				}
			}
			var written, accepted atomic.Int64
			var evs ftEvents
			opt := ConvertOptions{Out: out, Force: tc.force, Workers: 2, Progress: evs.add,
				beforeWrite: func(n int) error {
					if written.Add(int64(n)) > tc.after {
						return enospc("(simulated full disk)")
					}
					accepted.Add(int64(n))
					return nil
				}}
			res, err := Convert(context.Background(), ck, p, opt)
			if err == nil {
				t.Fatalf("conversion succeeded (%d files) although the disk was full", len(res.Files))
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("error %v does not wrap ENOSPC", err)
			}
			if !strings.Contains(err.Error(), "mp_rank_") {
				t.Errorf("error %q does not name the rank file", err)
			}
			if !strings.Contains(err.Error(), "free space there or choose another --out") {
				t.Errorf("error %q does not say what to do about the full disk", err)
			}
			if tc.after > 0 && accepted.Load() == 0 {
				t.Errorf("no write succeeded before the failure: the case does not fail mid-run")
			}
			if ev := evs.last(); ev.Kind != ProgError || ev.Err == nil {
				t.Errorf("last progress event %+v, want an error event", ev)
			}
			if tc.force {
				ftParentHolds(t, parent, "mca")
				ftSameSums(t, "previous output", prevSums, ftSums(t, out))
			} else {
				ftParentHolds(t, parent)
			}
			ftSameSums(t, "input", inSums, ftSums(t, in))
		})
	}
}

// TestConvertShardTruncatedMidRun: after the first tensor write, the (single)
// shard is truncated to its header while its mapping is in use. Reading the
// rest faults (SIGBUS); the conversion must return an error naming the shard
// and a tensor, not crash, and leave no output and no temporary sibling.
func TestConvertShardTruncatedMidRun(t *testing.T) {
	o := fixture.DefaultTiny()
	o.Shards = 1
	in, ck, p := ftSetup(t, o, DefaultSettings())
	shard := filepath.Join(in, "model.safetensors")
	headerEnd := 8 + ck.Shards[0].HeaderLen
	parent := t.TempDir()
	out := filepath.Join(parent, "mca")
	var once sync.Once
	var truncErr error
	opt := ConvertOptions{Out: out, Workers: 1,
		beforeWrite: func(int) error {
			once.Do(func() { truncErr = os.Truncate(shard, headerEnd) })
			return nil
		}}
	_, err := Convert(context.Background(), ck, p, opt)
	if truncErr != nil {
		t.Fatal(truncErr)
	}
	if err == nil {
		t.Fatal("conversion succeeded although its shard was truncated under it")
	}
	msg := err.Error()
	for _, want := range []string{shard, "changed or became unreadable"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	named := false
	for _, g := range p.Groups {
		named = named || strings.Contains(msg, "reading "+g.HFNames[0])
	}
	if !named {
		t.Errorf("error %q names no tensor of the checkpoint", msg)
	}
	if strings.Contains(msg, "bug in omnitui") {
		t.Errorf("a memory fault was reported as an internal error: %s", msg)
	}
	ftParentHolds(t, parent)
}

// TestConvertCancelledMidRun: the context is cancelled after the first tensor
// write (what SIGINT/SIGTERM do in omnitui). The error wraps context.Canceled;
// nothing is left, or with --force the previous output is intact.
func TestConvertCancelledMidRun(t *testing.T) {
	in, ck, p := ftSetup(t, fixture.DefaultTiny(), DefaultSettings())
	inSums := ftSums(t, in)
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "new output", true: "replacing with --force"}[force], func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			var prevSums map[string]string
			if force {
				if _, err := Convert(context.Background(), ck, p, ConvertOptions{Out: out}); err != nil {
					t.Fatal(err)
				}
				prevSums = ftSums(t, out)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var writes atomic.Int64
			_, err := Convert(ctx, ck, p, ConvertOptions{Out: out, Force: force, Workers: 1,
				beforeWrite: func(int) error {
					if writes.Add(1) == 1 {
						cancel()
					}
					return nil
				}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want one wrapping context.Canceled", err)
			}
			if n := writes.Load(); n >= int64(p.TotalEntries()) {
				t.Errorf("%d writes after the cancel: the conversion did not stop", n)
			}
			if force {
				ftParentHolds(t, parent, "mca")
				ftSameSums(t, "previous output", prevSums, ftSums(t, out))
			} else {
				ftParentHolds(t, parent)
			}
		})
	}
	ftSameSums(t, "input", inSums, ftSums(t, in))
}

// TestCleanStaleRemovesDeadOwnersOnly: a temporary sibling whose owner process
// is gone is removed with a message; one owned by a live process (this one) is
// left alone, as is anything that is not a temporary of this output.
func TestCleanStaleRemovesDeadOwnersOnly(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "mca")
	dead := deadPid(t)
	mk := func(name, owner string) string {
		d := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(d, "iter_0000001"), 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	deadTmp := mk(".mca"+tmpMarker+dead+"-0badc0de", dead)
	deadNoOwner := mk(".mca"+tmpMarker+dead+"-feedface", "")
	liveTmp := mk(".mca"+tmpMarker+strconv.Itoa(os.Getpid())+"-12345678", strconv.Itoa(os.Getpid()))
	other := mk(".other"+tmpMarker+dead+"-0badc0de", dead)
	msgs := CleanStale(out)
	for _, d := range []string{deadTmp, deadNoOwner} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s (owner %s is dead) was not removed", d, dead)
		}
		if !strings.Contains(strings.Join(msgs, "\n"), d) {
			t.Errorf("no message names %s: %q", d, msgs)
		}
	}
	for _, d := range []string{liveTmp, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}

// deadPid returns the pid of a process that has exited (a child we reaped).
func deadPid(t *testing.T) string {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("cannot start /bin/true: %v", err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p.Pid)
}

// TestConvertFileDescriptorsBounded converts to 32 rank files (TP 4 x EP 8)
// from 8 shards and counts this process's open descriptors at every progress
// event. The executor keeps one descriptor per rank file open for the whole
// run and none per shard (shards are memory-mapped and their descriptors
// closed), so the count must stay within baseline + rank files + 8 (headroom
// for the runtime, a directory sync and a config copy in flight), whatever
// the number of shards x ranks. The peak must also reach baseline + rank files,
// which shows the measurement sees the writers.
func TestConvertFileDescriptorsBounded(t *testing.T) {
	o := fixture.DefaultTiny()
	o.Heads, o.Groups, o.Experts, o.Shards = 8, 4, 8, 8
	o.Vision, o.Audio, o.Talker, o.Code2Wav, o.EnableAudioOutput, o.Deepstack = false, false, false, false, false, nil
	s := DefaultSettings()
	s.TP, s.EP = 4, 8
	_, ck, p := ftSetup(t, o, s)
	if len(p.Ranks) != 32 {
		t.Fatalf("%d rank files, want 32", len(p.Ranks))
	}
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	base := count()
	var mu sync.Mutex
	peak, samples := 0, 0
	sample := func() {
		n := count()
		mu.Lock()
		peak, samples = max(peak, n), samples+1
		mu.Unlock()
	}
	out := filepath.Join(t.TempDir(), "mca")
	_, err := Convert(context.Background(), ck, p, ConvertOptions{Out: out, Workers: 2,
		Progress:    func(Progress) { sample() },
		beforeWrite: func(int) error { sample(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	limit := base + len(p.Ranks) + 8
	t.Logf("descriptors: %d before, peak %d over %d samples (limit %d)", base, peak, samples, limit)
	if peak > limit {
		t.Errorf("peak of %d open descriptors, more than %d (baseline %d + %d rank files + 8)", peak, limit, base, len(p.Ranks))
	}
	if peak < base+len(p.Ranks) {
		t.Errorf("peak %d never reached baseline %d + %d rank files: the samples missed the writers", peak, base, len(p.Ranks))
	}
	if after := count(); after > base+2 {
		t.Errorf("%d descriptors open after the conversion, %d before: descriptors leak", after, base)
	}
}

// FuzzConfigPlan feeds arbitrary config.json text and parallel sizes to the
// config loader (loader.ParseJSONTree) and the plan (Build) over the tensors of
// a small real checkpoint. Neither may panic, hang or allocate in proportion to
// a number the config claims (a hostile num_experts of 2^40 once made the
// completeness check build 2^40 names); a plan must render as text and JSON;
// a plan without errors must place its tensors. Seeds: testdata/fuzz/FuzzConfigPlan
// (the real config shape, absurd and mistyped dims) plus the base config.
func FuzzConfigPlan(f *testing.F) {
	dir := filepath.Join(f.TempDir(), "hf")
	if err := fixture.WriteTiny(dir, fixture.BadBaseOptions()); err != nil {
		f.Fatal(err)
	}
	ck, err := loader.OpenHF(dir)
	if err != nil {
		f.Fatal(err)
	}
	defer ck.Close()
	f.Add(ck.ConfigBytes, uint8(0), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, tp, pp, ep uint8) {
		root, err := loader.ParseJSONTree(data)
		if err != nil || root.Kind != loader.JSONObject {
			return
		}
		s := DefaultSettings()
		s.TP, s.PP, s.EP = int(tp%8)+1, int(pp%8)+1, int(ep%8)+1
		p, err := Build(PlanInput{Config: root, ConfigBytes: data, Tensors: ck.Tensors, NameOrPath: dir}, s)
		if err != nil {
			return
		}
		if err := p.WriteText(io.Discard, dir, true); err != nil {
			t.Errorf("WriteText: %v", err)
		}
		if err := p.WriteJSON(io.Discard, dir); err != nil {
			t.Errorf("WriteJSON: %v", err)
		}
		if !p.HasErrors() && !p.Placed() {
			t.Errorf("a plan without errors places nothing")
		}
	})
}

// TestCleanStaleRestoresMovedAsideOutput: a run killed inside commit, after
// moving the previous output aside to <tmp>.old and before renaming the new
// one into place, leaves nothing under the output name. The next run must put
// the previous output back (not delete it with the temporaries) and say so;
// when the output name is occupied, the leftover .old is just removed.
func TestCleanStaleRestoresMovedAsideOutput(t *testing.T) {
	dead := deadPid(t)
	for _, outExists := range []bool{false, true} {
		t.Run(map[bool]string{false: "output name empty", true: "output name occupied"}[outExists], func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			tmp := filepath.Join(parent, ".mca"+tmpMarker+dead+"-0badc0de")
			for dir, content := range map[string]string{tmp: "new", tmp + ".old": "previous"} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "mca_config.json"), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if outExists {
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, "mca_config.json"), []byte("current"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			msgs := strings.Join(CleanStale(out), "\n")
			want := "previous"
			if outExists {
				want = "current"
			}
			if b, err := os.ReadFile(filepath.Join(out, "mca_config.json")); err != nil || string(b) != want {
				t.Errorf("output holds %q (%v), want %q", b, err, want)
			}
			ftParentHolds(t, parent, "mca")
			if !outExists && !strings.Contains(msgs, "restored "+out) {
				t.Errorf("no message says the previous output was restored: %q", msgs)
			}
		})
	}
}

// TestConvertAfterKilledCommit: the run after one killed inside commit puts the
// previous output back and, without --force, refuses to replace it (instead of
// converting and failing at the end); with --force it replaces it.
func TestConvertAfterKilledCommit(t *testing.T) {
	_, ck, p := ftSetup(t, fixture.DefaultTiny(), DefaultSettings())
	dead := deadPid(t)
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "without --force", true: "with --force"}[force], func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "mca")
			old := filepath.Join(parent, ".mca"+tmpMarker+dead+"-0badc0de.old")
			if err := os.MkdirAll(old, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(old, "mca_config.json"), []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			// A Megatron checkpoint as omnitui writes it, so --force may replace it.
			rank := filepath.Join(old, "iter_0000001", "mp_rank_00")
			if err := os.MkdirAll(rank, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rank, "model_optim_rng.pt"), []byte("previous"), 0o644); err != nil {
				t.Fatal(err)
			}
			var evs ftEvents
			_, err := Convert(context.Background(), ck, p, ConvertOptions{Out: out, Force: force, Progress: evs.add})
			restored := false
			for _, ev := range evs.evs {
				restored = restored || strings.Contains(ev.Message, "restored "+out)
			}
			if !restored {
				t.Errorf("no progress message says the previous output was restored")
			}
			b, rerr := os.ReadFile(filepath.Join(out, "mca_config.json"))
			if force {
				if err != nil || rerr != nil || string(b) == "previous" {
					t.Errorf("with --force: err %v, output mca_config.json %q (%v): want the new output", err, b, rerr)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), "--force") {
					t.Errorf("without --force: err %v, want a refusal naming --force", err)
				}
				if string(b) != "previous" {
					t.Errorf("output holds %q (%v), want the restored previous output", b, rerr)
				}
			}
			ftParentHolds(t, parent, "mca")
		})
	}
}
