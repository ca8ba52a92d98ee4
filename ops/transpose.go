package ops

import (
	"encoding/binary"
	"fmt"
)

// transposeBlock is the tile edge in elements. A 32×32 tile of 8-byte elements is 8 KiB
// read plus 8 KiB written, well within a 32 KiB L1 data cache; larger tiles measured
// slower on power-of-two row lengths (cache-set conflicts of the strided side).
const transposeBlock = 32

// Transpose2D writes the transpose of src, a [rows, cols] matrix of elem-byte elements,
// into dst as a [cols, rows] matrix: dst element (j, i) = src element (i, j). Both
// buffers must be rows·cols·elem bytes and must not overlap. The copy walks the matrix
// in cache-sized tiles; 2- and 4-byte elements move as 4×4 blocks transposed in
// registers, 1- and 8-byte elements as single words, other sizes with copy.
func Transpose2D(dst, src []byte, rows, cols, elem int) error {
	if rows < 0 || cols < 0 || elem < 1 {
		return fmt.Errorf("ops.Transpose2D: rows=%d cols=%d elem=%d; need rows, cols >= 0 and elem >= 1: %w", rows, cols, elem, ErrArgument)
	}
	n, ok := mulInt(rows, cols, elem)
	if !ok {
		return fmt.Errorf("ops.Transpose2D: %d×%d elements of %d bytes is too large: %w", rows, cols, elem, ErrArgument)
	}
	what := fmt.Sprintf("%d×%d elements of %d bytes", rows, cols, elem)
	if err := checkLen("Transpose2D", "src", len(src), n, what); err != nil {
		return err
	}
	if err := checkLen("Transpose2D", "dst", len(dst), n, what); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if rows == 1 || cols == 1 {
		copy(dst, src) // a vector's transpose has the same bytes
		return nil
	}
	for i0 := 0; i0 < rows; i0 += transposeBlock {
		i1 := min(i0+transposeBlock, rows)
		for j0 := 0; j0 < cols; j0 += transposeBlock {
			j1 := min(j0+transposeBlock, cols)
			switch elem {
			case 1:
				tile1(dst, src, rows, cols, i0, i1, j0, j1)
			case 2:
				tile2(dst, src, rows, cols, i0, i1, j0, j1)
			case 4:
				tile4(dst, src, rows, cols, i0, i1, j0, j1)
			case 8:
				tile8(dst, src, rows, cols, i0, i1, j0, j1)
			default:
				tileN(dst, src, rows, cols, elem, i0, i1, j0, j1)
			}
		}
	}
	return nil
}

// Each tile function copies src rows [i0,i1) × cols [j0,j1) to their transposed places.

func tile1(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	for j := j0; j < j1; j++ {
		d := dst[j*rows+i0 : j*rows+i1]
		s := j + i0*cols
		for k := range d {
			d[k] = src[s]
			s += cols
		}
	}
}

// tile2 moves 4×4 blocks of 2-byte elements through registers: four 8-byte loads of
// src rows, a 16-bit then 32-bit interleave, four 8-byte stores to dst rows. The ragged
// edges of the tile go element by element.
func tile2(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	const lo16 = 0x0000ffff0000ffff
	const lo32 = 0x00000000ffffffff
	i4 := i0 + (i1-i0)&^3
	j4 := j0 + (j1-j0)&^3
	for i := i0; i < i4; i += 4 {
		for j := j0; j < j4; j += 4 {
			s := (i*cols + j) * 2
			a := le.Uint64(src[s:])        // a0 a1 a2 a3 (a0 in the low bits)
			b := le.Uint64(src[s+2*cols:]) // b0 b1 b2 b3
			c := le.Uint64(src[s+4*cols:]) // c0 c1 c2 c3
			e := le.Uint64(src[s+6*cols:]) // d0 d1 d2 d3
			ab02 := a&lo16 | (b&lo16)<<16  // a0 b0 a2 b2
			ab13 := (a>>16)&lo16 | b&^lo16 // a1 b1 a3 b3
			cd02 := c&lo16 | (e&lo16)<<16  // c0 d0 c2 d2
			cd13 := (c>>16)&lo16 | e&^lo16 // c1 d1 c3 d3
			d := (j*rows + i) * 2
			le.PutUint64(dst[d:], ab02&lo32|cd02<<32)         // a0 b0 c0 d0
			le.PutUint64(dst[d+2*rows:], ab13&lo32|cd13<<32)  // a1 b1 c1 d1
			le.PutUint64(dst[d+4*rows:], ab02>>32|cd02&^lo32) // a2 b2 c2 d2
			le.PutUint64(dst[d+6*rows:], ab13>>32|cd13&^lo32) // a3 b3 c3 d3
		}
	}
	edge2(dst, src, rows, cols, i0, i1, j4, j1)
	edge2(dst, src, rows, cols, i4, i1, j0, j4)
}

