package pt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// zipEntry is a central directory entry whose data location has been
// resolved through its local header.
type zipEntry struct {
	name      string
	method    uint16
	flags     uint16
	crc       uint32
	compSize  int64
	size      int64
	headerOff int64
	dataOff   int64
}

// maxCentralDir bounds the memory a hostile central directory can claim.
const maxCentralDir = 1 << 30

// readZip parses the central directory of the zip in r (size bytes), including
// ZIP64 end records and extra fields, and resolves every entry's data offset.
// Every offset and size is checked against the file size.
func readZip(r io.ReaderAt, size int64) ([]zipEntry, error) {
	if size < endLen {
		return nil, fmt.Errorf("not a zip archive (only %d bytes; a .pt file is a zip archive): %w", size, errTruncated)
	}
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("reading the first bytes: %w", err)
	}
	if binary.LittleEndian.Uint32(magic[:]) != sigLocal {
		return nil, fmt.Errorf("not a zip archive (does not start with a zip local header; legacy non-zip torch.save files are not supported)")
	}
	// The end record sits in the last 22 + 65535 bytes.
	tail := min(size, endLen+uint16Max)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil {
		return nil, fmt.Errorf("reading the end of the archive: %w", err)
	}
	endAt := -1
	for i := len(buf) - endLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == sigEnd && i+endLen+int(binary.LittleEndian.Uint16(buf[i+20:])) <= len(buf) {
			endAt = i
			break
		}
	}
	if endAt < 0 {
		return nil, fmt.Errorf("no zip end of central directory record (the file is truncated or not a zip archive): %w", errTruncated)
	}
	end := buf[endAt:]
	endOff := size - tail + int64(endAt)
	count := uint64(binary.LittleEndian.Uint16(end[10:]))
	cdSize := uint64(binary.LittleEndian.Uint32(end[12:]))
	cdOff := uint64(binary.LittleEndian.Uint32(end[16:]))
	if disk, cdDisk := binary.LittleEndian.Uint16(end[4:]), binary.LittleEndian.Uint16(end[6:]); disk != 0 || cdDisk != 0 {
		return nil, fmt.Errorf("multi-disk zip archives are not supported")
	}
	limit := endOff // the central directory must end before this
	if endOff >= zip64LocatorLen {
		var loc [zip64LocatorLen]byte
		if _, err := r.ReadAt(loc[:], endOff-zip64LocatorLen); err != nil {
			return nil, fmt.Errorf("reading the zip64 locator: %w", err)
		}
		if binary.LittleEndian.Uint32(loc[:]) == sigZip64Locate {
			z64 := binary.LittleEndian.Uint64(loc[8:])
			if z64 > uint64(endOff-zip64LocatorLen) || uint64(endOff-zip64LocatorLen)-z64 < zip64EndLen {
				return nil, fmt.Errorf("zip64 end record offset %d is out of range: %w", z64, errCorrupt)
			}
			var rec [zip64EndLen]byte
			if _, err := r.ReadAt(rec[:], int64(z64)); err != nil {
				return nil, fmt.Errorf("reading the zip64 end record: %w", err)
			}
			if binary.LittleEndian.Uint32(rec[:]) != sigZip64End {
				return nil, fmt.Errorf("zip64 end record signature missing at offset %d: %w", z64, errCorrupt)
			}
			if binary.LittleEndian.Uint32(loc[16:]) > 1 || binary.LittleEndian.Uint32(rec[16:]) != 0 || binary.LittleEndian.Uint32(rec[20:]) != 0 {
				return nil, fmt.Errorf("multi-disk zip archives are not supported")
			}
			count = binary.LittleEndian.Uint64(rec[32:])
			cdSize = binary.LittleEndian.Uint64(rec[40:])
			cdOff = binary.LittleEndian.Uint64(rec[48:])
			limit = int64(z64)
		}
	}
	if cdOff > uint64(limit) || cdSize > uint64(limit)-cdOff {
		return nil, fmt.Errorf("central directory [%d, +%d) lies outside the file: %w", cdOff, cdSize, errTruncated)
	}
	if cdSize > maxCentralDir {
		return nil, fmt.Errorf("central directory of %d bytes is implausibly large: %w", cdSize, errCorrupt)
	}
	if count > cdSize/centralHeaderLen {
		return nil, fmt.Errorf("central directory claims %d entries but has room for %d: %w", count, cdSize/centralHeaderLen, errCorrupt)
	}
	cd := make([]byte, cdSize)
	if _, err := r.ReadAt(cd, int64(cdOff)); err != nil {
		return nil, fmt.Errorf("reading the central directory: %w", err)
	}
	entries := make([]zipEntry, 0, count)
	p := cd
	for i := uint64(0); i < count; i++ {
		if len(p) < centralHeaderLen || binary.LittleEndian.Uint32(p) != sigCentral {
			return nil, fmt.Errorf("central directory entry %d is malformed: %w", i, errCorrupt)
		}
		e := zipEntry{
			flags:     binary.LittleEndian.Uint16(p[8:]),
			method:    binary.LittleEndian.Uint16(p[10:]),
			crc:       binary.LittleEndian.Uint32(p[16:]),
			compSize:  int64(binary.LittleEndian.Uint32(p[20:])),
			size:      int64(binary.LittleEndian.Uint32(p[24:])),
			headerOff: int64(binary.LittleEndian.Uint32(p[42:])),
		}
		nameLen := int(binary.LittleEndian.Uint16(p[28:]))
		extraLen := int(binary.LittleEndian.Uint16(p[30:]))
		commentLen := int(binary.LittleEndian.Uint16(p[32:]))
		total := centralHeaderLen + nameLen + extraLen + commentLen
		if total > len(p) {
			return nil, fmt.Errorf("central directory entry %d runs past the directory: %w", i, errCorrupt)
		}
		e.name = string(p[centralHeaderLen : centralHeaderLen+nameLen])
		extra := p[centralHeaderLen+nameLen : centralHeaderLen+nameLen+extraLen]
		if err := applyZip64Extra(&e, extra); err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.name, err)
		}
		p = p[total:]
		if e.flags&flagEncrypted != 0 {
			return nil, fmt.Errorf("entry %q is encrypted, which .pt files never are: %w", e.name, errCorrupt)
		}
		if e.compSize < 0 || e.size < 0 || e.headerOff < 0 || e.headerOff > int64(cdOff) {
			return nil, fmt.Errorf("entry %q has an out-of-range offset or size: %w", e.name, errCorrupt)
		}
		var lh [localHeaderLen]byte
		if e.headerOff+localHeaderLen > int64(cdOff) {
			return nil, fmt.Errorf("entry %q: local header at %d lies outside the data area: %w", e.name, e.headerOff, errTruncated)
		}
		if _, err := r.ReadAt(lh[:], e.headerOff); err != nil {
			return nil, fmt.Errorf("entry %q: reading its local header: %w", e.name, err)
		}
		if binary.LittleEndian.Uint32(lh[:]) != sigLocal {
			return nil, fmt.Errorf("entry %q: no local header at offset %d: %w", e.name, e.headerOff, errCorrupt)
		}
		e.dataOff = e.headerOff + localHeaderLen + int64(binary.LittleEndian.Uint16(lh[26:])) + int64(binary.LittleEndian.Uint16(lh[28:]))
		if e.dataOff > int64(cdOff) {
			return nil, fmt.Errorf("entry %q: local header at %d runs past the data area: %w", e.name, e.headerOff, errTruncated)
		}
		if err := checkLocal(r, &e, lh[:]); err != nil {
			return nil, fmt.Errorf("entry %q: %w: %w", e.name, err, errTampered)
		}
		if e.dataOff > int64(cdOff) || e.compSize > int64(cdOff)-e.dataOff {
			return nil, fmt.Errorf("entry %q: data [%d, +%d) runs past the end of the data area at %d: %w", e.name, e.dataOff, e.compSize, cdOff, errTruncated)
		}
		if e.method == methodStore && e.compSize != e.size {
			return nil, fmt.Errorf("entry %q is stored but its sizes differ (%d vs %d): %w", e.name, e.compSize, e.size, errCorrupt)
		}
		entries = append(entries, e)
	}
	if err := checkLayout(entries); err != nil {
		return nil, fmt.Errorf("%w: %w", err, errTampered)
	}
	return entries, nil
}

