package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// Independent decoders: the value of a bit pattern from the format's definition.

func bf16Value(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e, m := int(h>>7)&0xff, int(h&0x7f)
	switch {
	case e == 0xff && m == 0:
		return s * math.Inf(1)
	case e == 0xff:
		return math.NaN()
	case e == 0:
		return s * math.Ldexp(float64(m), -133) // m · 2^(1-127-7)
	}
	return s * math.Ldexp(float64(128+m), e-134)
}

func f16Value(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e, m := int(h>>10)&0x1f, int(h&0x3ff)
	switch {
	case e == 0x1f && m == 0:
		return s * math.Inf(1)
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		return s * math.Ldexp(float64(m), -24) // m · 2^(1-15-10)
	}
	return s * math.Ldexp(float64(1024+m), e-25)
}

// refFormat rounds by searching the sorted list of every finite value of a 16-bit
// format for the nearest one (ties to the even bit pattern). Values at or beyond the
// overflow threshold (the next power of two after the largest finite value, an "even"
// pattern) become Inf, which is IEEE rounding with an unbounded exponent.
type refFormat struct {
	vals []float64
	bits []uint16
	inf  uint16
}

func newRefFormat(decode func(uint16) float64, inf uint16, threshold float64) *refFormat {
	f := &refFormat{inf: inf}
	for h := uint16(0); h < inf; h++ {
		f.vals = append(f.vals, decode(h))
		f.bits = append(f.bits, h)
	}
	if !sort.Float64sAreSorted(f.vals) {
		panic("format values not sorted")
	}
	f.vals = append(f.vals, threshold)
	f.bits = append(f.bits, inf)
	return f
}

func (f *refFormat) round(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign = 0x8000
	}
	a := math.Abs(x)
	if a >= f.vals[len(f.vals)-1] {
		return sign | f.inf
	}
	i := sort.SearchFloat64s(f.vals, a)
	if f.vals[i] == a {
		return sign | f.bits[i]
	}
	lo, hi := i-1, i
	d1, d2 := a-f.vals[lo], f.vals[hi]-a // exact: neighbours are within a factor of 2
	switch {
	case d1 < d2:
		return sign | f.bits[lo]
	case d2 < d1:
		return sign | f.bits[hi]
	case f.bits[lo]&1 == 0:
		return sign | f.bits[lo]
	default:
		return sign | f.bits[hi]
	}
}

var (
	refBF16 = newRefFormat(bf16Value, 0x7f80, math.Ldexp(1, 128))
	refF16  = newRefFormat(f16Value, 0x7c00, 65536)
)

func all16() []byte {
	b := make([]byte, 65536*2)
	for i := range 65536 {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(i))
	}
	return b
}

func castOK(t *testing.T, dstType loader.DType, src []byte, srcType loader.DType) []byte {
	t.Helper()
	dst := make([]byte, len(src)/srcType.Size()*dstType.Size())
	if err := Cast(dst, dstType, src, srcType); err != nil {
		t.Fatalf("Cast %s -> %s: %v", srcType, dstType, err)
	}
	return dst
}

func sameValue(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return got == want && math.Signbit(got) == math.Signbit(want)
}

