package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
	"github.com/omnitui/omnitui/ops"
)

// tmpMarker is the infix of the temporary sibling directory a conversion is built in.
const tmpMarker = ".omnitui-tmp-"

// ownerFile records the pid of the process building a temporary output.
const ownerFile = ".omnitui-owner"

// Convert executes a plan: one pass over the input, every rank file written at once,
// output built in a temporary sibling directory and renamed into place only when complete.
// On any failure or cancellation nothing is left under the output name and the temporary
// directory is removed.
func Convert(ctx context.Context, ck *loader.Checkpoint, p *Plan, opt ConvertOptions) (*Result, error) {
	return ConvertInput(ctx, CheckpointInput(ck), p, opt)
}

// TensorSource supplies the bytes of a plan's input tensors, by index into Plan.Tensors.
// Implementations must be safe for concurrent use.
type TensorSource interface {
	TensorData(i int) ([]byte, error) // the tensor's row-major bytes; valid until Release(i)
	Release(i int)                    // the executor is done with tensor i
	FileOf(i int) string              // the file tensor i is read from, for messages ("" if none)
}

// Input is what a conversion reads.
type Input struct {
	Source     TensorSource
	Dir        string   // input directory: never written; ExtraFiles are copied from it
	ExtraFiles []string // names relative to Dir, copied next to mca_config.json
}

// CheckpointInput reads an opened Hugging Face checkpoint.
func CheckpointInput(ck *loader.Checkpoint) Input {
	return Input{Source: hfSource{ck}, Dir: ck.Dir, ExtraFiles: ck.ExtraFiles}
}

type hfSource struct{ ck *loader.Checkpoint }

func (h hfSource) TensorData(i int) ([]byte, error) { return h.ck.TensorData(i) }
func (h hfSource) Release(i int)                    { h.ck.Release(i) }
func (h hfSource) ReleaseRange(i int, off, n int64) { h.ck.ReleaseRange(i, off, n) }
func (h hfSource) FileOf(i int) string {
	if sh := h.ck.ShardOf(i); sh != nil {
		return sh.Path
	}
	return ""
}

// ConvertInput executes a plan over any tensor source (an HF checkpoint, or another
// Megatron checkpoint being resharded).
func ConvertInput(ctx context.Context, in Input, p *Plan, opt ConvertOptions) (*Result, error) {
	if p.HasErrors() {
		var msgs []string
		for _, is := range p.Errors() {
			msgs = append(msgs, is.Message)
		}
		return nil, fmt.Errorf("the plan has %d error(s), nothing was written:\n  - %s", len(msgs), strings.Join(msgs, "\n  - "))
	}
	if !p.Placed() {
		return nil, errors.New("the plan places no tensors (nothing to write): check the parallel settings")
	}
	if err := CheckFP8Scales(in.Source, p); err != nil {
		return nil, err
	}
	emit := opt.Progress
	if emit == nil {
		emit = func(Progress) {}
	}
	st := &staging{out: opt.Out, tmp: opt.Out, selected: true}
	if opt.Select == nil {
		var err error
		if st, err = stageOutput(opt.Out, in.Dir, opt.Force, emit); err != nil {
			return nil, explainIO(err, opt.Out)
		}
	}
	tmp, out := st.tmp, st.out
	ex := &executor{in: in, p: p, tmp: tmp, emit: emit, start: time.Now(), beforeWrite: opt.beforeWrite, piece: opt.pieceBytes, sel: opt.Select}
	if ex.piece <= 0 {
		ex.piece = pieceBytes
	}
	res, err := ex.run(ctx, opt)
	if err != nil {
		ex.abort()
	}
	if err := explainIO(st.finish(err), out); err != nil {
		emit(Progress{Kind: ProgError, Err: err, Message: err.Error(), Elapsed: time.Since(ex.start)})
		return nil, err
	}
	res.Out = out
	res.Elapsed = time.Since(ex.start)
	emit(ex.snapshot(ProgDone, ""))
	return res, nil
}

