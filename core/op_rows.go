package core

import (
	"fmt"

	"github.com/omnitui/omnitui/core/family"

	"github.com/omnitui/omnitui/ops"
)

// Row-permutation ops: ops whose Megatron tensor is the rows of their inputs in another
// order (gated QKV, the gated delta net's in_proj and conv1d). Such an op describes the
// whole tensor as a list of row segments once (rowLayout); slicing for any split, the
// streaming spans and the inverse all follow from that list. This file is shared by those
// op kinds; it is no op kind itself.

// rowSeg is n consecutive rows of input in starting at row.
type rowSeg struct {
	in     int
	row, n int64
}

// rowLayout is the whole Megatron tensor of a row-permutation op as segments, in order.
type rowLayout []rowSeg

// add appends a segment, merging it into the last one when it continues it.
func (l rowLayout) add(in int, row, n int64) rowLayout {
	if n == 0 {
		return l
	}
	if k := len(l) - 1; k >= 0 && l[k].in == in && l[k].row+l[k].n == row {
		l[k].n += n
		return l
	}
	return append(l, rowSeg{in: in, row: row, n: n})
}

// rows is the part of the layout covering output rows [a, e).
func (l rowLayout) rows(a, e int64) rowLayout {
	var out rowLayout
	pos := int64(0)
	for _, s := range l {
		lo, hi := max(a, pos), min(e, pos+s.n)
		if lo < hi {
			out = out.add(s.in, s.row+lo-pos, hi-lo)
		}
		pos += s.n
		if pos >= e {
			break
		}
	}
	return out
}

// total is the number of rows.
func (l rowLayout) total() int64 {
	n := int64(0)
	for _, s := range l {
		n += s.n
	}
	return n
}

// destRows is the layout of TP destination d of a group split as split (sections: the
// op's row sections).
func (l rowLayout) destRows(split SplitKind, sections []int64, d Dest) (rowLayout, error) {
	switch split {
	case SplitDuplicated:
		return l, nil
	case SplitColumn:
		start, size, ok := ops.ChunkRange(int(l.total()), d.TPSize, d.TPRank)
		if !ok {
			return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
		}
		return l.rows(int64(start), int64(start+size)), nil
	case SplitSections:
		var out rowLayout
		base := int64(0)
		for _, n := range sections {
			start, size, ok := ops.ChunkRange(int(n), d.TPSize, d.TPRank)
			if !ok {
				return nil, fmt.Errorf("TP slice %d of %d does not exist", d.TPRank, d.TPSize)
			}
			for _, s := range l.rows(base+int64(start), base+int64(start+size)) {
				out = out.add(s.in, s.row, s.n)
			}
			base += n
		}
		return out, nil
	}
	return nil, fmt.Errorf("a row-permutation op cannot be split as %s", split)
}

// copyRows builds the bytes of a layout from the inputs (rb: bytes per row).
func (l rowLayout) copyRows(ins [][]byte, rb int64, buf func(int) []byte) ([]byte, error) {
	out := buf(int(l.total() * rb))
	pos := int64(0)
	for _, s := range l {
		a, e := s.row*rb, (s.row+s.n)*rb
		if e > int64(len(ins[s.in])) {
			return nil, fmt.Errorf("input %d has %d bytes, rows [%d, %d) need %d", s.in, len(ins[s.in]), s.row, s.row+s.n, e)
		}
		copy(out[pos:], ins[s.in][a:e])
		pos += e - a
	}
	return out, nil
}

// spans describes a layout as input byte ranges (inRB: input bytes per row; out bytes are
// scaled by outElem/inElem).
func (l rowLayout) spans(inRB, inElem, outElem int64) []span {
	out := make([]span, 0, len(l))
	dst := int64(0)
	for _, s := range l {
		n := s.n * inRB
		out = append(out, span{in: s.in, off: s.row * inRB, n: n, dst: dst})
		dst += n / inElem * outElem
	}
	return out
}

// invert splits the whole tensor's bytes back into the inputs (inSize: each input's bytes).
func (l rowLayout) invert(whole []byte, inSize []int64, rb int64) ([][]byte, error) {
	if l.total()*rb != int64(len(whole)) {
		return nil, fmt.Errorf("the tensor has %d bytes, its layout %d", len(whole), l.total()*rb)
	}
	out := make([][]byte, len(inSize))
	for k := range out {
		out[k] = make([]byte, inSize[k])
	}
	pos := int64(0)
	for _, s := range l {
		a, e := s.row*rb, (s.row+s.n)*rb
		if e > inSize[s.in] {
			return nil, fmt.Errorf("input %d has %d bytes, rows [%d, %d) need %d", s.in, inSize[s.in], s.row, s.row+s.n, e)
		}
		copy(out[s.in][a:e], whole[pos:pos+e-a])
		pos += e - a
	}
	return out, nil
}

