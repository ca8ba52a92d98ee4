package loader

import (
	"fmt"
	"strings"
)

// DType is a safetensors dtype name exactly as it appears in a header ("BF16", "F8_E4M3", ...).
type DType string

// Every dtype a safetensors header can hold.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E4M3: 1, F8E5M2: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// ParseDType validates a dtype name from a header.
func ParseDType(s string) (DType, error) {
	d := DType(s)
	if _, ok := dtypeSizes[d]; ok {
		return d, nil
	}
	known := make([]string, 0, len(dtypeSizes))
	for _, k := range AllDTypes() {
		known = append(known, string(k))
	}
	return "", fmt.Errorf("unknown dtype %q (known: %s)", s, strings.Join(known, ", "))
}

// AllDTypes lists the known dtypes in a stable order.
func AllDTypes() []DType {
	return []DType{BOOL, U8, I8, F8E4M3, F8E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64}
}

// Size is the element size in bytes (0 for an unknown dtype).
func (d DType) Size() int { return dtypeSizes[d] }

// IsFloat reports whether d is a floating point type.
func (d DType) IsFloat() bool {
	switch d {
	case F16, BF16, F32, F64, F8E4M3, F8E5M2:
		return true
	}
	return false
}