// explainIO adds what to do to I/O errors whose cause the user can fix.
func explainIO(err error, out string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: the disk holding %s is full; nothing was left behind: free space there or choose another --out", err, filepath.Dir(out))
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %s is on a read-only file system: choose another --out", err, filepath.Dir(out))
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: no permission to write under %s: choose another --out or fix its permissions", err, filepath.Dir(out))
	}
	return err
}

// staging is an output directory being built in a hidden temporary sibling.
type staging struct {
	out, tmp string
	force    bool
	selected bool // ConvertOptions.Select: files go straight into out; the caller publishes them
}

// stageOutput validates the output path (never the input, never an existing output without
// force), removes temporaries left by killed runs (saying so through emit), and creates the
// temporary sibling with an owner file naming this process.
func stageOutput(outArg, inputDir string, force bool, emit func(Progress)) (*staging, error) {
	if outArg == "" {
		return nil, errors.New("no output directory: pass --out DIR")
	}
	out, err := filepath.Abs(outArg)
	if err != nil {
		return nil, fmt.Errorf("output path %q: %w", outArg, err)
	}
	if err := checkOutput(out, inputDir, force); err != nil {
		return nil, err
	}
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating the parent of the output %s: %w", parent, err)
	}
	for _, msg := range CleanStale(out) {
		emit(Progress{Kind: ProgStart, Message: msg})
	}
	// Cleaning may have put a previous output back under the name.
	if err := checkOutput(out, inputDir, force); err != nil {
		return nil, err
	}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	tmp := filepath.Join(parent, "."+filepath.Base(out)+tmpMarker+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rb[:]))
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("creating the temporary output %s: %w (is the parent directory writable?)", tmp, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("writing into the temporary output %s: %w (is the disk full?)", tmp, err)
	}
	return &staging{out: out, tmp: tmp, force: force}, nil
}

// finish renames the finished output into place when err is nil; otherwise (or if that
// fails) it removes the temporary directory. It returns the error that ended the run.
func (st *staging) finish(err error) error {
	if st.selected {
		return err
	}
	if err == nil {
		err = commit(st.tmp, st.out, st.force)
	}
	if err != nil {
		os.RemoveAll(st.tmp)
	}
	return err
}

// checkOutput refuses outputs that would clobber something without --force, or the input.
func checkOutput(out, input string, force bool) error {
	if what := OutputOverlap(out, input); what != "" {
		return fmt.Errorf("output %s %s: choose an output directory outside the input", out, what)
	}
	st, err := os.Lstat(out)
	switch {
	case err == nil && !force:
		return fmt.Errorf("output %s already exists: pass --force to replace it, or choose another --out", out)
	case err == nil && !st.IsDir() && st.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("output %s is a symlink: omnitui does not replace symlinks; remove it or choose another --out", out)
	case err == nil:
		// --force replaces only a checkpoint omnitui could have written.
		return checkReplaceable(out)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("checking the output %s: %w", out, err)
	}
	return nil
}

// OutputOverlap says how an output directory overlaps the input checkpoint
// ("is the input checkpoint itself", "lies inside the input checkpoint ...",
// "contains the input checkpoint ..."), or "" when it does not. Both paths are
// compared absolute with their symbolic links resolved (the output's existing
// part), so another spelling of the same folder is caught too; an input that
// is a file (a .safetensors or index) stands for its folder.
func OutputOverlap(out, input string) string {
	in := resolvePath(input)
	if fi, err := os.Stat(in); err == nil && !fi.IsDir() {
		in = filepath.Dir(in)
	}
	o := resolvePath(out)
	switch {
	case o == in:
		return "is the input checkpoint itself"
	case inside(o, in):
		return "lies inside the input checkpoint " + in
	case inside(in, o):
		return "contains the input checkpoint " + in + " (replacing it would delete the input)"
	}
	return ""
}

// resolvePath makes p absolute and resolves the symbolic links of its longest
// existing prefix (the rest may not exist yet, like an output directory).
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	cur, rest := abs, ""
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

func inside(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)))
}

