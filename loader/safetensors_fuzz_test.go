package loader

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// Ways in which ParseSafetensorsHeader is deliberately stricter than the
// reference rules as nlpodyssey/safetensors implements them.
var stStricterThanOracle = []string{"duplicate key", "UTF-8", "deeper than", "fits in 64 bits", "more elements than fit", "more bytes than fit"}

func FuzzReadSafetensorsHeader(f *testing.F) {
	f.Add(stBytes(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(stBytes(`{"a":{"dtype":"F8_E4M3","shape":[2,1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[],"data_offsets":[2,4]}}`, 4))
	f.Add(stBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	f.Add(stBytes(`{}      `, 0))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseSafetensorsHeader("fuzz.safetensors", bytes.NewReader(data), int64(len(data)))
		_, oerr := safetensors.Deserialize(data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Fix == "" || !strings.HasPrefix(err.Error(), "fuzz.safetensors: ") {
				t.Fatalf("bad error %v", err)
			}
			if oerr == nil && !slices.ContainsFunc(stStricterThanOracle, func(s string) bool { return strings.Contains(err.Error(), s) }) {
				t.Fatalf("the reference rules accept this file, we say: %v", err)
			}
			return
		}
		// Invariants of an accepted header.
		if !slices.IsSortedFunc(h.Tensors, func(a, b TensorInfo) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatal("tensors not sorted")
		}
		var sum int64
		hasF8OrExtraKeys := false
		for _, ti := range h.Tensors {
			if ti.Offset < h.DataStart() || ti.Offset+ti.Size > h.FileSize || ti.Size != ti.NumEl()*int64(ti.DType.Size()) {
				t.Fatalf("bad tensor %+v in %d-byte file", ti, h.FileSize)
			}
			sum += ti.Size
			if ti.DType == F8E4M3 || ti.DType == F8E5M2 {
				hasF8OrExtraKeys = true
			}
		}
		if h.DataStart()+sum != h.FileSize {
			t.Fatalf("tensors cover %d bytes of a %d-byte data area", sum, h.FileSize-h.DataStart())
		}
		root, _ := ParseJSONTree(data[8:h.DataStart()])
		for _, e := range root.Children {
			if e.Key != metadataKey && len(e.Children) != 3 {
				hasF8OrExtraKeys = true // nlpodyssey wants exactly three keys
			}
		}
		if oerr != nil && !hasF8OrExtraKeys {
			t.Fatalf("we accept a file the reference rules reject (%v)", oerr)
		}
	})
}
