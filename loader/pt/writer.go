package pt

import (
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/omnitui/omnitui/loader"
)

// TensorSpec describes one tensor of a state dict to be written.
type TensorSpec struct {
	Name  string
	DType loader.DType
	Shape []int64
}

// StateDict is one top-level entry of a rank file: Key ("model", "model0",
// ...) maps to an OrderedDict of Tensors in the given order.
type StateDict struct {
	Key     string
	Tensors []TensorSpec
}

// Options tunes Create. The zero value matches torch.save.
type Options struct {
	// ArchiveName is the folder name inside the zip. Empty means what
	// torch.save derives from the path: the file name without its last
	// extension ("model_optim_rng" for model_optim_rng.pt). Set it when writing
	// to a temporary name that is renamed afterwards.
	ArchiveName string

	// NoSync skips the fsync at Close: the file is complete in the page cache but not
	// necessarily on disk (a power loss could lose it). For scratch outputs.
	NoSync bool

	// zip64Limit moves every zip field whose value is >= zip64Limit into ZIP64
	// records. Zero means 0xffffffff (the format's real limit); tests lower it
	// to exercise ZIP64 on small files.
	zip64Limit uint64
	// gap, when > 0, inserts an extra record of gap zero bytes after data.pkl
	// that no tensor refers to (torch ignores it). Tests use it to push the
	// tensor records past 4 GiB in a sparse file that costs no disk space.
	gap int64
}

// Writer writes one .pt file whose layout was fixed by Create. WriteAt may be
// called from many goroutines at once; Close and Abort must not run
// concurrently with WriteAt.
type Writer struct {
	path   string
	file   *os.File
	layout zipLayout
	// tensors[i] describes storage i, which lives in zip record first+i.
	tensors []*tensorState
	first   int
	index   map[string]int // key + "\x00" + name -> tensor index
	noSync  bool           // Options.NoSync

	mu     sync.RWMutex // WriteAt holds it shared, Close/Abort exclusively
	closed bool         // no more writes: Close finished or failed, or Abort ran
	done   bool         // Close succeeded; Abort leaves the file alone

	failMu  sync.Mutex
	failErr error // first failed write; the file cannot be completed
}

type tensorState struct {
	dict, name string
	size       int64
	mu         sync.Mutex
	parts      []part // sorted by off, non-overlapping, adjacent parts merged
}

type part struct {
	off, n int64
	crc    uint32
}

// Create creates (or truncates) path and lays out a .pt file holding dicts,
// which is what torch.save({d.Key: OrderedDict(d.Tensors...) for d in dicts})
// writes. The tensors are numbered 0, 1, ... across all dicts in order; that
// number is the tensor argument of WriteAt. data.pkl and the small records are
// written immediately; tensor bytes follow through WriteAt; Close finishes the
// file.
func Create(path string, dicts []StateDict) (*Writer, error) {
	return CreateWith(path, dicts, Options{})
}

// CreateWith is Create with options.
func CreateWith(path string, dicts []StateDict, opt Options) (*Writer, error) {
	archive := opt.ArchiveName
	if archive == "" {
		archive = archiveName(path)
	}
	plan, err := planFile(archive, dicts, opt.zip64Limit, opt.gap)
	if err != nil {
		return nil, fmt.Errorf("pt: cannot write %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pt: cannot create %s: %w", path, err)
	}
	w := &Writer{path: path, file: f, layout: plan.layout, tensors: plan.tensors, index: plan.index, first: plan.first, noSync: opt.NoSync}
	fail := func(err error) (*Writer, error) {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("pt: cannot write %s: %w (check free space and permissions)", path, err)
	}
	if err := f.Truncate(plan.layout.totalSize); err != nil {
		return fail(err)
	}
	// data.pkl is the first record, version and byteorder the last two; their
	// content is known now.
	small := map[int][]byte{
		0:                            plan.pickle,
		len(plan.layout.records) - 2: []byte("3\n"),
		len(plan.layout.records) - 1: []byte("little"),
	}
	for i, data := range small {
		r := &w.layout.records[i]
		r.crc = crc32.ChecksumIEEE(data)
		buf := append(r.localHeader(), data...)
		if _, err := f.WriteAt(buf, r.headerOff); err != nil {
			return fail(err)
		}
	}
	if plan.first == 2 {
		// The gap record's data stays a hole in the sparse file.
		r := &w.layout.records[1]
		r.crc = crcZeros(r.size)
		if _, err := f.WriteAt(r.localHeader(), r.headerOff); err != nil {
			return fail(err)
		}
	}
	return w, nil
}

