package pt

import (
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/omnitui/omnitui/loader"
)

// OpenReaderAt reads a .pt archive held by r (size bytes), for example a window
// of a larger file; name is used in errors. Nothing is copied: tensor bytes are
// read from r when asked for.
func OpenReaderAt(name string, r io.ReaderAt, size int64) (*File, error) {
	return openReader(name, r, size)
}

// TorchDType maps a torch dtype global name ("bfloat16", "float32", ...) to a
// loader dtype ("" when omnitui has none for it).
func TorchDType(name string) loader.DType { return torchDTypes[name] }

// Span locates the bytes of a contiguous tensor inside the reader the File
// was opened on.
type Span struct {
	Off, Len int64
	// WholeRecord is true when the tensor covers its storage record exactly,
	// so CRC (the record's CRC-32 from the zip directory) applies to it.
	WholeRecord bool
	CRC         uint32
}

// ContiguousSpan returns where ref's bytes lie when they are one run of a
// stored (uncompressed) record, so that a caller holding the file memory-mapped
// can use them without a copy. It fails for strided views and compressed
// records; ReadTensor handles those.
func (f *File) ContiguousSpan(ref TensorRef) (Span, error) {
	esize := int64(ref.DType.Size())
	if esize == 0 {
		return Span{}, fmt.Errorf("pt: %s: element type %s is not supported", f.path, ref.TypeName)
	}
	if len(ref.Stride) != len(ref.Shape) {
		return Span{}, fmt.Errorf("pt: %s: shape %v and stride %v differ in rank: %w", f.path, ref.Shape, ref.Stride, errCorrupt)
	}
	nbytes, err := tensorBytes(ref.Shape, int(esize))
	if err != nil {
		return Span{}, fmt.Errorf("pt: %s: %w: %w", f.path, err, errCorrupt)
	}
	want := int64(1)
	for i := len(ref.Shape) - 1; i >= 0; i-- {
		if ref.Shape[i] != 1 && ref.Stride[i] != want {
			return Span{}, fmt.Errorf("pt: %s: tensor is a strided view (shape %v, stride %v), not one run of its storage", f.path, ref.Shape, ref.Stride)
		}
		want *= ref.Shape[i]
	}
	e, ok := f.records["data/"+ref.Storage]
	if !ok {
		return Span{}, fmt.Errorf("pt: %s: storage record %s/data/%s is missing: %w", f.path, f.archive, ref.Storage, errCorrupt)
	}
	if e.method != methodStore {
		return Span{}, fmt.Errorf("pt: %s: storage record data/%s is compressed (method %d)", f.path, ref.Storage, e.method)
	}
	elem := int64(ref.storageElem)
	if elem == 0 {
		elem = esize
	}
	if ref.StorageNumel < 0 || ref.StorageNumel > math.MaxInt64/elem {
		return Span{}, fmt.Errorf("pt: %s: storage element count %d is out of range: %w", f.path, ref.StorageNumel, errCorrupt)
	}
	storageBytes := ref.StorageNumel * elem
	if e.size < storageBytes {
		return Span{}, fmt.Errorf("pt: %s: storage record data/%s holds %d bytes but the pickle expects %d: %w", f.path, ref.Storage, e.size, storageBytes, errTruncated)
	}
	if ref.StorageOffset < 0 || ref.StorageOffset > math.MaxInt64/esize {
		return Span{}, fmt.Errorf("pt: %s: storage offset %d is out of range: %w", f.path, ref.StorageOffset, errCorrupt)
	}
	start := ref.StorageOffset * esize
	if start > storageBytes || nbytes > storageBytes-start {
		return Span{}, fmt.Errorf("pt: %s: tensor (offset %d, %d bytes) reaches past its storage of %d bytes: %w", f.path, ref.StorageOffset, nbytes, storageBytes, errCorrupt)
	}
	return Span{Off: e.dataOff + start, Len: nbytes, WholeRecord: start == 0 && nbytes == e.size, CRC: e.crc}, nil
}

// EncodeTensorArchive returns what torch.save(tensor) writes for a contiguous
// tensor with its own storage: an archive folder named archive holding
// data.pkl (a bare _rebuild_tensor_v2), data/0, version and byteorder. data
// must hold the tensor's row-major bytes.
func EncodeTensorArchive(archive string, dtype loader.DType, shape []int64, data []byte) ([]byte, error) {
	st, err := storageTypeFor(dtype)
	if err != nil {
		return nil, err
	}
	n, err := tensorBytes(shape, dtype.Size())
	if err != nil {
		return nil, err
	}
	if n != int64(len(data)) {
		return nil, fmt.Errorf("pt: tensor of shape %v and dtype %s needs %d bytes, got %d", shape, dtype, n, len(data))
	}
	p := newPickleWriter()
	p.tensor(st, "0", shape)
	p.op(opStop)
	return encodeArchive([]string{archive + "/data.pkl", archive + "/data/0", archive + "/version", archive + "/byteorder"},
		[][]byte{p.buf, data, []byte("3\n"), []byte("little")}), nil
}

// EncodeArchive returns a torch.save archive whose data.pkl is pickle and
// which holds no storages (torch.save of plain Python data). Tests use it to
// build common.pt-like files.
func EncodeArchive(archive string, pickle []byte) []byte {
	return encodeArchive([]string{archive + "/data.pkl", archive + "/version", archive + "/byteorder"},
		[][]byte{pickle, []byte("3\n"), []byte("little")})
}

func encodeArchive(names []string, contents [][]byte) []byte {
	sizes := make([]int64, len(contents))
	for i, c := range contents {
		sizes[i] = int64(len(c))
	}
	l := planLayout(names, sizes, defaultZip64Limit)
	out := make([]byte, l.totalSize)
	for i := range l.records {
		r := &l.records[i]
		r.crc = crc32.ChecksumIEEE(contents[i])
		copy(out[r.headerOff:], r.localHeader())
		copy(out[r.dataOff:], contents[i])
	}
	copy(out[l.cdOff:], l.trailer())
	return out
}
