// Package dcp opens Megatron-Core torch_dist checkpoints (PyTorch distributed
// checkpoints written by megatron.core.dist_checkpointing) without Python or
// torch: metadata.json, the pickled .metadata (read by a restricted unpickler
// with an allow-list of the DCP and megatron-core classes), and the __R_I.distcp
// files, memory-mapped, whose tensor chunks are whole torch.save archives read
// in place through loader/pt.
//
// Open validates everything that can be checked without reading tensor data:
// every chunk of every tensor is located, its archive parsed and compared with
// the recorded dtype and size, and the chunks of each tensor tile its global
// shape exactly once. View (view.go) maps the global tensors to Megatron
// names at TP = PP = EP = 1. FORMAT.md records what the reader relies on.
package dcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// File names of a torch_dist checkpoint directory.
const (
	ConfigName   = "metadata.json"
	MetadataName = ".metadata"
	CommonName   = "common.pt"
	dataSuffix   = ".distcp"
	// Backend is the sharded_backend this package reads.
	Backend = "torch_dist"
)

// maxMetadata bounds the .metadata read into memory. Model-only metadata of a
// 30B MoE is a few MiB; with distributed-optimizer state it grows by a small
// factor.
const maxMetadata = 1 << 30

// Checkpoint is an opened torch_dist checkpoint directory.
type Checkpoint struct {
	Dir            string
	BackendVersion int64  // sharded_backend_version from metadata.json
	CommonBackend  string // common_backend (megatron-core up to 0.18), "" when absent
	HasCommonPT    bool   // common.pt next to .metadata (megatron-core up to 0.18)
	Meta           *Metadata
	Tensors        []*Tensor // every tensor item, sorted by key
	Objects        []Object  // every bytes item, in .metadata order
	Files          []*DataFile

	byKey    map[string]*Tensor
	files    map[string]*DataFile
	manifest *manifest // integrity.json, when present

	mu     sync.Mutex
	closed bool
}

// Tensor is one global tensor of the checkpoint.
type Tensor struct {
	Key    string
	DType  loader.DType // "" when omnitui has no dtype for TName
	TName  string
	Shape  []int64
	Chunks []*Chunk // sorted by offsets
	// Reformulated marks megatron-core 0.15 flattened-range items (distributed
	// optimizer state), whose stored shape is not the tensor's.
	Reformulated bool
	maxLen0      int64 // largest chunk extent along axis 0, for ReadBox's search
}

// Chunk is one stored piece of a global tensor.
type Chunk struct {
	Offsets, Sizes []int64
	File           *DataFile
	Off, Len       int64 // byte range of its torch.save archive in File
	arc            *pt.File
	ref            pt.TensorRef
	span           pt.Span     // where the chunk's bytes lie in its archive
	crcOK          atomic.Bool // the chunk's bytes passed their CRC-32 once
}

// Object is one bytes item (a pickled Megatron ShardedObject: Transformer
// Engine extra state, RNG state, common_state, ...).
type Object struct {
	Key      string
	File     *DataFile
	Off, Len int64
}

// DataFile is one .distcp file.
type DataFile struct {
	Name  string // relative to Dir
	Size  int64
	Items int   // items stored in it
	Bytes int64 // bytes of tensor chunks in it
	data  []byte
	unmap func() error
}

func fileErr(path, key string, kind error, fix, format string, a ...any) error {
	return &loader.FileError{File: path, Tensor: key, Kind: kind, Detail: fmt.Sprintf(format, a...), Fix: fix}
}

// IsTorchDist reports whether dir holds a metadata.json naming torch_dist, or
// a .metadata (an incomplete save that Open explains).
func IsTorchDist(dir string) bool {
	if b, err := loader.ReadRegular(filepath.Join(dir, ConfigName), 1<<20); err == nil {
		var c struct {
			Backend string `json:"sharded_backend"`
		}
		return json.Unmarshal(b, &c) == nil && c.Backend == Backend
	}
	st, err := os.Stat(filepath.Join(dir, MetadataName))
	return err == nil && st.Mode().IsRegular()
}