// All 65536 bfloat16 patterns: to F32 and F64 exactly, back to BF16 unchanged, and to
// F16 as the nearest half.
func TestCastBF16Exhaustive(t *testing.T) {
	src := all16()
	f32 := castOK(t, loader.F32, src, loader.BF16)
	f64 := castOK(t, loader.F64, src, loader.BF16)
	back := castOK(t, loader.BF16, f32, loader.F32)
	half := castOK(t, loader.F16, src, loader.BF16)
	for i := range 65536 {
		h := uint16(i)
		v := bf16Value(h)
		fb := binary.LittleEndian.Uint32(f32[4*i:])
		db := binary.LittleEndian.Uint64(f64[8*i:])
		bb := binary.LittleEndian.Uint16(back[2*i:])
		hb := binary.LittleEndian.Uint16(half[2*i:])
		if math.IsNaN(v) {
			// torch: bf16 -> f32 keeps the bits; -> f64 keeps sign and payload, quiet
			// bit set; back to bf16 is c10's 0x7FC0; to f16 is sign|0x7E00.
			wantD := uint64(h&0x8000)<<48 | 0x7ff8000000000000 | uint64(h&0x7f)<<45
			if fb != uint32(h)<<16 || db != wantD || bb != 0x7fc0 || hb != h&0x8000|0x7e00 {
				t.Fatalf("NaN %#04x: f32 %#08x, f64 %#016x, bf16 %#04x, f16 %#04x", h, fb, db, bb, hb)
			}
			continue
		}
		if !sameValue(float64(math.Float32frombits(fb)), v) {
			t.Fatalf("bf16 %#04x -> f32 %#08x = %g, want %g", h, fb, math.Float32frombits(fb), v)
		}
		if !sameValue(math.Float64frombits(db), v) {
			t.Fatalf("bf16 %#04x -> f64 %#016x, want %g", h, db, v)
		}
		if bb != h {
			t.Fatalf("bf16 %#04x -> f32 -> bf16 = %#04x", h, bb)
		}
		if want := refF16.round(v); hb != want {
			t.Fatalf("bf16 %#04x (%g) -> f16 = %#04x, want %#04x", h, v, hb, want)
		}
	}
}

// All 65536 half patterns: to F32 and F64 exactly, back to F16 unchanged, and to BF16
// as the nearest bfloat16.
func TestCastF16Exhaustive(t *testing.T) {
	src := all16()
	f32 := castOK(t, loader.F32, src, loader.F16)
	f64 := castOK(t, loader.F64, src, loader.F16)
	back := castOK(t, loader.F16, f32, loader.F32)
	bf := castOK(t, loader.BF16, src, loader.F16)
	for i := range 65536 {
		h := uint16(i)
		v := f16Value(h)
		fb := binary.LittleEndian.Uint32(f32[4*i:])
		db := binary.LittleEndian.Uint64(f64[8*i:])
		hb := binary.LittleEndian.Uint16(back[2*i:])
		bb := binary.LittleEndian.Uint16(bf[2*i:])
		if math.IsNaN(v) {
			// Quiet bit set, sign and payload kept (torch: 0x7C01 -> 0x7FC02000).
			wantF := uint32(h&0x8000)<<16 | 0x7fc00000 | uint32(h&0x3ff)<<13
			wantD := uint64(h&0x8000)<<48 | 0x7ff8000000000000 | uint64(h&0x3ff)<<42
			if fb != wantF || db != wantD || hb != h&0x8000|0x7e00 || bb != 0x7fc0 {
				t.Fatalf("NaN %#04x: f32 %#08x, f64 %#016x, f16 %#04x, bf16 %#04x", h, fb, db, hb, bb)
			}
			continue
		}
		if !sameValue(float64(math.Float32frombits(fb)), v) {
			t.Fatalf("f16 %#04x -> f32 %#08x = %g, want %g", h, fb, math.Float32frombits(fb), v)
		}
		if !sameValue(math.Float64frombits(db), v) {
			t.Fatalf("f16 %#04x -> f64 %#016x, want %g", h, db, v)
		}
		if hb != h {
			t.Fatalf("f16 %#04x -> f32 -> f16 = %#04x", h, hb)
		}
		if want := refBF16.round(v); bb != want {
			t.Fatalf("f16 %#04x (%g) -> bf16 = %#04x, want %#04x", h, v, bb, want)
		}
	}
}

