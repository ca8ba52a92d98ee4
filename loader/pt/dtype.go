package pt

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// storageTypes maps the dtypes the writer can emit to the torch storage class
// that torch.save (PyTorch 1.13) names in the pickle for them.
var storageTypes = map[loader.DType]string{
	loader.BF16: "BFloat16Storage",
	loader.F16:  "HalfStorage",
	loader.F32:  "FloatStorage",
	loader.F64:  "DoubleStorage",
	loader.I64:  "LongStorage",
	loader.I32:  "IntStorage",
	loader.I16:  "ShortStorage",
	loader.I8:   "CharStorage",
	loader.U8:   "ByteStorage",
	loader.BOOL: "BoolStorage",
}

// storageDTypes maps storage class names found in pickles (module torch) to
// dtypes. It is a superset of storageTypes: newer PyTorch releases add float8
// storages, which the reader accepts but the writer never emits.
var storageDTypes = map[string]loader.DType{
	"BFloat16Storage":      loader.BF16,
	"HalfStorage":          loader.F16,
	"FloatStorage":         loader.F32,
	"DoubleStorage":        loader.F64,
	"LongStorage":          loader.I64,
	"IntStorage":           loader.I32,
	"ShortStorage":         loader.I16,
	"CharStorage":          loader.I8,
	"ByteStorage":          loader.U8,
	"BoolStorage":          loader.BOOL,
	"UntypedStorage":       loader.U8,
	"Float8_e4m3fnStorage": loader.F8E4M3,
	"Float8_e5m2Storage":   loader.F8E5M2,
	"UInt16Storage":        loader.U16,
	"UInt32Storage":        loader.U32,
	"UInt64Storage":        loader.U64,
}

// torchDTypes maps torch dtype globals (torch.<name>), as _rebuild_tensor_v3
// passes them, to dtypes.
var torchDTypes = map[string]loader.DType{
	"bfloat16": loader.BF16, "float16": loader.F16, "half": loader.F16,
	"float32": loader.F32, "float": loader.F32, "float64": loader.F64, "double": loader.F64,
	"int64": loader.I64, "long": loader.I64, "int32": loader.I32, "int": loader.I32,
	"int16": loader.I16, "short": loader.I16, "int8": loader.I8, "uint8": loader.U8,
	"bool": loader.BOOL, "float8_e4m3fn": loader.F8E4M3, "float8_e5m2": loader.F8E5M2,
	"uint16": loader.U16, "uint32": loader.U32, "uint64": loader.U64,
}

// storageTypeFor returns the torch storage class for d, or an error saying why
// PyTorch 1.13 cannot hold d.
func storageTypeFor(d loader.DType) (string, error) {
	if s, ok := storageTypes[d]; ok {
		return s, nil
	}
	switch d {
	case loader.F8E4M3, loader.F8E5M2:
		return "", fmt.Errorf("dtype %s cannot be saved: PyTorch 1.13 has no float8 storage; convert the tensor to BF16 first", d)
	case loader.U16, loader.U32, loader.U64:
		return "", fmt.Errorf("dtype %s cannot be saved: PyTorch 1.13 has no unsigned %d-bit storage; convert the tensor to a signed type first", d, 8*d.Size())
	}
	return "", fmt.Errorf("dtype %q cannot be saved in a .pt file: unknown dtype", string(d))
}