// errTampered explains what an inconsistent zip directory means for a checkpoint.
var errTampered = errors.New("the archive's directory is inconsistent, so different readers would see different contents (a damaged or tampered file); restore this file from the original checkpoint or convert again; do not use --take-rank0 to get past it")

// checkLocal compares an entry's local header (fixed part in lh) with its
// central directory entry: name, compression method, encryption and, unless a
// data descriptor carries them, CRC and sizes. torch.save (miniz) writes a data
// descriptor with zeros in the local header; other writers put the values there.
func checkLocal(r io.ReaderAt, e *zipEntry, lh []byte) error {
	nameLen := int(binary.LittleEndian.Uint16(lh[26:]))
	extraLen := int(binary.LittleEndian.Uint16(lh[28:]))
	var buf []byte
	if nameLen+extraLen > 0 {
		buf = make([]byte, nameLen+extraLen)
		if _, err := r.ReadAt(buf, e.headerOff+localHeaderLen); err != nil {
			return fmt.Errorf("reading its local header: %w", err)
		}
	}
	if name := string(buf[:nameLen]); name != e.name {
		return fmt.Errorf("the central directory names it %q but its local header at offset %d names %.200q", e.name, e.headerOff, name)
	}
	flags := binary.LittleEndian.Uint16(lh[6:])
	if method := binary.LittleEndian.Uint16(lh[8:]); method != e.method {
		return fmt.Errorf("compression method %d in the local header, %d in the central directory", method, e.method)
	}
	if flags&flagEncrypted != 0 {
		return fmt.Errorf("the local header marks it encrypted, which .pt files never are")
	}
	crc := binary.LittleEndian.Uint32(lh[14:])
	comp := int64(binary.LittleEndian.Uint32(lh[18:]))
	size := int64(binary.LittleEndian.Uint32(lh[22:]))
	if comp == uint32Max || size == uint32Max {
		c, s, ok := localZip64(buf[nameLen:], size == uint32Max, comp == uint32Max)
		if !ok {
			return fmt.Errorf("local header sizes are saturated but it has no zip64 extra field")
		}
		if size == uint32Max {
			size = s
		}
		if comp == uint32Max {
			comp = c
		}
	}
	if (flags|e.flags)&flagDataDescr != 0 && crc == 0 && comp == 0 && size == 0 {
		return nil // the values follow the data in a data descriptor
	}
	if crc != e.crc || comp != e.compSize || size != e.size {
		return fmt.Errorf("its local header says %d bytes (%d stored, CRC %08x) but the central directory says %d bytes (%d stored, CRC %08x)",
			size, comp, crc, e.size, e.compSize, e.crc)
	}
	return nil
}