// CleanStale removes temporary outputs for out left by runs that were killed
// (their owner process is gone) and says what it removed.
func CleanStale(out string) []string {
	parent, base := filepath.Dir(out), filepath.Base(out)
	matches, _ := filepath.Glob(filepath.Join(parent, "."+base+tmpMarker+"*"))
	var msgs []string
	for _, m := range matches {
		pid := ownerPid(m)
		if pid > 0 && processAlive(pid) {
			continue
		}
		// A run killed between moving the previous output aside (commit) and renaming the new
		// one into place leaves the previous output as <tmp>.old and nothing under the output
		// name: put it back instead of deleting it.
		if strings.HasSuffix(m, ".old") {
			if _, err := os.Lstat(out); errors.Is(err, os.ErrNotExist) {
				if err := os.Rename(m, out); err == nil {
					msgs = append(msgs, fmt.Sprintf("restored %s, the previous output, from %s where an interrupted run had moved it", out, m))
					continue
				}
			}
		}
		if err := os.RemoveAll(m); err == nil {
			msgs = append(msgs, fmt.Sprintf("removed %s, a partial output left by an interrupted run", m))
		}
	}
	return msgs
}

func ownerPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		// the name carries the pid too: .<base>.omnitui-tmp-<pid>-<rand>
		name := filepath.Base(dir)
		i := strings.LastIndex(name, tmpMarker)
		if i < 0 {
			return 0
		}
		rest := name[i+len(tmpMarker):]
		if j := strings.IndexByte(rest, '-'); j > 0 {
			n, _ := strconv.Atoi(rest[:j])
			return n
		}
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func processAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// commit renames tmp to out; with force an existing out is moved aside first and removed after.
func commit(tmp, out string, force bool) error {
	os.Remove(filepath.Join(tmp, ownerFile))
	if err := syncDir(tmp); err != nil {
		return err
	}
	var old string
	if _, err := os.Lstat(out); err == nil {
		if !force {
			return fmt.Errorf("output %s appeared while converting: pass --force to replace it", out)
		}
		// Checked again: something may have been added while converting.
		if err := checkReplaceable(out); err != nil {
			return err
		}
		old = tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("moving the existing output %s aside: %w", out, err)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		if old != "" {
			os.Rename(old, out)
		}
		return fmt.Errorf("renaming the finished output into place at %s: %w", out, err)
	}
	_ = syncDir(filepath.Dir(out))
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

type executor struct {
	in      Input
	p       *Plan
	tmp     string
	emit    func(Progress)
	start   time.Time
	writers []*pt.Writer
	base    [][]int // per rank, per chunk: global tensor index of the chunk's first entry

	bytesDone   atomic.Int64
	tensorsDone atomic.Int64
	rankBytes   []atomic.Int64
	lastTensor  atomic.Value
	totalBytes  int64

	beforeWrite func(n int) error // ConvertOptions.beforeWrite (tests only)
	piece       int64             // streaming piece size in bytes
	sel         []bool            // ConvertOptions.Select: the rank files to write (nil = all)
	nSel        int               // with sel: the groups with a destination in them
}

// wants reports whether rank file ri is written by this run.
func (ex *executor) wants(ri int) bool { return ex.sel == nil || (ri < len(ex.sel) && ex.sel[ri]) }

// groupsTotal is the number of op groups this run converts (all, or those with a
// destination in the selected rank files).
func (ex *executor) groupsTotal() int {
	if ex.sel == nil {
		return len(ex.p.Groups)
	}
	return ex.nSel
}

// groupWanted reports whether group gi has a destination in a rank file this run writes.
func (ex *executor) groupWanted(gi int) bool {
	for _, d := range ex.p.Groups[gi].Dests {
		if ex.wants(d.Rank) {
			return true
		}
	}
	return false
}

func (ex *executor) snapshot(kind ProgressKind, msg string) Progress {
	rb := make([]int64, len(ex.rankBytes))
	for i := range ex.rankBytes {
		rb[i] = ex.rankBytes[i].Load()
	}
	name, _ := ex.lastTensor.Load().(string)
	return Progress{Kind: kind, BytesDone: ex.bytesDone.Load(), BytesTotal: ex.totalBytes,
		TensorsDone: int(ex.tensorsDone.Load()), TensorsTotal: ex.groupsTotal(), Tensor: name,
		RankBytes: rb, Elapsed: time.Since(ex.start), Message: msg}
}

func (ex *executor) abort() {
	for _, w := range ex.writers {
		if w != nil {
			w.Abort()
		}
	}
}

func (ex *executor) run(ctx context.Context, opt ConvertOptions) (*Result, error) {
	p := ex.p
	if ex.sel == nil {
		if err := writeMCAGlobals(p, ex.in, ex.tmp); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	ex.rankBytes = make([]atomic.Int64, len(p.Ranks))
	ex.writers = make([]*pt.Writer, len(p.Ranks))
	ex.base = make([][]int, len(p.Ranks))
	for ri, rf := range p.Ranks {
		if !ex.wants(ri) {
			continue
		}
		path := filepath.Join(ex.tmp, filepath.FromSlash(rf.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		dicts := make([]pt.StateDict, len(rf.Chunks))
		n := 0
		for ci, ch := range rf.Chunks {
			ex.base[ri] = append(ex.base[ri], n)
			specs := make([]pt.TensorSpec, len(ch.Entries))
			for ei, e := range ch.Entries {
				specs[ei] = pt.TensorSpec{Name: e.Name, DType: e.DType, Shape: e.Shape}
			}
			dicts[ci] = pt.StateDict{Key: ch.Key, Tensors: specs}
			n += len(ch.Entries)
		}
		w, err := pt.CreateWith(path, dicts, pt.Options{NoSync: opt.NoSync})
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", rf.Path, err)
		}
		ex.writers[ri] = w
		ex.totalBytes += rf.Bytes
		res.Files = append(res.Files, rf.Path)
		res.Tensors += rf.Tensors
	}
	res.Bytes = ex.totalBytes
	if ex.sel != nil {
		for gi := range p.Groups {
			if ex.groupWanted(gi) {
				ex.nSel++
			}
		}
	}
	ex.emit(ex.snapshot(ProgStart, ""))

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	// A rank file is closed (headers written, fsynced) as soon as its last destination is
	// written, while the workers go on with other files, so flushing overlaps writing
	// instead of following all of it.
	pending := make([]atomic.Int64, len(p.Ranks))
	for gi := range p.Groups {
		if !ex.groupWanted(gi) {
			continue
		}
		for _, d := range p.Groups[gi].Dests {
			if ex.wants(d.Rank) {
				pending[d.Rank].Add(1)
			}
		}
	}
	closeErrs := make([]error, len(ex.writers))
	closing := make([]atomic.Bool, len(ex.writers))
	closeSem := make(chan struct{}, 8)
	var cw sync.WaitGroup
	closeRank := func(ri int) {
		if ex.writers[ri] == nil || closing[ri].Swap(true) {
			return
		}
		cw.Add(1)
		go func() {
			defer cw.Done()
			closeSem <- struct{}{}
			closeErrs[ri] = ex.writers[ri].Close()
			<-closeSem
			if closeErrs[ri] != nil {
				fail(fmt.Errorf("finishing %s: %w", p.Ranks[ri].Path, closeErrs[ri]))
			}
		}()
	}

	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []byte
			for gi := range jobs {
				if ctx.Err() != nil {
					continue
				}
				var err error
				scratch, err = ex.safeWriteGroup(gi, scratch)
				if err != nil {
					fail(err)
					continue
				}
				ex.tensorsDone.Add(1)
				ex.lastTensor.Store(p.Groups[gi].HFNames[0])
				for _, d := range p.Groups[gi].Dests {
					if ex.wants(d.Rank) && pending[d.Rank].Add(-1) == 0 {
						closeRank(d.Rank)
					}
				}
			}
		}()
	}
	ticker := time.NewTicker(100 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ticker.C:
				ex.emit(ex.snapshot(ProgTensor, ""))
			case <-ctx.Done():
				return
			}
		}
	}()
