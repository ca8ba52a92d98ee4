//go:build unix

package loader

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// mapFile maps a whole file read-only. The file must still have the size it
// had when its header was read.
func mapFile(path string, size int64) ([]byte, func() error, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	if fi.Size() != size {
		return nil, nil, &FileError{File: path, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("file changed since the checkpoint was opened: it had %d bytes, now %d", size, fi.Size()),
			Fix:    "do not modify checkpoint files while omnitui runs; open the checkpoint again"}
	}
	if size <= 0 || size > math.MaxInt {
		return nil, nil, &FileError{File: path, Kind: ErrUnreadable,
			Detail: fmt.Sprintf("cannot map a file of %d bytes", size), Fix: "use a 64-bit build"}
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, &FileError{File: path, Kind: ErrUnreadable,
			Detail: "memory-mapping failed: " + err.Error(),
			Fix:    "check `ulimit -v` and that the file system supports mmap", Err: err}
	}
	return data, func() error { return unix.Munmap(data) }, nil
}