// PlannedSize returns the size in bytes of the file Create(path, dicts) would
// write, without writing anything.
func PlannedSize(path string, dicts []StateDict) (int64, error) {
	return PlannedSizeWith(path, dicts, Options{})
}

// PlannedSizeWith is PlannedSize for CreateWith(path, dicts, opt).
func PlannedSizeWith(path string, dicts []StateDict, opt Options) (int64, error) {
	archive := opt.ArchiveName
	if archive == "" {
		archive = archiveName(path)
	}
	plan, err := planFile(archive, dicts, opt.zip64Limit, opt.gap)
	if err != nil {
		return 0, fmt.Errorf("pt: cannot plan %s: %w", path, err)
	}
	return plan.layout.totalSize, nil
}

type filePlan struct {
	layout  zipLayout
	tensors []*tensorState
	index   map[string]int
	pickle  []byte
	first   int // record number of tensor 0
}

func planFile(archive string, dicts []StateDict, limit uint64, gap int64) (*filePlan, error) {
	if limit == 0 {
		limit = defaultZip64Limit
	}
	if !utf8.ValidString(archive) || strings.ContainsAny(archive, "/\\") {
		return nil, fmt.Errorf("archive name %q must be valid UTF-8 without slashes", archive)
	}
	p := &filePlan{index: map[string]int{}, first: 1}
	types := make([][]string, len(dicts))
	names := []string{archive + "/data.pkl"}
	sizes := []int64{0}
	if gap > 0 {
		names = append(names, archive+"/.gap")
		sizes = append(sizes, gap)
		p.first = 2
	}
	seenKeys := map[string]bool{}
	for i, d := range dicts {
		if !utf8.ValidString(d.Key) {
			return nil, fmt.Errorf("state dict key %q is not valid UTF-8", d.Key)
		}
		if seenKeys[d.Key] {
			return nil, fmt.Errorf("state dict key %q appears twice; every key must be unique", d.Key)
		}
		seenKeys[d.Key] = true
		types[i] = make([]string, len(d.Tensors))
		for j, t := range d.Tensors {
			where := fmt.Sprintf("%s/%s", d.Key, t.Name)
			if !utf8.ValidString(t.Name) {
				return nil, fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
			}
			if _, dup := p.index[d.Key+"\x00"+t.Name]; dup {
				return nil, fmt.Errorf("tensor %s appears twice in state dict %q", t.Name, d.Key)
			}
			st, err := storageTypeFor(t.DType)
			if err != nil {
				return nil, fmt.Errorf("tensor %s: %w", where, err)
			}
			nbytes, err := tensorBytes(t.Shape, t.DType.Size())
			if err != nil {
				return nil, fmt.Errorf("tensor %s: %w", where, err)
			}
			types[i][j] = st
			p.index[d.Key+"\x00"+t.Name] = len(p.tensors)
			names = append(names, archive+"/data/"+strconv.Itoa(len(p.tensors)))
			sizes = append(sizes, nbytes)
			p.tensors = append(p.tensors, &tensorState{dict: d.Key, name: t.Name, size: nbytes})
		}
	}
	p.pickle = encodeStateDicts(dicts, types)
	sizes[0] = int64(len(p.pickle))
	names = append(names, archive+"/version", archive+"/byteorder")
	sizes = append(sizes, 2, 6)
	for _, n := range names {
		if len(n) > uint16Max {
			return nil, fmt.Errorf("record name %.40q... is longer than a zip allows (65535 bytes)", n)
		}
	}
	p.layout = planLayout(names, sizes, limit)
	return p, nil
}

