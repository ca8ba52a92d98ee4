package ops

import "fmt"

// Legacy grouped GEMM (moe_grouped_gemm with moe_use_legacy_grouped_gemm).
//
// Megatron's legacy GroupedMLP keeps all local experts of a layer in two tensors:
//
//	weight1 = stack([fc1_e.T for e in local experts]).view(hidden, -1)
//	weight2 = stack([fc2_e.T for e in local experts]).view(-1, hidden)
//
// where fc1_e is expert e's TP shard of linear_fc1 ([R, hidden], R = rows of its SwiGLU
// shard) and fc2_e its TP shard of linear_fc2 ([hidden, C]). torch.stack copies each
// transpose into a contiguous [E, ., .] tensor and view is a raw reshape, so byte-wise:
//
//	weight1 = fc1_0.T ‖ fc1_1.T ‖ ... ‖ fc1_{E-1}.T   each [hidden, R] row-major; shape [hidden, E·R]
//	weight2 = fc2_0.T ‖ fc2_1.T ‖ ... ‖ fc2_{E-1}.T   each [C, hidden] row-major; shape [E·C, hidden]
//
// Part e occupies bytes [e·S, (e+1)·S) with S = R·hidden·elem (resp. C·hidden·elem).
// Note that weight1's shape is a reshape, not a concatenation along dim 1: a row of
// weight1 generally spans parts of several experts' transposes. weight2's shape happens
// to equal a concatenation along dim 0.
//
// A streaming executor fills the stacked tensor part by part: [GroupedLegacySlot] gives
// the part's bytes and [GroupedLegacyPart] writes the transposed shard there.

// GroupedLegacyWeight1Shape is the shape [hidden, experts·R] of weight1 built from
// experts fc1 shards of shape fc1Shape = [R, hidden].
func GroupedLegacyWeight1Shape(experts int, fc1Shape []int64) ([]int64, error) {
	if err := checkGroupedArgs("GroupedLegacyWeight1Shape", experts, fc1Shape); err != nil {
		return nil, err
	}
	return []int64{fc1Shape[1], int64(experts) * fc1Shape[0]}, nil
}

// GroupedLegacyWeight2Shape is the shape [experts·C, hidden] of weight2 built from
// experts fc2 shards of shape fc2Shape = [hidden, C].
func GroupedLegacyWeight2Shape(experts int, fc2Shape []int64) ([]int64, error) {
	if err := checkGroupedArgs("GroupedLegacyWeight2Shape", experts, fc2Shape); err != nil {
		return nil, err
	}
	return []int64{int64(experts) * fc2Shape[1], fc2Shape[0]}, nil
}

func checkGroupedArgs(fn string, experts int, shape []int64) error {
	if experts < 1 {
		return fmt.Errorf("ops.%s: %d local experts; need at least 1: %w", fn, experts, ErrArgument)
	}
	if len(shape) != 2 {
		return fmt.Errorf("ops.%s: an expert weight must be 2-D, got shape %v: %w", fn, shape, ErrArgument)
	}
	per, err := NumElements(shape)
	if err != nil {
		return fmt.Errorf("ops.%s: %w", fn, err)
	}
	if _, ok := mulInt(per, experts); !ok {
		return fmt.Errorf("ops.%s: %d experts of shape %v is too large: %w", fn, experts, shape, ErrArgument)
	}
	return nil
}

// GroupedLegacySlot returns the sub-slice of a stacked legacy tensor (weight1 or
// weight2, len(stacked) = parts·rows·cols·elem) that holds part `part`, whose
// untransposed shard has shape [rows, cols]. The returned slice aliases stacked.
func GroupedLegacySlot(stacked []byte, parts, part, rows, cols, elem int) ([]byte, error) {
	if parts < 1 || part < 0 || part >= parts || rows < 0 || cols < 0 || elem < 1 {
		return nil, fmt.Errorf("ops.GroupedLegacySlot: part %d of %d with rows=%d cols=%d elem=%d; need 0 <= part < parts and positive sizes: %w", part, parts, rows, cols, elem, ErrArgument)
	}
	s, ok := mulInt(rows, cols, elem)
	if !ok {
		return nil, fmt.Errorf("ops.GroupedLegacySlot: %d×%d elements of %d bytes is too large: %w", rows, cols, elem, ErrArgument)
	}
	total, ok := mulInt(s, parts)
	if !ok {
		return nil, fmt.Errorf("ops.GroupedLegacySlot: %d parts of %d bytes is too large: %w", parts, s, ErrArgument)
	}
	if err := checkLen("GroupedLegacySlot", "stacked", len(stacked), total, fmt.Sprintf("%d parts of %d×%d elements of %d bytes", parts, rows, cols, elem)); err != nil {
		return nil, err
	}
	return stacked[part*s : (part+1)*s : (part+1)*s], nil
}

// GroupedLegacyPart writes one expert's part of a legacy grouped tensor: src is the
// expert's TP shard of shape [rows, cols] (fc1: [R, hidden]; fc2: [hidden, C]) and dst,
// the part's slot (see [GroupedLegacySlot]), receives its transpose [cols, rows].
func GroupedLegacyPart(dst, src []byte, rows, cols, elem int) error {
	if err := Transpose2D(dst, src, rows, cols, elem); err != nil {
		return fmt.Errorf("ops.GroupedLegacyPart: %w", err)
	}
	return nil
}

// GroupedLegacyUnpart is the inverse of [GroupedLegacyPart]: slot holds a part's
// transposed bytes ([cols, rows]) and dst receives the expert's shard [rows, cols].
func GroupedLegacyUnpart(dst, slot []byte, rows, cols, elem int) error {
	if err := Transpose2D(dst, slot, cols, rows, elem); err != nil {
		return fmt.Errorf("ops.GroupedLegacyUnpart: %w", err)
	}
	return nil
}