feed:
	for gi := range p.Groups {
		if len(p.Groups[gi].Dests) == 0 || !ex.groupWanted(gi) {
			continue
		}
		select {
		case jobs <- gi:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	ticker.Stop()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("conversion cancelled: %w", context.Cause(ctx))
	}
	cancel()
	<-done
	if firstErr != nil {
		cw.Wait() // the caller aborts every writer; let early closes finish first
		return nil, firstErr
	}
	// The rest (files that had nothing to wait for) close now, concurrently so the disk
	// sees one stream of writeback rather than one file after another.
	for ri := range ex.writers {
		closeRank(ri)
	}
	cw.Wait()
	for ri, err := range closeErrs {
		if err != nil {
			return nil, fmt.Errorf("finishing %s: %w", p.Ranks[ri].Path, err)
		}
	}
	for ri := range ex.writers {
		ex.writers[ri] = nil
	}
	return res, nil
}

// safeWriteGroup is writeGroup with memory faults (a mapped shard truncated or unreadable
// under us: SIGBUS) turned into an error instead of a crash.
func (ex *executor) safeWriteGroup(gi int, scratch []byte) (out []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			g := &ex.p.Groups[gi]
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				err = fmt.Errorf("converting %s: internal error: %v (this is a bug in omnitui; please report it)", strings.Join(g.HFNames, ", "), r)
				return
			}
			var files []string
			for _, ti := range g.Inputs {
				if f := ex.in.Source.FileOf(ti); f != "" && !slices.Contains(files, f) {
					files = append(files, f)
				}
			}
			err = fmt.Errorf("reading %s from %s failed: the file changed or became unreadable during the conversion (%v); make sure nothing modifies the checkpoint while omnitui runs and check the disk, then run again",
				strings.Join(g.HFNames, ", "), strings.Join(files, ", "), r)
		}
	}()
	return ex.writeGroup(gi, scratch)
}

