package ops

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/omnitui/omnitui/loader"
)

// Dtype casts among F64, F32, F16 and BF16, bit-for-bit what PyTorch's CPU
// tensor.to(dtype) produces for every non-NaN value:
//
//   - Narrowing rounds to nearest, ties to even, on the exact value. Values that round
//     past the largest finite number become ±Inf; values below half the smallest
//     subnormal become ±0; subnormals of the target are produced (no flush to zero).
//   - Widening (BF16/F16 -> F32, anything -> F64) is exact.
//   - F64 -> F16 and F64 -> BF16 go through F32, rounding twice, as PyTorch does
//     (c10::Half and c10::BFloat16 are built from a float).
//   - F16 <-> BF16 go through F32 (exact), so they round once.
//   - ±Inf stays ±Inf, ±0 keeps its sign.
//
// NaN: the result is always a quiet NaN.
//
//   - BF16 -> F32 keeps the bits (b<<16), like torch; F16 -> F32 and F32 -> F64 keep sign
//     and payload and set the quiet bit (what x86 hardware and torch do);
//     F64 -> F32 keeps the sign and the payload's top 23 bits, quiet bit set.
//   - F32 -> F16 gives sign|0x7E00 (c10::Half: sign kept, payload dropped).
//   - F32 -> BF16 gives 0x7FC0, the rule of c10::BFloat16's round_to_nearest_even (sign
//     and payload dropped). Note: torch 1.13's AVX2 tensor kernel writes 0xFFFF for a
//     NaN instead; both are quiet NaNs, but NaN bit patterns are not portable across
//     torch builds, so no caller should depend on them.

// BF16ToF32Bits widens bfloat16 bits to float32 bits (exact; NaN bits kept).
func BF16ToF32Bits(h uint16) uint32 { return uint32(h) << 16 }

// F32ToBF16Bits rounds float32 bits to bfloat16 bits, to nearest, ties to even;
// NaN -> 0x7FC0.
func F32ToBF16Bits(f uint32) uint16 {
	if f&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	// Adding 0x7fff, plus 1 when the kept part is odd, carries into bit 16 exactly when
	// the dropped 16 bits are above half, or at half with an odd kept part. A carry out
	// of the mantissa bumps the exponent, which is the correct rounding (and reaches
	// the Inf pattern from the largest finite values).
	return uint16((f + 0x7fff + (f>>16)&1) >> 16)
}

// rneShift is x / 2^s rounded to nearest, ties to even. Callers pass x < 2^63, so any
// s >= 64 gives 0.
func rneShift(x uint64, s uint) uint64 {
	if s == 0 {
		return x
	}
	if s >= 64 {
		return 0
	}
	q := x >> s
	r := x & (1<<s - 1)
	half := uint64(1) << (s - 1)
	if r > half || (r == half && q&1 == 1) {
		q++
	}
	return q
}

// F16ToF32Bits widens IEEE half bits to float32 bits (exact, subnormals included;
// a NaN keeps sign and payload and becomes quiet).
func F16ToF32Bits(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch {
	case e == 0x1f && m != 0:
		return sign | 0x7fc00000 | m<<13
	case e == 0x1f:
		return sign | 0x7f800000
	case e != 0:
		return sign | (e+112)<<23 | m<<13 // rebias 15 -> 127
	case m == 0:
		return sign
	default: // subnormal m·2^-24 = 2^(p-24)·(m/2^p) with p the top set bit of m
		p := uint32(bits.Len32(m) - 1)
		return sign | (p+103)<<23 | (m<<(23-p))&0x7fffff
	}
}

