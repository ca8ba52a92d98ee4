package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// WriteTensor is one tensor for WriteSafetensors.
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte // exactly NumEl × DType.Size() bytes, little-endian
}

// WriteTensorSpec declares a tensor of a SafetensorsWriter before its data.
type WriteTensorSpec struct {
	Name  string
	DType DType
	Shape []int64
	// Sparse leaves the tensor's data region as a file hole (reads as zeros)
	// unless WriteTensor is called for it: real-scale fixtures then cost no
	// disk space.
	Sparse bool
}

// WriteSafetensors writes a complete safetensors file (see NewSafetensorsWriter
// for the layout). The file appears at path only when everything was written.
func WriteSafetensors(path string, tensors []WriteTensor, metadata map[string]string) error {
	specs := make([]WriteTensorSpec, len(tensors))
	for i, t := range tensors {
		specs[i] = WriteTensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	w, err := NewSafetensorsWriter(path, specs, metadata)
	if err != nil {
		return err
	}
	for _, t := range tensors {
		if err := w.WriteTensor(t.Name, t.Data); err != nil {
			_ = w.Abort()
			return err
		}
	}
	return w.Close()
}

// SafetensorsWriter writes a safetensors file whose header is fixed up front;
// tensor data may then arrive in any order, also from several goroutines.
type SafetensorsWriter struct {
	path    string
	tmp     string
	f       *os.File
	size    int64
	byName  map[string]int
	slots   []writeSlot
	mu      sync.Mutex
	done    bool
	failure error // first failed write; Close reports it
	noSync  bool  // SetNoSync: Close skips the fsync
}

// SetNoSync makes Close skip flushing the file to disk (fsync) before renaming it into
// place: faster, but after a power loss or OS crash the file may hold unwritten data.
func (w *SafetensorsWriter) SetNoSync(on bool) {
	w.mu.Lock()
	w.noSync = on
	w.mu.Unlock()
}

type writeSlot struct {
	spec    WriteTensorSpec
	off     int64 // absolute
	size    int64
	written bool
}

// NewSafetensorsWriter creates path's temporary sibling, writes the header and
// sizes the file. The layout matches the reference safetensors library:
// header JSON compact, "__metadata__" (keys sorted) first, then the tensors
// sorted by name; header padded with spaces to a multiple of 8 bytes; data
// back to back, ordered by element size (largest first) and then by name, so
// every tensor is aligned to its element size, as torch requires.
// Nil or empty metadata writes no "__metadata__".
func NewSafetensorsWriter(path string, specs []WriteTensorSpec, metadata map[string]string) (*SafetensorsWriter, error) {
	header, slots, size, err := layoutSafetensors(path, specs, metadata)
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".partial-*")
	if err != nil {
		return nil, &FileError{File: path, Kind: ErrUnreadable, Detail: "cannot create the output file: " + err.Error(),
			Fix: "check that the directory exists and is writable", Err: err}
	}
	w := &SafetensorsWriter{path: path, tmp: f.Name(), f: f, size: size, slots: slots, byName: make(map[string]int, len(slots))}
	for i := range slots {
		w.byName[slots[i].spec.Name] = i
	}
	fail := func(what string, err error) (*SafetensorsWriter, error) {
		_ = w.Abort()
		return nil, &FileError{File: path, Kind: ErrUnreadable, Detail: what + ": " + err.Error(),
			Fix: "check free disk space and permissions", Err: err}
	}
	if err := f.Chmod(0o644); err != nil {
		return fail("cannot set permissions", err)
	}
	if err := f.Truncate(size); err != nil {
		return fail(fmt.Sprintf("cannot size the file to %d bytes", size), err)
	}
	if _, err := f.WriteAt(header, 0); err != nil {
		return fail("cannot write the header", err)
	}
	return w, nil
}

// Size is the size of the finished file in bytes.
func (w *SafetensorsWriter) Size() int64 { return w.size }

