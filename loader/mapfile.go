package loader

// MapFile maps a whole file read-only (where the platform supports it; it
// reads the file into memory elsewhere). size must be the file's current size;
// a file that changed since is refused. The returned function unmaps it.
func MapFile(path string, size int64) ([]byte, func() error, error) {
	return mapFile(path, size)
}