// F32ToF16Bits rounds float32 bits to IEEE half bits, to nearest, ties to even, with
// overflow to ±Inf and half subnormals; NaN -> sign|0x7E00.
func F32ToF16Bits(f uint32) uint16 {
	sign := uint16(f>>16) & 0x8000
	a := f & 0x7fffffff
	if a-0x38800000 < 0x47800000-0x38800000 {
		// Common case, 2^-14 <= |x| < 2^16: a normal half (or Inf at the very top).
		// Rebias the exponent (127 -> 15) in place, then round the 13 dropped bits to
		// nearest even by the carry trick of F32ToBF16Bits; a carry out of the
		// mantissa bumps the exponent, up to 0x7C00 = Inf.
		a -= 112 << 23
		return sign | uint16((a+0xfff+(a>>13)&1)>>13)
	}
	switch {
	case a > 0x7f800000:
		return sign | 0x7e00
	case a >= 0x47800000: // |x| >= 2^16, Inf included
		return sign | 0x7c00
	case a < 0x00800000:
		// Zero and float32 subnormals (below 2^-126, far under 2^-25, half the
		// smallest half subnormal) round to zero.
		return sign
	}
	// Half subnormal: |x| = full · 2^(e-150) with e = a>>23 in [1, 112]; count units of
	// 2^-24. Rounding up to 0x400 gives the smallest normal, which is correct.
	e := int(a >> 23)
	full := uint64(a&0x7fffff | 1<<23)
	return sign | uint16(rneShift(full, uint(126-e)))
}

// F64ToF32Bits rounds float64 bits to float32 bits, to nearest, ties to even, with
// overflow to ±Inf and float32 subnormals; a NaN keeps its sign and the top 23 payload
// bits and becomes quiet. The result does not depend on the machine's FPU.
func F64ToF32Bits(d uint64) uint32 {
	sign := uint32(d>>32) & 0x80000000
	if a := d &^ (1 << 63); a-897<<52 < (1151-897)<<52 {
		// Common case, a normal float32 (or Inf at the very top): rebias the exponent
		// (1023 -> 127) and round the 29 dropped bits with the carry trick.
		a -= 896 << 52
		return sign | uint32((a+(1<<28-1)+(a>>29)&1)>>29)
	}
	e := int(d>>52) & 0x7ff
	m := d & (1<<52 - 1)
	switch {
	case e == 0x7ff && m != 0:
		return sign | 0x7fc00000 | uint32(m>>29)
	case e == 0x7ff:
		return sign | 0x7f800000
	case e == 0:
		return sign // float64 subnormals are below 2^-1022: zero in float32
	}
	full := m | 1<<52   // value = full · 2^(e-1075)
	b := e - 1023 + 127 // biased float32 exponent
	if b >= 255 {
		return sign | 0x7f800000
	}
	var r uint64
	if b >= 1 {
		r = uint64(b-1)<<23 + rneShift(full, 29)
	} else {
		r = rneShift(full, uint(30-b))
	}
	return sign | uint32(r)
}

// F32ToF64Bits widens float32 bits to float64 bits (exact, subnormals included; a NaN
// keeps sign and payload and becomes quiet).
func F32ToF64Bits(f uint32) uint64 {
	sign := uint64(f&0x80000000) << 32
	e := uint64(f>>23) & 0xff
	m := uint64(f & 0x7fffff)
	switch {
	case e == 0xff && m != 0:
		return sign | 0x7ff8000000000000 | m<<29
	case e == 0xff:
		return sign | 0x7ff0000000000000
	case e != 0:
		return sign | (e+896)<<52 | m<<29 // rebias 127 -> 1023
	case m == 0:
		return sign
	default: // subnormal m·2^-149 = 2^(p-149)·(m/2^p)
		p := uint64(bits.Len64(m) - 1)
		return sign | (p+874)<<52 | (m<<(52-p))&(1<<52-1)
	}
}

func castable(t loader.DType) bool {
	switch t {
	case loader.F64, loader.F32, loader.F16, loader.BF16:
		return true
	}
	return false
}

// CastSupported reports whether [Cast] can convert src-typed data to dst: any dtype to
// itself (a plain copy), and any pair among F64, F32, F16, BF16. FP8, integer and bool
// conversions are refused.
func CastSupported(dst, src loader.DType) error {
	for _, t := range []loader.DType{src, dst} {
		if t.Size() == 0 {
			return fmt.Errorf("ops.Cast: unknown dtype %q; use a safetensors dtype name such as BF16: %w", t, ErrCast)
		}
	}
	if dst == src {
		return nil
	}
	if !castable(src) || !castable(dst) {
		return fmt.Errorf("ops.Cast: converting %s to %s is not supported (only F64, F32, F16 and BF16 convert among each other; FP8 needs its scales and integers are not weights); keep the source dtype for these tensors: %w", src, dst, ErrCast)
	}
	return nil
}