// WriteTensor writes the data of a declared tensor at its place. Each tensor
// may be written once; data must have exactly the declared size.
func (w *SafetensorsWriter) WriteTensor(name string, data []byte) error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return &FileError{File: w.path, Tensor: name, Kind: ErrInvalidWrite, Detail: "writer already closed or aborted", Fix: "write all tensors before Close"}
	}
	i, ok := w.byName[name]
	if !ok {
		w.mu.Unlock()
		return &FileError{File: w.path, Tensor: name, Kind: ErrInvalidWrite, Detail: "tensor was not declared when the writer was created", Fix: "declare every tensor in the specs"}
	}
	s := &w.slots[i]
	if s.written {
		w.mu.Unlock()
		return &FileError{File: w.path, Tensor: name, Kind: ErrInvalidWrite, Detail: "tensor written twice", Fix: "write each tensor exactly once"}
	}
	if int64(len(data)) != s.size {
		w.mu.Unlock()
		return &FileError{File: w.path, Tensor: name, Kind: ErrInvalidWrite,
			Detail: fmt.Sprintf("got %d bytes, but shape %s of %s needs %d", len(data), shapeString(s.spec.Shape), s.spec.DType, s.size),
			Fix:    "pass exactly the tensor's bytes"}
	}
	s.written = true
	off := s.off
	w.mu.Unlock()

	if len(data) == 0 {
		return nil
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		ferr := &FileError{File: w.path, Tensor: name, Kind: ErrUnreadable, Detail: "write failed: " + err.Error(),
			Fix: "check free disk space", Err: err}
		w.mu.Lock()
		if w.failure == nil {
			w.failure = ferr
		}
		w.mu.Unlock()
		return ferr
	}
	return nil
}

// Close checks that every non-sparse tensor was written, flushes the file to
// disk and renames it to its final name. On any failure the temporary file is
// removed and nothing appears at the final path. Call it after every
// WriteTensor call has returned.
func (w *SafetensorsWriter) Close() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return &FileError{File: w.path, Kind: ErrInvalidWrite, Detail: "writer already closed or aborted", Fix: "call Close once"}
	}
	w.done = true
	var missing []string
	for i := range w.slots {
		if !w.slots[i].written && !w.slots[i].spec.Sparse {
			missing = append(missing, w.slots[i].spec.Name)
		}
	}
	failure := w.failure
	noSync := w.noSync
	w.mu.Unlock()

	if failure != nil {
		w.discard()
		return failure
	}
	if len(missing) > 0 {
		w.discard()
		return &FileError{File: w.path, Kind: ErrInvalidWrite,
			Detail: fmt.Sprintf("%d declared tensors were never written (%s); the file was not created", len(missing), listNames(missing, 5)),
			Fix:    "write every tensor, or declare it Sparse"}
	}
	if noSync {
		// no flush: --no-fsync
	} else if err := w.f.Sync(); err != nil {
		w.discard()
		return &FileError{File: w.path, Kind: ErrUnreadable, Detail: "flush to disk failed: " + err.Error(), Fix: "check the disk", Err: err}
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.tmp)
		return &FileError{File: w.path, Kind: ErrUnreadable, Detail: "close failed: " + err.Error(), Fix: "check the disk", Err: err}
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		os.Remove(w.tmp)
		return &FileError{File: w.path, Kind: ErrUnreadable, Detail: "cannot move the finished file into place: " + err.Error(),
			Fix: "check that the path is writable and not a directory", Err: err}
	}
	return nil
}

// Abort discards the file. It is a no-op after Close or a previous Abort.
func (w *SafetensorsWriter) Abort() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	w.done = true
	w.mu.Unlock()
	return w.discard()
}

func (w *SafetensorsWriter) discard() error {
	cerr := w.f.Close()
	rerr := os.Remove(w.tmp)
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	return errors.Join(cerr, rerr)
}

