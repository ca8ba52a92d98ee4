package ops

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// Hand-checked e4m3fn and e5m2 codes: zeros, smallest/largest subnormals, one, ±max, NaN/Inf.
func TestF8Decode(t *testing.T) {
	e4 := []struct {
		b    byte
		want float64
	}{
		{0x00, 0}, {0x80, math.Copysign(0, -1)}, {0x01, 1.0 / 512}, {0x07, 7.0 / 512}, {0x08, 1.0 / 64},
		{0x38, 1}, {0xb8, -1}, {0x3c, 1.5}, {0x7e, 448}, {0xfe, -448}, {0x40, 2}, {0x31, 0.5625},
	}
	for _, c := range e4 {
		if got := F8E4M3ToF32(c.b); float64(got) != c.want || math.Signbit(float64(got)) != math.Signbit(c.want) {
			t.Errorf("e4m3 %#02x = %v, want %v", c.b, got, c.want)
		}
	}
	for _, b := range []byte{0x7f, 0xff} {
		if !math.IsNaN(float64(F8E4M3ToF32(b))) {
			t.Errorf("e4m3 %#02x is not NaN", b)
		}
	}
	e5 := []struct {
		b    byte
		want float64
	}{{0x00, 0}, {0x01, 1.0 / 65536 / 4 * 4 / 4}, {0x3c, 1}, {0x7b, 57344}, {0xfb, -57344}, {0x7c, math.Inf(1)}, {0xfc, math.Inf(-1)}}
	e5[1].want = math.Ldexp(0.25, -14)
	for _, c := range e5 {
		if got := F8E5M2ToF32(c.b); float64(got) != c.want {
			t.Errorf("e5m2 %#02x = %v, want %v", c.b, got, c.want)
		}
	}
	if !math.IsNaN(float64(F8E5M2ToF32(0x7d))) {
		t.Error("e5m2 0x7d is not NaN")
	}
}

func f32le(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func bf16At(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }

// A 130×129 weight: 2×2 blocks, three of them partial; every element is checked against
// the formula computed independently (float64 decode, float32 product, RNE to bf16 by hand).
func TestDequantFP8BlockPartialEdges(t *testing.T) {
	const rows, cols = 130, 129
	src := make([]byte, rows*cols)
	for i := range src {
		src[i] = byte((i*37 + 11) % 256)
		if src[i]&0x7f == 0x7f {
			src[i] = 0x7e // keep NaN codes out
		}
	}
	scales := []float32{0.5, 3, 1.0 / 3, 1e-3}
	sc, err := FP8Scales(f32le(scales...), rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 2*rows*cols)
	if err := DequantFP8Block(dst, src, loader.F8E4M3, sc, rows, cols, 0, rows*cols); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			s := scales[(i/128)*2+j/128]
			v := float32(decodeE4M3(src[i*cols+j])) * s
			if got, want := bf16At(dst, i*cols+j), rneBF16(v); got != want {
				t.Fatalf("(%d,%d): got %#04x want %#04x", i, j, got, want)
			}
		}
	}
	// a sub-range (as the executor streams it) equals the same range of the whole
	part := make([]byte, 2*300)
	if err := DequantFP8Block(part, src[1000:1300], loader.F8E4M3, sc, rows, cols, 1000, 300); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 300; k++ {
		if bf16At(part, k) != bf16At(dst, 1000+k) {
			t.Fatalf("streamed element %d differs", 1000+k)
		}
	}
}

// Hand-computed products: ±max × 1, a subnormal × 2^10, a tie that rounds to even.
func TestDequantFP8Vectors(t *testing.T) {
	cases := []struct {
		b     byte
		scale float32
		want  uint16
	}{
		{0x7e, 1, 0x43e0},           // 448
		{0xfe, 1, 0xc3e0},           // -448
		{0x01, 1024, 0x4000},        // 2^-9 × 2^10 = 2
		{0x38, 1 + 1.0/256, 0x3f80}, // 1.00390625: exactly half way, ties to even -> 1.0
		{0x38, 1 + 3.0/256, 0x3f82}, // 1.01171875: half way above an odd mantissa -> up
		{0x00, 5, 0x0000},           // zero
		{0x80, 5, 0x8000},           // negative zero
		{0x7e, 1e38, 0x7f80},        // overflow to +Inf (448e38 > max f32)
	}
	for _, c := range cases {
		sc, err := FP8Scales(f32le(c.scale), 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, 2)
		if err := DequantFP8Block(dst, []byte{c.b}, loader.F8E4M3, sc, 1, 1, 0, 1); err != nil {
			t.Fatal(err)
		}
		if got := bf16At(dst, 0); got != c.want {
			t.Errorf("%#02x × %v = %#04x, want %#04x", c.b, c.scale, got, c.want)
		}
	}
}

func TestFP8ScalesRefused(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		if _, err := FP8Scales(f32le(1, v), 1, 200); err == nil {
			t.Errorf("scale %v accepted", v)
		}
	}
	if _, err := FP8Scales(f32le(1), 1, 200); err == nil {
		t.Error("a scale of the wrong size accepted")
	}
}

// decodeE4M3 restates the e4m3fn decoding from its definition (independent of the table).
func decodeE4M3(b byte) float64 {
	s := 1.0
	if b&0x80 != 0 {
		s = -1
	}
	e, m := int(b>>3)&15, float64(b&7)
	if e == 0 {
		return s * m / 8 * math.Pow(2, -6)
	}
	return s * (1 + m/8) * math.Pow(2, float64(e-7))
}

// rneBF16 rounds a float32 to bfloat16 bits with big-float arithmetic (no bit tricks).
func rneBF16(v float32) uint16 {
	if v == 0 {
		return uint16(math.Float32bits(v) >> 16)
	}
	bits := math.Float32bits(v)
	hi := bits >> 16
	lo := bits & 0xffff
	if lo > 0x8000 || (lo == 0x8000 && hi&1 == 1) {
		hi++
	}
	return uint16(hi)
}
