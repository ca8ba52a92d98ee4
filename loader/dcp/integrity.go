package dcp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/omnitui/omnitui/loader"
)

// IntegrityName is megatron-core's optional manifest (save_integrity_manifest,
// 0.18+): the SHA-256 of every other file of the directory.
const IntegrityName = "integrity.json"

type manifest struct {
	Algorithm string            `json:"algorithm"`
	Files     map[string]string `json:"files"`
}

// checkManifest compares integrity.json's file list with the files the
// metadata names (cheap: no hashing). Files of another save, or a file
// missing from the save, disagree with it.
func (c *Checkpoint) checkManifest() error {
	path := filepath.Join(c.Dir, IntegrityName)
	b, err := loader.ReadRegular(path, 64<<20)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &loader.FileError{File: path, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the file's permissions", Err: err}
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Files == nil {
		return fileErr(path, "", loader.ErrCorrupt, "restore it from the original save, or remove it", "not an integrity manifest")
	}
	c.manifest = &m
	need := []string{MetadataName, ConfigName}
	for _, f := range c.Files {
		need = append(need, f.Name)
	}
	for _, n := range need {
		if _, ok := m.Files[n]; !ok {
			return fileErr(path, "", loader.ErrCorrupt, "files of two saves are mixed in one directory: restore the whole directory from one save",
				"the manifest does not list %s, which the checkpoint uses", quote(n))
		}
	}
	var gone []string
	for n := range m.Files {
		if _, err := os.Stat(filepath.Join(c.Dir, n)); err != nil {
			gone = append(gone, n)
		}
	}
	if len(gone) > 0 {
		sort.Strings(gone)
		return fileErr(path, "", loader.ErrMissingFile, "copy the whole checkpoint directory", "the manifest lists %s, which is missing", quote(gone[0]))
	}
	return nil
}

// VerifyIntegrity hashes every file integrity.json lists and compares; it
// reads the whole checkpoint once. It reports false when there is no
// manifest.
func (c *Checkpoint) VerifyIntegrity() (bool, error) {
	if c.manifest == nil {
		return false, nil
	}
	if c.manifest.Algorithm != "" && c.manifest.Algorithm != "sha256" {
		return false, fileErr(filepath.Join(c.Dir, IntegrityName), "", loader.ErrCorrupt, "verify it with the tool that wrote it", "hash algorithm %s is not sha256", quote(c.manifest.Algorithm))
	}
	names := make([]string, 0, len(c.manifest.Files))
	for n := range c.manifest.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(c.Dir, n)
		f, err := os.Open(path)
		if err != nil {
			return true, &loader.FileError{File: path, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "copy the whole checkpoint directory", Err: err}
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return true, &loader.FileError{File: path, Kind: loader.ErrUnreadable, Detail: err.Error(), Fix: "check the disk", Err: err}
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != c.manifest.Files[n] {
			return true, fileErr(path, "", loader.ErrCorrupt, "the file is damaged or from another save: restore it from the original save",
				"SHA-256 %s… differs from the %s… integrity.json records", got[:16], truncate(c.manifest.Files[n], 16))
		}
	}
	return true, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s[:])
}