// pieceBytes bounds how much of a large tensor is handled at once: plain copies and
// row-parallel slices stream in pieces of about this size, and each piece's mapped input
// pages are dropped once written, so resident memory does not grow with tensor size.
const pieceBytes = 8 << 20

// rangeReleaser is implemented by sources that can drop part of a tensor's pages.
type rangeReleaser interface {
	ReleaseRange(i int, off, n int64)
}

// span is a contiguous byte range of input k (source bytes) that lands at byte dst
// (output bytes) of a destination slice.
type span struct {
	in     int
	off, n int64
	dst    int64
}

// writeGroup reads a group's inputs, applies its op and writes every destination slice.
func (ex *executor) writeGroup(gi int, scratch []byte) ([]byte, error) {
	g := &ex.p.Groups[gi]
	raw := make([][]byte, len(g.Inputs))
	base := make([]int64, len(g.Inputs)) // byte offset of raw[k] in its tensor (a fan-out's piece)
	for k, ti := range g.Inputs {
		b, err := ex.in.Source.TensorData(ti)
		if err != nil {
			return scratch, fmt.Errorf("reading %s: %w", ex.p.Tensors[ti].Name, err)
		}
		off, n := pieceRange(g, int64(len(b)))
		raw[k], base[k] = b[off:off+n], off
	}
	defer func() {
		rr, ranged := ex.in.Source.(rangeReleaser)
		for k, ti := range g.Inputs {
			if g.Pieces > 0 && ranged {
				// other pieces of the tensor may be in flight: drop only this one's pages
				rr.ReleaseRange(ti, base[k], int64(len(raw[k])))
				continue
			}
			ex.in.Source.Release(ti)
		}
		for _, si := range g.Scales {
			ex.in.Source.Release(si)
		}
	}()
	op, err := LookupOp(g.Op)
	if err != nil {
		return scratch, err
	}
	w := groupWriter{ex: ex, g: g, op: op, raw: raw, base: base, src: ex.p.Tensors[g.Inputs[0]].DType, scratch: scratch}
	if err := w.dequantInputs(); err != nil {
		return scratch, err
	}
	inElem, outElem := int64(w.src.Size()), int64(g.DType.Size())
	// Destinations that copy the same input ranges (a tensor duplicated over TP or EP ranks)
	// stream together, so each piece is read, cast and released once for all of them.
	done := make([]bool, len(g.Dests))
	for i, d := range g.Dests {
		done[i] = !ex.wants(d.Rank) // a rank file another task writes
	}
	for i, d := range g.Dests {
		if done[i] || d.Transpose {
			continue
		}
		spans, ok := w.spans(d, inElem)
		if !ok {
			continue
		}
		same := []Dest{d}
		done[i] = true
		for j := i + 1; j < len(g.Dests); j++ {
			if done[j] || g.Dests[j].Transpose {
				continue
			}
			if sp, ok := w.spans(g.Dests[j], inElem); ok && slices.Equal(sp, spans) {
				same = append(same, g.Dests[j])
				done[j] = true
			}
		}
		if err := w.copySpans(same, spans, inElem, outElem); err != nil {
			return w.scratch, fmt.Errorf("%s -> %s: %w", g.HFNames[0], d.Name, err)
		}
	}
	for i, d := range g.Dests {
		if done[i] {
			continue
		}
		if err := w.dest(d); err != nil {
			return w.scratch, fmt.Errorf("%s -> %s: %w", g.HFNames[0], d.Name, err)
		}
	}
	return w.scratch, nil
}