// Open reads and validates a torch_dist checkpoint directory. It reads the
// metadata and every chunk's archive header, not tensor data.
func Open(dir string) (*Checkpoint, error) {
	c := &Checkpoint{Dir: dir, byKey: map[string]*Tensor{}, files: map[string]*DataFile{}}
	if err := c.readConfig(); err != nil {
		return nil, err
	}
	mpath := filepath.Join(dir, MetadataName)
	data, err := readSmall(mpath, maxMetadata, "the save is incomplete (PyTorch writes .metadata after every .distcp) or the directory is no torch_dist checkpoint: copy the whole checkpoint directory")
	if err != nil {
		return nil, err
	}
	if c.Meta, err = decodeMetadata(mpath, data); err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(dir, CommonName)); err == nil && st.Mode().IsRegular() {
		c.HasCommonPT = true
	}
	if err := c.index(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.checkManifest(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func readSmall(path string, limit int64, fixMissing string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fileErr(path, "", loader.ErrMissingFile, fixMissing, "the file is missing")
		}
		return nil, &loader.FileError{File: path, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the file's permissions", Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fileErr(path, "", loader.ErrUnreadable, "replace it with the file the save wrote", "not a regular file")
	}
	if st.Size() > limit {
		return nil, fileErr(path, "", loader.ErrCorrupt, "restore the file from the original save", "%d bytes is more than the %d a checkpoint's metadata can hold", st.Size(), limit)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, &loader.FileError{File: path, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the disk", Err: err}
	}
	return data, nil
}

// readConfig checks metadata.json: megatron-core writes it last, so its absence
// marks an incomplete save.
func (c *Checkpoint) readConfig() error {
	path := filepath.Join(c.Dir, ConfigName)
	data, err := readSmall(path, 1<<20, "megatron-core writes metadata.json last, so the save is incomplete (or this is no Megatron distributed checkpoint): use a checkpoint whose save finished")
	if err != nil {
		return err
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return &loader.FileError{File: path, Kind: loader.ErrCorrupt, Detail: "not a JSON object: " + err.Error(), Fix: "restore the file from the original save", Err: err}
	}
	var backend string
	if raw, ok := cfg["sharded_backend"]; !ok || json.Unmarshal(raw, &backend) != nil {
		return fileErr(path, "", loader.ErrCorrupt, "restore the file from the original save", "no sharded_backend string")
	}
	if backend != Backend {
		return fileErr(path, "", loader.ErrNotCheckpoint, "omnitui reads torch_dist checkpoints only: re-save with --ckpt-format torch_dist, or convert with megatron-core first",
			"sharded_backend is %s, not %s", quote(backend), Backend)
	}
	if raw, ok := cfg["sharded_backend_version"]; ok {
		if err := json.Unmarshal(raw, &c.BackendVersion); err != nil {
			return fileErr(path, "", loader.ErrCorrupt, "restore the file from the original save", "sharded_backend_version is not a whole number")
		}
	}
	if c.BackendVersion > 1 {
		return fileErr(path, "", loader.ErrNotCheckpoint, "this omnitui knows torch_dist version 1 only: update omnitui", "sharded_backend_version is %d", c.BackendVersion)
	}
	if raw, ok := cfg["common_backend"]; ok {
		_ = json.Unmarshal(raw, &c.CommonBackend)
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", truncate(s, 80)) }

// itemRange is one item of a .distcp file, for the tiling check.
type itemRange struct {
	off, n int64
	key    string
}

func (c *Checkpoint) dataFile(name, key string) (*DataFile, error) {
	if f, ok := c.files[name]; ok {
		return f, nil
	}
	mpath := filepath.Join(c.Dir, MetadataName)
	if name == "" || filepath.IsAbs(name) || strings.ContainsAny(name, `/\`) || name == "." || name == ".." || strings.ContainsRune(name, 0) {
		return nil, fileErr(mpath, key, loader.ErrCorrupt, "restore .metadata from the original save", "the item is stored in %s, which is not a file name inside the checkpoint directory", quote(name))
	}
	path := filepath.Join(c.Dir, name)
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fileErr(path, key, loader.ErrMissingFile, "copy the whole checkpoint directory: every __R_I.distcp file the save wrote is needed", "the file is missing but .metadata stores the item in it")
		}
		return nil, &loader.FileError{File: path, Tensor: key, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the file's permissions", Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, fileErr(path, key, loader.ErrUnreadable, "replace it with the file the save wrote", "not a regular file")
	}
	f := &DataFile{Name: name, Size: st.Size()}
	if f.Size > 0 {
		data, unmap, err := loader.MapFile(path, f.Size)
		if err != nil {
			return nil, err
		}
		f.data, f.unmap = data, unmap
	}
	c.files[name] = f
	c.Files = append(c.Files, f)
	return f, nil
}

// index locates every item, checks the files and the chunk tiling.
func (c *Checkpoint) index() error {
	m := c.Meta
	mpath := filepath.Join(c.Dir, MetadataName)
	ranges := map[*DataFile][]itemRange{}
	used := map[chunkKey]bool{}
	locate := func(key, offs string) (*DataFile, StorageInfo, error) {
		ck := chunkKey{key, offs}
		si, ok := m.Storage[ck]
		if !ok {
			return nil, si, fileErr(mpath, key, loader.ErrCorrupt, "restore .metadata from the original save", "storage_data does not say where the item at offsets [%s] is stored", offs)
		}
		used[ck] = true
		if len(si.Transforms) > 0 {
			return nil, si, fileErr(mpath, key, loader.ErrNotCheckpoint, "save without stream transforms (no compression extensions) to convert with omnitui", "the item is stored through transforms %s, which omnitui does not undo", quote(strings.Join(si.Transforms, ",")))
		}
		f, err := c.dataFile(si.Path, key)
		if err != nil {
			return nil, si, err
		}
		if si.Offset > f.Size || si.Length > f.Size-si.Offset {
			return nil, si, fileErr(filepath.Join(c.Dir, f.Name), key, loader.ErrTruncated, "the file is truncated or from another save: copy the whole checkpoint directory again",
				"the item at offsets [%s] spans bytes [%d, %d) but the file has %d bytes", offs, si.Offset, si.Offset+si.Length, f.Size)
		}
		f.Items++
		ranges[f] = append(ranges[f], itemRange{si.Offset, si.Length, key})
		return f, si, nil
	}
	keys := make([]string, 0, len(m.Tensors))
	for k := range m.Tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tm := m.Tensors[k]
		t := &Tensor{Key: k, DType: tm.DType, TName: tm.TName, Shape: tm.Shape, Reformulated: m.MCore[k]}
		for _, cm := range tm.Chunks {
			ch := &Chunk{Offsets: cm.Offsets, Sizes: cm.Sizes}
			f, si, err := locate(k, offsetsKey(cm.Offsets))
			if err != nil {
				return err
			}
			ch.File, ch.Off, ch.Len = f, si.Offset, si.Length
			f.Bytes += si.Length
			t.Chunks = append(t.Chunks, ch)
		}
		if err := checkTiling(mpath, t); err != nil {
			return err
		}
		for _, ch := range t.Chunks {
			if len(ch.Sizes) > 0 {
				t.maxLen0 = max(t.maxLen0, ch.Sizes[0])
			}
		}
		for _, ch := range t.Chunks {
			if err := c.openChunk(t, ch); err != nil {
				return err
			}
		}
		c.Tensors = append(c.Tensors, t)
		c.byKey[k] = t
	}
	for _, k := range m.Bytes {
		f, si, err := locate(k, "-")
		if err != nil {
			return err
		}
		c.Objects = append(c.Objects, Object{Key: k, File: f, Off: si.Offset, Len: si.Length})
	}
	for ck := range m.Storage {
		if !used[ck] {
			return fileErr(mpath, ck.fqn, loader.ErrCorrupt, "restore .metadata from the original save", "storage_data locates an item at offsets [%s] that state_dict_metadata does not list", ck.offsets)
		}
	}
	// Every .distcp file is written item after item from its start; files
	// whose items overlap, leave holes or trail extra bytes, and .distcp files
	// no item names, come from another save.
	for f, rs := range ranges {
		sort.Slice(rs, func(i, j int) bool { return rs[i].off < rs[j].off })
		var end int64
		for _, r := range rs {
			if r.off < end {
				return fileErr(filepath.Join(c.Dir, f.Name), r.key, loader.ErrCorrupt, "restore .metadata and the .distcp files from one save",
					"the item at bytes [%d, %d) overlaps the previous item, which ends at %d", r.off, r.off+r.n, end)
			}
			if r.off > end {
				return fileErr(filepath.Join(c.Dir, f.Name), r.key, loader.ErrCorrupt, "the .distcp files and .metadata come from different saves: restore the whole directory from one save",
					"bytes [%d, %d) before the item belong to no item of .metadata", end, r.off)
			}
			end = r.off + r.n
		}
		if end != f.Size {
			return fileErr(filepath.Join(c.Dir, f.Name), "", loader.ErrCorrupt, "the .distcp files and .metadata come from different saves: restore the whole directory from one save",
				"the file has %d bytes but the items .metadata stores in it end at %d", f.Size, end)
		}
	}
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return &loader.FileError{File: c.Dir, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the directory's permissions", Err: err}
	}
	var stray []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), dataSuffix) && c.files[e.Name()] == nil {
			stray = append(stray, e.Name())
		}
	}
	if len(stray) > 0 {
		sort.Strings(stray)
		if len(stray) > 5 {
			stray = append(stray[:5], fmt.Sprintf("and %d more", len(stray)-5))
		}
		return fileErr(mpath, "", loader.ErrCorrupt, "files of two saves are mixed in one directory: keep only the files of the save .metadata describes",
			"the directory holds %s, which .metadata does not name", strings.Join(stray, ", "))
	}
	sort.Slice(c.Files, func(i, j int) bool { return c.Files[i].Name < c.Files[j].Name })
	return nil
}

// checkTiling verifies that the chunks of t lie inside its shape and cover
// every element exactly once.
func checkTiling(mpath string, t *Tensor) error {
	bad := func(format string, a ...any) error {
		return fileErr(mpath, t.Key, loader.ErrCorrupt, "restore .metadata from the original save", format, a...)
	}
	total, ok := volume(t.Shape)
	if !ok {
		return bad("the global shape %v is too large", t.Shape)
	}
	if len(t.Chunks) == 0 {
		if total == 0 {
			return nil
		}
		return bad("no chunk is stored for a tensor of shape %v", t.Shape)
	}
	var sum int64
	for _, ch := range t.Chunks {
		if len(ch.Offsets) != len(t.Shape) || len(ch.Sizes) != len(t.Shape) {
			return bad("a chunk has offsets %v and sizes %v for a tensor of %d dimensions", ch.Offsets, ch.Sizes, len(t.Shape))
		}
		for d := range t.Shape {
			if ch.Offsets[d] > t.Shape[d] || ch.Sizes[d] > t.Shape[d]-ch.Offsets[d] {
				return bad("the chunk at offsets %v with sizes %v exceeds the global shape %v", ch.Offsets, ch.Sizes, t.Shape)
			}
		}
		v, _ := volume(ch.Sizes)
		sum += v
		if sum > total {
			return bad("the chunks hold more elements than the global shape %v: they overlap", t.Shape)
		}
	}
	// Overlap: sweep over chunks sorted by offsets; only chunks that start
	// before another's end on axis 0 can intersect it.
	sort.Slice(t.Chunks, func(i, j int) bool { return lessInts(t.Chunks[i].Offsets, t.Chunks[j].Offsets) })
	if len(t.Shape) > 0 {
		for i, a := range t.Chunks {
			if volumeZero(a.Sizes) {
				continue
			}
			end0 := a.Offsets[0] + a.Sizes[0]
			for _, b := range t.Chunks[i+1:] {
				if b.Offsets[0] >= end0 {
					break
				}
				if !volumeZero(b.Sizes) && intersects(a, b) {
					return bad("the chunks at offsets %v (sizes %v) and %v (sizes %v) overlap", a.Offsets, a.Sizes, b.Offsets, b.Sizes)
				}
			}
		}
	}
	if sum != total {
		return bad("the chunks cover %d of the %d elements of the global shape %v: part of the tensor was not saved", sum, total, t.Shape)
	}
	return nil
}

func volume(s []int64) (int64, bool) {
	v := int64(1)
	for _, d := range s {
		if d != 0 && v > math.MaxInt64/d {
			return 0, false
		}
		v *= d
	}
	return v, true
}

func volumeZero(s []int64) bool {
	for _, d := range s {
		if d == 0 {
			return true
		}
	}
	return false
}

func intersects(a, b *Chunk) bool {
	for d := range a.Offsets {
		if a.Offsets[d] >= b.Offsets[d]+b.Sizes[d] || b.Offsets[d] >= a.Offsets[d]+a.Sizes[d] {
			return false
		}
	}
	return true
}

func lessInts(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// openChunk parses the chunk's torch.save archive and checks it against the
// metadata.
func (c *Checkpoint) openChunk(t *Tensor, ch *Chunk) error {
	path := filepath.Join(c.Dir, ch.File.Name)
	fix := "the .distcp file does not hold what .metadata records (files of another save, or damaged): restore the whole directory from one save"
	window := ch.File.data[ch.Off : ch.Off+ch.Len]
	arc, err := pt.OpenReaderAt(fmt.Sprintf("%s bytes [%d, %d)", path, ch.Off, ch.Off+ch.Len), bytes.NewReader(window), ch.Len)
	if err != nil {
		return &loader.FileError{File: path, Tensor: t.Key, Kind: loader.ErrCorrupt, Detail: fmt.Sprintf("the chunk at offsets %v is no torch.save archive: %v", ch.Offsets, err), Fix: fix, Err: err}
	}
	ref, ok := arc.RootTensor()
	if !ok {
		return fileErr(path, t.Key, loader.ErrCorrupt, fix, "the chunk at offsets %v holds no bare tensor", ch.Offsets)
	}
	if ref.DType == "" || ref.DType != t.DType {
		return fileErr(path, t.Key, loader.ErrCorrupt, fix, "the chunk at offsets %v holds %s but .metadata records %s", ch.Offsets, ref.TypeName, t.TName)
	}
	if !equalInts(ref.Shape, ch.Sizes) {
		return fileErr(path, t.Key, loader.ErrCorrupt, fix, "the chunk at offsets %v holds a tensor of shape %v but .metadata records sizes %v", ch.Offsets, ref.Shape, ch.Sizes)
	}
	sp, err := arc.ContiguousSpan(ref)
	if err != nil {
		// The writers save every chunk with its own compact storage; a strided
		// or broadcast view would let a few stored bytes stand for many.
		return &loader.FileError{File: path, Tensor: t.Key, Kind: loader.ErrCorrupt, Detail: fmt.Sprintf("the chunk at offsets %v is not one contiguous run of its archive: %v", ch.Offsets, err), Fix: fix, Err: err}
	}
	ch.arc, ch.ref, ch.span = arc, ref, sp
	return nil
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Tensor returns the tensor item with key k, or nil.
func (c *Checkpoint) Tensor(k string) *Tensor { return c.byKey[k] }

// Close unmaps every file.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, f := range c.files {
		if f.unmap != nil {
			errs = append(errs, f.unmap())
			f.data, f.unmap = nil, nil
		}
	}
	return errors.Join(errs...)
}
