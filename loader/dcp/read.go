package dcp

import (
	"fmt"
	"hash/crc32"
	"path/filepath"
	"sort"

	"github.com/omnitui/omnitui/loader"
)

// maxBox bounds one read: a box is a single Megatron tensor at TP = 1, far
// below this.
const maxBox = 1 << 36

// ReadBox returns the row-major bytes of the box [off, off+size) of global
// tensor key, assembled from every chunk it intersects. Chunk bytes are copied
// once, from the memory-mapped .distcp files into the result.
func (c *Checkpoint) ReadBox(key string, off, size []int64) ([]byte, error) {
	t := c.byKey[key]
	if t == nil {
		return nil, fmt.Errorf("dcp: %s: no tensor %q in the checkpoint", c.Dir, key)
	}
	return c.readBox(t, off, size)
}

func (c *Checkpoint) readBox(t *Tensor, off, size []int64) ([]byte, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("dcp: %s: %w", c.Dir, loader.ErrClosed)
	}
	if len(off) != len(t.Shape) || len(size) != len(t.Shape) {
		return nil, fmt.Errorf("dcp: %s: box %v+%v does not match the %d dimensions of %s", c.Dir, off, size, len(t.Shape), t.Key)
	}
	for d := range off {
		if off[d] < 0 || size[d] < 0 || off[d] > t.Shape[d] || size[d] > t.Shape[d]-off[d] {
			return nil, fmt.Errorf("dcp: %s: box %v+%v is outside %s of shape %v", c.Dir, off, size, t.Key, t.Shape)
		}
	}
	esize := int64(t.DType.Size())
	if esize == 0 {
		return nil, fmt.Errorf("dcp: %s: %s has dtype %s, which omnitui cannot convert", c.Dir, t.Key, t.TName)
	}
	n, ok := volume(size)
	if !ok || n > maxBox/esize {
		return nil, fmt.Errorf("dcp: %s: box %v of %s is too large to read at once", c.Dir, size, t.Key)
	}
	out := make([]byte, n*esize)
	if n == 0 {
		return out, nil
	}
	// Chunks are sorted by offsets, so only those starting before the box
	// ends on axis 0 can intersect it; the first candidate is found by
	// binary search on the largest chunk extent along axis 0.
	start := 0
	if len(off) > 0 {
		lo := off[0] - t.maxLen0
		start = sort.Search(len(t.Chunks), func(i int) bool { return t.Chunks[i].Offsets[0] > lo })
	}
	var covered int64
	for _, ch := range t.Chunks[start:] {
		if len(off) > 0 && ch.Offsets[0] >= off[0]+size[0] {
			break
		}
		k, err := c.copyChunk(t, ch, off, size, out, esize)
		if err != nil {
			return nil, err
		}
		covered += k
	}
	if covered != n {
		// Open checked the tiling; this would mean the index changed.
		return nil, fmt.Errorf("dcp: %s: the chunks of %s cover %d of the %d elements of box %v+%v", c.Dir, t.Key, covered, n, off, size)
	}
	return out, nil
}

// copyChunk copies the intersection of chunk ch with the box into out and
// returns how many elements it copied.
func (c *Checkpoint) copyChunk(t *Tensor, ch *Chunk, off, size []int64, out []byte, esize int64) (int64, error) {
	rank := len(off)
	lo := make([]int64, rank)
	hi := make([]int64, rank)
	for d := 0; d < rank; d++ {
		lo[d] = max(off[d], ch.Offsets[d])
		hi[d] = min(off[d]+size[d], ch.Offsets[d]+ch.Sizes[d])
		if lo[d] >= hi[d] {
			return 0, nil
		}
	}
	src, err := c.chunkBytes(t, ch)
	if err != nil {
		return 0, err
	}
	if rank == 0 {
		copy(out, src)
		return 1, nil
	}
	// Row-major strides of the chunk and the box, in elements.
	cs := make([]int64, rank)
	bs := make([]int64, rank)
	cs[rank-1], bs[rank-1] = 1, 1
	for d := rank - 2; d >= 0; d-- {
		cs[d] = cs[d+1] * ch.Sizes[d+1]
		bs[d] = bs[d+1] * size[d+1]
	}
	run := (hi[rank-1] - lo[rank-1]) * esize
	idx := append([]int64(nil), lo...)
	var copied int64
	for {
		var so, do int64
		for d := 0; d < rank; d++ {
			so += (idx[d] - ch.Offsets[d]) * cs[d]
			do += (idx[d] - off[d]) * bs[d]
		}
		copy(out[do*esize:do*esize+run], src[so*esize:so*esize+run])
		copied += run / esize
		d := rank - 2
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < hi[d] {
				break
			}
			idx[d] = lo[d]
		}
		if d < 0 {
			return copied, nil
		}
	}
}

// chunkBytes returns the chunk's row-major bytes: a slice of the mapped file
// (Open checked that the archive stores them in one run).
func (c *Checkpoint) chunkBytes(t *Tensor, ch *Chunk) ([]byte, error) {
	path := filepath.Join(c.Dir, ch.File.Name)
	window := ch.File.data[ch.Off : ch.Off+ch.Len]
	b := window[ch.span.Off : ch.span.Off+ch.span.Len]
	if ch.span.WholeRecord && !ch.crcOK.Load() {
		if got := crc32.ChecksumIEEE(b); got != ch.span.CRC {
			return nil, fileErr(path, t.Key, loader.ErrCorrupt, "the file is damaged: restore it from the original save",
				"the chunk at offsets %v fails its CRC-32 (stored %08x, computed %08x)", ch.Offsets, ch.span.CRC, got)
		}
		ch.crcOK.Store(true)
	}
	return b, nil
}