// tensorBytes returns the byte size of a tensor, refusing negative dims and
// sizes that overflow.
func tensorBytes(shape []int64, elem int) (int64, error) {
	n := int64(elem)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v is too large (more than 2^63 bytes)", shape)
		}
		n *= d
	}
	return n, nil
}

// archiveName returns what torch.save uses as the zip's folder name: the base
// name without its last extension, or "archive" when that is empty.
func archiveName(path string) string {
	base := filepath.Base(path)
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if base == "" || base == "." || base == string(filepath.Separator) {
		return "archive"
	}
	return base
}

// NumTensors is the number of tensors (and storages) in the file.
func (w *Writer) NumTensors() int { return len(w.tensors) }

// TensorSize is the number of bytes tensor i holds.
func (w *Writer) TensorSize(i int) int64 {
	if i < 0 || i >= len(w.tensors) {
		return -1
	}
	return w.tensors[i].size
}

// Index returns the WriteAt number of tensor name in state dict key.
func (w *Writer) Index(key, name string) (int, bool) {
	i, ok := w.index[key+"\x00"+name]
	return i, ok
}

// Size is the final size of the file in bytes.
func (w *Writer) Size() int64 { return w.layout.totalSize }

// WriteAt stores data at byte offset off of tensor i's storage (row-major
// bytes of the tensor). Parts may arrive in any order and from any goroutine;
// each byte must be written exactly once. Overlapping or out-of-range parts
// are rejected without writing anything. If the write itself fails, the file
// cannot be completed any more: Close reports the failure and the caller
// should Abort.
func (w *Writer) WriteAt(i int, off int64, data []byte) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("pt: write to %s after Close or Abort", w.path)
	}
	if i < 0 || i >= len(w.tensors) {
		return fmt.Errorf("pt: %s: tensor number %d out of range (the file has %d tensors)", w.path, i, len(w.tensors))
	}
	t := w.tensors[i]
	n := int64(len(data))
	if off < 0 || off > t.size || n > t.size-off {
		return fmt.Errorf("pt: %s: write of bytes [%d, %d) outside tensor %s/%s, which has %d bytes", w.path, off, off+n, t.dict, t.name, t.size)
	}
	if n == 0 {
		return nil
	}
	p := part{off: off, n: n, crc: crc32.ChecksumIEEE(data)}
	if err := t.reserve(p); err != nil {
		return fmt.Errorf("pt: %s: %w", w.path, err)
	}
	if _, err := w.file.WriteAt(data, w.layout.records[w.first+i].dataOff+off); err != nil {
		err = fmt.Errorf("pt: writing tensor %s/%s to %s: %w", t.dict, t.name, w.path, err)
		w.failMu.Lock()
		if w.failErr == nil {
			w.failErr = err
		}
		w.failMu.Unlock()
		return err
	}
	return nil
}

// reserve records p, refusing overlaps with parts already written.
func (t *tensorState) reserve(p part) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := sort.Search(len(t.parts), func(j int) bool { return t.parts[j].off >= p.off })
	if k > 0 {
		if prev := t.parts[k-1]; prev.off+prev.n > p.off {
			return fmt.Errorf("write of bytes [%d, %d) of tensor %s/%s overlaps bytes [%d, %d) written before", p.off, p.off+p.n, t.dict, t.name, prev.off, prev.off+prev.n)
		}
	}
	if k < len(t.parts) {
		if next := t.parts[k]; p.off+p.n > next.off {
			return fmt.Errorf("write of bytes [%d, %d) of tensor %s/%s overlaps bytes [%d, %d) written before", p.off, p.off+p.n, t.dict, t.name, next.off, next.off+next.n)
		}
	}
	// Merge with adjacent parts so that sequential writers keep the list short.
	joinPrev := k > 0 && t.parts[k-1].off+t.parts[k-1].n == p.off
	joinNext := k < len(t.parts) && p.off+p.n == t.parts[k].off
	switch {
	case joinPrev && joinNext:
		prev, next := &t.parts[k-1], t.parts[k]
		prev.crc = crc32Combine(crc32Combine(prev.crc, p.crc, p.n), next.crc, next.n)
		prev.n += p.n + next.n
		t.parts = slices.Delete(t.parts, k, k+1)
	case joinPrev:
		prev := &t.parts[k-1]
		prev.crc = crc32Combine(prev.crc, p.crc, p.n)
		prev.n += p.n
	case joinNext:
		next := &t.parts[k]
		next.crc = crc32Combine(p.crc, next.crc, next.n)
		next.off, next.n = p.off, p.n+next.n
	default:
		t.parts = slices.Insert(t.parts, k, p)
	}
	return nil
}

