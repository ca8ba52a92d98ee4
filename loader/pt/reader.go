package pt

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/omnitui/omnitui/loader"
)

// TensorRef locates one tensor of a .pt file: a view (offset, shape, stride,
// all in elements) into a storage record.
type TensorRef struct {
	Name          string
	DType         loader.DType // "" when the storage type has no loader dtype (e.g. complex)
	TypeName      string       // torch storage class or dtype as named in the file, e.g. "torch.FloatStorage"
	Shape         []int64
	Stride        []int64
	StorageOffset int64
	Storage       string // storage key: the record is <archive>/data/<Storage>
	StorageNumel  int64  // elements in the storage, of the storage's own element type
	storageElem   int    // bytes per storage element
}

// NumBytes is the size of the tensor's contiguous bytes (-1 if the dtype is
// unknown or the size overflows).
func (r TensorRef) NumBytes() int64 {
	n, err := tensorBytes(r.Shape, r.DType.Size())
	if err != nil || r.DType.Size() == 0 {
		return -1
	}
	return n
}

// File is an open .pt file. It is safe for concurrent ReadTensor calls.
type File struct {
	path    string
	f       io.ReaderAt
	closer  io.Closer
	archive string
	records map[string]zipEntry // by name inside the archive folder
	keys    []string            // top-level keys, in order
	kinds   map[string]string
	dicts   []string
	tensors map[string][]TensorRef
	extras  map[string][]string
	root    any // the unpickled data.pkl
}

// maxPickle bounds data.pkl. A rank file of the real 28,010-tensor model has a data.pkl of a few
// MiB; training checkpoints add optimizer bookkeeping but their tensors live in storages, not
// in the pickle.
const maxPickle = 256 << 20

// maxDeflated bounds a compressed record after inflation: torch.save never compresses, so a
// deflated record is foreign, and a small one must not inflate into gigabytes.
const maxDeflated = 64 << 20

var modelKey = regexp.MustCompile(`^model[0-9]*$`)

// Open reads the zip directory and data.pkl of a .pt file. Tensor data is
// read later by ReadTensor. The pickle is interpreted by a restricted
// unpickler; a file referencing code-running globals fails with ErrUnsafe.
func Open(path string) (*File, error) {
	// Type-checked before opening: a named pipe would block the open forever.
	f, st, err := loader.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("pt: %w", err)
	}
	pf, err := openReader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	pf.closer = f
	return pf, nil
}