// localZip64 reads the sizes of a local header's zip64 extra field, which holds
// the uncompressed then the compressed size, each only when saturated.
func localZip64(extra []byte, wantSize, wantComp bool) (comp, size int64, ok bool) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			return 0, 0, false
		}
		field := extra[4 : 4+n]
		extra = extra[4+n:]
		if id != zip64ExtraID {
			continue
		}
		next := func() (int64, bool) {
			if len(field) < 8 {
				return 0, false
			}
			v := binary.LittleEndian.Uint64(field)
			field = field[8:]
			return int64(v), v <= 1<<62
		}
		if wantSize {
			if size, ok = next(); !ok {
				return 0, 0, false
			}
		}
		if wantComp {
			if comp, ok = next(); !ok {
				return 0, 0, false
			}
		}
		return comp, size, true
	}
	return 0, 0, false
}

// checkLayout refuses duplicate names and entries whose bytes (local header and
// data) overlap or are shared: each record must own its bytes, as in every
// archive torch.save writes.
func checkLayout(entries []zipEntry) error {
	byName := make(map[string]int, len(entries))
	for i := range entries {
		if j, dup := byName[entries[i].name]; dup {
			return fmt.Errorf("entry %q appears twice in the central directory (at offsets %d and %d)", entries[i].name, entries[j].headerOff, entries[i].headerOff)
		}
		byName[entries[i].name] = i
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return entries[order[a]].headerOff < entries[order[b]].headerOff })
	for k := 1; k < len(order); k++ {
		prev, cur := &entries[order[k-1]], &entries[order[k]]
		if end := prev.dataOff + prev.compSize; cur.headerOff < end {
			if cur.headerOff == prev.headerOff {
				return fmt.Errorf("entries %q and %q share the same bytes (both at offset %d)", prev.name, cur.name, cur.headerOff)
			}
			return fmt.Errorf("entries %q [%d, %d) and %q [%d, %d) overlap", prev.name, prev.headerOff, end, cur.name, cur.headerOff, cur.dataOff+cur.compSize)
		}
	}
	return nil
}

// applyZip64Extra replaces saturated fields of e with the values from its
// ZIP64 extended information field.
func applyZip64Extra(e *zipEntry, extra []byte) error {
	need := e.size == uint32Max || e.compSize == uint32Max || e.headerOff == uint32Max
	if !need {
		return nil
	}
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			break
		}
		field := extra[4 : 4+n]
		extra = extra[4+n:]
		if id != zip64ExtraID {
			continue
		}
		next := func(v *int64) error {
			if *v != uint32Max {
				return nil
			}
			if len(field) < 8 {
				return fmt.Errorf("zip64 extra field is too short: %w", errCorrupt)
			}
			u := binary.LittleEndian.Uint64(field)
			if u > 1<<62 {
				return fmt.Errorf("zip64 value %d is out of range: %w", u, errCorrupt)
			}
			*v = int64(u)
			field = field[8:]
			return nil
		}
		for _, v := range []*int64{&e.size, &e.compSize, &e.headerOff} {
			if err := next(v); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("sizes or offset are saturated but there is no zip64 extra field: %w", errCorrupt)
}
