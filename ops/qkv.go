package ops

import "fmt"

// QKV fusion (Megatron-Core linear_qkv).
//
// With nh attention heads, ng query groups (num_query_groups, = num_key_value_heads) and
// head size d (kv_channels), Hugging Face stores q_proj as nh·d rows, k_proj and v_proj
// as ng·d rows each (a row is `hidden` elements for a weight, one element for a bias).
// Megatron stores one tensor of (nh + 2·ng)·d rows, grouped by query group:
//
//	for g in 0..ng-1:
//	    q rows [g·(nh/ng)·d, (g+1)·(nh/ng)·d)   the nh/ng query heads of group g
//	    k rows [g·d, (g+1)·d)                   the key head of group g
//	    v rows [g·d, (g+1)·d)                   the value head of group g
//
// GQA is nh/ng > 1, MQA ng = 1, MHA ng = nh. Tensor parallelism then takes contiguous
// row chunks of this fused tensor (torch.chunk along dim 0), which [FuseQKVRows] can
// produce directly.

// QKVFusedRows is the row count (nh + 2·ng)·d of the fused tensor, after checking that
// nh, ng, d are positive and nh is a multiple of ng.
func QKVFusedRows(nh, ng, d int) (int, error) {
	if nh < 1 || ng < 1 || d < 1 {
		return 0, fmt.Errorf("ops: QKV needs positive num_attention_heads, num_query_groups and kv_channels, got nh=%d ng=%d d=%d: %w", nh, ng, d, ErrArgument)
	}
	if nh%ng != 0 {
		return 0, fmt.Errorf("ops: num_attention_heads %d is not a multiple of num_query_groups %d; Megatron needs whole query heads per group, check the config: %w", nh, ng, ErrArgument)
	}
	n, ok := mulInt(nh+2*ng, d)
	if !ok {
		return 0, fmt.Errorf("ops: QKV with nh=%d ng=%d d=%d is too large: %w", nh, ng, d, ErrArgument)
	}
	return n, nil
}

// qkvSegment is one maximal run of fused rows that comes from one contiguous run of
// one source: fused rows [fused, fused+n) are source `which` (0=q, 1=k, 2=v) rows
// [row, row+n).
type qkvSegment struct {
	which, row, fused, n int
}

// qkvSegments lists the runs covering fused rows [start, start+count).
func qkvSegments(nh, ng, d, start, count int) []qkvSegment {
	qn := nh / ng * d // q rows per group
	per := qn + 2*d   // fused rows per group
	var segs []qkvSegment
	end := start + count
	for f := start; f < end; {
		g, o := f/per, f%per
		var s qkvSegment
		switch {
		case o < qn:
			s = qkvSegment{which: 0, row: g*qn + o, n: qn - o}
		case o < qn+d:
			s = qkvSegment{which: 1, row: g*d + o - qn, n: qn + d - o}
		default:
			s = qkvSegment{which: 2, row: g*d + o - qn - d, n: per - o}
		}
		s.fused = f
		s.n = min(s.n, end-f)
		segs = append(segs, s)
		f += s.n
	}
	return segs
}

// checkQKV validates the fused geometry and the q, k, v buffer lengths.
func checkQKV(fn string, q, k, v []byte, nh, ng, d, rowBytes int) (rows int, err error) {
	rows, err = QKVFusedRows(nh, ng, d)
	if err != nil {
		return 0, fmt.Errorf("ops.%s: %w", fn, err)
	}
	if rowBytes < 1 {
		return 0, fmt.Errorf("ops.%s: rowBytes %d is invalid; pass hidden×elem for a weight or elem for a bias: %w", fn, rowBytes, ErrArgument)
	}
	if _, ok := mulInt(rows, rowBytes); !ok {
		return 0, fmt.Errorf("ops.%s: %d rows of %d bytes is too large: %w", fn, rows, rowBytes, ErrArgument)
	}
	geo := fmt.Sprintf("nh=%d ng=%d d=%d, %d bytes per row", nh, ng, d, rowBytes)
	if err := checkLen(fn, "q", len(q), nh*d*rowBytes, "nh·d rows, "+geo); err != nil {
		return 0, err
	}
	if err := checkLen(fn, "k", len(k), ng*d*rowBytes, "ng·d rows, "+geo); err != nil {
		return 0, err
	}
	if err := checkLen(fn, "v", len(v), ng*d*rowBytes, "ng·d rows, "+geo); err != nil {
		return 0, err
	}
	return rows, nil
}

