// Package ops holds omnitui's pure byte transforms: the tensor surgery of the
// Hugging Face -> Megatron-Core conversion (QKV fuse, SwiGLU shard, tensor-parallel
// chunks, legacy grouped-GEMM packing, transposes) and dtype casts.
//
// Conventions shared by every function here:
//
//   - A tensor is a []byte holding its elements little-endian, row-major (C order),
//     with no padding: element (i0, i1, ..., ik) of a tensor of shape (s0, ..., sk)
//     starts at byte ((i0*s1 + i1)*s2 + ... + ik) * elem.
//   - elem is the element size in bytes (any value >= 1; 1, 2, 4 and 8 are the usual).
//     Except for [Cast], nothing here looks inside an element, so the transforms are
//     exact for every dtype.
//   - The caller owns every buffer. A destination must have exactly the length the
//     result needs; it is fully overwritten. Sources are never modified. Sources and
//     destinations must not overlap.
//   - Bad input (wrong buffer length, inconsistent sizes, indices out of range) is
//     reported as an error wrapping [ErrArgument] or [ErrSize]; nothing panics.
//   - Splits follow torch.chunk exactly (see [ChunkRange]), which is what alibaba/ROLL's
//     mcore_adapter converter uses for tensor parallelism.
//
// The package does no I/O and keeps no state; every function is safe for concurrent
// use on distinct destinations.
package ops
