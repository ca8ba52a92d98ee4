package core

// The staging protocol of a split conversion. Tasks write into one staging directory
// beside the output, on the same file system:
//
//	.<out>.omnitui-staging/
//	    plan.json          the plan record, created once (exclusively) by the first task
//	    out/               becomes the output in one rename at commit
//	    receipts/<file>    one per finished file: plan id, size, SHA-256, tensors, task, host
//	    tmp/task-<i>-...   a running task's temporaries (flock-held .lock)
//	    commit.lock        held by a running commit
//
// A file counts only once its receipt is written, which happens after the file was
// flushed and renamed into out/. Receipts are written by rename too, so a reader sees
// a whole receipt or none.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// stagingSuffix names the staging directory of an output: .<base>.omnitui-staging.
const stagingSuffix = ".omnitui-staging"

// StagingDir is where the tasks of a split conversion into out write.
func StagingDir(out string) string {
	return filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+stagingSuffix)
}

// GlobalFile is a file of the output written once by the commit (config, index,
// tracker, tokenizer files), not by a task.
type GlobalFile struct {
	Name   string `json:"name"`
	Data   []byte `json:"data,omitempty"` // content, or
	From   string `json:"from,omitempty"` // absolute path of an input file copied as is
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// InputFile is one input file as the plan id sees it.
type InputFile struct {
	Name string `json:"name"` // relative to the input directory
	Size int64  `json:"size"`
	Head string `json:"head_sha256"` // SHA-256 of its header bytes (see Fingerprint)
}

// SplitJob is one conversion as its tasks see it: what it writes (Work), how to write
// a subset of the files into a directory (Run), and what the commit adds (Globals).
type SplitJob struct {
	Kind     string      // "hf-to-mca", "mca-to-hf", "mca-reshard"
	Settings string      // every setting that changes output bytes, as canonical text
	Input    string      // input directory, absolute
	Inputs   []InputFile // fingerprint of the input
	Work     *Workload
	Globals  []GlobalFile
	// Run writes the files sel marks (indices into Work.Files) into dir, which exists.
	Run func(ctx context.Context, sel []bool, dir string, progress func(Progress)) error
}

// NewGlobalData is a global file with the given content.
func NewGlobalData(name string, data []byte) GlobalFile {
	s := sha256.Sum256(data)
	return GlobalFile{Name: name, Data: data, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])}
}

// headBytes is how much of a file without a known header the fingerprint hashes
// (its first and its last headBytes).
const headBytes = 1 << 20

// FingerprintFile hashes what identifies an input file without reading its data: the
// first head bytes (the safetensors header, or the start of a zip whose end holds its
// central directory) and the last 1 MiB; a small file is hashed whole.
func FingerprintFile(dir, name string, head int64) (InputFile, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return InputFile{}, fmt.Errorf("fingerprinting the input: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return InputFile{}, fmt.Errorf("fingerprinting the input: %w", err)
	}
	if head <= 0 {
		head = headBytes
	}
	h := sha256.New()
	size := st.Size()
	if size <= head+headBytes {
		if _, err := io.Copy(h, f); err != nil {
			return InputFile{}, fmt.Errorf("fingerprinting %s: %w", path, err)
		}
	} else {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, head)); err != nil {
			return InputFile{}, fmt.Errorf("fingerprinting %s: %w", path, err)
		}
		if _, err := io.Copy(h, io.NewSectionReader(f, size-headBytes, headBytes)); err != nil {
			return InputFile{}, fmt.Errorf("fingerprinting %s: %w", path, err)
		}
	}
	return InputFile{Name: filepath.ToSlash(name), Size: size, Head: hex.EncodeToString(h.Sum(nil))}, nil
}

// PlanRecord is plan.json of a staging directory.
type PlanRecord struct {
	ID        string       `json:"plan_id"`
	Version   string       `json:"omnitui_version"`
	Kind      string       `json:"kind"`
	Tasks     int          `json:"tasks"`
	Settings  string       `json:"settings"`
	Input     string       `json:"input"`
	InputHash string       `json:"input_fingerprint"`
	Inputs    []InputFile  `json:"input_files"`
	Partition string       `json:"partition_hash"`
	Files     []RecordFile `json:"files"`
	Globals   []GlobalFile `json:"globals"`
	Command   []string     `json:"command,omitempty"` // a task's command line without --task (for resubmission)
	Sbatch    []string     `json:"sbatch,omitempty"`  // sbatch options of the first task's Slurm job (partition, account, QOS)
	Out       string       `json:"out"`
}

