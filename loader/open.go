package loader

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// fixNotRegular is what to do about an input path that is not a regular file.
const fixNotRegular = "replace it with the real file (omnitui reads only regular files: a named pipe or device could block forever or never end)"

// notRegular describes a path whose type is not a regular file.
func notRegular(path string, m fs.FileMode) *FileError {
	return &FileError{File: path, Kind: ErrUnreadable,
		Detail: fmt.Sprintf("is %s, not a regular file", fileKind(m)),
		Fix:    fixNotRegular}
}

// OpenRegular opens an input file for reading, refusing anything but a regular
// file (symbolic links are followed). The type is checked before opening, and
// the open itself does not block (O_NONBLOCK), so a named pipe swapped in
// between cannot hang the process either; the opened file is checked again.
// Errors are *FileError values (ErrMissingFile, ErrUnreadable).
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, openError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, nil, openError(path, err)
	}
	fi, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, openError(path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular(path, fi.Mode())
	}
	return f, fi, nil
}

// ReadRegular reads a whole input file that must be a regular file of at most
// limit bytes (see OpenRegular).
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, &FileError{File: path, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("is %d bytes, more than the %d this kind of file can plausibly hold", fi.Size(), limit),
			Fix:    "check that the path names the right file"}
	}
	// Read at most one byte more than the size seen, so a file that grows is noticed.
	data := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, openError(path, err)
		}
		if int64(len(data)) > limit {
			return nil, &FileError{File: path, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("grew past %d bytes while being read", limit), Fix: "do not modify input files while omnitui runs"}
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}
