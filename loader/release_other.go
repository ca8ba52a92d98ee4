//go:build !unix

package loader

// Release is a no-op where memory mappings are not used.
func (c *Checkpoint) Release(i int) {}