// Literal NaN conversions observed with torch 1.13 on x86.
func TestNaNLiterals(t *testing.T) {
	if got := F16ToF32Bits(0x7c01); got != 0x7fc02000 {
		t.Errorf("F16ToF32Bits(0x7c01) = %#x, want 0x7fc02000", got)
	}
	if got := F16ToF32Bits(0x7d55); got != 0x7feaa000 {
		t.Errorf("F16ToF32Bits(0x7d55) = %#x, want 0x7feaa000", got)
	}
	if got := BF16ToF32Bits(0xff81); got != 0xff810000 {
		t.Errorf("BF16ToF32Bits(0xff81) = %#x, want 0xff810000", got)
	}
	if got := F64ToF32Bits(0x7ff4000020000000); got != 0x7fe00001 {
		t.Errorf("F64ToF32Bits(0x7ff4000020000000) = %#x, want 0x7fe00001", got)
	}
	if got := F64ToF32Bits(0xfff8000000000123); got != 0xffc00000 {
		t.Errorf("F64ToF32Bits(0xfff8000000000123) = %#x, want 0xffc00000", got)
	}
	if got := F32ToF64Bits(0x7f800001); got != 0x7ff8000020000000 {
		t.Errorf("F32ToF64Bits(0x7f800001) = %#x, want 0x7ff8000020000000", got)
	}
}

