//go:build !unix

package loader

import (
	"fmt"
	"os"
)

// mapFile falls back to reading the whole file on platforms without mmap.
func mapFile(path string, size int64) ([]byte, func() error, error) {
	data, err := ReadRegular(path, size)
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) != size {
		return nil, nil, &FileError{File: path, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("file changed since the checkpoint was opened: it had %d bytes, now %d", size, len(data)),
			Fix:    "do not modify checkpoint files while omnitui runs; open the checkpoint again"}
	}
	return data, func() error { return nil }, nil
}