func edge2(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	for j := j0; j < j1; j++ {
		for i := i0; i < i1; i++ {
			le.PutUint16(dst[(j*rows+i)*2:], le.Uint16(src[(i*cols+j)*2:]))
		}
	}
}

// tile4 moves 4×4 blocks of 4-byte elements through registers (two 8-byte loads per
// src row, 32-bit interleave, two 8-byte stores per dst row), like tile2.
func tile4(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	const lo32 = 0x00000000ffffffff
	i4 := i0 + (i1-i0)&^3
	j4 := j0 + (j1-j0)&^3
	for i := i0; i < i4; i += 4 {
		for j := j0; j < j4; j += 4 {
			s := (i*cols + j) * 4
			a01, a23 := le.Uint64(src[s:]), le.Uint64(src[s+8:])
			b01, b23 := le.Uint64(src[s+4*cols:]), le.Uint64(src[s+4*cols+8:])
			c01, c23 := le.Uint64(src[s+8*cols:]), le.Uint64(src[s+8*cols+8:])
			e01, e23 := le.Uint64(src[s+12*cols:]), le.Uint64(src[s+12*cols+8:])
			d := (j*rows + i) * 4
			le.PutUint64(dst[d:], a01&lo32|b01<<32)   // a0 b0
			le.PutUint64(dst[d+8:], c01&lo32|e01<<32) // c0 d0
			d += 4 * rows
			le.PutUint64(dst[d:], a01>>32|b01&^lo32)   // a1 b1
			le.PutUint64(dst[d+8:], c01>>32|e01&^lo32) // c1 d1
			d += 4 * rows
			le.PutUint64(dst[d:], a23&lo32|b23<<32)
			le.PutUint64(dst[d+8:], c23&lo32|e23<<32)
			d += 4 * rows
			le.PutUint64(dst[d:], a23>>32|b23&^lo32)
			le.PutUint64(dst[d+8:], c23>>32|e23&^lo32)
		}
	}
	edge4(dst, src, rows, cols, i0, i1, j4, j1)
	edge4(dst, src, rows, cols, i4, i1, j0, j4)
}

func edge4(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	for j := j0; j < j1; j++ {
		for i := i0; i < i1; i++ {
			le.PutUint32(dst[(j*rows+i)*4:], le.Uint32(src[(i*cols+j)*4:]))
		}
	}
}

func tile8(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	for j := j0; j < j1; j++ {
		d := dst[(j*rows+i0)*8 : (j*rows+i1)*8]
		s := (j + i0*cols) * 8
		for k := 0; k+7 < len(d); k += 8 {
			le.PutUint64(d[k:], le.Uint64(src[s:]))
			s += cols * 8
		}
	}
}

func tileN(dst, src []byte, rows, cols, elem, i0, i1, j0, j1 int) {
	for j := j0; j < j1; j++ {
		for i := i0; i < i1; i++ {
			s := (i*cols + j) * elem
			d := (j*rows + i) * elem
			copy(dst[d:d+elem], src[s:s+elem])
		}
	}
}
