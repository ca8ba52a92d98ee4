//go:build !unix

package loader

import "testing"

// stDiskUsage is the disk space a file occupies, -1 when unknown.
func stDiskUsage(t *testing.T, path string) int64 { return -1 }
