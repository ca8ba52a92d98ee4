//go:build linux

package main

// Split conversions without a scheduler: tasks as processes in random order, some
// killed with SIGKILL mid-run and rerun alone; concurrent duplicates; every refusal;
// --status against a golden file; --emit slurm|k8s parsed.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/omnitui/omnitui/core"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sameTree(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s differs from the single-process conversion", what, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s is not in the single-process conversion", what, k)
		}
	}
}

func runBin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(omnituiBin(t), args...)
	var e bytes.Buffer
	cmd.Stderr = &e
	cmd.Stdout = &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), e.String()
}

// N tasks in random order, some killed with SIGKILL mid-run; the commit names them;
// rerunning only those (which removes their temporaries) and committing gives the
// bytes of one process.
func TestTasksKilledThenResubmitted(t *testing.T) {
	slow, _ := slowCheckpoint(t)
	parent := t.TempDir()
	ref := filepath.Join(parent, "ref")
	if code, out := runBin(t, append(append([]string(nil), slowArgs...), "--out", ref, slow)...); code != 0 {
		t.Fatalf("single-process conversion: exit %d\n%s", code, out)
	}
	want := treeSums(t, ref)
	const n = 4
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	order := rng.Perm(n)
	killed := map[int]bool{order[0]: true}
	if rng.Intn(2) == 0 {
		killed[order[n-1]] = true
	}
	out := filepath.Join(parent, "out")
	taskArgs := func(i int) []string {
		return append(append([]string(nil), slowArgs...), "--tasks", fmt.Sprint(n), "--task", fmt.Sprint(i), "--out", out, slow)
	}
	// the files of each task, so that a run that finished before the kill could land is
	// undone (its receipts removed) before the next attempt
	code, planOut, stderr := runCLI(t, append(append([]string(nil), slowArgs...), "--plan", "--json", "--tasks", fmt.Sprint(n), slow)...)
	var split splitJSON
	if code != 0 || json.Unmarshal([]byte(planOut), &split) != nil || len(split.PerTask) != n {
		t.Fatalf("--plan --tasks: exit %d\n%s%s", code, planOut, stderr)
	}
	undo := func(i int) func() {
		return func() {
			for _, f := range split.PerTask[i].Files {
				os.Remove(filepath.Join(core.StagingDir(out), "receipts", url.PathEscape(f)+".json"))
			}
		}
	}
	for _, i := range order {
		if killed[i] {
			_, sig, stderr, first := faultMidRun(t, taskArgs(i), undo(i), func(p *os.Process) { p.Signal(syscall.SIGKILL) })
			if sig != syscall.SIGKILL {
				t.Fatalf("task %d was not killed (signal %v)\n%s", i, sig, stderr)
			}
			t.Logf("killed task %d after %q", i, first)
			continue
		}
		if code, stderr := runBin(t, taskArgs(i)...); code != 0 {
			t.Fatalf("task %d: exit %d\n%s", i, code, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the output exists before the commit")
	}
	code, status := runBin(t, "--batch", "--status", out)
	if code != exitFailed {
		t.Errorf("--status with tasks missing: exit %d, want %d", code, exitFailed)
	}
	for i := range n {
		line := fmt.Sprintf("task %d: ", i)
		if killed[i] && !strings.Contains(status, line+"missing") {
			t.Errorf("--status does not show killed task %d missing:\n%s", i, status)
		}
		if killed[i] && !strings.Contains(status, "killed run") {
			t.Errorf("--status does not mention the killed run's temporaries:\n%s", status)
		}
		if !killed[i] && !strings.Contains(status, line+"done") {
			t.Errorf("--status does not show task %d done:\n%s", i, status)
		}
	}
	code, stderr = runBin(t, "--batch", "--commit", out)
	var missing []string
	for i := range n {
		if killed[i] {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if code != exitFailed || !strings.Contains(stderr, "sbatch --array="+strings.Join(missing, ",")+" ") {
		t.Fatalf("commit with tasks %v killed: exit %d, want 1 and a resubmission of exactly them\n%s", missing, code, stderr)
	}
	for i := range killed {
		code, stderr := runBin(t, taskArgs(i)...)
		if code != 0 || !strings.Contains(stderr, "left by an interrupted run") {
			t.Fatalf("rerun of task %d: exit %d, want 0 and the killed run's temporaries removed\n%s", i, code, stderr)
		}
	}
	if code, stderr := runBin(t, "--batch", "--commit", out); code != 0 {
		t.Fatalf("commit: exit %d\n%s", code, stderr)
	}
	sameTree(t, "committed output", want, treeSums(t, out))
	assertOnly(t, parent, "out", "ref")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// Several copies of the same task at once, and one task run twice: identical bytes.
func TestTasksConcurrentDuplicates(t *testing.T) {
	parent := t.TempDir()
	ref := filepath.Join(parent, "ref")
	set := []string{"--batch", "--tp", "2", "--pp", "2", "--ep", "2"}
	if code, out := runBin(t, append(append([]string(nil), set...), "--out", ref, example)...); code != 0 {
		t.Fatalf("single-process conversion: exit %d\n%s", code, out)
	}
	out := filepath.Join(parent, "out")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fails []string
	for _, task := range []int{0, 0, 0, 1, 1, 0} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, stderr := runBin(t, append(append([]string(nil), set...), "--tasks", "2", "--task", fmt.Sprint(task), "--out", out, example)...)
			if code != 0 {
				mu.Lock()
				fails = append(fails, stderr)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(fails) > 0 {
		t.Fatalf("%d concurrent task run(s) failed:\n%s", len(fails), strings.Join(fails, "\n"))
	}
	if code, stderr := runBin(t, "--batch", "--commit", out); code != 0 {
		t.Fatalf("commit: exit %d\n%s", code, stderr)
	}
	sameTree(t, "output of duplicated tasks", treeSums(t, ref), treeSums(t, out))
}

func TestTaskIndexFromScheduler(t *testing.T) {
	cases := []struct {
		name string
		opt  taskOptions
		env  map[string]string
		want int
		err  string
	}{
		{"--task wins", taskOptions{task: 3, taskBase: -1}, map[string]string{"SLURM_ARRAY_TASK_ID": "7"}, 3, ""},
		{"slurm minus min", taskOptions{task: -1, taskBase: -1}, map[string]string{"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1"}, 4, ""},
		{"slurm resubmitted with base 0", taskOptions{task: -1, taskBase: 0}, map[string]string{"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "2"}, 2, ""},
		{"kubernetes", taskOptions{task: -1, taskBase: -1}, map[string]string{"JOB_COMPLETION_INDEX": "6"}, 6, ""},
		{"neither", taskOptions{task: -1, taskBase: -1}, nil, 0, "SLURM_ARRAY_TASK_ID"},
		{"garbage", taskOptions{task: -1, taskBase: -1}, map[string]string{"JOB_COMPLETION_INDEX": "x"}, 0, "not a task index"},
		{"below base", taskOptions{task: -1, taskBase: 3}, map[string]string{"SLURM_ARRAY_TASK_ID": "1"}, 0, "below the array base"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := taskIndex(&c.opt, func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %d, %v; want an error with %q", got, err, c.err)
				}
				if c.name == "neither" && !strings.Contains(err.Error(), "JOB_COMPLETION_INDEX") {
					t.Errorf("the error does not name JOB_COMPLETION_INDEX: %v", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

func clearSchedulerEnv(t *testing.T) {
	for _, k := range []string{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "JOB_COMPLETION_INDEX"} {
		t.Setenv(k, "")
	}
}

// Every refusal says what differs and leaves the staging directory and the output alone.
func TestTaskRefusals(t *testing.T) {
	clearSchedulerEnv(t)
	set := []string{"--batch", "--tp", "2", "--pp", "2", "--ep", "2"}
	task := func(out string, extra ...string) []string {
		return append(append(append([]string(nil), set...), extra...), "--out", out, example)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if code, _, stderr := runCLI(t, task(out, "--tasks", "3", "--task", "0")...); code != 0 {
		t.Fatalf("task 0: exit %d\n%s", code, stderr)
	}
	changed := filepath.Join(dir, "changed")
	if err := os.CopyFS(changed, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(changed, "config.json"))
	os.WriteFile(filepath.Join(changed, "config.json"), bytes.Replace(cfg, []byte("{"), []byte("{\"omnitui_test\": 1, "), 1), 0o644)
	cases := []struct {
		name string
		args []string
		pre  func() func()
		code int
		want []string
	}{
		{"index out of range", task(out, "--tasks", "3", "--task", "3"), nil, exitBadUsage, []string{"task index 3 is out of range", "0 to 2"}},
		{"no index", task(out, "--tasks", "3"), nil, exitBadUsage, []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "--task"}},
		{"other N", task(out, "--tasks", "4", "--task", "1"), nil, exitBadUsage, []string{"number of tasks", "--tasks 3", "--tasks 4"}},
		{"other settings", task(out, "--tasks", "3", "--task", "1", "--dtype", "fp32"), nil, exitBadUsage, []string{"settings", "dtype", "\"fp32\""}},
		{"other input", append(append(append([]string(nil), set...), "--tasks", "3", "--task", "1", "--out", out), changed), nil, exitBadUsage, []string{"input", "config.json changed"}},
		{"other version", task(out, "--tasks", "3", "--task", "1"), func() func() {
			old := version
			version = "9.9.9-test"
			return func() { version = old }
		}, exitBadUsage, []string{"omnitui version", "9.9.9-test"}},
		{"commit with tasks missing", []string{"--batch", "--commit", out}, nil, exitFailed, []string{"task 1: missing", "task 2: missing", "sbatch --array=1,2 ", "nothing was published"}},
		{"commit while another commit runs", []string{"--batch", "--commit", out}, func() func() {
			return holdLock(t, filepath.Join(core.StagingDir(out), "commit.lock"))
		}, exitBadUsage, []string{"another commit"}},
		{"output present", task(out, "--tasks", "3", "--task", "1"), func() func() {
			os.Mkdir(out, 0o755)
			return func() { os.Remove(out) }
		}, exitBadUsage, []string{"already exists", "--force"}},
		{"commit over a present output", []string{"--batch", "--commit", out}, func() func() {
			os.Mkdir(out, 0o755)
			return func() { os.Remove(out) }
		}, exitBadUsage, []string{"already exists", "--force"}},
		{"--task without --tasks", append(append([]string(nil), set...), "--task", "1", "--out", out, example), nil, exitBadUsage, []string{"add --tasks N"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.pre != nil {
				defer c.pre()()
			}
			before := treeSums(t, core.StagingDir(out))
			code, _, stderr := runCLI(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			after := treeSums(t, core.StagingDir(out))
			delete(after, "commit.lock")
			delete(before, "commit.lock")
			sameTree(t, "staging directory", before, after)
			if _, err := os.Stat(out); err == nil && !strings.Contains(c.name, "present") {
				t.Errorf("the output appeared")
			}
		})
	}
	// every file receipted but a task still running: the commit waits for it
	for i := 1; i < 3; i++ {
		if code, _, stderr := runCLI(t, task(out, "--tasks", "3", "--task", fmt.Sprint(i))...); code != 0 {
			t.Fatalf("task %d: exit %d\n%s", i, code, stderr)
		}
	}
	running := filepath.Join(core.StagingDir(out), "tmp", "task-1-elsewhere-42-beef")
	os.MkdirAll(running, 0o755)
	release := holdLock(t, filepath.Join(running, ".lock"))
	code, _, stderr := runCLI(t, "--batch", "--commit", out)
	if code != exitBadUsage || !strings.Contains(stderr, "task 1") || !strings.Contains(stderr, "still run") {
		t.Errorf("commit while task 1 runs: exit %d\n%s", code, stderr)
	}
	release()
	os.RemoveAll(running)
	// staging that is a symlink (it could point at another file system)
	other := filepath.Join(t.TempDir(), "elsewhere")
	os.Mkdir(other, 0o755)
	lout := filepath.Join(dir, "linked")
	os.Symlink(other, core.StagingDir(lout))
	code, _, stderr = runCLI(t, task(lout, "--tasks", "3", "--task", "0")...)
	if code != exitBadUsage || !strings.Contains(stderr, "not a plain directory") {
		t.Errorf("staging as a symlink: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "--batch", "--commit", out); code != 0 {
		t.Fatalf("final commit: exit %d\n%s", code, stderr)
	}
}

// A staging directory on another file system than the output (a mount point there).
func TestTaskStagingOtherFilesystem(t *testing.T) {
	clearSchedulerEnv(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	st := core.StagingDir(out)
	if err := os.Mkdir(st, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", st, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	defer syscall.Unmount(st, syscall.MNT_DETACH)
	code, _, stderr := runCLI(t, "--batch", "--tasks", "2", "--task", "0", "--out", out, example)
	if code != exitBadUsage || !strings.Contains(stderr, "another file system") {
		t.Errorf("exit %d, want %d saying the staging is on another file system\n%s", code, exitBadUsage, stderr)
	}
}

func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("testhost 4242\n")
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// --status of a half-done split against a golden file.
func TestTaskStatusGolden(t *testing.T) {
	clearSchedulerEnv(t)
	old := version
	version = "golden"
	defer func() { version = old }()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	for _, i := range []string{"0", "2"} {
		if code, _, stderr := runCLI(t, "--batch", "--tp", "2", "--pp", "2", "--ep", "2", "--tasks", "3", "--task", i, "--out", out, example); code != 0 {
			t.Fatalf("task %s: exit %d\n%s", i, code, stderr)
		}
	}
	stale := filepath.Join(core.StagingDir(out), "tmp", "task-1-deadhost-1-0000")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, ".lock"), nil, 0o644)
	code, stdout, stderr := runCLI(t, "--batch", "--status", out)
	if code != exitFailed {
		t.Errorf("--status with a task missing: exit %d, want %d\n%s", code, exitFailed, stderr)
	}
	abs, _ := filepath.Abs(example)
	// The plan id hashes mca_config.json, whose name_or_path is the input's absolute path, so
	// it differs per checkout: the status must show the id the staging directory recorded.
	var rec core.PlanRecord
	if b, err := os.ReadFile(filepath.Join(core.StagingDir(out), "plan.json")); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &rec); err != nil || len(rec.ID) < 16 {
		t.Fatalf("staging plan.json: %v (id %q)", err, rec.ID)
	}
	if !strings.Contains(stdout, "plan "+rec.ID[:16]) {
		t.Fatalf("--status does not show the recorded plan id %s:\n%s", rec.ID, stdout)
	}
	got := strings.ReplaceAll(strings.ReplaceAll(stdout, dir, "$TMP"), abs, "$EXAMPLE")
	got = strings.ReplaceAll(got, rec.ID[:16], "$PLAN")
	golden := filepath.Join("testdata", "tasks-status.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestTaskStatusGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("--status differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
	if code, _, stderr := runCLI(t, "--batch", "--abort", out); code != 0 || !strings.Contains(stderr, "removed") {
		t.Errorf("--abort: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "--batch", "--status", out); code != exitBadUsage || !strings.Contains(stderr, "no split conversion is staged") {
		t.Errorf("--status after --abort: exit %d\n%s", code, stderr)
	}
}

// --json progress events of a task carry its index.
func TestTaskJSONEventsCarryIndex(t *testing.T) {
	clearSchedulerEnv(t)
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "--batch", "--json", "--tp", "2", "--tasks", "2", "--out", out, example)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 2 {
		t.Fatalf("want progress events and a summary, got:\n%s", stdout)
	}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if ev["task"] != float64(1) {
			t.Errorf("event without task 1: %s", l)
		}
	}
}

// The partition table of --plan --tasks, as text and JSON, adds up.
func TestTaskPlanShowsPartition(t *testing.T) {
	code, stdout, stderr := runCLI(t, "--batch", "--plan", "--json", "--tp", "2", "--pp", "2", "--ep", "2", "--tasks", "3", example)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var sj splitJSON
	if err := json.Unmarshal([]byte(stdout), &sj); err != nil {
		t.Fatal(err)
	}
	files, written, read := 0, int64(0), int64(0)
	for _, pt := range sj.PerTask {
		files += len(pt.Files)
		written += pt.Written
		read += pt.Read
	}
	if sj.Tasks != 3 || len(sj.PerTask) != 3 || files != 8 || written != sj.Written || read != sj.TotalRead || len(sj.PlanID) != 16 {
		t.Errorf("split: %+v", sj)
	}
	code, text, _ := runCLI(t, "--batch", "--plan", "--tp", "2", "--pp", "2", "--ep", "2", "--tasks", "3", example)
	if code != 0 || !strings.Contains(text, "plan "+sj.PlanID) || !strings.Contains(text, "written") || !strings.Contains(text, "read") {
		t.Errorf("text split:\n%s", text)
	}
}

func TestEmitSlurm(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, script, stderr := runCLI(t, "--batch", "--tp", "2", "--tasks", "4", "--emit", "slurm", "--max-parallel", "2", "--sbatch-args", "--partition=cpu", "--out", out, example)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	exe, _ := os.Executable()
	abs, _ := filepath.Abs(example)
	for _, w := range []string{"--array=0-3%2", "--dependency=afterok:$array_job", "--partition=cpu", exe, "--out=" + out, abs, "--task-base=0", "--commit " + out} {
		if !strings.Contains(script, w) {
			t.Errorf("script lacks %q:\n%s", w, script)
		}
	}
	if strings.Contains(script, "--emit") || strings.Contains(script, "--max-parallel") {
		t.Errorf("the task command keeps --emit options:\n%s", script)
	}
	f := filepath.Join(t.TempDir(), "s.sh")
	os.WriteFile(f, []byte(script), 0o644)
	if b, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, b)
	}
	if _, err := os.Stat(core.StagingDir(out)); err == nil {
		t.Error("--emit created the staging directory")
	}
}

func TestEmitK8sIndexedJob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, text, stderr := runCLI(t, "--batch", "--tp", "2", "--tasks", "4", "--emit", "k8s", "--max-parallel", "3",
		"--k8s-output-volume", "pvc:scratch", "--out", out, example)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	type container struct {
		Image        string   `yaml:"image"`
		Command      []string `yaml:"command"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	type job struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			CompletionMode       string `yaml:"completionMode"`
			Completions          *int   `yaml:"completions"`
			Parallelism          *int   `yaml:"parallelism"`
			BackoffLimitPerIndex *int   `yaml:"backoffLimitPerIndex"`
			BackoffLimit         *int   `yaml:"backoffLimit"`
			Template             struct {
				Spec struct {
					RestartPolicy string      `yaml:"restartPolicy"`
					Containers    []container `yaml:"containers"`
					Volumes       []struct {
						Name     string `yaml:"name"`
						HostPath *struct {
							Path string `yaml:"path"`
						} `yaml:"hostPath"`
						PVC *struct {
							ClaimName string `yaml:"claimName"`
						} `yaml:"persistentVolumeClaim"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []job
	for {
		var j job
		if err := dec.Decode(&j); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("YAML: %v\n%s", err, text)
		}
		docs = append(docs, j)
	}
	if len(docs) != 2 {
		t.Fatalf("%d YAML documents, want the Indexed Job and the commit Job", len(docs))
	}
	tasks, commit := docs[0], docs[1]
	s := tasks.Spec
	if tasks.APIVersion != "batch/v1" || tasks.Kind != "Job" || s.CompletionMode != "Indexed" || s.Completions == nil || *s.Completions != 4 ||
		s.Parallelism == nil || *s.Parallelism != 3 || s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex < 1 || s.Template.Spec.RestartPolicy != "Never" {
		t.Errorf("task Job: %+v", tasks)
	}
	exe, _ := os.Executable()
	abs, _ := filepath.Abs(example)
	c := s.Template.Spec.Containers
	if len(c) != 1 || c[0].Command[0] != exe || c[0].Command[len(c[0].Command)-1] != abs || !strings.Contains(strings.Join(c[0].Command, " "), "--out="+out) ||
		strings.Contains(strings.Join(c[0].Command, " "), "--task=") {
		t.Errorf("task command: %v", c)
	}
	mounts := map[string]string{}
	for _, m := range c[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["input"] != abs || mounts["output"] != filepath.Dir(out) || mounts["omnitui"] != filepath.Dir(exe) {
		t.Errorf("mounts: %v", mounts)
	}
	vols := map[string]string{}
	for _, v := range s.Template.Spec.Volumes {
		switch {
		case v.HostPath != nil:
			vols[v.Name] = v.HostPath.Path
		case v.PVC != nil:
			vols[v.Name] = "pvc:" + v.PVC.ClaimName
		}
	}
	if vols["input"] != abs || vols["output"] != "pvc:scratch" || vols["omnitui"] != filepath.Dir(exe) {
		t.Errorf("volumes: %v", vols)
	}
	cc := commit.Spec.Template.Spec.Containers
	if commit.Kind != "Job" || commit.Spec.CompletionMode != "" || commit.Spec.BackoffLimit == nil || len(cc) != 1 ||
		strings.Join(cc[0].Command, " ") != exe+" --batch --commit "+out {
		t.Errorf("commit Job: %+v", commit)
	}
}

// A task on a really full disk: it fails saying so, writes no receipt and leaves no
// temporaries; the staging directory stays for a rerun.
func TestTaskDiskFullTmpfs(t *testing.T) {
	clearSchedulerEnv(t)
	mnt := mountTmpfs(t, "300k")
	out := filepath.Join(mnt, "out")
	code, _, stderr := runCLI(t, "--batch", "--tp", "2", "--pp", "2", "--ep", "2", "--tasks", "1", "--task", "0", "--out", out, example)
	if code != exitFailed || !strings.Contains(stderr, "full") {
		t.Fatalf("exit %d, want %d saying the disk is full\n%s", code, exitFailed, stderr)
	}
	st := core.StagingDir(out)
	for _, d := range []string{"receipts", "tmp"} {
		if ents, err := os.ReadDir(filepath.Join(st, d)); err != nil || len(ents) != 0 {
			t.Errorf("%s after the failure: %v %v", d, ents, err)
		}
	}
	if _, err := os.Stat(filepath.Join(st, "plan.json")); err != nil {
		t.Errorf("the plan record is gone: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the output appeared")
	}
}

// The Slurm scripts CI runs (.ci/run) at least parse here, where no cluster may start.
func TestSlurmScriptsParse(t *testing.T) {
	for _, f := range []string{"../../testdata/slurm/run.sh", "../../testdata/slurm/cluster.sh", "../../testdata/bench/tasks.sh"} {
		if b, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", f, err, b)
		}
	}
}

func TestSlurmJobOptionsForResubmission(t *testing.T) {
	env := map[string]string{"SLURM_JOB_ID": "7", "SLURM_JOB_PARTITION": "cpu", "SLURM_JOB_QOS": "normal"}
	got := strings.Join(slurmJobOptions(func(k string) string { return env[k] }), " ")
	if got != "--partition=cpu --qos=normal" {
		t.Errorf("got %q", got)
	}
	if o := slurmJobOptions(func(string) string { return "" }); o != nil {
		t.Errorf("outside Slurm: %v", o)
	}
}