// groupWriter writes one group's destinations.
type groupWriter struct {
	ex      *executor
	g       *Group
	op      Op
	raw     [][]byte     // inputs as mapped, source dtype (a fan-out group: its piece of each)
	base    []int64      // byte offset of raw[k] in input k's tensor
	src     loader.DType // source dtype
	whole   [][]byte     // inputs cast to the output dtype, made only when an op needs them whole
	scratch []byte       // cast and op output buffer, reused across the worker's groups
	slab    []byte       // row-block buffer
	// FP8 inputs are read through dq: src is then bf16 and byte offsets are those of the
	// bf16 tensor each FP8 input dequantizes to (see input).
	dq    []*dequant
	dqBuf []byte
}

// dequant is one FP8 input with its decoded block scales.
type dequant struct {
	typ        loader.DType
	scales     []float32
	rows, cols int64
}

// dequantInputs prepares the group's FP8 inputs (reading their scales, which are small).
func (w *groupWriter) dequantInputs() error {
	g, ex := w.g, w.ex
	if g.Scales == nil {
		return nil
	}
	w.dq = make([]*dequant, len(g.Inputs))
	for k, si := range g.Scales {
		t := &ex.p.Tensors[g.Inputs[k]]
		if len(t.Shape) != 2 {
			return fmt.Errorf("%s: an FP8 weight must be 2-D, found %s", t.Name, shapeStr(t.Shape))
		}
		raw, err := ex.in.Source.TensorData(si)
		if err != nil {
			return fmt.Errorf("reading %s: %w", ex.p.Tensors[si].Name, err)
		}
		sc, err := ops.FP8Scales(raw, t.Shape[0], t.Shape[1])
		ex.in.Source.Release(si)
		if err != nil {
			return fmt.Errorf("%s: %w", ex.p.Tensors[si].Name, err)
		}
		w.dq[k] = &dequant{typ: t.DType, scales: sc, rows: t.Shape[0], cols: t.Shape[1]}
	}
	w.src = loader.BF16
	return nil
}

// inputLen is input k's length in source-dtype bytes (bf16 bytes for an FP8 input).
func (w *groupWriter) inputLen(k int) int64 {
	if w.dq != nil && w.dq[k] != nil {
		return 2 * int64(len(w.raw[k]))
	}
	return int64(len(w.raw[k]))
}