// rowBytes is the byte size of one row of a tensor of that shape.
func rowBytes(shape []int64, elem int64) int64 {
	if len(shape) == 0 {
		return elem
	}
	return numel(shape[1:]) * elem
}

// permSlice, permSpans and permInverse implement Op's methods for a row-permutation op
// from its layout.
func permSlice(l rowLayout, g *Group, d Dest, ins [][]byte, elem int, sections []int64, buf func(int) []byte) ([]byte, error) {
	dl, err := l.destRows(g.Split, sections, d)
	if err != nil {
		return nil, err
	}
	return dl.copyRows(ins, rowBytes(g.Shape, int64(elem)), buf)
}

func permSpans(l rowLayout, g *Group, d Dest, inElem, outElem int64, sections []int64) ([]span, bool) {
	dl, err := l.destRows(g.Split, sections, d)
	if err != nil {
		return nil, false
	}
	return dl.spans(rowBytes(g.Shape, inElem), inElem, outElem), true
}

func permInverse(l rowLayout, g *Group, whole []byte, inSize []int64, elem int) ([][]byte, error) {
	return l.invert(whole, inSize, rowBytes(g.Shape, int64(elem)))
}

// gdnDims are the gated delta net sizes ops read from the model dims (set by the family's
// ReadDims from config.json's linear_* keys).
type gdnDims struct {
	qkHeads, vHeads, qkDim, vDim int64 // heads, and channels per head
}

// Dims keys of the gated delta net.
const (
	DimLinearKeyHeads   = family.DimLinearKeyHeads
	DimLinearValueHeads = family.DimLinearValueHeads
	DimLinearKeyDim     = family.DimLinearKeyDim
	DimLinearValueDim   = family.DimLinearValueDim
)

func gdnOf(d Dims) (gdnDims, error) {
	g := gdnDims{qkHeads: int64(d.ExtraInt(DimLinearKeyHeads)), vHeads: int64(d.ExtraInt(DimLinearValueHeads)),
		qkDim: int64(d.ExtraInt(DimLinearKeyDim)), vDim: int64(d.ExtraInt(DimLinearValueDim))}
	if g.qkHeads <= 0 || g.vHeads <= 0 || g.qkDim <= 0 || g.vDim <= 0 {
		return g, fmt.Errorf("config.json lacks the gated delta net sizes (linear_num_key_heads, linear_num_value_heads, linear_key_head_dim, linear_value_head_dim must be positive)")
	}
	if g.vHeads%g.qkHeads != 0 {
		return g, fmt.Errorf("linear_num_value_heads %d is not a multiple of linear_num_key_heads %d: fix config.json", g.vHeads, g.qkHeads)
	}
	return g, nil
}

// sections of the in_proj tensor: q, k, v, z, b, a.
func (g gdnDims) inProjSections() []int64 {
	qk, v := g.qkHeads*g.qkDim, g.vHeads*g.vDim
	return []int64{qk, qk, v, v, g.vHeads, g.vHeads}
}

// head sizes of the in_proj sections (b and a have one row per value head).
func (g gdnDims) inProjUnits() []int64 {
	return []int64{g.qkDim, g.qkDim, g.vDim, g.vDim, 1, 1}
}

// checkShapes compares inputs with the shapes they must have.
func checkShapes(names []string, got, want [][]int64, why string) error {
	for k := range want {
		if !equalShape(got[k], want[k]) {
			return fmt.Errorf("%s has shape %s but %s need %s: config.json does not match the weights", names[k], shapeStr(got[k]), why, shapeStr(want[k]))
		}
	}
	return nil
}

// canSplitPerm: row-permutation ops are split by rows or kept whole.
func canSplitPerm(s SplitKind, sectioned bool) error {
	switch {
	case s == SplitDuplicated, s == SplitColumn:
		return nil
	case s == SplitSections && sectioned:
		return nil
	}
	return fmt.Errorf("it is split by rows or kept whole, not %s", s)
}
