package ops

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Hand-worked fused layouts. q holds 0, 1, 2, ...; k 100, 101, ...; v 200, 201, ...;
// a row has `hidden` elements (hidden = 1 for biases).
var qkvCases = []struct {
	name          string
	nh, ng, d, hd int
	want          []uint64
}{
	// weights, GQA nh/ng = 2: q rows q0=[0 1] q1=[2 3] q2=[4 5] q3=[6 7], k0=[100 101] k1=[102 103], v likewise.
	{"weight GQA2", 4, 2, 1, 2, []uint64{
		0, 1, 2, 3, 100, 101, 200, 201, // group 0: q0 q1 k0 v0
		4, 5, 6, 7, 102, 103, 202, 203, // group 1: q2 q3 k1 v1
	}},
	// weights, GQA nh/ng = 4
	{"weight GQA4", 8, 2, 1, 2, []uint64{
		0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 200, 201,
		8, 9, 10, 11, 12, 13, 14, 15, 102, 103, 202, 203,
	}},
	// weights, MQA (one group)
	{"weight MQA", 2, 1, 1, 3, []uint64{0, 1, 2, 3, 4, 5, 100, 101, 102, 200, 201, 202}},
	// weights, MHA (ng = nh)
	{"weight MHA", 2, 2, 1, 2, []uint64{0, 1, 100, 101, 200, 201, 2, 3, 102, 103, 202, 203}},
	// weights with head dim 2: group g takes q rows [4g, 4g+4), k rows [2g, 2g+2), v rows [2g, 2g+2)
	{"weight GQA2 d2", 4, 2, 2, 1, []uint64{
		0, 1, 2, 3, 100, 101, 200, 201,
		4, 5, 6, 7, 102, 103, 202, 203,
	}},
	// biases (rows of one element)
	{"bias GQA2", 4, 2, 2, 1, []uint64{0, 1, 2, 3, 100, 101, 200, 201, 4, 5, 6, 7, 102, 103, 202, 203}},
	{"bias GQA4", 8, 2, 1, 1, []uint64{0, 1, 2, 3, 100, 200, 4, 5, 6, 7, 101, 201}},
	{"bias MQA", 4, 1, 2, 1, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 200, 201}},
	{"bias MHA", 3, 3, 2, 1, []uint64{0, 1, 100, 101, 200, 201, 2, 3, 102, 103, 202, 203, 4, 5, 104, 105, 204, 205}},
}

func TestFuseQKVHandWorked(t *testing.T) {
	for _, tc := range qkvCases {
		for _, elem := range elemSizes {
			t.Run(fmt.Sprintf("%s/elem%d", tc.name, elem), func(t *testing.T) {
				rb := tc.hd * elem
				q := enc(elem, seq(0, tc.nh*tc.d*tc.hd)...)
				k := enc(elem, seq(100, tc.ng*tc.d*tc.hd)...)
				v := enc(elem, seq(200, tc.ng*tc.d*tc.hd)...)
				rows, err := QKVFusedRows(tc.nh, tc.ng, tc.d)
				if err != nil || rows*tc.hd != len(tc.want) {
					t.Fatalf("QKVFusedRows = %d, %v; want %d rows", rows, err, len(tc.want)/tc.hd)
				}
				dst := make([]byte, len(tc.want)*elem)
				if err := FuseQKV(dst, q, k, v, tc.nh, tc.ng, tc.d, rb); err != nil {
					t.Fatal(err)
				}
				if got := dec(elem, dst); !equalU64(got, tc.want) {
					t.Fatalf("fused = %v\nwant    %v", got, tc.want)
				}
				// Every row range, in particular every TP chunk, is the same rows of the whole.
				for s := 0; s <= rows; s++ {
					for c := 0; s+c <= rows; c++ {
						part := make([]byte, c*rb)
						if err := FuseQKVRows(part, q, k, v, tc.nh, tc.ng, tc.d, rb, s, c); err != nil {
							t.Fatalf("rows [%d,+%d): %v", s, c, err)
						}
						if !bytes.Equal(part, dst[s*rb:(s+c)*rb]) {
							t.Fatalf("FuseQKVRows [%d,+%d) = %v, want %v", s, c, dec(elem, part), tc.want[s*tc.hd:(s+c)*tc.hd])
						}
					}
				}
				// The inverse gives q, k, v back.
				q2, k2, v2 := make([]byte, len(q)), make([]byte, len(k)), make([]byte, len(v))
				if err := SplitQKV(q2, k2, v2, dst, tc.nh, tc.ng, tc.d, rb); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(q, q2) || !bytes.Equal(k, k2) || !bytes.Equal(v, v2) {
					t.Fatalf("SplitQKV(FuseQKV(q,k,v)) != q,k,v")
				}
			})
		}
	}
}

