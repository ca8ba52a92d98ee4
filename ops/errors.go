package ops

import (
	"errors"
	"fmt"
	"math"
)

// Errors every failing function wraps, so callers can tell a caller bug in the
// arguments from a buffer of the wrong length.
var (
	// ErrArgument: a size, index or shape argument is invalid (negative, zero where a
	// positive value is needed, not divisible, out of range).
	ErrArgument = errors.New("invalid argument")
	// ErrSize: a buffer's length does not match the shape it is said to hold.
	ErrSize = errors.New("buffer length does not match shape")
	// ErrCast: the requested dtype conversion is not supported.
	ErrCast = errors.New("unsupported dtype conversion")
)

// NumElements is the product of shape (1 for a scalar shape []). It fails on a
// negative dimension or when the product overflows int.
func NumElements(shape []int64) (int, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has negative dimension %d at dim %d; a shape lists sizes >= 0: %w", shape, d, i, ErrArgument)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v has more elements than fit in memory addressing; check the shape: %w", shape, ErrArgument)
		}
		n *= d
	}
	if n > math.MaxInt {
		return 0, fmt.Errorf("shape %v is too large: %w", shape, ErrArgument)
	}
	return int(n), nil
}

// NumBytes is NumElements(shape) * elem, with the same checks plus elem >= 1.
func NumBytes(shape []int64, elem int) (int, error) {
	if elem < 1 {
		return 0, fmt.Errorf("element size %d bytes is invalid; pass the dtype's size (>= 1): %w", elem, ErrArgument)
	}
	n, err := NumElements(shape)
	if err != nil {
		return 0, err
	}
	if n != 0 && n > math.MaxInt/elem {
		return 0, fmt.Errorf("shape %v with %d-byte elements is too large: %w", shape, elem, ErrArgument)
	}
	return n * elem, nil
}

// mulInt multiplies non-negative ints, reporting overflow.
func mulInt(a ...int) (int, bool) {
	p := 1
	for _, x := range a {
		if x < 0 {
			return 0, false
		}
		if x != 0 && p > math.MaxInt/x {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// checkLen reports a wrong buffer length for the named buffer of function fn.
func checkLen(fn, name string, got, want int, what string) error {
	if got != want {
		return fmt.Errorf("ops.%s: %s is %d bytes, want %d (%s); the buffer does not match the tensor's shape and dtype: %w",
			fn, name, got, want, what, ErrSize)
	}
	return nil
}

func cloneShape(s []int64) []int64 {
	out := make([]int64, len(s))
	copy(out, s)
	return out
}
