//go:build unix

package loader

import (
	"os"

	"golang.org/x/sys/unix"
)

var pageSize = int64(os.Getpagesize())

// Release tells the kernel this process is done with tensor i's bytes for now: the whole
// memory pages of its range are dropped from the process (they stay in the page cache, and
// a later TensorData access faults them back in). A conversion calls it after each op so
// that its resident memory stays flat however large the checkpoint is.
func (c *Checkpoint) Release(i int) {
	if i < 0 || i >= len(c.Tensors) {
		return
	}
	c.ReleaseRange(i, 0, c.Tensors[i].Size)
}

// ReleaseRange is Release for bytes [off, off+n) of tensor i only: the whole pages inside
// that range are dropped. Streaming a large tensor piece by piece and releasing each piece
// keeps resident memory at the size of a piece, not of the tensor.
func (c *Checkpoint) ReleaseRange(i int, off, n int64) {
	if i < 0 || i >= len(c.Tensors) {
		return
	}
	t := &c.Tensors[i]
	if t.Size == 0 || t.Shard < 0 || t.Shard >= len(c.Shards) || off < 0 || n <= 0 || off > t.Size || n > t.Size-off {
		return
	}
	c.mu.Lock()
	var m *shardMap
	if t.Shard < len(c.maps) {
		m = c.maps[t.Shard]
	}
	c.mu.Unlock()
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil || m.closed {
		return
	}
	a := (t.Offset + off + pageSize - 1) / pageSize * pageSize
	z := (t.Offset + off + n) / pageSize * pageSize
	if z <= a || z > int64(len(m.data)) {
		return
	}
	_ = unix.Madvise(m.data[a:z], unix.MADV_DONTNEED)
}