// Hand-picked float32 inputs: ties, just above/below halfway, largest finite, overflow,
// subnormal boundaries, signed zeros, NaN payloads.
func TestF32ToBF16Tricky(t *testing.T) {
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0x00000000, 0x0000}, {0x80000000, 0x8000},
		{0x3f800000, 0x3f80},                       // 1
		{0x3f808000, 0x3f80},                       // halfway, kept part even: stays
		{0x3f818000, 0x3f82},                       // halfway, kept part odd: up to even
		{0x3f808001, 0x3f81},                       // just above halfway
		{0x3f807fff, 0x3f80},                       // just below halfway
		{0xbf818000, 0xbf82},                       // negative tie
		{0x3f7fffff, 0x3f80},                       // carry into the exponent
		{0x7f7f0000, 0x7f7f},                       // largest finite bf16
		{0x7f7f7fff, 0x7f7f},                       // below halfway to 2^128
		{0x7f7f8000, 0x7f80},                       // halfway to 2^128: even side is Inf
		{0x7f7fffff, 0x7f80}, {0xff7fffff, 0xff80}, // f32 max overflows
		{0x7f800000, 0x7f80}, {0xff800000, 0xff80},
		{0x00010000, 0x0001}, // smallest bf16 subnormal
		{0x00008000, 0x0000}, // half of it: tie to 0
		{0x00008001, 0x0001},
		{0x00018000, 0x0002}, // 1.5 units: tie to 2
		{0x00000001, 0x0000}, {0x80000001, 0x8000},
		{0x007fffff, 0x0080}, // largest f32 subnormal rounds to the smallest normal
		{0x80008001, 0x8001},
		{0x7fc00000, 0x7fc0}, {0xffc00000, 0x7fc0}, {0x7f800001, 0x7fc0}, // NaN (not Inf!)
		{0xff800001, 0x7fc0}, {0x7fffffff, 0x7fc0}, {0xffffffff, 0x7fc0},
	}
	src := make([]byte, 4*len(tests))
	for i, tt := range tests {
		binary.LittleEndian.PutUint32(src[4*i:], tt.in)
		if got := F32ToBF16Bits(tt.in); got != tt.want {
			t.Errorf("F32ToBF16Bits(%#08x) = %#04x, want %#04x", tt.in, got, tt.want)
		}
		if v := float64(math.Float32frombits(tt.in)); !math.IsNaN(v) && refBF16.round(v) != tt.want {
			t.Errorf("reference disagrees with the table at %#08x: %#04x", tt.in, refBF16.round(v))
		}
	}
	out := castOK(t, loader.BF16, src, loader.F32)
	for i, tt := range tests {
		if got := binary.LittleEndian.Uint16(out[2*i:]); got != tt.want {
			t.Errorf("Cast F32->BF16 %#08x = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

func TestF32ToF16Tricky(t *testing.T) {
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0x00000000, 0x0000}, {0x80000000, 0x8000},
		{0x3f800000, 0x3c00}, // 1
		{0x3f801000, 0x3c00}, // 1 + 2^-11: tie, stays even
		{0x3f803000, 0x3c02}, // 1 + 3·2^-11: tie, up to even
		{0x3f801001, 0x3c01}, // just above the tie
		{0x3f7fffff, 0x3c00}, // carry into the exponent
		{0x477fe000, 0x7bff}, // 65504, largest finite half
		{0x477fefff, 0x7bff}, // just below 65520
		{0x477ff000, 0x7c00}, // 65520: tie between 65504 and 65536 -> Inf
		{0x47800000, 0x7c00}, // 65536
		{0x501502f9, 0x7c00}, // 1e10
		{0x7f7fffff, 0x7c00}, {0xff7fffff, 0xfc00},
		{0x7f800000, 0x7c00}, {0xff800000, 0xfc00},
		{0x38800000, 0x0400}, // 2^-14, smallest normal
		{0x387fc000, 0x03ff}, // 1023·2^-24, largest subnormal
		{0x387fe000, 0x0400}, // 1023.5·2^-24: tie, even side is 0x400
		{0x387fdfff, 0x03ff},
		{0x38000000, 0x0200},                                             // 2^-15
		{0x37800000, 0x0100},                                             // 2^-16
		{0x33800000, 0x0001},                                             // 2^-24, smallest subnormal
		{0x33000000, 0x0000},                                             // 2^-25: tie to 0
		{0x33000001, 0x0001},                                             // just above
		{0xb3000000, 0x8000},                                             // negative tie keeps the sign
		{0x33c00000, 0x0002},                                             // 1.5·2^-24: tie to 2
		{0x34200000, 0x0002},                                             // 2.5·2^-24: tie to 2
		{0x00000001, 0x0000}, {0x80000001, 0x8000}, {0x807fffff, 0x8000}, // f32 subnormals
		{0x7fc00000, 0x7e00}, {0xffc00000, 0xfe00}, {0x7f800001, 0x7e00}, // NaN: sign kept
		{0xff800001, 0xfe00}, {0x7fffffff, 0x7e00},
	}
	src := make([]byte, 4*len(tests))
	for i, tt := range tests {
		binary.LittleEndian.PutUint32(src[4*i:], tt.in)
		if got := F32ToF16Bits(tt.in); got != tt.want {
			t.Errorf("F32ToF16Bits(%#08x) = %#04x, want %#04x", tt.in, got, tt.want)
		}
		if v := float64(math.Float32frombits(tt.in)); !math.IsNaN(v) && refF16.round(v) != tt.want {
			t.Errorf("reference disagrees with the table at %#08x: %#04x", tt.in, refF16.round(v))
		}
	}
	out := castOK(t, loader.F16, src, loader.F32)
	for i, tt := range tests {
		if got := binary.LittleEndian.Uint16(out[2*i:]); got != tt.want {
			t.Errorf("Cast F32->F16 %#08x = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

// randomF32 yields uniform bit patterns, patterns in the half range, and exact ties.
func randomF32(r *rand.Rand, n int) []uint32 {
	out := make([]uint32, 0, 3*n)
	for range n {
		out = append(out, r.Uint32())
		sign := r.Uint32() & 0x80000000
		exp := uint32(98+r.IntN(48)) << 23 // 2^-29 .. 2^18: half subnormals through overflow
		out = append(out, sign|exp|r.Uint32()&0x7fffff)
		tie := []uint32{0x8000, 0x1000}[r.IntN(2)] // bf16 or f16 halfway point
		out = append(out, (sign|exp|r.Uint32()&0x7fffff)&^(2*tie-1)|tie)
	}
	return out
}

func TestF32NarrowMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	in := randomF32(r, 300000)
	src := make([]byte, 4*len(in))
	for i, f := range in {
		binary.LittleEndian.PutUint32(src[4*i:], f)
	}
	bf := castOK(t, loader.BF16, src, loader.F32)
	hf := castOK(t, loader.F16, src, loader.F32)
	for i, f := range in {
		v := float64(math.Float32frombits(f))
		gb := binary.LittleEndian.Uint16(bf[2*i:])
		gh := binary.LittleEndian.Uint16(hf[2*i:])
		if math.IsNaN(v) {
			if gb != 0x7fc0 || gh != uint16(f>>16)&0x8000|0x7e00 {
				t.Fatalf("NaN %#08x -> bf16 %#04x, f16 %#04x", f, gb, gh)
			}
			continue
		}
		if want := refBF16.round(v); gb != want {
			t.Fatalf("f32 %#08x (%g) -> bf16 %#04x, want %#04x", f, v, gb, want)
		}
		if want := refF16.round(v); gh != want {
			t.Fatalf("f32 %#08x (%g) -> f16 %#04x, want %#04x", f, v, gh, want)
		}
	}
}

// F64 -> F32 against the machine's IEEE conversion (Go's float32(x) is round to
// nearest even), plus hand-picked boundaries; F32 -> F64 against float64(x).
func TestF64F32(t *testing.T) {
	tests := []struct {
		in   uint64
		want uint32
	}{
		{0x3ff0000010000000, 0x3f800000}, // 1 + 2^-24: tie, stays even
		{0x3ff0000030000000, 0x3f800002}, // 1 + 3·2^-24: tie, up
		{0x3ff0000010000001, 0x3f800001},
		{0x47efffffe0000000, 0x7f7fffff}, // f32 max
		{0x47efffffefffffff, 0x7f7fffff},
		{0x47effffff0000000, 0x7f800000}, // halfway to 2^128 -> Inf
		{0x7fefffffffffffff, 0x7f800000}, {0xffefffffffffffff, 0xff800000},
		{0x36a0000000000000, 0x00000001}, // 2^-149
		{0x3690000000000000, 0x00000000}, // 2^-150: tie to 0
		{0x3690000000000001, 0x00000001},
		{0x36a8000000000000, 0x00000002}, // 1.5·2^-149: tie to 2
		{0x380fffffc0000000, 0x007fffff}, // largest f32 subnormal
		{0x380ffffff0000000, 0x00800000}, // rounds up to the smallest normal
		{0x0000000000000001, 0x00000000}, {0x8000000000000001, 0x80000000},
		{0x7ff0000000000000, 0x7f800000}, {0xfff0000000000000, 0xff800000},
		{0x7ff0000000000001, 0x7fc00000}, {0xfff8000000000123, 0xffc00000},
	}
	for _, tt := range tests {
		if got := F64ToF32Bits(tt.in); got != tt.want {
			t.Errorf("F64ToF32Bits(%#016x) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 500000 {
		d := r.Uint64()
		if r.IntN(2) == 0 { // exponents near the float32 range
			d = d&0x800fffffffffffff | uint64(1023-160+r.IntN(300))<<52
		}
		x := math.Float64frombits(d)
		if math.IsNaN(x) {
			continue
		}
		if got, want := F64ToF32Bits(d), math.Float32bits(float32(x)); got != want {
			t.Fatalf("F64ToF32Bits(%#016x) = %#08x, machine gives %#08x", d, got, want)
		}
		f := uint32(d)
		if fx := math.Float32frombits(f); !math.IsNaN(float64(fx)) {
			if got, want := F32ToF64Bits(f), math.Float64bits(float64(fx)); got != want {
				t.Fatalf("F32ToF64Bits(%#08x) = %#016x, machine gives %#016x", f, got, want)
			}
		}
	}
}

// F64 -> BF16/F16 rounds twice (via float32), as torch does.
func TestF64DoubleRounding(t *testing.T) {
	src := make([]byte, 16)
	binary.LittleEndian.PutUint64(src, 0x3ff0100000400000)     // 1 + 2^-8 + 2^-30
	binary.LittleEndian.PutUint64(src[8:], 0x3ff0020000400000) // 1 + 2^-11 + 2^-30
	bf := castOK(t, loader.BF16, src, loader.F64)
	hf := castOK(t, loader.F16, src, loader.F64)
	// Directly these would round up (0x3f81, 0x3c01); through float32 the 2^-30 is lost
	// and the tie goes to even.
	if got := binary.LittleEndian.Uint16(bf); got != 0x3f80 {
		t.Errorf("F64 1+2^-8+2^-30 -> BF16 = %#04x, want 0x3f80", got)
	}
	if got := binary.LittleEndian.Uint16(hf[2:]); got != 0x3c00 {
		t.Errorf("F64 1+2^-11+2^-30 -> F16 = %#04x, want 0x3c00", got)
	}
}

// encodeExact writes v (representable in every format) as dtype t.
func encodeExact(t loader.DType, v float64) []byte {
	b := make([]byte, t.Size())
	f := math.Float32bits(float32(v))
	switch t {
	case loader.F64:
		binary.LittleEndian.PutUint64(b, math.Float64bits(v))
	case loader.F32:
		binary.LittleEndian.PutUint32(b, f)
	case loader.BF16:
		binary.LittleEndian.PutUint16(b, uint16(f>>16))
	case loader.F16:
		binary.LittleEndian.PutUint16(b, F32ToF16Bits(f))
	}
	return b
}

func decodeValue(t loader.DType, b []byte) float64 {
	switch t {
	case loader.F64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case loader.F32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case loader.BF16:
		return bf16Value(binary.LittleEndian.Uint16(b))
	default:
		return f16Value(binary.LittleEndian.Uint16(b))
	}
}

// Values every format holds exactly survive every conversion pair unchanged.
func TestCastAllPairsExact(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -2.5, 0.15625, 256, -3.75, math.Ldexp(1, -14), math.Ldexp(1, -24), math.Inf(1), math.Inf(-1)}
	types := []loader.DType{loader.F64, loader.F32, loader.F16, loader.BF16}
	for _, st := range types {
		for _, dt := range types {
			var src []byte
			for _, v := range vals {
				src = append(src, encodeExact(st, v)...)
			}
			out := castOK(t, dt, src, st)
			for i, v := range vals {
				if got := decodeValue(dt, out[i*dt.Size():]); !sameValue(got, v) {
					t.Errorf("%s -> %s: %g became %g", st, dt, v, got)
				}
			}
		}
	}
}

func TestCastErrors(t *testing.T) {
	tests := []struct {
		dst  []byte
		dt   loader.DType
		src  []byte
		st   loader.DType
		want error
	}{
		{make([]byte, 2), loader.BF16, make([]byte, 1), loader.F8E4M3, ErrCast},
		{make([]byte, 1), loader.F8E5M2, make([]byte, 4), loader.F32, ErrCast},
		{make([]byte, 4), loader.F32, make([]byte, 4), loader.I32, ErrCast},
		{make([]byte, 8), loader.I64, make([]byte, 4), loader.F32, ErrCast},
		{make([]byte, 4), loader.F32, make([]byte, 1), loader.BOOL, ErrCast},
		{make([]byte, 4), loader.F32, make([]byte, 2), loader.DType("F4"), ErrCast},
		{make([]byte, 4), loader.F32, make([]byte, 3), loader.BF16, ErrSize},  // half an element
		{make([]byte, 6), loader.F32, make([]byte, 4), loader.BF16, ErrSize},  // dst too short
		{make([]byte, 10), loader.F32, make([]byte, 4), loader.BF16, ErrSize}, // dst too long
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s->%s", tt.st, tt.dt), func(t *testing.T) {
			wantErr(t, Cast(tt.dst, tt.dt, tt.src, tt.st), tt.want)
		})
	}
	if err := CastSupported(loader.BF16, loader.F8E4M3); err == nil {
		t.Error("CastSupported(BF16, F8_E4M3) = nil, want an error")
	}
	// Same dtype is a plain copy, for any dtype.
	for _, dt := range []loader.DType{loader.I32, loader.F8E4M3, loader.BF16} {
		src := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		dst := make([]byte, 8)
		if err := Cast(dst, dt, src, dt); err != nil || string(dst) != string(src) {
			t.Errorf("Cast %s -> %s = %v, %v; want a copy", dt, dt, dst, err)
		}
	}
}