// openReader parses a .pt file held by r (size bytes); name is used in
// errors.
func openReader(path string, f io.ReaderAt, size int64) (*File, error) {
	entries, err := readZip(f, size)
	if err != nil {
		return nil, fmt.Errorf("pt: %s: %w", path, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("pt: %s: the zip archive is empty, so it is no torch.save file", path)
	}
	// Like torch, the folder of the first entry names the archive.
	first := entries[0].name
	slash := strings.IndexByte(first, '/')
	if slash < 0 {
		return nil, fmt.Errorf("pt: %s: first zip entry %q is not inside a folder, so this is no torch.save file", path, first)
	}
	pf := &File{path: path, f: f, archive: first[:slash], records: map[string]zipEntry{},
		kinds: map[string]string{}, tensors: map[string][]TensorRef{}, extras: map[string][]string{}}
	prefix := pf.archive + "/"
	for _, e := range entries {
		if rest, ok := strings.CutPrefix(e.name, prefix); ok {
			pf.records[rest] = e
		}
	}
	if bo, ok := pf.records["byteorder"]; ok {
		b, err := pf.readRecord(bo, 64)
		if err != nil {
			return nil, fmt.Errorf("pt: %s: reading byteorder: %w", path, err)
		}
		if string(b) != "little" {
			return nil, fmt.Errorf("pt: %s: byteorder is %.10q; only little-endian checkpoints are supported", path, b)
		}
	}
	pkl, ok := pf.records["data.pkl"]
	if !ok {
		return nil, fmt.Errorf("pt: %s: no %sdata.pkl in the archive, so this is no torch.save checkpoint (TorchScript archives are not supported)", path, prefix)
	}
	data, err := pf.readRecord(pkl, maxPickle)
	if err != nil {
		return nil, fmt.Errorf("pt: %s: reading data.pkl: %w", path, err)
	}
	root, err := unpickle(data)
	if err != nil {
		return nil, fmt.Errorf("pt: %s: %w", path, err)
	}
	pf.root = root
	pf.index(root)
	return pf, nil
}

// readRecord returns a whole record (stored or deflated), checking its CRC.
func (f *File) readRecord(e zipEntry, limit int64) ([]byte, error) {
	if e.size > limit {
		return nil, fmt.Errorf("record of %d bytes exceeds the limit of %d: %w", e.size, limit, errCorrupt)
	}
	var data []byte
	switch e.method {
	case methodStore:
		data = make([]byte, e.size)
		if _, err := f.f.ReadAt(data, e.dataOff); err != nil {
			return nil, fmt.Errorf("%w: %w", err, errTruncated)
		}
	case methodDeflate:
		if e.size > maxDeflated {
			return nil, fmt.Errorf("compressed record of %d bytes when inflated exceeds the limit of %d (torch.save stores records uncompressed): %w", e.size, int64(maxDeflated), errCorrupt)
		}
		r := flate.NewReader(io.NewSectionReader(f.f, e.dataOff, e.compSize))
		defer r.Close()
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(r, e.size+1))
		if err != nil {
			return nil, fmt.Errorf("inflating: %w: %w", err, errCorrupt)
		}
		if n != e.size {
			return nil, fmt.Errorf("inflated %d bytes but the directory says %d: %w", n, e.size, errCorrupt)
		}
		data = buf.Bytes()
	default:
		return nil, fmt.Errorf("compression method %d is not supported (torch.save stores records uncompressed)", e.method)
	}
	if c := crc32.ChecksumIEEE(data); c != e.crc {
		return nil, fmt.Errorf("CRC-32 mismatch (stored %08x, computed %08x): %w", e.crc, c, errCorrupt)
	}
	return data, nil
}

