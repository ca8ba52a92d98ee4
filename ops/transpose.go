package ops

import (
	"encoding/binary"
	"fmt"
)

// transposeBlock is the tile edge in elements. A 64×64 tile of 4-byte elements is 16 KiB
// read plus 16 KiB written, which stays within a typical 32–48 KiB L1 data cache.
const transposeBlock = 64

// Transpose2D writes the transpose of src, a [rows, cols] matrix of elem-byte elements,
// into dst as a [cols, rows] matrix: dst element (j, i) = src element (i, j). Both
// buffers must be rows·cols·elem bytes and must not overlap. The copy walks the matrix
// in cache-sized tiles and moves 1-, 2-, 4- and 8-byte elements as single words.
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

// Each tile function copies src rows [i0,i1) × cols [j0,j1) to their transposed places,
// writing each dst row (a src column) contiguously.

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

func tile2(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	for j := j0; j < j1; j++ {
		d := dst[(j*rows+i0)*2 : (j*rows+i1)*2]
		s := (j + i0*cols) * 2
		for k := 0; k+1 < len(d); k += 2 {
			le.PutUint16(d[k:], le.Uint16(src[s:]))
			s += cols * 2
		}
	}
}

func tile4(dst, src []byte, rows, cols, i0, i1, j0, j1 int) {
	le := binary.LittleEndian
	for j := j0; j < j1; j++ {
		d := dst[(j*rows+i0)*4 : (j*rows+i1)*4]
		s := (j + i0*cols) * 4
		for k := 0; k+3 < len(d); k += 4 {
			le.PutUint32(d[k:], le.Uint32(src[s:]))
			s += cols * 4
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