// FuseQKV writes the Megatron fused QKV tensor (layout above) into dst from Hugging
// Face q, k, v. rowBytes is the size of one row: hidden×elem for the weights, elem for
// the 1-D biases (so the same call serves linear_qkv.weight and linear_qkv.bias).
// len(q) must be nh·d·rowBytes, len(k) = len(v) = ng·d·rowBytes and
// len(dst) = (nh+2·ng)·d·rowBytes.
func FuseQKV(dst, q, k, v []byte, nh, ng, d, rowBytes int) error {
	rows, err := QKVFusedRows(nh, ng, d)
	if err != nil {
		return fmt.Errorf("ops.FuseQKV: %w", err)
	}
	return fuseQKV("FuseQKV", dst, q, k, v, nh, ng, d, rowBytes, 0, rows)
}

// FuseQKVRows writes only fused rows [rowStart, rowStart+rowCount) of [FuseQKV]'s
// result into dst (len(dst) = rowCount·rowBytes). With the range of a torch.chunk
// ([ChunkRange] over QKVFusedRows) it yields one TP rank's column-parallel shard
// without building the whole fused tensor.
func FuseQKVRows(dst, q, k, v []byte, nh, ng, d, rowBytes, rowStart, rowCount int) error {
	return fuseQKV("FuseQKVRows", dst, q, k, v, nh, ng, d, rowBytes, rowStart, rowCount)
}

func fuseQKV(fn string, dst, q, k, v []byte, nh, ng, d, rowBytes, rowStart, rowCount int) error {
	rows, err := checkQKV(fn, q, k, v, nh, ng, d, rowBytes)
	if err != nil {
		return err
	}
	if rowStart < 0 || rowCount < 0 || rowStart > rows || rowCount > rows-rowStart {
		return fmt.Errorf("ops.%s: rows [%d, %d) are outside the %d fused rows: %w", fn, rowStart, rowStart+rowCount, rows, ErrArgument)
	}
	if err := checkLen(fn, "dst", len(dst), rowCount*rowBytes, fmt.Sprintf("%d fused rows of %d bytes", rowCount, rowBytes)); err != nil {
		return err
	}
	srcs := [3][]byte{q, k, v}
	for _, s := range qkvSegments(nh, ng, d, rowStart, rowCount) {
		at := (s.fused - rowStart) * rowBytes
		n := s.n * rowBytes
		copy(dst[at:at+n], srcs[s.which][s.row*rowBytes:s.row*rowBytes+n])
	}
	return nil
}

// SplitQKV is the inverse of [FuseQKV]: it fills q, k, v (sizes as for FuseQKV) from
// the fused tensor. It is what a Megatron -> Hugging Face conversion needs.
func SplitQKV(q, k, v, fused []byte, nh, ng, d, rowBytes int) error {
	rows, err := checkQKV("SplitQKV", q, k, v, nh, ng, d, rowBytes)
	if err != nil {
		return err
	}
	if err := checkLen("SplitQKV", "fused", len(fused), rows*rowBytes, fmt.Sprintf("(nh+2·ng)·d = %d rows of %d bytes", rows, rowBytes)); err != nil {
		return err
	}
	dsts := [3][]byte{q, k, v}
	for _, s := range qkvSegments(nh, ng, d, 0, rows) {
		at := s.fused * rowBytes
		n := s.n * rowBytes
		copy(dsts[s.which][s.row*rowBytes:s.row*rowBytes+n], fused[at:at+n])
	}
	return nil
}
