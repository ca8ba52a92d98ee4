package ops

import "fmt"

// SlicedShape is shape with dimension dim replaced by size: the shape of
// t.narrow(dim, start, size). It fails if dim is out of range or size < 0.
func SlicedShape(shape []int64, dim int, size int64) ([]int64, error) {
	if dim < 0 || dim >= len(shape) {
		return nil, fmt.Errorf("ops.SlicedShape: dim %d is out of range for a %d-D tensor %v: %w", dim, len(shape), shape, ErrArgument)
	}
	if size < 0 {
		return nil, fmt.Errorf("ops.SlicedShape: slice size %d is negative: %w", size, ErrArgument)
	}
	out := cloneShape(shape)
	out[dim] = size
	return out, nil
}

// layout3 views a tensor as [outer, shape[dim], inner] where inner counts bytes.
func layout3(fn string, shape []int64, elem, dim int) (outer, dimLen, innerBytes, total int, err error) {
	if dim < 0 || dim >= len(shape) {
		return 0, 0, 0, 0, fmt.Errorf("ops.%s: dim %d is out of range for a %d-D tensor of shape %v: %w", fn, dim, len(shape), shape, ErrArgument)
	}
	total, err = NumBytes(shape, elem)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("ops.%s: %w", fn, err)
	}
	outer, _ = NumElements(shape[:dim])
	inner, _ := NumElements(shape[dim+1:])
	return outer, int(shape[dim]), inner * elem, total, nil
}

// SliceDim copies src.narrow(dim, start, size) into dst: the elements whose index along
// dim is in [start, start+size), in row-major order. src holds a tensor of the given
// shape; dst must be exactly NumBytes(SlicedShape(shape, dim, size), elem) bytes.
//
// The copy is one memmove per index of the dimensions before dim, so slicing along
// dim 0 is a single contiguous copy.
func SliceDim(dst, src []byte, shape []int64, elem, dim int, start, size int64) error {
	outer, dimLen, inner, total, err := layout3("SliceDim", shape, elem, dim)
	if err != nil {
		return err
	}
	if start < 0 || size < 0 || start > int64(dimLen) || size > int64(dimLen)-start {
		return fmt.Errorf("ops.SliceDim: range [%d, %d) is outside dim %d of size %d: %w", start, start+size, dim, dimLen, ErrArgument)
	}
	if err := checkLen("SliceDim", "src", len(src), total, fmt.Sprintf("shape %v × %d bytes", shape, elem)); err != nil {
		return err
	}
	seg := int(size) * inner
	if err := checkLen("SliceDim", "dst", len(dst), outer*seg, fmt.Sprintf("slice [%d:%d] of dim %d of %v × %d bytes", start, start+size, dim, shape, elem)); err != nil {
		return err
	}
	if seg == 0 {
		return nil
	}
	stride := dimLen * inner
	off := int(start) * inner
	for o := range outer {
		copy(dst[o*seg:(o+1)*seg], src[o*stride+off:o*stride+off+seg])
	}
	return nil
}

// ChunkDim copies chunk idx of torch.chunk(src, parts, dim) into dst; dst must hold
// exactly the chunk's shape (see [ChunkShape]). It fails if the chunk does not exist.
func ChunkDim(dst, src []byte, shape []int64, elem, dim, parts, idx int) error {
	cs, start, err := ChunkShape(shape, dim, parts, idx)
	if err != nil {
		return err
	}
	return SliceDim(dst, src, shape, elem, dim, start, cs[dim])
}

// ColumnParallelShard copies TP rank `rank`'s shard of a column-parallel tensor
// (word_embeddings, output_layer, linear_qkv weight and bias): chunk `rank` of
// torch.chunk(src, tp, dim=0). It is one contiguous copy; see [Dim0ByteRange] to read
// only those bytes from a file instead.
func ColumnParallelShard(dst, src []byte, shape []int64, elem, tp, rank int) error {
	return ChunkDim(dst, src, shape, elem, 0, tp, rank)
}

