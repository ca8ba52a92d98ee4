package ops

import "fmt"

// ChunkRange says where chunk idx of torch.chunk over a dimension of length n into
// parts pieces lies: elements [start, start+size) of that dimension.
//
// torch.chunk semantics, exactly: every chunk has ceil(n/parts) elements except the
// last, which may be smaller; there are ceil(n / ceil(n/parts)) chunks, which can be
// FEWER than parts (n=5, parts=4 gives sizes 2,2,1 and no chunk 3; n=3, parts=4 gives
// 1,1,1). For n=0 torch returns parts empty chunks, so every idx < parts is ok with
// size 0. ok is false when chunk idx does not exist (or n < 0, parts < 1, idx < 0).
func ChunkRange(n, parts, idx int) (start, size int, ok bool) {
	if n < 0 || parts < 1 || idx < 0 {
		return 0, 0, false
	}
	if n == 0 {
		return 0, 0, idx < parts
	}
	c := n / parts
	if n%parts != 0 {
		c++
	}
	if idx >= ChunkCount(n, parts) {
		return 0, 0, false
	}
	start = idx * c
	return start, min(c, n-start), true
}

// ChunkCount is the number of chunks torch.chunk returns for a dimension of length n
// split into parts pieces (0 for invalid arguments). It is parts when n is 0 and may be
// less than parts otherwise (see [ChunkRange]).
func ChunkCount(n, parts int) int {
	if n < 0 || parts < 1 {
		return 0
	}
	if n == 0 {
		return parts
	}
	c := n / parts
	if n%parts != 0 {
		c++
	}
	return n/c + min(1, n%c)
}

// ChunkShape is the shape of chunk idx of torch.chunk(t, parts, dim) for a tensor t of
// the given shape, and the start index of that chunk along dim.
func ChunkShape(shape []int64, dim, parts, idx int) (out []int64, start int64, err error) {
	if dim < 0 || dim >= len(shape) {
		return nil, 0, fmt.Errorf("ops.ChunkShape: dim %d is out of range for a %d-D tensor %v: %w", dim, len(shape), shape, ErrArgument)
	}
	if _, err := NumElements(shape); err != nil {
		return nil, 0, fmt.Errorf("ops.ChunkShape: %w", err)
	}
	s, n, ok := ChunkRange(int(shape[dim]), parts, idx)
	if !ok {
		return nil, 0, fmt.Errorf("ops.ChunkShape: torch.chunk of size %d into %d parts has %d chunks, there is no chunk %d; the dimension is too small for this parallel size: %w",
			shape[dim], parts, ChunkCount(int(shape[dim]), parts), idx, ErrArgument)
	}
	out = cloneShape(shape)
	out[dim] = int64(n)
	return out, int64(s), nil
}
