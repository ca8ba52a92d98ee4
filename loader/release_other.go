//go:build !unix

package loader

// Release is a no-op where memory mappings are not used.
func (c *Checkpoint) Release(i int) {}

// ReleaseRange is a no-op where memory mappings are not used.
func (c *Checkpoint) ReleaseRange(i int, off, n int64) {}