// input returns bytes [off, off+n) of input k in the source dtype: a view of the mapped
// tensor, or for an FP8 input that range dequantized to bf16 (into a reused buffer, or a
// new one when fresh).
func (w *groupWriter) input(k int, off, n int64, fresh bool) ([]byte, error) {
	d := w.dq
	if d == nil || d[k] == nil {
		return w.raw[k][off : off+n], nil
	}
	var out []byte
	if fresh {
		out = make([]byte, n)
	} else {
		if int64(cap(w.dqBuf)) < n {
			w.dqBuf = make([]byte, n)
		}
		out = w.dqBuf[:n]
	}
	e0, m := off/2, n/2
	if err := ops.DequantFP8Block(out, w.raw[k][e0:e0+m], d[k].typ, d[k].scales, d[k].rows, d[k].cols, e0, m); err != nil {
		return nil, fmt.Errorf("%s: %w", w.g.HFNames[k], err)
	}
	return out, nil
}

func (w *groupWriter) buf(n int) []byte {
	if cap(w.scratch) < n {
		w.scratch = make([]byte, n)
	}
	return w.scratch[:n]
}

// write stores data at byte off of destination d's entry and counts it.
func (w *groupWriter) write(d Dest, off int64, data []byte) error {
	ex := w.ex
	idx := ex.base[d.Rank][d.Chunk] + d.Entry
	if ex.beforeWrite != nil {
		if err := ex.beforeWrite(len(data)); err != nil {
			return fmt.Errorf("writing to %s: %w", ex.p.Ranks[d.Rank].Path, err)
		}
	}
	if err := ex.writers[d.Rank].WriteAt(idx, off, data); err != nil {
		return fmt.Errorf("writing to %s: %w", ex.p.Ranks[d.Rank].Path, err)
	}
	ex.rankBytes[d.Rank].Add(int64(len(data)))
	ex.bytesDone.Add(int64(len(data)))
	return nil
}

// cast converts a piece of source bytes to the output dtype (a view when no cast is needed).
func (w *groupWriter) cast(piece []byte) ([]byte, error) {
	if w.src == w.g.DType {
		return piece, nil
	}
	out := w.buf(len(piece) / w.src.Size() * w.g.DType.Size())
	if err := ops.Cast(out, w.g.DType, piece, w.src); err != nil {
		return nil, fmt.Errorf("casting to %s: %w", w.g.DType, err)
	}
	return out, nil
}

func (w *groupWriter) release(in int, off, n int64) {
	if w.dq != nil && w.dq[in] != nil {
		off, n = off/2, n/2 // bf16 offsets -> FP8 bytes
	}
	if rr, ok := w.ex.in.Source.(rangeReleaser); ok {
		rr.ReleaseRange(w.g.Inputs[in], w.base[in]+off, n)
	}
}

func (w *groupWriter) dest(d Dest) error {
	g := w.g
	inElem, outElem := int64(w.src.Size()), int64(g.DType.Size())
	if !d.Transpose && w.op.StreamRows(g) {
		return w.rowBlocks(d, inElem, outElem)
	}
	// ops that need their inputs whole: QKV fuse and transposed grouped-GEMM parts
	if w.whole == nil {
		w.whole = make([][]byte, len(w.raw))
		for k := range w.raw {
			b, err := w.input(k, 0, w.inputLen(k), true)
			if err != nil {
				return err
			}
			if w.src == g.DType {
				w.whole[k] = b
				continue
			}
			c := make([]byte, int64(len(b))/inElem*outElem)
			if err := ops.Cast(c, g.DType, b, w.src); err != nil {
				return fmt.Errorf("casting %s to %s: %w", g.HFNames[k], g.DType, err)
			}
			w.whole[k] = c
		}
	}
	data, err := w.ex.slice(g, d, w.whole, int(outElem), &w.scratch)
	if err != nil {
		return err
	}
	if d.Transpose {
		if len(d.Shape) != 2 {
			return fmt.Errorf("only 2-D slices can be transposed, %s is %s", d.Name, shapeStr(d.Shape))
		}
		t := make([]byte, len(data))
		if err := ops.Transpose2D(t, data, int(d.Shape[0]), int(d.Shape[1]), int(outElem)); err != nil {
			return err
		}
		data = t
	}
	return w.write(d, int64(d.Part)*int64(len(data)), data)
}

