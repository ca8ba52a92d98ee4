package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strings"
	"syscall"
)

// MaxSafetensorsHeaderLen is the largest header accepted, the limit of the
// reference safetensors implementation (MAX_HEADER_SIZE = 100,000,000 bytes):
// a file we accept is one the real library accepts too.
const MaxSafetensorsHeaderLen = 100_000_000

const metadataKey = "__metadata__"

// SafetensorsHeader is the parsed header of one .safetensors file.
type SafetensorsHeader struct {
	Path      string            // file name as given
	Tensors   []TensorInfo      // sorted by name; Offset is absolute in the file, Shard is 0
	Metadata  map[string]string // "__metadata__", nil when absent
	HeaderLen int64             // N, the JSON header length (8-byte prefix excluded)
	FileSize  int64
}

// has reports whether the header lists a tensor (Tensors is sorted by name).
func (h *SafetensorsHeader) has(name string) bool {
	_, ok := slices.BinarySearchFunc(h.Tensors, name, func(t TensorInfo, n string) int { return strings.Compare(t.Name, n) })
	return ok
}

// DataStart is the file offset of the data area (8 + HeaderLen).
func (h *SafetensorsHeader) DataStart() int64 { return 8 + h.HeaderLen }

const (
	fixRedownload = "re-download the file (a resumed download can leave it short) or re-export it"
	fixCorrupt    = "the file is corrupt or was written by a broken tool; re-download or re-export it"
	fixNotST      = "this is not a safetensors file (or it is corrupt); check the path, or re-download the file"
)

// ReadSafetensorsHeader reads the 8-byte length prefix and the JSON header of
// a safetensors file, never its tensor data, and validates them exactly like
// the reference implementation does (see ParseSafetensorsHeader).
func ReadSafetensorsHeader(path string) (*SafetensorsHeader, error) {
	// Type-checked before opening: opening a named pipe would block.
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSafetensorsHeader(path, f, fi.Size())
}

// ParseSafetensorsHeader parses the header of a safetensors file of the given
// size read through r; name is used in messages.
//
// It accepts exactly what the reference implementation accepts: a header of
// 1..MaxSafetensorsHeaderLen bytes holding a JSON object whose members are
// "__metadata__" (string to string) or tensors {"dtype", "shape",
// "data_offsets"}, with data ranges that match shape×dtype and cover the
// data area back to back with no hole, no overlap and nothing after the
// last tensor. It is stricter in one way: duplicate keys are an error.
func ParseSafetensorsHeader(name string, r io.ReaderAt, size int64) (*SafetensorsHeader, error) {
	if size < 8 {
		return nil, &FileError{File: name, Kind: ErrTruncated,
			Detail: fmt.Sprintf("file is %d bytes, shorter than the 8-byte header length of a safetensors file", size),
			Fix:    fixRedownload}
	}
	var prefix [8]byte
	if err := readFull(r, prefix[:], 0); err != nil {
		return nil, &FileError{File: name, Kind: ErrUnreadable, Detail: "cannot read the header length", Fix: "check the disk and permissions", Err: err}
	}
	n64 := binary.LittleEndian.Uint64(prefix[:])
	switch {
	case n64 == 0:
		return nil, &FileError{File: name, Kind: ErrCorrupt, Detail: "header length is 0", Fix: fixNotST}
	case n64 > MaxSafetensorsHeaderLen && isLFSPointer(r, size):
		return nil, &FileError{File: name, Kind: ErrCorrupt,
			Detail: "this is a Git LFS pointer (a small text file naming the real content), not the safetensors data",
			Fix:    "fetch the real file: run 'git lfs pull' in the clone, or download it with huggingface-cli"}
	case n64 > MaxSafetensorsHeaderLen:
		return nil, &FileError{File: name, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("header length %d is larger than the %d-byte limit of safetensors", n64, MaxSafetensorsHeaderLen),
			Fix:    fixNotST}
	case int64(n64) > size-8:
		return nil, &FileError{File: name, Kind: ErrTruncated,
			Detail: fmt.Sprintf("truncated: the header alone needs %d bytes, file has %d", 8+n64, size),
			Fix:    fixRedownload}
	}
	n := int64(n64)
	buf := make([]byte, n)
	if err := readFull(r, buf, 8); err != nil {
		return nil, &FileError{File: name, Kind: ErrUnreadable, Detail: "cannot read the header", Fix: "check the disk and permissions", Err: err}
	}
	root, err := ParseJSONTree(buf)
	if err != nil {
		return nil, &FileError{File: name, Kind: ErrCorrupt, Detail: "header is not valid JSON: " + err.Error(), Fix: fixNotST, Err: err}
	}
	if root.Kind != JSONObject {
		return nil, &FileError{File: name, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("header is a JSON %s, expected an object", root.KindName()), Fix: fixNotST}
	}
	h := &SafetensorsHeader{Path: name, HeaderLen: n, FileSize: size}
	if err := h.parseEntries(root); err != nil {
		return nil, err
	}
	if err := h.checkLayout(size - 8 - n); err != nil {
		return nil, err
	}
	slices.SortFunc(h.Tensors, func(a, b TensorInfo) int { return strings.Compare(a.Name, b.Name) })
	return h, nil
}

