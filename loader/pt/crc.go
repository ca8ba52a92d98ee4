package pt

// CRC-32 (IEEE, reflected polynomial 0xedb88320) combination, the same
// mathematics as zlib's crc32_combine: the CRC of A||B is computed from crc(A),
// crc(B) and len(B) by multiplying crc(A) with x^(8*len(B)) modulo the CRC
// polynomial in GF(2) and adding crc(B).

const crcPoly = 0xedb88320

// crcMulModP returns a*b modulo the CRC polynomial, in the reflected bit order
// used by CRC-32 (bit 31 is the coefficient of x^0).
func crcMulModP(a, b uint32) uint32 {
	m := uint32(1) << 31
	var p uint32
	for {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		m >>= 1
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcX2nTable[k] is x^(2^k) modulo the CRC polynomial.
var crcX2nTable = func() [32]uint32 {
	var t [32]uint32
	p := uint32(1) << 30 // x^1
	t[0] = p
	for k := 1; k < 32; k++ {
		p = crcMulModP(p, p)
		t[k] = p
	}
	return t
}()

// crcX2nModP returns x^(n*2^k) modulo the CRC polynomial.
func crcX2nModP(n uint64, k uint) uint32 {
	p := uint32(1) << 31 // x^0
	for n != 0 {
		if n&1 != 0 {
			p = crcMulModP(crcX2nTable[k&31], p)
		}
		n >>= 1
		k++
	}
	return p
}

// crc32Combine returns the CRC-32 of the concatenation A||B given crc1 =
// CRC-32(A), crc2 = CRC-32(B) and len2 = len(B) in bytes.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	return crcMulModP(crcX2nModP(uint64(len2), 3), crc1) ^ crc2
}

// crcZeros returns the CRC-32 of n zero bytes without reading them.
func crcZeros(n int64) uint32 {
	var crc uint32
	run, runLen := uint32(crc32ZeroByte), int64(1) // CRC of 2^k zeros
	for n > 0 {
		if n&1 != 0 {
			crc = crc32Combine(crc, run, runLen)
		}
		n >>= 1
		if n > 0 {
			run = crc32Combine(run, run, runLen)
			runLen *= 2
		}
	}
	return crc
}

// crc32ZeroByte is CRC-32 of a single zero byte.
const crc32ZeroByte = 0xd202ef8d
