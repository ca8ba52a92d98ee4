package ops

import (
	"bytes"
	"math"
	"testing"
)

// FuzzF32Narrow compares float32 -> bfloat16/half with the nearest-value reference.
func FuzzF32Narrow(f *testing.F) {
	for _, s := range []uint32{0x3f808000, 0x7f7f8000, 0x477ff000, 0x387fe000, 0x33000000, 0x00018000, 0x7f800001} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in uint32) {
		v := float64(math.Float32frombits(in))
		b, h := F32ToBF16Bits(in), F32ToF16Bits(in)
		if math.IsNaN(v) {
			if b != 0x7fc0 || h&0x7fff != 0x7e00 {
				t.Fatalf("NaN %#08x -> %#04x, %#04x", in, b, h)
			}
			return
		}
		if want := refBF16.round(v); b != want {
			t.Fatalf("bf16(%#08x) = %#04x, want %#04x", in, b, want)
		}
		if want := refF16.round(v); h != want {
			t.Fatalf("f16(%#08x) = %#04x, want %#04x", in, h, want)
		}
	})
}

// FuzzFuseQKVRows feeds arbitrary geometry: never a panic, and for valid arguments the
// reference layout.
func FuzzFuseQKVRows(f *testing.F) {
	f.Add(4, 2, 1, 2, 0, 8)
	f.Add(8, 2, 3, 1, 5, 7)
	f.Add(3, 3, 2, 3, 11, 1)
	f.Fuzz(func(t *testing.T, nh, ng, d, hidden, start, count int) {
		if nh < 0 || ng < 0 || d < 0 || hidden < 0 || nh > 16 || ng > 16 || d > 8 || hidden > 8 {
			return // keep buffers small; negative and zero sizes are still exercised below
		}
		q, k, v := make([]byte, nh*d*hidden), make([]byte, ng*d*hidden), make([]byte, ng*d*hidden)
		for i := range q {
			q[i] = byte(i)
		}
		for i := range k {
			k[i], v[i] = byte(100+i), byte(200+i)
		}
		n := count * hidden
		if count < 0 || n > 1<<12 {
			n = 0
		}
		dst := make([]byte, n)
		err := FuseQKVRows(dst, q, k, v, nh, ng, d, hidden, start, count)
		rows := (nh + 2*ng) * d
		valid := nh > 0 && ng > 0 && d > 0 && hidden > 0 && nh%ng == 0 && start >= 0 && count >= 0 &&
			start <= rows && count <= rows-start
		if !valid {
			if err == nil {
				t.Fatalf("nh=%d ng=%d d=%d hidden=%d rows [%d,+%d): no error for invalid arguments", nh, ng, d, hidden, start, count)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := refFuseQKV(q, k, v, nh, ng, d, hidden, 1)[start*hidden : (start+count)*hidden]
		if !bytes.Equal(dst, want) {
			t.Fatalf("nh=%d ng=%d d=%d hidden=%d rows [%d,+%d) differ from reference", nh, ng, d, hidden, start, count)
		}
	})
}