// RecordFile is one planned output file and its task.
type RecordFile struct {
	Name    string `json:"name"`
	Bytes   int64  `json:"bytes"`
	Tensors int    `json:"tensors"`
	Task    int    `json:"task"`
}

// Receipt says that one file of the output is finished.
type Receipt struct {
	PlanID  string `json:"plan_id"`
	File    string `json:"file"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Tensors int    `json:"tensors"`
	Task    int    `json:"task"`
	Host    string `json:"host"`
	PID     int    `json:"pid"`
	Time    string `json:"time"`
}

// NewPlanRecord computes the plan id of job split into part for out.
func NewPlanRecord(job *SplitJob, part *Partition, version, out string) *PlanRecord {
	r := &PlanRecord{Version: version, Kind: job.Kind, Tasks: part.N, Settings: job.Settings, Input: job.Input, Inputs: job.Inputs, Globals: job.Globals, Out: out}
	ih := sha256.New()
	for _, f := range job.Inputs {
		fmt.Fprintf(ih, "%q %d %s\n", f.Name, f.Size, f.Head)
	}
	r.InputHash = hex.EncodeToString(ih.Sum(nil))
	ph := sha256.New()
	for i, f := range job.Work.Files {
		r.Files = append(r.Files, RecordFile{Name: f.Name, Bytes: f.Bytes, Tensors: f.Tensors, Task: part.TaskOf[i]})
		fmt.Fprintf(ph, "%q %d %d\n", f.Name, f.Bytes, part.TaskOf[i])
	}
	for _, g := range job.Globals {
		fmt.Fprintf(ph, "global %q %d %s\n", g.Name, g.Size, g.SHA256)
	}
	r.Partition = hex.EncodeToString(ph.Sum(nil))
	id := sha256.New()
	fmt.Fprintf(id, "omnitui plan\nversion %q\nkind %q\ntasks %d\nsettings %q\ninput %s\npartition %s\n", version, job.Kind, part.N, job.Settings, r.InputHash, r.Partition)
	r.ID = hex.EncodeToString(id.Sum(nil))[:16]
	return r
}

// differences names what makes two plan records differ (empty when the ids match).
func (r *PlanRecord) differences(o *PlanRecord) []string {
	if r.ID == o.ID {
		return nil
	}
	var d []string
	if r.Version != o.Version {
		d = append(d, fmt.Sprintf("omnitui version: staging has %s, this task is %s", r.Version, o.Version))
	}
	if r.Tasks != o.Tasks {
		d = append(d, fmt.Sprintf("number of tasks: staging was planned for --tasks %d, this task has --tasks %d", r.Tasks, o.Tasks))
	}
	if r.Kind != o.Kind {
		d = append(d, fmt.Sprintf("direction: staging is a %s conversion, this task is %s", r.Kind, o.Kind))
	} else if r.Settings != o.Settings {
		d = append(d, "settings: "+settingsDiff(r.Settings, o.Settings))
	}
	if r.InputHash != o.InputHash {
		d = append(d, "input: "+inputDiff(r, o))
	}
	if len(d) == 0 && r.Partition != o.Partition {
		d = append(d, "partition of the files into tasks (same settings, different files or sizes)")
	}
	if len(d) == 0 {
		d = append(d, "plan id")
	}
	return d
}

// settingsDiff names the settings that differ ("TP: staging 2, this task 1").
func settingsDiff(a, b string) string {
	var ma, mb map[string]any
	if json.Unmarshal([]byte(a), &ma) != nil || json.Unmarshal([]byte(b), &mb) != nil {
		return fmt.Sprintf("staging has %s, this task has %s", a, b)
	}
	flat := func(m map[string]any) map[string]string {
		out := map[string]string{}
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			if sub, ok := v.(map[string]any); ok {
				for k, x := range sub {
					walk(prefix+k+".", x)
				}
				return
			}
			b, _ := json.Marshal(v)
			out[strings.TrimSuffix(prefix, ".")] = string(b)
		}
		walk("", m)
		return out
	}
	fa, fb := flat(ma), flat(mb)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var d []string
	for k := range keys {
		if fa[k] != fb[k] {
			d = append(d, fmt.Sprintf("%s: staging %s, this task %s", k, orNone(fa[k]), orNone(fb[k])))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func inputDiff(r, o *PlanRecord) string {
	var d []string
	if r.Input != o.Input {
		d = append(d, fmt.Sprintf("staging read %s, this task reads %s", Printable(r.Input), Printable(o.Input)))
	}
	old := map[string]InputFile{}
	for _, f := range r.Inputs {
		old[f.Name] = f
	}
	seen := map[string]bool{}
	for _, f := range o.Inputs {
		seen[f.Name] = true
		p, ok := old[f.Name]
		switch {
		case !ok:
			d = append(d, Printable(f.Name)+" is new")
		case p.Size != f.Size:
			d = append(d, fmt.Sprintf("%s changed size (%d -> %d bytes)", Printable(f.Name), p.Size, f.Size))
		case p.Head != f.Head:
			d = append(d, Printable(f.Name)+" changed (its header differs)")
		}
	}
	for _, f := range r.Inputs {
		if !seen[f.Name] {
			d = append(d, Printable(f.Name)+" is gone")
		}
	}
	if len(d) > 6 {
		d = append(d[:6], fmt.Sprintf("and %d more", len(d)-6))
	}
	if len(d) == 0 {
		return "the input files differ"
	}
	return strings.Join(d, "; ")
}

// TaskOptions control one task of a split conversion.
type TaskOptions struct {
	Out      string // final output directory
	Task     int
	Force    bool // an existing output will be replaced by the commit
	Recheck  bool // re-hash files whose receipts exist instead of trusting size and receipt
	Version  string
	Command  []string // recorded for resubmission
	Sbatch   []string // recorded for resubmission under Slurm
	Progress func(Progress)
}

// TaskResult is what one task did.
type TaskResult struct {
	PlanID  string
	Written []string // files written by this run
	Skipped []string // files whose receipts already matched
	Bytes   int64    // bytes written by this run
	Removed []string // stale temporaries of this task removed
}

// RunTask runs task opt.Task of job split into part: the files already receipted are
// skipped, the rest written into a temporary directory, flushed, renamed into staging
// and receipted one by one.
func RunTask(ctx context.Context, job *SplitJob, part *Partition, opt TaskOptions) (*TaskResult, error) {
	if opt.Task < 0 || opt.Task >= part.N {
		return nil, &UsageError{fmt.Sprintf("task index %d is out of range: --tasks %d has tasks 0 to %d", opt.Task, part.N, part.N-1)}
	}
	out, err := filepath.Abs(opt.Out)
	if err != nil {
		return nil, err
	}
	if err := checkOutput(out, job.Input, opt.Force); err != nil {
		return nil, &UsageError{err.Error()}
	}
	rec := NewPlanRecord(job, part, opt.Version, out)
	rec.Command, rec.Sbatch = opt.Command, opt.Sbatch
	st, err := openStaging(out, rec)
	if err != nil {
		return nil, err
	}
	res := &TaskResult{PlanID: rec.ID}
	res.Removed = st.cleanTemps(opt.Task)

	// what is left to do
	sel := make([]bool, len(job.Work.Files))
	var todo []int
	for f, t := range part.TaskOf {
		if t != opt.Task {
			continue
		}
		if ok, _ := st.receiptOK(rec, job.Work.Files[f].Name, opt.Recheck); ok {
			res.Skipped = append(res.Skipped, job.Work.Files[f].Name)
			continue
		}
		sel[f] = true
		todo = append(todo, f)
	}
	if len(todo) == 0 {
		return res, nil
	}
	tmp, unlock, err := st.newTemp(opt.Task)
	if err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(tmp)
		unlock()
	}()
	progress := opt.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	if err := job.Run(ctx, sel, tmp, progress); err != nil {
		if st.gone(rec) {
			return nil, st.goneError()
		}
		return nil, explainIO(err, out)
	}
	if st.gone(rec) {
		return nil, st.goneError()
	}
	host, _ := os.Hostname()
	// hash the finished files concurrently (they are in the page cache), then publish
	// them in order
	type sum struct {
		hash string
		size int64
		err  error
	}
	sums := make([]sum, len(todo))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for k, f := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			h, n, err := hashFile(filepath.Join(tmp, filepath.FromSlash(job.Work.Files[f].Name)))
			sums[k] = sum{h, n, err}
		}()
	}
	wg.Wait()
	for k, f := range todo {
		if sums[k].err != nil {
			if st.gone(rec) {
				return nil, st.goneError()
			}
			return nil, fmt.Errorf("reading back %s: %w", job.Work.Files[f].Name, sums[k].err)
		}
	}
	if st.gone(rec) {
		return nil, st.goneError()
	}
	// rename every file into out/, flush the directories that changed, and only then
	// write the receipts (flushed concurrently, the directory once)
	dirs := map[string]bool{}
	for _, f := range todo {
		name := job.Work.Files[f].Name
		if err := st.publish(tmp, name); err != nil {
			if st.gone(rec) {
				return nil, st.goneError()
			}
			return nil, explainIO(err, out)
		}
		dirs[filepath.Dir(st.path("out", filepath.FromSlash(name)))] = true
	}
	if err := parallel(func(do func(func() error)) {
		for d := range dirs {
			do(func() error { return syncDir(d) })
		}
	}); err != nil {
		return nil, explainIO(err, out)
	}
	receipts := make([]Receipt, len(todo))
	for k, f := range todo {
		wf := job.Work.Files[f]
		receipts[k] = Receipt{PlanID: rec.ID, File: wf.Name, Size: sums[k].size, SHA256: sums[k].hash, Tensors: wf.Tensors, Task: opt.Task,
			Host: host, PID: os.Getpid(), Time: time.Now().UTC().Format(time.RFC3339)}
	}
	if err := parallel(func(do func(func() error)) {
		for _, r := range receipts {
			do(func() error { return st.writeReceipt(r) })
		}
	}); err != nil {
		if st.gone(rec) {
			return nil, st.goneError()
		}
		return nil, explainIO(err, out)
	}
	if err := syncDir(st.path("receipts")); err != nil {
		return nil, explainIO(err, out)
	}
	for _, f := range todo {
		res.Written = append(res.Written, job.Work.Files[f].Name)
		res.Bytes += job.Work.Files[f].Bytes
	}
	return res, nil
}

// UsageError is a refusal caused by how omnitui was called or what it was pointed at
// (exit status 2); other errors are failures of the work itself.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// stage is an opened staging directory.
type stage struct {
	out, dir string
}

func (st *stage) path(parts ...string) string {
	return filepath.Join(append([]string{st.dir}, parts...)...)
}

// openStaging creates the staging directory and its plan record, or checks that an
// existing one has the same plan id.
func openStaging(out string, rec *PlanRecord) (*stage, error) {
	st := &stage{out: out, dir: StagingDir(out)}
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s, the parent of the output: %w", parent, err)
	}
	if err := os.Mkdir(st.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, explainIO(fmt.Errorf("creating the staging directory %s: %w", st.dir, err), out)
	}
	if err := st.checkFS(); err != nil {
		return nil, err
	}
	for _, d := range []string{"out", "receipts", "tmp"} {
		if err := os.Mkdir(st.path(d), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, explainIO(fmt.Errorf("creating %s: %w", st.path(d), err), out)
		}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	// create plan.json exclusively: written to a private name, flushed, then linked
	// (link fails if another task's record is already there)
	tmp := st.path(fmt.Sprintf("plan.json.%d-%s", os.Getpid(), randHex()))
	if err := writeFileSync(tmp, append(data, '\n')); err != nil {
		os.Remove(tmp)
		return nil, explainIO(err, out)
	}
	err = os.Link(tmp, st.path("plan.json"))
	os.Remove(tmp)
	if err == nil {
		_ = syncDir(st.dir)
		return st, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, explainIO(fmt.Errorf("creating the plan record in %s: %w", st.dir, err), out)
	}
	have, err := readPlanRecord(st.dir)
	if err != nil {
		return nil, err
	}
	if d := have.differences(rec); len(d) > 0 {
		return nil, &UsageError{fmt.Sprintf("the staging directory %s holds plan %s, but this task computes plan %s; they differ in:\n  - %s\nRun every task with the same input, flags, --tasks and omnitui binary, or remove the staging directory with: omnitui --batch --abort %s",
			st.dir, have.ID, rec.ID, strings.Join(d, "\n  - "), out)}
	}
	return st, nil
}

// checkFS refuses a staging directory that is not on the output's file system (a
// symlink or a mount point there), where the commit's rename could not work.
func (st *stage) checkFS() error {
	li, err := os.Lstat(st.dir)
	if err != nil {
		return err
	}
	if li.Mode()&os.ModeSymlink != 0 || !li.IsDir() {
		return &UsageError{fmt.Sprintf("the staging directory %s is not a plain directory (a symlink or a file): omnitui stages beside the output so that the commit is one rename; remove it", st.dir)}
	}
	a, aok := li.Sys().(*syscall.Stat_t)
	pi, err := os.Stat(filepath.Dir(st.out))
	if err != nil {
		return err
	}
	b, bok := pi.Sys().(*syscall.Stat_t)
	if aok && bok && a.Dev != b.Dev {
		return &UsageError{fmt.Sprintf("the staging directory %s is on another file system than %s (a mount point): the commit could not publish it by one rename; unmount it or choose another --out", st.dir, filepath.Dir(st.out))}
	}
	return nil
}

func readPlanRecord(dir string) (*PlanRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		return nil, err
	}
	var r PlanRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s/plan.json is damaged (%v): remove the staging directory with --abort and run the tasks again", dir, err)
	}
	return &r, nil
}

// gone reports whether the staging directory no longer holds rec (removed by --abort,
// committed, or replaced).
func (st *stage) gone(rec *PlanRecord) bool {
	have, err := readPlanRecord(st.dir)
	return err != nil || have.ID != rec.ID
}

func (st *stage) goneError() error {
	return fmt.Errorf("the staging directory %s was removed or replaced while this task ran (by --abort, a commit, or by hand): nothing of this run was kept; run the task again to start over", st.dir)
}

func receiptName(file string) string { return url.PathEscape(file) + ".json" }

// receiptOK reports whether file has a receipt of plan rec whose file is in place with
// the receipted size (and, with recheck, SHA-256).
func (st *stage) receiptOK(rec *PlanRecord, file string, recheck bool) (bool, string) {
	b, err := os.ReadFile(st.path("receipts", receiptName(file)))
	if err != nil {
		return false, "no receipt"
	}
	var r Receipt
	if err := json.Unmarshal(b, &r); err != nil || r.PlanID != rec.ID || r.File != file {
		return false, "receipt of another plan or damaged"
	}
	path := st.path("out", filepath.FromSlash(file))
	fi, err := os.Stat(path)
	if err != nil {
		return false, "receipted but the file is missing"
	}
	if fi.Size() != r.Size {
		return false, fmt.Sprintf("receipted %d bytes but the file holds %d", r.Size, fi.Size())
	}
	if recheck {
		h, _, err := hashFile(path)
		if err != nil || h != r.SHA256 {
			return false, "the file's SHA-256 no longer matches its receipt"
		}
	}
	return true, ""
}

// tempPrefix names task i's temporaries: tmp/task-<i>-<host>-<pid>-<rand>.
func tempPrefix(task int) string { return fmt.Sprintf("task-%d-", task) }

// newTemp creates a temporary directory for task and holds a lock on it for as long
// as this process runs.
func (st *stage) newTemp(task int) (string, func(), error) {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == '-' || r < ' ' {
			return '_'
		}
		return r
	}, host)
	dir := st.path("tmp", fmt.Sprintf("%s%s-%d-%s", tempPrefix(task), host, os.Getpid(), randHex()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, explainIO(fmt.Errorf("creating the task's temporary directory: %w", err), st.out)
	}
	lf, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, explainIO(fmt.Errorf("creating the task's lock: %w", err), st.out)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	fmt.Fprintf(lf, "%s %d\n", host, os.Getpid())
	return dir, func() { lf.Close() }, nil
}

// tempLocked reports whether a temporary directory's owner still runs (holds its lock).
func tempLocked(dir string) (bool, string) {
	lf, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		// no lock file yet: a task between mkdir and lock, or killed right there
		fi, serr := os.Stat(dir)
		return serr == nil && time.Since(fi.ModTime()) < time.Minute, ""
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(lf, 200))
		return true, strings.TrimSpace(string(b))
	}
	syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return false, ""
}

// cleanTemps removes the temporaries of task whose owner is gone (a killed run).
func (st *stage) cleanTemps(task int) []string {
	ents, _ := os.ReadDir(st.path("tmp"))
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix(task)) {
			continue
		}
		d := st.path("tmp", e.Name())
		if locked, _ := tempLocked(d); locked {
			continue
		}
		if os.RemoveAll(d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// publish renames a finished file from tmp into out/, creating its directories inside
// out/ only (never the staging directory itself, which a concurrent --abort may have
// removed).
func (st *stage) publish(tmp, name string) error {
	rel := filepath.FromSlash(name)
	dst := st.path("out", rel)
	root := st.path("out")
	cur := root
	for _, p := range strings.Split(filepath.Dir(rel), string(filepath.Separator)) {
		if p == "." || p == "" {
			continue
		}
		cur = filepath.Join(cur, p)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating %s: %w", cur, err)
		}
	}
	if err := os.Rename(filepath.Join(tmp, rel), dst); err != nil {
		return fmt.Errorf("moving %s into the staging directory: %w", name, err)
	}
	return nil // the caller flushes the directories
}

func (st *stage) writeReceipt(r Receipt) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	name := st.path("receipts", receiptName(r.File))
	tmp := name + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + randHex()
	if err := writeFileSync(tmp, append(b, '\n')); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing the receipt of %s: %w", r.File, err)
	}
	return nil // the caller flushes the receipts directory
}

// parallel runs the functions submit passes to do, at most 8 at once, and returns the
// first error.
func parallel(submit func(do func(func() error))) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 8)
	submit(func(f func() error) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	})
	wg.Wait()
	return first
}

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// TaskState is one task's files in a staging directory.
type TaskState struct {
	Task    int
	Files   []string // planned, by name
	Done    []string
	Missing []string
	Why     map[string]string // missing file -> why ("no receipt", ...)
	Bytes   int64             // planned bytes
	DoneB   int64
	Running []string // "host pid" of live runs of this task
	Stale   int      // temporaries left by killed runs
}

// StagingStatus is what --status shows.
type StagingStatus struct {
	Out, Dir  string
	Record    *PlanRecord
	Tasks     []TaskState
	Committer string // "host pid" of a running commit, if any
}

// Missing lists the tasks with files still missing.
func (s *StagingStatus) Missing() []int {
	var out []int
	for _, t := range s.Tasks {
		if len(t.Missing) > 0 {
			out = append(out, t.Task)
		}
	}
	return out
}

// ReadStatus reads the staging directory of out.
func ReadStatus(out string, recheck bool) (*StagingStatus, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	st := &stage{out: out, dir: StagingDir(out)}
	rec, err := readPlanRecord(st.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(out); serr == nil {
				return nil, &UsageError{fmt.Sprintf("no split conversion is staged for %s (%s does not exist); %s itself exists, so it was already committed or written in one run", out, st.dir, out)}
			}
			return nil, &UsageError{fmt.Sprintf("no split conversion is staged for %s: %s does not exist (start one with --tasks N --task I --out %s)", out, st.dir, out)}
		}
		return nil, err
	}
	if _, err := os.Stat(st.path("out")); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Lstat(out); err == nil {
			return nil, &UsageError{fmt.Sprintf("%s was published by a commit of plan %s that stopped before removing the staging directory %s: remove that with omnitui --batch --abort %s", out, rec.ID, st.dir, out)}
		}
	}
	s := &StagingStatus{Out: out, Dir: st.dir, Record: rec, Tasks: make([]TaskState, rec.Tasks)}
	for i := range s.Tasks {
		s.Tasks[i] = TaskState{Task: i, Why: map[string]string{}}
	}
	for _, f := range rec.Files {
		if f.Task < 0 || f.Task >= rec.Tasks {
			return nil, fmt.Errorf("%s/plan.json assigns %s to task %d of %d: the record is damaged; --abort and start over", st.dir, f.Name, f.Task, rec.Tasks)
		}
		t := &s.Tasks[f.Task]
		t.Files = append(t.Files, f.Name)
		t.Bytes += f.Bytes
		if ok, why := st.receiptOK(rec, f.Name, recheck); ok {
			t.Done = append(t.Done, f.Name)
			t.DoneB += f.Bytes
		} else {
			t.Missing = append(t.Missing, f.Name)
			t.Why[f.Name] = why
		}
	}
	ents, _ := os.ReadDir(st.path("tmp"))
	for _, e := range ents {
		var task int
		if _, err := fmt.Sscanf(e.Name(), "task-%d-", &task); err != nil || task < 0 || task >= rec.Tasks {
			continue
		}
		if locked, who := tempLocked(st.path("tmp", e.Name())); locked {
			s.Tasks[task].Running = append(s.Tasks[task].Running, who)
		} else {
			s.Tasks[task].Stale++
		}
	}
	if locked, who := commitLocked(st); locked {
		s.Committer = who
	}
	return s, nil
}

// WriteText prints the status, one line per task.
func (s *StagingStatus) WriteText(w io.Writer) {
	r := s.Record
	var total int64
	for _, f := range r.Files {
		total += f.Bytes
	}
	fmt.Fprintf(w, "split conversion into %s\n", Printable(s.Out))
	fmt.Fprintf(w, "  staging %s\n", Printable(s.Dir))
	fmt.Fprintf(w, "  plan %s: %s, %d task(s), %d file(s), %s, omnitui %s\n", Printable(r.ID), Printable(r.Kind), r.Tasks, len(r.Files), HumanBytes(total), Printable(r.Version))
	fmt.Fprintf(w, "  input %s\n", Printable(r.Input))
	done := 0
	for _, t := range s.Tasks {
		state := "done"
		switch {
		case len(t.Files) == 0:
			state = "empty"
		case len(t.Running) > 0:
			state = "running"
		case len(t.Missing) > 0 && len(t.Done) > 0:
			state = "partial"
		case len(t.Missing) > 0:
			state = "missing"
		}
		if len(t.Missing) == 0 {
			done++
		}
		fmt.Fprintf(w, "task %d: %-7s %d/%d file(s), %s of %s", t.Task, state, len(t.Done), len(t.Files), HumanBytes(t.DoneB), HumanBytes(t.Bytes))
		if len(t.Running) > 0 {
			fmt.Fprintf(w, "; running: %s", Printable(strings.Join(t.Running, ", ")))
		}
		if t.Stale > 0 {
			fmt.Fprintf(w, "; %d temporary dir(s) of a killed run (the next run of this task removes them)", t.Stale)
		}
		fmt.Fprintln(w)
		for _, f := range t.Missing {
			fmt.Fprintf(w, "    missing %s (%s)\n", Printable(f), t.Why[f])
		}
	}
	if s.Committer != "" {
		fmt.Fprintf(w, "a commit is running: %s\n", Printable(s.Committer))
	}
	if m := s.Missing(); len(m) > 0 {
		fmt.Fprintf(w, "%d of %d task(s) complete; missing tasks: %s\n", done, r.Tasks, intsList(m))
	} else {
		fmt.Fprintf(w, "all %d task(s) complete: run omnitui --batch --commit %s\n", r.Tasks, s.Out)
	}
}

// Printable quotes text that came from files (names, hosts) when it holds control
// characters or invalid UTF-8, so that printing it cannot drive the terminal.
func Printable(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return strconv.Quote(s)
	}
	return s
}

func intsList(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// MissingError is a commit refused because tasks are missing.
type MissingError struct{ Status *StagingStatus }

func (e *MissingError) Error() string {
	m := e.Status.Missing()
	var files []string
	for _, t := range e.Status.Tasks {
		for _, f := range t.Missing {
			files = append(files, fmt.Sprintf("%s of task %d (%s)", Printable(f), t.Task, t.Why[f]))
		}
	}
	if len(files) > 3 {
		files = append(files[:3], fmt.Sprintf("%d more", len(files)-3))
	}
	return fmt.Sprintf("%d task(s) have files missing (tasks %s: %s); nothing was published and the staging directory %s is kept", len(m), intsList(m), strings.Join(files, ", "), e.Status.Dir)
}

// CommitOptions control publishing a staged conversion.
type CommitOptions struct {
	Force   bool // replace an existing output
	Recheck bool // re-hash every file against its receipt
}

func commitLocked(st *stage) (bool, string) {
	lf, err := os.OpenFile(st.path("commit.lock"), os.O_RDWR, 0)
	if err != nil {
		return false, ""
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(lf, 200))
		return true, strings.TrimSpace(string(b))
	}
	syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return false, ""
}

// Commit checks that every planned file has a matching receipt, writes the global
// files, flushes, and publishes staging as out in one rename. When files are missing
// it returns a *MissingError and keeps the staging directory.
func Commit(out string, opt CommitOptions) (*StagingStatus, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	st := &stage{out: out, dir: StagingDir(out)}
	if _, err := os.Stat(st.path("plan.json")); err != nil {
		if _, err := ReadStatus(out, false); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Lstat(out); err == nil {
		if !opt.Force {
			return nil, &UsageError{fmt.Sprintf("output %s already exists: pass --force to replace it (the staging directory %s is kept)", out, st.dir)}
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil, &UsageError{fmt.Sprintf("output %s is a symlink: omnitui does not replace symlinks; remove it or move it away", out)}
		}
	}
	if err := st.checkFS(); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(st.path("commit.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, explainIO(fmt.Errorf("creating the commit lock: %w", err), out)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(lf, 200))
		return nil, &UsageError{fmt.Sprintf("another commit of %s is running (%s): wait for it to finish", out, strings.TrimSpace(string(b)))}
	}
	// a commit with --force killed between moving the previous output aside and
	// publishing: put the previous output back first
	if _, err := os.Lstat(out); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Lstat(st.path("out") + ".old"); err == nil {
			if err := os.Rename(st.path("out")+".old", out); err != nil {
				return nil, fmt.Errorf("restoring the previous output %s from %s: %w", out, st.path("out")+".old", err)
			}
		}
	}
	host, _ := os.Hostname()
	lf.Truncate(0)
	lf.WriteAt([]byte(fmt.Sprintf("%s %d\n", host, os.Getpid())), 0)
	s, err := ReadStatus(out, opt.Recheck)
	if err != nil {
		return nil, err
	}
	if len(s.Missing()) > 0 {
		return s, &MissingError{Status: s}
	}
	var running []string
	for _, t := range s.Tasks {
		for _, r := range t.Running {
			running = append(running, fmt.Sprintf("task %d (%s)", t.Task, r))
		}
	}
	if len(running) > 0 {
		return s, &UsageError{fmt.Sprintf("every file is receipted, but %s still run(s): wait for them or stop them, then commit again", strings.Join(running, ", "))}
	}
	// receipts against the bytes in place: the size always, the hash with --recheck
	for _, f := range s.Record.Files {
		if ok, why := st.receiptOK(s.Record, f.Name, opt.Recheck); !ok {
			return s, fmt.Errorf("%s: %s; rerun task %d (with --recheck to re-hash its files)", f.Name, why, f.Task)
		}
	}
	dst := st.path("out")
	if err := writeGlobals(s.Record.Globals, dst); err != nil {
		return s, explainIO(err, out)
	}
	if err := syncDir(dst); err != nil {
		return s, err
	}
	if err := commit(dst, out, opt.Force); err != nil {
		return s, explainIO(err, out)
	}
	_ = os.RemoveAll(st.dir)
	_ = syncDir(filepath.Dir(out))
	return s, nil
}

// writeGlobals writes global files into dir; a copied file whose hash was taken at
// planning must still have it.
func writeGlobals(gs []GlobalFile, dir string) error {
	for _, g := range gs {
		if err := writeGlobal(g, dir); err != nil {
			return err
		}
	}
	return nil
}

func writeGlobal(g GlobalFile, dir string) error {
	path := filepath.Join(dir, filepath.FromSlash(g.Name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if g.From == "" {
		return writeFileSync(path, g.Data)
	}
	if g.SHA256 == "" {
		return copyFile(g.From, path)
	}
	sum, size, err := hashFile(g.From)
	if err != nil {
		return fmt.Errorf("reading %s for the output: %w", g.From, err)
	}
	if sum != g.SHA256 || size != g.Size {
		return fmt.Errorf("%s changed since the tasks were planned (%d bytes, SHA-256 %s; planned %d bytes, %s): restore it, or --abort and run the tasks again", g.From, size, sum[:12], g.Size, g.SHA256[:12])
	}
	return copyFile(g.From, path)
}

// Abort removes the staging directory of out. The output itself is never touched.
func Abort(out string) (string, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	st := &stage{out: out, dir: StagingDir(out)}
	if _, err := os.Lstat(st.dir); err != nil {
		return st.dir, &UsageError{fmt.Sprintf("nothing to abort: %s does not exist", st.dir)}
	}
	if locked, who := commitLocked(st); locked {
		return st.dir, &UsageError{fmt.Sprintf("a commit of %s is running (%s): wait for it", out, who)}
	}
	if err := os.RemoveAll(st.dir); err != nil {
		return st.dir, fmt.Errorf("removing %s: %w", st.dir, err)
	}
	return st.dir, nil
}
