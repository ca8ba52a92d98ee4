package pt

import "encoding/binary"

// Zip format constants (APPNOTE.TXT). Only the subset torch.save uses is
// written: stored (uncompressed) entries, UTF-8 names, ZIP64 where needed.
const (
	sigLocal       = 0x04034b50
	sigCentral     = 0x02014b50
	sigEnd         = 0x06054b50
	sigZip64End    = 0x06064b50
	sigZip64Locate = 0x07064b50
	sigDescriptor  = 0x08074b50

	localHeaderLen    = 30
	centralHeaderLen  = 46
	endLen            = 22
	zip64EndLen       = 56
	zip64LocatorLen   = 20
	zip64ExtraID      = 0x0001
	paddingExtraID    = 0x4246 // "FB", the id PyTorch's writer uses for its alignment padding
	flagUTF8          = 0x0800
	flagDataDescr     = 0x0008
	flagEncrypted     = 0x0001
	methodStore       = 0
	methodDeflate     = 8
	versionDefault    = 20
	versionZip64      = 45
	dosDate1980Jan1   = 0x0021
	uint32Max         = 0xffffffff
	uint16Max         = 0xffff
	recordAlignment   = 64 // torch aligns every record's data to 64 bytes
	defaultZip64Limit = uint32Max
)

// le is a little-endian byte appender.
type le []byte

func (b le) u16(v uint16) le { return binary.LittleEndian.AppendUint16(b, v) }
func (b le) u32(v uint32) le { return binary.LittleEndian.AppendUint32(b, v) }
func (b le) u64(v uint64) le { return binary.LittleEndian.AppendUint64(b, v) }

// zipRecord is one entry of a precomputed archive layout.
type zipRecord struct {
	name       string // full name inside the zip, including "<archive>/"
	headerOff  int64  // offset of the local file header
	dataOff    int64  // offset of the first data byte (aligned to recordAlignment)
	size       int64  // stored size == uncompressed size
	zip64Sizes bool   // sizes are carried in a ZIP64 extra field
	zip64Off   bool   // the local header offset is carried in the central ZIP64 extra field
	localExtra int    // total length of the local header's extra fields
	crc        uint32 // CRC-32 of the data, known at the latest when the writer closes
}

// zipLayout is the position of everything in an archive whose record sizes are
// known in advance.
type zipLayout struct {
	records   []zipRecord
	cdOff     int64 // central directory offset
	cdSize    int64
	totalSize int64 // size of the whole file
	limit     uint64
}

// planLayout places records back to back, each with its data aligned to 64
// bytes through a padding extra field as PyTorch's writer does. Any field whose
// value is >= limit is moved to ZIP64 records (limit is 0xffffffff except in
// tests, which lower it to exercise ZIP64 on small files).
func planLayout(names []string, sizes []int64, limit uint64) zipLayout {
	l := zipLayout{records: make([]zipRecord, len(names)), limit: limit}
	var cur int64
	for i, name := range names {
		r := zipRecord{name: name, headerOff: cur, size: sizes[i]}
		r.zip64Sizes = uint64(r.size) >= limit
		r.zip64Off = uint64(r.headerOff) >= limit
		start := cur + localHeaderLen + int64(len(name)) + 4 // 4: padding field header
		if r.zip64Sizes {
			start += 4 + 16
			r.localExtra += 4 + 16
		}
		pad := (recordAlignment - start%recordAlignment) % recordAlignment
		r.localExtra += 4 + int(pad)
		r.dataOff = start + pad
		cur = r.dataOff + r.size
		l.records[i] = r
	}
	l.cdOff = cur
	for i := range l.records {
		l.cdSize += int64(centralHeaderLen + len(l.records[i].name) + l.records[i].centralExtraLen())
	}
	l.totalSize = l.cdOff + l.cdSize + zip64EndLen + zip64LocatorLen + endLen
	return l
}