// index records the top-level keys and the state dicts among them.
func (f *File) index(root any) {
	d, ok := root.(*pyDict)
	if !ok {
		return
	}
	for i, k := range d.keys {
		ks, ok := k.(string)
		if !ok {
			continue
		}
		f.keys = append(f.keys, ks)
		v := d.vals[i]
		f.kinds[ks] = typeName(v)
		sd, ok := v.(*pyDict)
		if !ok {
			continue
		}
		var refs []TensorRef
		var extras []string
		isState := true
		for j, name := range sd.keys {
			n, ok := name.(string)
			if !ok {
				isState = false
				break
			}
			t, ok := sd.vals[j].(*pyTensor)
			if !ok {
				// Transformer Engine keeps non-tensor "_extra_state" entries
				// in model state dicts.
				if strings.HasSuffix(n, "_extra_state") {
					extras = append(extras, n)
					continue
				}
				isState = false
				break
			}
			refs = append(refs, refOf(n, t))
		}
		if !isState || (len(refs) == 0 && !modelKey.MatchString(ks)) {
			continue
		}
		f.dicts = append(f.dicts, ks)
		f.tensors[ks] = refs
		f.extras[ks] = extras
		f.kinds[ks] = fmt.Sprintf("%s of %d tensors", typeName(v), len(refs))
	}
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Digest summarises the archive from its zip directory alone, without reading
// any data: the archive name and every record's name, size and CRC-32. Two files
// with equal digests hold byte-identical records (a copied file); two rank files
// saved separately never do, since their slices or layers differ.
func (f *File) Digest() string {
	names := make([]string, 0, len(f.records))
	for n := range f.records {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", f.archive)
	for _, n := range names {
		e := f.records[n]
		fmt.Fprintf(h, "%s\x00%d\x00%08x\x00", n, e.size, e.crc)
	}
	return string(h.Sum(nil))
}

// Close closes the file.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// Keys lists all top-level keys of the pickled dict, in order.
func (f *File) Keys() []string { return append([]string(nil), f.keys...) }

// Kind describes the value under a top-level key ("OrderedDict of 3 tensors",
// "dict", "argparse.Namespace object", ...).
func (f *File) Kind(key string) string { return f.kinds[key] }

// Dicts lists the top-level keys whose values are state dicts: (Ordered)dicts
// mapping names to tensors ("model", "model0", ...).
func (f *File) Dicts() []string { return append([]string(nil), f.dicts...) }

// Tensors lists the tensors of state dict key in file order.
func (f *File) Tensors(key string) []TensorRef { return append([]TensorRef(nil), f.tensors[key]...) }

// Extras lists the non-tensor entries (Transformer Engine "_extra_state") of
// state dict key.
func (f *File) Extras(key string) []string { return append([]string(nil), f.extras[key]...) }

// maxExpanded bounds the output of a view that reads storage elements more
// than once (stride 0): a hostile file must not make ReadTensor allocate
// without limit.
const maxExpanded = 256 << 20

// maxGatherSpan bounds the storage window read at once to gather a strided
// view with short runs.
const maxGatherSpan = 1 << 30

// ReadTensor returns the tensor's bytes, contiguous in row-major order,
// resolving views (storage offset, arbitrary strides) into its storage.
func (f *File) ReadTensor(ref TensorRef) ([]byte, error) {
	out, err := f.readTensor(ref)
	if err != nil {
		return nil, fmt.Errorf("pt: %s: tensor %s: %w", f.path, ref.Name, err)
	}
	return out, nil
}

func (f *File) readTensor(ref TensorRef) ([]byte, error) {
	esize := int64(ref.DType.Size())
	if esize == 0 {
		return nil, fmt.Errorf("element type %s is not supported", ref.TypeName)
	}
	if len(ref.Stride) != len(ref.Shape) {
		return nil, fmt.Errorf("shape %v and stride %v differ in rank: %w", ref.Shape, ref.Stride, errCorrupt)
	}
	nbytes, err := tensorBytes(ref.Shape, int(esize))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errCorrupt)
	}
	if nbytes == 0 {
		return []byte{}, nil
	}
	e, ok := f.records["data/"+ref.Storage]
	if !ok {
		return nil, fmt.Errorf("storage record %s/data/%s is missing: %w", f.archive, ref.Storage, errCorrupt)
	}
	if e.method != methodStore {
		return nil, fmt.Errorf("storage record data/%s is compressed (method %d); only stored records can be read", ref.Storage, e.method)
	}
	elem := int64(ref.storageElem)
	if elem == 0 {
		elem = esize
	}
	if ref.StorageNumel < 0 || ref.StorageNumel > math.MaxInt64/elem {
		return nil, fmt.Errorf("storage element count %d is out of range: %w", ref.StorageNumel, errCorrupt)
	}
	storageBytes := ref.StorageNumel * elem
	if e.size < storageBytes {
		return nil, fmt.Errorf("storage record data/%s holds %d bytes but the pickle expects %d: %w", ref.Storage, e.size, storageBytes, errTruncated)
	}
	// Highest element index the view touches, overflow-checked.
	last := ref.StorageOffset
	if last < 0 {
		return nil, fmt.Errorf("negative storage offset: %w", errCorrupt)
	}
	for i, d := range ref.Shape {
		s := ref.Stride[i]
		if s < 0 {
			return nil, fmt.Errorf("negative stride %v: %w", ref.Stride, errCorrupt)
		}
		if d > 1 && s > 0 && (d-1 > (math.MaxInt64-last)/s) {
			return nil, fmt.Errorf("view %v/%v overflows: %w", ref.Shape, ref.Stride, errCorrupt)
		}
		last += (d - 1) * s
	}
	if last >= math.MaxInt64/esize || (last+1)*esize > storageBytes {
		return nil, fmt.Errorf("view (offset %d, shape %v, stride %v) reaches past its storage of %d bytes: %w", ref.StorageOffset, ref.Shape, ref.Stride, storageBytes, errCorrupt)
	}
	if nbytes > storageBytes && nbytes > maxExpanded {
		return nil, fmt.Errorf("view (shape %v, stride %v) expands its storage of %d bytes to %d bytes; refusing such a broadcast view: %w", ref.Shape, ref.Stride, storageBytes, nbytes, errCorrupt)
	}
	base := e.dataOff + ref.StorageOffset*esize
	dims, strides := collapse(ref.Shape, ref.Stride)
	out := make([]byte, nbytes)
	if len(dims) == 0 || (len(dims) == 1 && strides[0] == 1) {
		if _, err := f.f.ReadAt(out, base); err != nil {
			return nil, fmt.Errorf("reading %d bytes: %w: %w", nbytes, err, errTruncated)
		}
		if ref.StorageOffset == 0 && nbytes == e.size {
			if c := crc32.ChecksumIEEE(out); c != e.crc {
				return nil, fmt.Errorf("CRC-32 mismatch in data/%s (stored %08x, computed %08x): %w", ref.Storage, e.crc, c, errCorrupt)
			}
		}
		return out, nil
	}
	// Strided view: copy runs of the innermost dimension (contiguous when its
	// stride is 1).
	inner := len(dims) - 1
	run, runStride := dims[inner], strides[inner]
	if runStride != 1 {
		run, inner = 1, len(dims)
	}
	runBytes := run * esize
	span := (last - ref.StorageOffset + 1) * esize
	var window []byte
	if runBytes < 64<<10 && span <= maxGatherSpan {
		window = make([]byte, span)
		if _, err := f.f.ReadAt(window, base); err != nil {
			return nil, fmt.Errorf("reading %d bytes: %w: %w", span, err, errTruncated)
		}
		if ref.StorageOffset == 0 && span == e.size {
			if c := crc32.ChecksumIEEE(window); c != e.crc {
				return nil, fmt.Errorf("CRC-32 mismatch in data/%s (stored %08x, computed %08x): %w", ref.Storage, e.crc, c, errCorrupt)
			}
		}
	}
	idx := make([]int64, inner)
	for pos := int64(0); pos < nbytes; pos += runBytes {
		var elemOff int64
		for i := 0; i < inner; i++ {
			elemOff += idx[i] * strides[i]
		}
		dst := out[pos : pos+runBytes]
		if window != nil {
			copy(dst, window[elemOff*esize:elemOff*esize+runBytes])
		} else if _, err := f.f.ReadAt(dst, base+elemOff*esize); err != nil {
			return nil, fmt.Errorf("reading: %w: %w", err, errTruncated)
		}
		for i := inner - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// collapse drops size-1 dimensions and merges dimensions that are contiguous
// with each other, so views are copied in runs as long as possible.
func collapse(shape, stride []int64) (dims, strides []int64) {
	for i, d := range shape {
		if d == 1 {
			continue
		}
		if n := len(dims); n > 0 && strides[n-1] == stride[i]*d {
			dims[n-1] *= d
			strides[n-1] = stride[i]
			continue
		}
		dims = append(dims, d)
		strides = append(strides, stride[i])
	}
	return dims, strides
}

// VerifyRecords checks the CRC-32 of every stored record of the archive,
// reading all data once.
func (f *File) VerifyRecords() error {
	names := make([]string, 0, len(f.records))
	var largest int64
	for name, e := range f.records {
		names = append(names, name)
		largest = max(largest, e.size)
	}
	buf := make([]byte, max(min(largest, 4<<20), 1))
	sort.Strings(names)
	for _, name := range names {
		e := f.records[name]
		if e.method != methodStore {
			continue
		}
		h := crc32.NewIEEE()
		if _, err := io.CopyBuffer(h, io.NewSectionReader(f.f, e.dataOff, e.size), buf); err != nil {
			return fmt.Errorf("pt: %s: reading record %s: %w", f.path, name, err)
		}
		if c := h.Sum32(); c != e.crc {
			return fmt.Errorf("pt: %s: record %s: CRC-32 mismatch (stored %08x, computed %08x): %w", f.path, name, e.crc, c, errCorrupt)
		}
	}
	return nil
}
