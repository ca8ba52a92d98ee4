package loader

import (
	"errors"
	"fmt"
	"sync"
)

// shardMap is the lazily created read-only mapping of one shard file.
type shardMap struct {
	mu     sync.Mutex
	data   []byte
	unmap  func() error
	closed bool
}

// TensorData returns the bytes of tensor i as a view into a read-only memory
// mapping of its shard; the shard is mapped on first use. The slice must not
// be written to, and it is invalid once Close has been called. A tensor with
// no elements yields an empty slice. Safe for concurrent use.
func (c *Checkpoint) TensorData(i int) ([]byte, error) {
	if i < 0 || i >= len(c.Tensors) {
		return nil, fmt.Errorf("tensor index %d out of range: the checkpoint has %d tensors", i, len(c.Tensors))
	}
	t := &c.Tensors[i]
	if t.Shard < 0 || t.Shard >= len(c.Shards) {
		return nil, fmt.Errorf("tensor %s refers to shard %d, but the checkpoint has %d shards; the Checkpoint was built inconsistently",
			quote(t.Name), t.Shard, len(c.Shards))
	}
	sm, err := c.shardMapping(t.Shard)
	if err != nil {
		return nil, err
	}
	if t.Size == 0 {
		return []byte{}, nil
	}
	sh := &c.Shards[t.Shard]
	data, err := sm.get(sh)
	if err != nil {
		return nil, err
	}
	if t.Offset < 0 || t.Size < 0 || t.Offset > int64(len(data)) || t.Size > int64(len(data))-t.Offset {
		return nil, &FileError{File: sh.Path, Tensor: t.Name, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("data range [%d, %d) lies outside the %d-byte file", t.Offset, t.Offset+t.Size, len(data)),
			Fix:    "reopen the checkpoint; if it persists, re-download the shard"}
	}
	return data[t.Offset : t.Offset+t.Size : t.Offset+t.Size], nil
}

func (c *Checkpoint) shardMapping(s int) (*shardMap, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("read tensor data of %s: %w; open it again", c.Dir, ErrClosed)
	}
	if len(c.maps) != len(c.Shards) {
		maps := make([]*shardMap, len(c.Shards))
		copy(maps, c.maps)
		c.maps = maps
	}
	if c.maps[s] == nil {
		c.maps[s] = &shardMap{}
	}
	return c.maps[s], nil
}

func (m *shardMap) get(sh *Shard) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("read %s: %w; open it again", sh.Path, ErrClosed)
	}
	if m.data == nil {
		data, unmap, err := mapFile(sh.Path, sh.Size)
		if err != nil {
			return nil, err
		}
		m.data, m.unmap = data, unmap
	}
	return m.data, nil
}

// Close unmaps every mapped shard and runs registered closers. Slices
// returned by TensorData must not be used afterwards. Closing twice is a no-op.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, m := range c.maps {
		if m == nil {
			continue
		}
		m.mu.Lock()
		if m.unmap != nil {
			if err := m.unmap(); err != nil {
				errs = append(errs, err)
			}
		}
		m.data, m.unmap, m.closed = nil, nil, true
		m.mu.Unlock()
	}
	for _, f := range c.closers {
		if err := f(); err != nil {
			errs = append(errs, err)
		}
	}
	c.closers = nil
	return errors.Join(errs...)
}

// ShardOf returns the shard holding tensor i (nil when i is out of range).
func (c *Checkpoint) ShardOf(i int) *Shard {
	if i < 0 || i >= len(c.Tensors) {
		return nil
	}
	s := c.Tensors[i].Shard
	if s < 0 || s >= len(c.Shards) {
		return nil
	}
	return &c.Shards[s]
}

// TotalBytes is the sum of the tensor data sizes (headers excluded).
func (c *Checkpoint) TotalBytes() int64 {
	var n int64
	for i := range c.Tensors {
		n += c.Tensors[i].Size
	}
	return n
}

// TotalParams is the number of elements of all tensors.
func (c *Checkpoint) TotalParams() int64 {
	var n int64
	for i := range c.Tensors {
		n += c.Tensors[i].NumEl()
	}
	return n
}