// crc returns the CRC-32 of the whole storage, or the first missing byte range.
func (t *tensorState) crc() (uint32, int64, int64, bool) {
	var crc uint32
	var next int64
	for _, p := range t.parts {
		if p.off != next {
			return 0, next, p.off, false
		}
		crc = crc32Combine(crc, p.crc, p.n)
		next = p.off + p.n
	}
	if next != t.size {
		return 0, next, t.size, false
	}
	return crc, 0, 0, true
}

// Close checks that every byte of every tensor was written exactly once,
// writes the zip headers and central directory, syncs and closes the file. If
// tensors are incomplete it returns an error naming them and leaves the writer
// open, so the missing parts can still be written (or the file dropped with
// Abort).
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("pt: %s is already closed or aborted", w.path)
	}
	w.failMu.Lock()
	failErr := w.failErr
	w.failMu.Unlock()
	if failErr != nil {
		return fmt.Errorf("pt: %s cannot be completed because a write failed (%w); Abort and write it again", w.path, failErr)
	}
	var missing []string
	nMissing := 0
	for i, t := range w.tensors {
		crc, from, to, ok := t.crc()
		if !ok {
			nMissing++
			if len(missing) < 5 {
				missing = append(missing, fmt.Sprintf("%s/%s (bytes [%d, %d) of %d not written)", t.dict, t.name, from, to, t.size))
			}
			continue
		}
		w.layout.records[w.first+i].crc = crc
	}
	if nMissing > 0 {
		more := ""
		if nMissing > len(missing) {
			more = fmt.Sprintf(" and %d more", nMissing-len(missing))
		}
		return fmt.Errorf("pt: %s is incomplete: %d tensor(s) not fully written: %s%s; write the missing bytes or Abort", w.path, nMissing, strings.Join(missing, ", "), more)
	}
	w.closed = true
	if err := w.finish(); err != nil {
		w.file.Close()
		return fmt.Errorf("pt: finishing %s: %w (the file is unusable; check free space, then Abort to remove it)", w.path, err)
	}
	if err := w.file.Close(); err != nil {
		return fmt.Errorf("pt: closing %s: %w (the file is unusable; check free space, then Abort to remove it)", w.path, err)
	}
	w.done = true
	return nil
}

func (w *Writer) finish() error {
	// Local headers of the storages, coalesced into one write per record; the
	// headers are small, so this is cheap next to the data.
	for i := w.first; i < len(w.layout.records)-2; i++ {
		r := &w.layout.records[i]
		if _, err := w.file.WriteAt(r.localHeader(), r.headerOff); err != nil {
			return err
		}
	}
	if _, err := w.file.WriteAt(w.layout.trailer(), w.layout.cdOff); err != nil {
		return err
	}
	if w.noSync {
		return nil
	}
	return w.file.Sync()
}

// Abort closes and removes the file. It does nothing after a successful Close,
// so `defer w.Abort()` is a safe cleanup.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.file == nil {
		return
	}
	if !w.closed {
		w.file.Close()
	}
	w.closed = true
	w.file = nil
	os.Remove(w.path)
}
