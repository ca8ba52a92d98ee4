package ops

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// Test helpers and naive reference implementations. The references are written from
// the PyTorch definitions (reshape/cat/chunk/stack as index arithmetic, one element at a
// time) and share no code with the package.

var elemSizes = []int{1, 2, 4, 8}

// enc encodes element values as elem-byte little-endian words. Hand-written tests use
// values < 256 so that every element size represents them.
func enc(elem int, vals ...uint64) []byte {
	out := make([]byte, len(vals)*elem)
	var w [8]byte
	for i, v := range vals {
		binary.LittleEndian.PutUint64(w[:], v)
		copy(out[i*elem:(i+1)*elem], w[:elem])
	}
	return out
}

// dec decodes elem-byte little-endian words.
func dec(elem int, b []byte) []uint64 {
	out := make([]uint64, len(b)/elem)
	for i := range out {
		var w [8]byte
		copy(w[:elem], b[i*elem:(i+1)*elem])
		out[i] = binary.LittleEndian.Uint64(w[:])
	}
	return out
}

// seq is base, base+1, ..., base+n-1.
func seq(base uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func cat(parts ...[]uint64) []uint64 {
	var out []uint64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

// refChunkSizes is torch.chunk's list of chunk sizes: torch computes
// split_size = ceil(n/parts) and then splits greedily, except that an empty dimension
// gives parts empty chunks.
func refChunkSizes(n, parts int) []int {
	if n == 0 {
		return make([]int, parts)
	}
	split := (n + parts - 1) / parts
	var sizes []int
	for rest := n; rest > 0; rest -= split {
		sizes = append(sizes, min(split, rest))
	}
	return sizes
}

// unravel turns a linear row-major index into a multi-index.
func unravel(i int, shape []int64) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % int(shape[d])
		i /= int(shape[d])
	}
	return idx
}

// ravel turns a multi-index into a linear row-major index.
func ravel(idx []int, shape []int64) int {
	i := 0
	for d := range shape {
		i = i*int(shape[d]) + idx[d]
	}
	return i
}

// refNarrow is t.narrow(dim, start, size), element by element.
func refNarrow(src []byte, shape []int64, elem, dim int, start, size int64) []byte {
	out := append([]int64(nil), shape...)
	out[dim] = size
	dst := make([]byte, numel(out)*elem)
	for o := 0; o < numel(out); o++ {
		idx := unravel(o, out)
		idx[dim] += int(start)
		s := ravel(idx, shape)
		copy(dst[o*elem:(o+1)*elem], src[s*elem:(s+1)*elem])
	}
	return dst
}

// refTranspose is src.T for a [rows, cols] matrix, element by element.
func refTranspose(src []byte, rows, cols, elem int) []byte {
	dst := make([]byte, len(src))
	for i := range rows {
		for j := range cols {
			copy(dst[(j*rows+i)*elem:(j*rows+i+1)*elem], src[(i*cols+j)*elem:(i*cols+j+1)*elem])
		}
	}
	return dst
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want one wrapping %v", err, target)
	}
}