// Cast converts the elements of src (srcType) into dst (dstType) with the rounding
// described above. len(src) must be a multiple of srcType's size and len(dst) must be
// the same element count times dstType's size. A cast to the same dtype copies bytes.
func Cast(dst []byte, dstType loader.DType, src []byte, srcType loader.DType) error {
	if err := CastSupported(dstType, srcType); err != nil {
		return err
	}
	ss, ds := srcType.Size(), dstType.Size()
	if len(src)%ss != 0 {
		return fmt.Errorf("ops.Cast: src is %d bytes, not a whole number of %d-byte %s elements; the buffer does not hold a %s tensor: %w", len(src), ss, srcType, srcType, ErrSize)
	}
	n := len(src) / ss
	if err := checkLen("Cast", "dst", len(dst), n*ds, fmt.Sprintf("%d %s elements", n, dstType)); err != nil {
		return err
	}
	if srcType == dstType {
		copy(dst, src)
		return nil
	}
	switch {
	case srcType == loader.F32 && dstType == loader.BF16:
		castF32ToBF16(dst, src, n)
	case srcType == loader.BF16 && dstType == loader.F32:
		castBF16ToF32(dst, src, n)
	case srcType == loader.F32 && dstType == loader.F16:
		castF32ToF16(dst, src, n)
	case srcType == loader.F16 && dstType == loader.F32:
		castF16ToF32(dst, src, n)
	case srcType == loader.BF16 && dstType == loader.F16:
		castBF16ToF16(dst, src, n)
	case srcType == loader.F16 && dstType == loader.BF16:
		castF16ToBF16(dst, src, n)
	default:
		castViaF32(dst, dstType, src, srcType, n)
	}
	return nil
}

func castF32ToBF16(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:2*n], src[:4*n]
	for i := range n {
		le.PutUint16(dst[2*i:], F32ToBF16Bits(le.Uint32(src[4*i:])))
	}
}

func castBF16ToF32(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:4*n], src[:2*n]
	for i := range n {
		le.PutUint32(dst[4*i:], uint32(le.Uint16(src[2*i:]))<<16)
	}
}

func castF32ToF16(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:2*n], src[:4*n]
	for i := range n {
		le.PutUint16(dst[2*i:], F32ToF16Bits(le.Uint32(src[4*i:])))
	}
}

func castF16ToF32(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:4*n], src[:2*n]
	for i := range n {
		le.PutUint32(dst[4*i:], F16ToF32Bits(le.Uint16(src[2*i:])))
	}
}

func castBF16ToF16(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:2*n], src[:2*n]
	for i := range n {
		le.PutUint16(dst[2*i:], F32ToF16Bits(uint32(le.Uint16(src[2*i:]))<<16))
	}
}

func castF16ToBF16(dst, src []byte, n int) {
	le := binary.LittleEndian
	dst, src = dst[:2*n], src[:2*n]
	for i := range n {
		le.PutUint16(dst[2*i:], F32ToBF16Bits(F16ToF32Bits(le.Uint16(src[2*i:]))))
	}
}

// castViaF32 handles the remaining pairs: decode each element to float32 bits (exact
// for BF16/F16, rounded for F64), then encode to the target (exact for F64).
func castViaF32(dst []byte, dstType loader.DType, src []byte, srcType loader.DType, n int) {
	le := binary.LittleEndian
	var get func(b []byte) uint32
	switch srcType {
	case loader.F64:
		get = func(b []byte) uint32 { return F64ToF32Bits(le.Uint64(b)) }
	case loader.F32:
		get = le.Uint32
	case loader.F16:
		get = func(b []byte) uint32 { return F16ToF32Bits(le.Uint16(b)) }
	case loader.BF16:
		get = func(b []byte) uint32 { return BF16ToF32Bits(le.Uint16(b)) }
	}
	var put func(b []byte, f uint32)
	switch dstType {
	case loader.F64:
		put = func(b []byte, f uint32) { le.PutUint64(b, F32ToF64Bits(f)) }
	case loader.F32:
		put = le.PutUint32
	case loader.F16:
		put = func(b []byte, f uint32) { le.PutUint16(b, F32ToF16Bits(f)) }
	case loader.BF16:
		put = func(b []byte, f uint32) { le.PutUint16(b, F32ToBF16Bits(f)) }
	}
	ss, ds := srcType.Size(), dstType.Size()
	for i := range n {
		put(dst[i*ds:(i+1)*ds], get(src[i*ss:(i+1)*ss]))
	}
}
