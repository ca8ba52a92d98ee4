//go:build unix

package loader

import (
	"os"
	"syscall"
	"testing"
)

// stDiskUsage is the disk space a file occupies, -1 when unknown.
func stDiskUsage(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1
	}
	return int64(st.Blocks) * 512
}
