package pt

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<16)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	tests := []struct {
		name  string
		cuts  []int // split points into data[:n]
		total int
	}{
		{"empty both", []int{0}, 0},
		{"empty second", []int{10}, 10},
		{"empty first", []int{0}, 10},
		{"one byte each", []int{1}, 2},
		{"unequal", []int{3}, 1000},
		{"many parts", []int{1, 7, 64, 65, 1000, 4096, 4097, 30000}, 1 << 16},
		{"power of two tail", []int{1 << 15}, 1 << 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := crc32.ChecksumIEEE(data[:tc.total])
			var got uint32
			prev := 0
			for _, c := range append(tc.cuts, tc.total) {
				part := data[prev:c]
				got = crc32Combine(got, crc32.ChecksumIEEE(part), int64(len(part)))
				prev = c
			}
			if got != want {
				t.Fatalf("combined CRC %08x, want %08x", got, want)
			}
		})
	}
	// Random splits, including lengths that exercise high bits of len2.
	for i := 0; i < 200; i++ {
		a := rng.IntN(len(data))
		b := a + rng.IntN(len(data)-a+1)
		want := crc32.ChecksumIEEE(data[:b])
		got := crc32Combine(crc32.ChecksumIEEE(data[:a]), crc32.ChecksumIEEE(data[a:b]), int64(b-a))
		if got != want {
			t.Fatalf("split %d/%d: combined %08x, want %08x", a, b, got, want)
		}
	}
}

// TestCRC32CombineLarge checks a length beyond 4 GiB against zlib's
// known-good property: the CRC of a run of zeros is independent of how it is
// split. crc(zeros(n)) is computed by combining halves recursively.
func TestCRC32CombineLarge(t *testing.T) {
	zero := make([]byte, 1<<20)
	crcMiB := crc32.ChecksumIEEE(zero)
	// 5 GiB of zeros, built as 5*1024 combinations of 1 MiB.
	var seq uint32
	for i := 0; i < 5*1024; i++ {
		seq = crc32Combine(seq, crcMiB, 1<<20)
	}
	// Same thing built by doubling: 1 MiB -> 1 GiB by 10 doublings, then 4 GiB + 1 GiB.
	c, n := crcMiB, int64(1<<20)
	for n < 1<<30 {
		c = crc32Combine(c, c, n)
		n *= 2
	}
	gib := c
	four := crc32Combine(crc32Combine(gib, gib, 1<<30), crc32Combine(gib, gib, 1<<30), 2<<30)
	dbl := crc32Combine(four, gib, 1<<30)
	if seq != dbl {
		t.Fatalf("5 GiB of zeros: sequential %08x != doubling %08x", seq, dbl)
	}
	// And a small direct check that the zero-run CRC is not trivial.
	if seq == 0 || seq == crcMiB {
		t.Fatalf("suspicious CRC %08x", seq)
	}
}

func TestCRCZeros(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000, 4096, 65537, 1 << 20} {
		if got, want := crcZeros(int64(n)), crc32.ChecksumIEEE(make([]byte, n)); got != want {
			t.Errorf("crcZeros(%d) = %08x, want %08x", n, got, want)
		}
	}
}
