package ops

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/omnitui/omnitui/loader"
)

// Block-FP8 dequantization (DeepSeek-V3's weight_scale_inv form): element (i, j) of an
// FP8 weight W [rows, cols] is bf16(float32(W[i, j]) × S[i/FP8Block, j/FP8Block]), the
// product taken in float32 and rounded to bfloat16 to nearest, ties to even. Edge blocks
// may be partial (rows or cols not a multiple of the block).

// FP8Block is the side of a scale block.
const FP8Block = 128

// F8E4M3ToF32 decodes float8 e4m3fn (1 sign, 4 exponent bits with bias 7, 3 mantissa
// bits; no infinities, S.1111.111 is NaN; largest finite ±448; subnormals m/8 · 2^-6).
func F8E4M3ToF32(b byte) float32 { return f8e4m3Table[b] }

// F8E5M2ToF32 decodes float8 e5m2 (IEEE-like: bias 15, 2 mantissa bits, infinities and
// NaNs at exponent 31; subnormals m/4 · 2^-14).
func F8E5M2ToF32(b byte) float32 { return f8e5m2Table[b] }

var f8e4m3Table = func() (t [256]float32) {
	for i := range t {
		b := byte(i)
		sign := float32(1)
		if b&0x80 != 0 {
			sign = -1
		}
		e, m := int(b>>3&0xf), float64(b&7)
		switch {
		case e == 15 && m == 7:
			t[i] = float32(math.NaN())
		case e == 0:
			t[i] = sign * float32(math.Ldexp(m/8, -6))
		default:
			t[i] = sign * float32(math.Ldexp(1+m/8, e-7))
		}
	}
	return
}()

var f8e5m2Table = func() (t [256]float32) {
	for i := range t {
		b := byte(i)
		sign := 1.0
		if b&0x80 != 0 {
			sign = -1
		}
		e, m := int(b>>2&0x1f), float64(b&3)
		switch {
		case e == 31 && m == 0:
			t[i] = float32(math.Inf(int(sign)))
		case e == 31:
			t[i] = float32(math.NaN())
		case e == 0:
			t[i] = float32(sign * math.Ldexp(m/4, -14))
		default:
			t[i] = float32(sign * math.Ldexp(1+m/4, e-15))
		}
	}
	return
}()

// FP8Scales decodes a little-endian F32 scale tensor of shape [ceil(rows/FP8Block),
// ceil(cols/FP8Block)]; a NaN or infinite scale is an error naming its block.
func FP8Scales(raw []byte, rows, cols int64) ([]float32, error) {
	sr, sc := (rows+FP8Block-1)/FP8Block, (cols+FP8Block-1)/FP8Block
	if int64(len(raw)) != sr*sc*4 {
		return nil, fmt.Errorf("scale has %d bytes, a [%d, %d] weight needs %d×%d F32 scales (%d bytes)", len(raw), rows, cols, sr, sc, sr*sc*4)
	}
	out := make([]float32, sr*sc)
	for k := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("scale of block [%d, %d] is %v: the checkpoint is damaged", int64(k)/sc, int64(k)%sc, v)
		}
		out[k] = v
	}
	return out, nil
}

// DequantFP8Block writes elements [off, off+n) of the row-major FP8 weight [rows, cols]
// as bf16 into dst (2n bytes); src holds exactly those n FP8 bytes, scales the decoded
// block scales (FP8Scales).
func DequantFP8Block(dst, src []byte, srcType loader.DType, scales []float32, rows, cols, off, n int64) error {
	var table *[256]float32
	switch srcType {
	case loader.F8E4M3:
		table = &f8e4m3Table
	case loader.F8E5M2:
		table = &f8e5m2Table
	default:
		return fmt.Errorf("dequantizing %s: not an FP8 dtype", srcType)
	}
	if int64(len(src)) != n || int64(len(dst)) != 2*n || off < 0 || off+n > rows*cols {
		return fmt.Errorf("dequantizing elements [%d, %d) of a [%d, %d] weight: buffer sizes %d/%d do not match", off, off+n, rows, cols, len(src), len(dst))
	}
	sc := (cols + FP8Block - 1) / FP8Block
	if int64(len(scales)) != (rows+FP8Block-1)/FP8Block*sc {
		return fmt.Errorf("dequantizing a [%d, %d] weight: %d scales, want %d", rows, cols, len(scales), (rows+FP8Block-1)/FP8Block*sc)
	}
	for k := int64(0); k < n; {
		idx := off + k
		i, j := idx/cols, idx%cols
		srow := scales[i/FP8Block*sc : i/FP8Block*sc+sc]
		// the rest of this row, one scale block at a time
		end := min(n, k+cols-j)
		for k < end {
			s := srow[j/FP8Block]
			stop := min(end, k+FP8Block-j%FP8Block)
			for ; k < stop; k++ {
				v := table[src[k]] * s
				binary.LittleEndian.PutUint16(dst[2*k:], F32ToBF16Bits(math.Float32bits(v)))
				j++
			}
		}
	}
	return nil
}