// layoutSafetensors validates specs and computes header bytes (padded),
// absolute data offsets and the total file size.
func layoutSafetensors(path string, specs []WriteTensorSpec, metadata map[string]string) ([]byte, []writeSlot, int64, error) {
	bad := func(name, format string, args ...any) error {
		return &FileError{File: path, Tensor: name, Kind: ErrInvalidWrite, Detail: fmt.Sprintf(format, args...),
			Fix: "nothing was written; fix the tensor list"}
	}
	slots := make([]writeSlot, len(specs))
	seen := make(map[string]bool, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			return nil, nil, 0, bad("", "tensor %d has an empty name", i)
		case s.Name == metadataKey:
			return nil, nil, 0, bad(s.Name, "%q is reserved for metadata and cannot name a tensor", metadataKey)
		case !utf8.ValidString(s.Name):
			return nil, nil, 0, bad(s.Name, "name is not valid UTF-8")
		case seen[s.Name]:
			return nil, nil, 0, bad(s.Name, "tensor declared twice")
		}
		seen[s.Name] = true
		if s.DType.Size() == 0 {
			_, err := ParseDType(string(s.DType))
			return nil, nil, 0, bad(s.Name, "%v", err)
		}
		numel := int64(1)
		for _, d := range s.Shape {
			if d < 0 {
				return nil, nil, 0, bad(s.Name, "shape %s has a negative dimension", shapeString(s.Shape))
			}
			if d != 0 && numel > math.MaxInt64/d {
				return nil, nil, 0, bad(s.Name, "shape %s has too many elements", shapeString(s.Shape))
			}
			numel *= d
		}
		es := int64(s.DType.Size())
		if numel > math.MaxInt64/es {
			return nil, nil, 0, bad(s.Name, "shape %s of %s is too many bytes", shapeString(s.Shape), s.DType)
		}
		slots[i] = writeSlot{spec: s, size: numel * es}
	}

	// Data order: element size descending, then name (as the reference library).
	order := make([]int, len(slots))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		sa, sb := slots[a].spec.DType.Size(), slots[b].spec.DType.Size()
		if sa != sb {
			return sb - sa
		}
		return strings.Compare(slots[a].spec.Name, slots[b].spec.Name)
	})
	var cursor int64
	for _, i := range order {
		slots[i].off = cursor // relative for now
		if slots[i].size > math.MaxInt64-cursor {
			return nil, nil, 0, bad(slots[i].spec.Name, "total data exceeds 2^63 bytes")
		}
		cursor += slots[i].size
	}

	// Header: metadata first, then tensors by name.
	byName := make([]int, len(slots))
	for i := range byName {
		byName[i] = i
	}
	slices.SortFunc(byName, func(a, b int) int { return strings.Compare(slots[a].spec.Name, slots[b].spec.Name) })
	buf := make([]byte, 8, 8+64+96*len(slots))
	buf = append(buf, '{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, 0, &FileError{File: path, Kind: ErrInvalidWrite,
					Detail: fmt.Sprintf("metadata entry %q is not valid UTF-8", k), Fix: "nothing was written; fix the metadata"}
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = appendJSONString(buf, metadataKey)
		buf = append(buf, ':', '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, k)
			buf = append(buf, ':')
			buf = appendJSONString(buf, metadata[k])
		}
		buf = append(buf, '}')
		first = false
	}
	for _, i := range byName {
		s := &slots[i]
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendJSONString(buf, s.spec.Name)
		buf = append(buf, `:{"dtype":`...)
		buf = appendJSONString(buf, string(s.spec.DType))
		buf = append(buf, `,"shape":[`...)
		for j, d := range s.spec.Shape {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, d, 10)
		}
		buf = append(buf, `],"data_offsets":[`...)
		buf = strconv.AppendInt(buf, s.off, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, s.off+s.size, 10)
		buf = append(buf, "]}"...)
	}
	buf = append(buf, '}')
	for len(buf)%8 != 0 {
		buf = append(buf, ' ')
	}
	n := int64(len(buf) - 8)
	if n > MaxSafetensorsHeaderLen {
		return nil, nil, 0, &FileError{File: path, Kind: ErrInvalidWrite,
			Detail: fmt.Sprintf("header would be %d bytes, over the %d-byte safetensors limit", n, MaxSafetensorsHeaderLen),
			Fix:    "split the tensors over more shards"}
	}
	binary.LittleEndian.PutUint64(buf[:8], uint64(n))
	for i := range slots {
		slots[i].off += int64(len(buf))
	}
	total := int64(len(buf)) + cursor
	if total < cursor {
		return nil, nil, 0, bad("", "file size overflows")
	}
	return buf, slots, total, nil
}

func shapeString(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}

// listNames renders up to max names, quoted, with a count of the rest.
func listNames(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(n))
	}
	return b.String()
}
