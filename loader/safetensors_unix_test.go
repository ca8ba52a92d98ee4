//go:build unix

package loader

import (
	"os"
	"path/filepath"
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

func TestReadSafetensorsHeaderNamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a named pipe: %v", err)
	}
	// Opening a pipe for reading would block until a writer comes: the
	// reader must refuse it before opening.
	_, err := ReadSafetensorsHeader(fifo)
	stCheckFileError(t, err, fifo, "", ErrUnreadable, "is a named pipe, not a regular file")
}