func (r *zipRecord) centralExtraLen() int {
	n := 0
	if r.zip64Sizes {
		n += 16
	}
	if r.zip64Off {
		n += 8
	}
	if n == 0 {
		return 0
	}
	return 4 + n
}

func (r *zipRecord) versionNeeded() uint16 {
	if r.zip64Sizes || r.zip64Off {
		return versionZip64
	}
	return versionDefault
}

func clamp32(v int64, zip64 bool) uint32 {
	if zip64 {
		return uint32Max
	}
	return uint32(v)
}

// localHeader encodes r's local file header including its extra fields; its
// length is exactly r.dataOff - r.headerOff.
func (r *zipRecord) localHeader() []byte {
	b := make(le, 0, r.dataOff-r.headerOff)
	b = b.u32(sigLocal).u16(r.versionNeeded()).u16(flagUTF8).u16(methodStore).
		u16(0).u16(dosDate1980Jan1).u32(r.crc).
		u32(clamp32(r.size, r.zip64Sizes)).u32(clamp32(r.size, r.zip64Sizes)).
		u16(uint16(len(r.name))).u16(uint16(r.localExtra))
	b = append(b, r.name...)
	if r.zip64Sizes {
		b = b.u16(zip64ExtraID).u16(16).u64(uint64(r.size)).u64(uint64(r.size))
	}
	pad := int(r.dataOff-r.headerOff) - len(b) - 4
	b = b.u16(paddingExtraID).u16(uint16(pad))
	for i := 0; i < pad; i++ {
		b = append(b, 'Z')
	}
	return b
}

// appendCentral appends r's central directory header.
func (r *zipRecord) appendCentral(b le) le {
	b = b.u32(sigCentral).u16(r.versionNeeded()).u16(r.versionNeeded()).u16(flagUTF8).u16(methodStore).
		u16(0).u16(dosDate1980Jan1).u32(r.crc).
		u32(clamp32(r.size, r.zip64Sizes)).u32(clamp32(r.size, r.zip64Sizes)).
		u16(uint16(len(r.name))).u16(uint16(r.centralExtraLen())).u16(0). // comment length
		u16(0).u16(0).u32(0).                                             // disk number, internal and external attributes
		u32(clamp32(r.headerOff, r.zip64Off))
	b = append(b, r.name...)
	if n := r.centralExtraLen(); n > 0 {
		b = b.u16(zip64ExtraID).u16(uint16(n - 4))
		if r.zip64Sizes {
			b = b.u64(uint64(r.size)).u64(uint64(r.size))
		}
		if r.zip64Off {
			b = b.u64(uint64(r.headerOff))
		}
	}
	return b
}

// trailer encodes the central directory and the end records. Like PyTorch's
// writer (miniz in ZIP64 mode) it always writes the ZIP64 end of central
// directory record and locator, and saturates the classic end record's fields
// when they do not fit.
func (l *zipLayout) trailer() []byte {
	b := make(le, 0, l.totalSize-l.cdOff)
	for i := range l.records {
		b = l.records[i].appendCentral(b)
	}
	n := uint64(len(l.records))
	z64 := l.cdOff + l.cdSize
	b = b.u32(sigZip64End).u64(zip64EndLen - 12).u16(versionZip64).u16(versionZip64).
		u32(0).u32(0).u64(n).u64(n).u64(uint64(l.cdSize)).u64(uint64(l.cdOff))
	b = b.u32(sigZip64Locate).u32(0).u64(uint64(z64)).u32(1)
	entries := uint16(uint16Max)
	if n < uint16Max && n < l.limit {
		entries = uint16(n)
	}
	b = b.u32(sigEnd).u16(0).u16(0).u16(entries).u16(entries).
		u32(clamp32(l.cdSize, uint64(l.cdSize) >= l.limit)).
		u32(clamp32(l.cdOff, uint64(l.cdOff) >= l.limit)).u16(0)
	return b
}