// lfsPointerPrefix starts every Git LFS pointer file (git-lfs spec v1).
const lfsPointerPrefix = "version https://git-lfs.github.com/spec/"

// isLFSPointer reports whether the file is a Git LFS pointer: what a clone
// without git-lfs leaves in place of every large file.
func isLFSPointer(r io.ReaderAt, size int64) bool {
	if size < int64(len(lfsPointerPrefix)) || size > 1024 {
		return false
	}
	buf := make([]byte, len(lfsPointerPrefix))
	return readFull(r, buf, 0) == nil && string(buf) == lfsPointerPrefix
}

func readFull(r io.ReaderAt, buf []byte, off int64) error {
	got, err := r.ReadAt(buf, off)
	if got == len(buf) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseEntries fills h.Tensors (with offsets relative to the data area for
// now) and h.Metadata.
func (h *SafetensorsHeader) parseEntries(root *JSONNode) error {
	// One backing array for all shapes keeps a 2,000-tensor header at a
	// handful of allocations.
	dims := 0
	for _, e := range root.Children {
		if s, ok := e.Member("shape"); ok {
			dims += len(s.Children)
		}
	}
	arena := make([]int64, 0, dims)
	h.Tensors = make([]TensorInfo, 0, len(root.Children))
	for _, e := range root.Children {
		if e.Key == metadataKey {
			if e.Kind == JSONNull { // Option<HashMap> in the reference implementation
				continue
			}
			md, err := parseSTMetadata(h.Path, e)
			if err != nil {
				return err
			}
			h.Metadata = md
			continue
		}
		t, err := parseSTEntry(h.Path, e, &arena)
		if err != nil {
			return err
		}
		h.Tensors = append(h.Tensors, t)
	}
	return nil
}

func parseSTMetadata(file string, e *JSONNode) (map[string]string, error) {
	if e.Kind != JSONObject {
		return nil, &FileError{File: file, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("header %q at %s is %s, expected an object of strings", metadataKey, e.Pos(), withArticle(e.KindName())), Fix: fixCorrupt}
	}
	md := make(map[string]string, len(e.Children))
	for _, c := range e.Children {
		s, err := c.Str()
		if err != nil {
			return nil, &FileError{File: file, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("header %q: every value must be a string: %v", metadataKey, err), Fix: fixCorrupt, Err: err}
		}
		md[c.Key] = s
	}
	return md, nil
}

func parseSTEntry(file string, e *JSONNode, arena *[]int64) (TensorInfo, error) {
	bad := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, &FileError{File: file, Tensor: e.Key, Kind: ErrCorrupt,
			Detail: fmt.Sprintf(format, args...), Fix: fixCorrupt}
	}
	if e.Kind != JSONObject {
		return bad("header entry at %s is %s, expected an object with dtype, shape and data_offsets", e.Pos(), withArticle(e.KindName()))
	}
	t := TensorInfo{Name: e.Key}

	dt, ok := e.Member("dtype")
	if !ok {
		return bad(`header entry at %s has no "dtype"`, e.Pos())
	}
	ds, err := dt.Str()
	if err != nil {
		return bad(`"dtype": %v`, err)
	}
	if t.DType, err = ParseDType(ds); err != nil {
		return bad("%v at %s", err, dt.Pos())
	}

	sh, ok := e.Member("shape")
	if !ok {
		return bad(`header entry at %s has no "shape"`, e.Pos())
	}
	if sh.Kind != JSONArray {
		return bad(`"shape" at %s is %s, expected an array of non-negative integers`, sh.Pos(), withArticle(sh.KindName()))
	}
	start := len(*arena)
	numel := int64(1)
	for i, d := range sh.Children {
		v, err := d.Int()
		if err != nil {
			return bad(`"shape" dimension %d: %v`, i, err)
		}
		if v < 0 {
			return bad(`"shape" dimension %d is negative (%d) at %s`, i, v, d.Pos())
		}
		if v != 0 && numel > math.MaxInt64/v {
			return bad(`"shape" %s has more elements than fit in 64 bits`, sh.Compact())
		}
		numel *= v
		*arena = append(*arena, v)
	}
	t.Shape = (*arena)[start:len(*arena):len(*arena)]
	if es := int64(t.DType.Size()); numel > math.MaxInt64/es {
		return bad(`"shape" %s of %s is more bytes than fit in 64 bits`, sh.Compact(), t.DType)
	}
	t.Size = numel * int64(t.DType.Size())

	do, ok := e.Member("data_offsets")
	if !ok {
		return bad(`header entry at %s has no "data_offsets"`, e.Pos())
	}
	if do.Kind != JSONArray || len(do.Children) != 2 {
		return bad(`"data_offsets" at %s is %s, expected an array [begin, end] of two non-negative integers`, do.Pos(), do.describe())
	}
	var off [2]int64
	for i, c := range do.Children {
		v, err := c.Int()
		if err != nil {
			return bad(`"data_offsets": %v`, err)
		}
		if v < 0 {
			return bad(`"data_offsets" %s holds a negative offset`, do.Compact())
		}
		off[i] = v
	}
	if off[1] < off[0] {
		return bad(`"data_offsets" [%d, %d] end before they begin`, off[0], off[1])
	}
	if off[1]-off[0] != t.Size {
		return bad("shape %s of %s needs %d bytes but \"data_offsets\" [%d, %d] span %d bytes",
			sh.Compact(), t.DType, t.Size, off[0], off[1], off[1]-off[0])
	}
	t.Offset = off[0] // relative to the data area until checkLayout
	return t, nil
}

// checkLayout verifies that the tensors cover the data area of dataLen bytes
// back to back, then makes offsets absolute.
func (h *SafetensorsHeader) checkLayout(dataLen int64) error {
	// Truncation first: it is the common real-world failure and the one
	// message that tells the user what to do.
	last := -1
	for i := range h.Tensors {
		if last < 0 || h.Tensors[i].Offset+h.Tensors[i].Size > h.Tensors[last].Offset+h.Tensors[last].Size {
			last = i
		}
	}
	if last >= 0 {
		end := h.Tensors[last].Offset + h.Tensors[last].Size
		if end > dataLen {
			return &FileError{File: h.Path, Tensor: h.Tensors[last].Name, Kind: ErrTruncated,
				Detail: fmt.Sprintf("truncated: expected %d bytes, file has %d (the data of this tensor ends past the end of the file)",
					8+h.HeaderLen+end, h.FileSize),
				Fix: fixRedownload}
		}
	}
	order := make([]int, len(h.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &h.Tensors[a], &h.Tensors[b]
		if ta.Offset != tb.Offset {
			return cmpInt64(ta.Offset, tb.Offset)
		}
		if ta.Size != tb.Size {
			return cmpInt64(ta.Size, tb.Size)
		}
		return strings.Compare(ta.Name, tb.Name)
	})
	cursor := int64(0)
	prev := -1
	for _, i := range order {
		t := &h.Tensors[i]
		switch {
		case t.Offset < cursor:
			p := &h.Tensors[prev]
			return &FileError{File: h.Path, Tensor: t.Name, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("data_offsets [%d, %d] overlap tensor %s at [%d, %d]",
					t.Offset, t.Offset+t.Size, quote(p.Name), p.Offset, p.Offset+p.Size),
				Fix: fixCorrupt}
		case t.Offset > cursor:
			after := "the start of the data area"
			if prev >= 0 {
				after = "tensor " + quote(h.Tensors[prev].Name)
			}
			return &FileError{File: h.Path, Tensor: t.Name, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("hole of %d bytes between %s and this tensor (data bytes [%d, %d) belong to no tensor); safetensors stores tensors back to back",
					t.Offset-cursor, after, cursor, t.Offset),
				Fix: fixCorrupt}
		}
		cursor = t.Offset + t.Size
		prev = i
	}
	if cursor != dataLen {
		return &FileError{File: h.Path, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("%d unexpected bytes after the last tensor: expected %d bytes, file has %d",
				dataLen-cursor, 8+h.HeaderLen+cursor, h.FileSize),
			Fix: "the file was appended to or is corrupt; re-download or re-export it"}
	}
	start := h.DataStart()
	for i := range h.Tensors {
		h.Tensors[i].Offset += start
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// openError classifies an os.Open/Stat failure.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &FileError{File: path, Kind: ErrMissingFile, Detail: "no such file", Fix: "check the path; download the missing file", Err: err}
	case errors.Is(err, syscall.ELOOP):
		return &FileError{File: path, Kind: ErrUnreadable, Detail: "symbolic link loop", Fix: "fix the symbolic links so they point to the real file", Err: err}
	case errors.Is(err, fs.ErrPermission):
		return &FileError{File: path, Kind: ErrUnreadable, Detail: "permission denied", Fix: "make the file readable (chmod a+r) or run as a user who can read it", Err: err}
	}
	detail := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		detail = pe.Op + ": " + pe.Err.Error()
	}
	return &FileError{File: path, Kind: ErrUnreadable, Detail: detail, Fix: "check that the file exists and is readable", Err: err}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