// TP shard of the fused bias with nh=4 ng=2 d=1 at TP 2: rank r holds group r.
func TestFuseQKVTPShard(t *testing.T) {
	q, k, v := enc(2, 0, 1, 2, 3), enc(2, 100, 101), enc(2, 200, 201)
	rows, _ := QKVFusedRows(4, 2, 1)
	want := [][]uint64{{0, 1, 100, 200}, {2, 3, 101, 201}}
	for r := range 2 {
		s, c, ok := ChunkRange(rows, 2, r)
		if !ok {
			t.Fatalf("no chunk %d", r)
		}
		dst := make([]byte, c*2)
		if err := FuseQKVRows(dst, q, k, v, 4, 2, 1, 2, s, c); err != nil {
			t.Fatal(err)
		}
		if got := dec(2, dst); !equalU64(got, want[r]) {
			t.Errorf("rank %d = %v, want %v", r, got, want[r])
		}
	}
}

func TestFuseQKVErrors(t *testing.T) {
	q, k, v := make([]byte, 8), make([]byte, 4), make([]byte, 4) // nh=4 ng=2 d=1, rowBytes 2
	tests := []struct {
		name          string
		dst, q, k, v  []byte
		nh, ng, d, rb int
		want          error
	}{
		{"ok control", make([]byte, 16), q, k, v, 4, 2, 1, 2, nil},
		{"nh not multiple of ng", make([]byte, 16), q, k, v, 4, 3, 1, 2, ErrArgument},
		{"zero groups", make([]byte, 16), q, k, v, 4, 0, 1, 2, ErrArgument},
		{"zero head dim", make([]byte, 16), q, k, v, 4, 2, 0, 2, ErrArgument},
		{"zero rowBytes", make([]byte, 16), q, k, v, 4, 2, 1, 0, ErrArgument},
		{"short q", make([]byte, 16), q[:6], k, v, 4, 2, 1, 2, ErrSize},
		{"long k", make([]byte, 16), q, make([]byte, 6), v, 4, 2, 1, 2, ErrSize},
		{"short v", make([]byte, 16), q, k, v[:2], 4, 2, 1, 2, ErrSize},
		{"short dst", make([]byte, 14), q, k, v, 4, 2, 1, 2, ErrSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := FuseQKV(tt.dst, tt.q, tt.k, tt.v, tt.nh, tt.ng, tt.d, tt.rb)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tt.want)
		})
	}
	wantErr(t, FuseQKVRows(make([]byte, 4), q, k, v, 4, 2, 1, 2, 7, 2), ErrArgument)
	wantErr(t, FuseQKVRows(make([]byte, 4), q, k, v, 4, 2, 1, 2, -1, 2), ErrArgument)
	wantErr(t, SplitQKV(q, k, v, make([]byte, 10), 4, 2, 1, 2), ErrSize)
}

// refFuseQKV follows ROLL's definition literally: cat([q.reshape(ng, qn, H),
// k.reshape(ng, d, H), v.reshape(ng, d, H)], dim=1).reshape(-1, H), one element at a time.
func refFuseQKV(q, k, v []byte, nh, ng, d, hidden, elem int) []byte {
	qn := nh / ng * d
	per := qn + 2*d
	out := make([]byte, ng*per*hidden*elem)
	for g := range ng {
		for i := range per {
			for h := range hidden {
				var src []byte
				var at int
				switch {
				case i < qn:
					src, at = q, (g*qn+i)*hidden+h
				case i < qn+d:
					src, at = k, (g*d+i-qn)*hidden+h
				default:
					src, at = v, (g*d+i-qn-d)*hidden+h
				}
				o := (g*per+i)*hidden + h
				copy(out[o*elem:(o+1)*elem], src[at*elem:(at+1)*elem])
			}
		}
	}
	return out
}

func TestFuseQKVMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for it := 0; it < 300; it++ {
		ng := 1 + r.IntN(4)
		nh := ng * (1 + r.IntN(4))
		d := 1 + r.IntN(5)
		hidden := 1 + r.IntN(6)
		elem := []int{1, 2, 4, 8, 3}[r.IntN(5)]
		rb := hidden * elem
		q := randBytes(r, nh*d*rb)
		k := randBytes(r, ng*d*rb)
		v := randBytes(r, ng*d*rb)
		want := refFuseQKV(q, k, v, nh, ng, d, hidden, elem)
		got := make([]byte, len(want))
		if err := FuseQKV(got, q, k, v, nh, ng, d, rb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("FuseQKV nh=%d ng=%d d=%d hidden=%d elem=%d differs from reference", nh, ng, d, hidden, elem)
		}
		rows := (nh + 2*ng) * d
		tp := 1 + r.IntN(4)
		for rank := 0; rank < ChunkCount(rows, tp); rank++ {
			s, c, _ := ChunkRange(rows, tp, rank)
			part := make([]byte, c*rb)
			if err := FuseQKVRows(part, q, k, v, nh, ng, d, rb, s, c); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(part, want[s*rb:(s+c)*rb]) {
				t.Fatalf("FuseQKVRows TP %d rank %d (nh=%d ng=%d d=%d) differs from reference", tp, rank, nh, ng, d)
			}
		}
	}
}