// spans describes destination d as contiguous input ranges when it is a plain copy
// (the op says which); ok is false otherwise.
func (w *groupWriter) spans(d Dest, inElem int64) ([]span, bool) {
	lens := make([]int64, len(w.raw))
	for k := range w.raw {
		lens[k] = w.inputLen(k)
	}
	return w.op.Spans(w.g, d, lens, inElem, int64(w.g.DType.Size()))
}

// copySpans streams spans to every destination in dests (all made of the same input
// ranges) piece by piece, dropping each piece's input pages once all have it.
func (w *groupWriter) copySpans(dests []Dest, spans []span, inElem, outElem int64) error {
	step := max(w.ex.piece/inElem, 1) * inElem
	for _, sp := range spans {
		for pos := int64(0); pos < sp.n; pos += step {
			m := min(step, sp.n-pos)
			in, err := w.input(sp.in, sp.off+pos, m, false)
			if err != nil {
				return err
			}
			out, err := w.cast(in)
			if err != nil {
				return err
			}
			for _, d := range dests {
				if err := w.write(d, sp.dst+pos/inElem*outElem, out); err != nil {
					return err
				}
			}
			w.release(sp.in, sp.off+pos, m)
		}
	}
	return nil
}

// rowBlocks writes a row-parallel slice (columns [start, start+size) of a 2-D tensor)
// a block of rows at a time.
func (w *groupWriter) rowBlocks(d Dest, inElem, outElem int64) error {
	g := w.g
	rows, cols := g.Shape[0], g.Shape[1]
	start, size, ok := ops.ChunkRange(int(cols), d.TPSize, d.TPRank)
	if !ok {
		return fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
	}
	rowIn := cols * inElem
	block := max(int64(1), w.ex.piece/max(rowIn, 1))
	for r := int64(0); r < rows; r += block {
		n := min(block, rows-r)
		in, err := w.input(0, r*rowIn, n*rowIn, false)
		if err != nil {
			return err
		}
		if need := n * int64(size) * inElem; int64(cap(w.slab)) < need {
			w.slab = make([]byte, need)
		}
		sliced := w.slab[:n*int64(size)*inElem]
		if err := ops.SliceDim(sliced, in, []int64{n, cols}, int(inElem), 1, int64(start), int64(size)); err != nil {
			return err
		}
		out, err := w.cast(sliced)
		if err != nil {
			return err
		}
		if err := w.write(d, r*int64(size)*outElem, out); err != nil {
			return err
		}
		w.release(0, r*rowIn, n*rowIn)
	}
	return nil
}

// slice returns the bytes of destination d (the op's forward transform): a view of the
// input where possible, else a buffer.
func (ex *executor) slice(g *Group, d Dest, ins [][]byte, elem int, scratch *[]byte) ([]byte, error) {
	buf := func(n int) []byte {
		if cap(*scratch) < n {
			*scratch = make([]byte, n)
		}
		return (*scratch)[:n]
	}
	op, err := LookupOp(g.Op)
	if err != nil {
		return nil, err
	}
	return op.Slice(g, d, ins, elem, ex.p.Dims, buf)
}

// mcaGlobalFiles lists the files of a Megatron output besides the rank files:
// mca_config.json, the iteration tracker and the input's tokenizer files.
func mcaGlobalFiles(p *Plan, in Input) ([]GlobalFile, error) {
	cfg, err := p.MCAConfigJSON()
	if err != nil {
		return nil, err
	}
	g := []GlobalFile{NewGlobalData("mca_config.json", cfg), NewGlobalData("latest_checkpointed_iteration.txt", []byte("1"))}
	for _, f := range in.ExtraFiles {
		g = append(g, GlobalFile{Name: f, From: filepath.Join(in.Dir, f)})
	}
	return g, nil
}

// writeMCAGlobals writes the files of mcaGlobalFiles into dir.
func writeMCAGlobals(p *Plan, in Input, dir string) error {
	g, err := mcaGlobalFiles(p, in)
	if err != nil {
		return err
	}
	return writeGlobals(g, dir)
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w (is the disk full?)", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w (is the disk full?)", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