// RowParallelShard copies TP rank `rank`'s shard of a row-parallel tensor (linear_proj,
// linear_fc2): chunk `rank` of torch.chunk(src, tp, dim=1). The tensor must have at
// least 2 dimensions.
func RowParallelShard(dst, src []byte, shape []int64, elem, tp, rank int) error {
	if len(shape) < 2 {
		return fmt.Errorf("ops.RowParallelShard: a row-parallel tensor is split along dim 1, but shape %v has %d dims: %w", shape, len(shape), ErrArgument)
	}
	return ChunkDim(dst, src, shape, elem, 1, tp, rank)
}

// Dim0ByteRange is the byte range [off, off+n) that rows [start, start+size) along
// dim 0 occupy inside a tensor of the given shape: a dim-0 slice (any column-parallel
// shard) is contiguous, so a streaming executor can read just these bytes.
func Dim0ByteRange(shape []int64, elem int, start, size int64) (off, n int64, err error) {
	_, dimLen, inner, _, err := layout3("Dim0ByteRange", shape, elem, 0)
	if err != nil {
		return 0, 0, err
	}
	if start < 0 || size < 0 || start > int64(dimLen) || size > int64(dimLen)-start {
		return 0, 0, fmt.Errorf("ops.Dim0ByteRange: rows [%d, %d) are outside dim 0 of size %d: %w", start, start+size, dimLen, ErrArgument)
	}
	return start * int64(inner), size * int64(inner), nil
}

// ConcatDim is torch.cat(parts, dim): it writes the parts one after another along dim
// into dst. shapes[i] is the shape of parts[i]; all shapes must be equal except along
// dim. It inverts a sequence of [ChunkDim] calls (used to rebuild a tensor from its TP
// shards). dst must be exactly the concatenated tensor's size.
func ConcatDim(dst []byte, parts [][]byte, shapes [][]int64, elem, dim int) error {
	if len(parts) == 0 || len(parts) != len(shapes) {
		return fmt.Errorf("ops.ConcatDim: got %d parts and %d shapes; pass one shape per part, at least one: %w", len(parts), len(shapes), ErrArgument)
	}
	ref := shapes[0]
	if dim < 0 || dim >= len(ref) {
		return fmt.Errorf("ops.ConcatDim: dim %d is out of range for %d-D parts: %w", dim, len(ref), ErrArgument)
	}
	var sumDim int64
	segs := make([]int, len(parts))
	outer, inner := 0, 0
	for i, s := range shapes {
		if len(s) != len(ref) {
			return fmt.Errorf("ops.ConcatDim: part %d has shape %v, part 0 has %v; ranks differ: %w", i, s, ref, ErrArgument)
		}
		for d := range s {
			if d != dim && s[d] != ref[d] {
				return fmt.Errorf("ops.ConcatDim: part %d has shape %v, part 0 has %v; they may differ only in dim %d: %w", i, s, ref, dim, ErrArgument)
			}
		}
		o, _, in, total, err := layout3("ConcatDim", s, elem, dim)
		if err != nil {
			return err
		}
		if err := checkLen("ConcatDim", fmt.Sprintf("part %d", i), len(parts[i]), total, fmt.Sprintf("shape %v × %d bytes", s, elem)); err != nil {
			return err
		}
		outer, inner = o, in
		segs[i] = int(s[dim]) * in
		sumDim += s[dim]
	}
	outShape, err := SlicedShape(ref, dim, sumDim)
	if err != nil {
		return err
	}
	total, err := NumBytes(outShape, elem)
	if err != nil {
		return fmt.Errorf("ops.ConcatDim: %w", err)
	}
	if err := checkLen("ConcatDim", "dst", len(dst), total, fmt.Sprintf("shape %v × %d bytes", outShape, elem)); err != nil {
		return err
	}
	row := int(sumDim) * inner
	for o := range outer {
		at := o * row
		for i, p := range parts {
			copy(dst[at:at+segs[i]], p[o*segs[i]:(o+1)*segs[i]])
			at += segs[i]
		}
	}
	return nil
}
