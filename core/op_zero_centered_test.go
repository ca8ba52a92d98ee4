package core

import (
	"encoding/binary"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// TestZeroCenteredMatchesTorch: w−1 and back, element by element, against what torch 1.13
// computes for `w.clone() - 1` and `+ 1` on bf16 and fp16 tensors (values printed by torch
// for these bit patterns: 1, ~0.00995, the smallest subnormal, the largest finite, −1, 2,
// 0.5, ~0.001, 1+2^-7).
func TestZeroCenteredMatchesTorch(t *testing.T) {
	tests := []struct {
		dt             loader.DType
		in, fwd, round []uint16
	}{
		{loader.BF16,
			[]uint16{0x3F80, 0x3C23, 0x0001, 0x7F7F, 0xBF80, 0x4000, 0x3F00, 0x3A83, 0x3F81},
			[]uint16{0x0000, 0xBF7D, 0xBF80, 0x7F7F, 0xC000, 0x3F80, 0xBF00, 0xBF80, 0x3C00},
			[]uint16{0x3F80, 0x3C40, 0x0000, 0x7F7F, 0xBF80, 0x4000, 0x3F00, 0x0000, 0x3F81}},
		{loader.F16,
			[]uint16{0x3C00, 0x2118, 0x0001, 0x7BFF, 0x3800},
			[]uint16{0x0000, 0xBBEC, 0xBC00, 0x7BFF, 0xB800}, nil},
	}
	op, _ := LookupOp(OpZeroCentered)
	enc := func(v []uint16) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], x)
		}
		return b
	}
	for _, tc := range tests {
		g := &Group{Op: OpZeroCentered, Shape: []int64{int64(len(tc.in))}, DType: tc.dt, Split: SplitDuplicated}
		got, err := op.Slice(g, Dest{TPSize: 1}, [][]byte{enc(tc.in)}, 2, Dims{}, func(n int) []byte { return make([]byte, n) })
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.fwd {
			if x := binary.LittleEndian.Uint16(got[2*i:]); x != tc.fwd[i] {
				t.Errorf("%s %#04x − 1 = %#04x, torch gives %#04x", tc.dt, tc.in[i], x, tc.fwd[i])
			}
		}
		if tc.round == nil {
			continue
		}
		back, err := op.Inverse(g, got, []int64{int64(len(got))}, 2, Dims{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range tc.round {
			if x := binary.LittleEndian.Uint16(back[0][2*i:]); x != tc.round[i] {
				t.Errorf("%s (%#04x − 1) + 1 = %#04x, torch gives %#04x", tc.dt, tc.in[i], x, tc.round[i])
			}
		}
	}
	if err := op.CanSplit(SplitColumn); err == nil {
		t.Error("a zero-centered norm accepted a column split")
	}
}
