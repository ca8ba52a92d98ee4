package ops

import "fmt"

// SwiGLU fc1 sharding (Megatron-Core linear_fc1 with swiglu=true).
//
// Hugging Face keeps gate_proj and up_proj as two tensors of the same shape [F, ...].
// TP rank r of tp holds
//
//	cat(chunk(gate, tp, dim=0)[r], chunk(up, tp, dim=0)[r], dim=0)
//
// i.e. its slice of gate followed by the same slice of up. This is NOT a row chunk of
// cat(gate, up): with tp = 2, rank 0 holds gate rows [0, F/2) and up rows [0, F/2).
// With tp = 1 the result is simply gate followed by up.

// SwiGLUShardShape is the shape of TP rank `rank`'s fc1 shard for gate/up tensors of
// the given shape: [2·c, shape[1:]...] with c the rank's torch.chunk size along dim 0.
func SwiGLUShardShape(shape []int64, tp, rank int) ([]int64, error) {
	cs, _, err := ChunkShape(shape, 0, tp, rank)
	if err != nil {
		return nil, fmt.Errorf("ops.SwiGLUShardShape: %w", err)
	}
	cs[0] *= 2
	return cs, nil
}

// SwiGLUShard writes TP rank `rank`'s fc1 shard (layout above) into dst. gate and up
// both hold a tensor of the given shape (rank >= 1); dst must be exactly
// NumBytes(SwiGLUShardShape(shape, tp, rank), elem) bytes. It fails if torch.chunk
// yields no chunk `rank` (fewer rows than ranks need).
func SwiGLUShard(dst, gate, up []byte, shape []int64, elem, tp, rank int) error {
	_, dimLen, rowBytes, total, err := layout3("SwiGLUShard", shape, elem, 0)
	if err != nil {
		return err
	}
	start, size, ok := ChunkRange(dimLen, tp, rank)
	if !ok {
		return fmt.Errorf("ops.SwiGLUShard: torch.chunk of %d rows into %d parts has %d chunks, there is no chunk for rank %d; the ffn size is too small for this TP size: %w",
			dimLen, tp, ChunkCount(dimLen, tp), rank, ErrArgument)
	}
	what := fmt.Sprintf("shape %v × %d bytes", shape, elem)
	if err := checkLen("SwiGLUShard", "gate", len(gate), total, what); err != nil {
		return err
	}
	if err := checkLen("SwiGLUShard", "up", len(up), total, what); err != nil {
		return err
	}
	half := size * rowBytes
	if err := checkLen("SwiGLUShard", "dst", len(dst), 2*half, fmt.Sprintf("2×%d rows of %d bytes", size, rowBytes)); err != nil {
		return err
	}
	off := start * rowBytes
	copy(dst[:half], gate[off:off+half])
	copy(dst[half:], up[off:off+half])
	return nil
}

// SwiGLUMerge is the inverse of [SwiGLUShard] over all ranks: shards[r] is rank r's fc1
// shard, and gate and up (each NumBytes(shape, elem) bytes) receive the full tensors.
// len(shards) must be tp and every rank must exist under torch.chunk, as the Megatron
// checkpoint it reads back had one shard per TP rank.
func SwiGLUMerge(gate, up []byte, shards [][]byte, shape []int64, elem, tp int) error {
	_, dimLen, rowBytes, total, err := layout3("SwiGLUMerge", shape, elem, 0)
	if err != nil {
		return err
	}
	if tp < 1 || len(shards) != tp {
		return fmt.Errorf("ops.SwiGLUMerge: got %d shards for TP size %d; pass one shard per TP rank: %w", len(shards), tp, ErrArgument)
	}
	if c := ChunkCount(dimLen, tp); c != tp {
		return fmt.Errorf("ops.SwiGLUMerge: torch.chunk of %d rows into %d parts has only %d chunks, so %d shards cannot come from it: %w", dimLen, tp, c, tp, ErrArgument)
	}
	what := fmt.Sprintf("shape %v × %d bytes", shape, elem)
	if err := checkLen("SwiGLUMerge", "gate", len(gate), total, what); err != nil {
		return err
	}
	if err := checkLen("SwiGLUMerge", "up", len(up), total, what); err != nil {
		return err
	}
	for r, sh := range shards {
		start, size, _ := ChunkRange(dimLen, tp, r)
		half := size * rowBytes
		if err := checkLen("SwiGLUMerge", fmt.Sprintf("shard %d", r), len(sh), 2*half, fmt.Sprintf("2×%d rows of %d bytes", size, rowBytes)); err != nil {
			return err
		}
		off := start * rowBytes
		copy(gate[off:off+half], sh[:half])
		copy(up[off:off+half], sh[half:])
	}
	return nil
}
