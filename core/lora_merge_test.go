package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/ops"
)

func f64s(t *testing.T, data []byte, dt loader.DType) []float64 {
	t.Helper()
	raw := make([]byte, len(data)/dt.Size()*4)
	if err := ops.Cast(raw, loader.F32, data, dt); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(raw)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
	}
	return out
}

// TestMergeLoRA: --merge-into writes W + scale·B·A (trained scale) for every targeted weight,
// within bf16 rounding of a float64 computation from the exported PEFT tensors, and copies the
// rest byte for byte.
func TestMergeLoRA(t *testing.T) {
	family.RegisterForTest(t, loraDenseFamily())
	spec := denseLoRASpec(2, 1, 4, 2, 8)
	spec.Adapters[0].RSLoRA = true
	_, peft, p := exportLoRAFixture(t, spec, LoRAOptions{})
	// a bf16 base checkpoint with the family's HF names
	base := filepath.Join(t.TempDir(), "base")
	os.MkdirAll(base, 0o755)
	os.WriteFile(filepath.Join(base, "config.json"), []byte(`{"model_type": "lora_test_dense"}`), 0o644)
	os.WriteFile(filepath.Join(base, "tokenizer.json"), []byte(`{}`), 0o644)
	shapes := map[string][]int64{"self_attn.q_proj": {32, 32}, "self_attn.k_proj": {16, 32}, "self_attn.v_proj": {16, 32},
		"self_attn.o_proj": {32, 32}, "mlp.gate_proj": {48, 32}, "mlp.up_proj": {48, 32}, "mlp.down_proj": {32, 48}}
	var ts []loader.WriteTensor
	ts = append(ts, loader.WriteTensor{Name: "model.embed_tokens.weight", DType: loader.BF16, Shape: []int64{64, 32}})
	for l := 0; l < spec.Layers; l++ {
		for m, sh := range shapes {
			ts = append(ts, loader.WriteTensor{Name: fmt.Sprintf("model.layers.%d.%s.weight", l, m), DType: loader.BF16, Shape: sh})
		}
	}
	for i := range ts {
		vals := fixture.TensorValues(5, ts[i].Name, ts[i].Shape[0]*ts[i].Shape[1])
		b := make([]byte, len(vals)*2)
		for j, v := range vals {
			binary.LittleEndian.PutUint16(b[2*j:], uint16(math.Float32bits(v)>>16))
		}
		ts[i].Data = b
	}
	if err := loader.WriteSafetensors(filepath.Join(base, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.OpenHF(base)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	out := filepath.Join(t.TempDir(), "merged")
	if _, err := MergeLoRA(context.Background(), p, "", ck, LoRAExportOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	got := readSafetensorsAll(t, filepath.Join(out, "model.safetensors"))
	lora := readSafetensorsAll(t, filepath.Join(peft, "adapter_model.safetensors"))
	scale := 16 / math.Sqrt(8)
	merged := 0
	for _, w := range ts {
		g := got[w.Name]
		mod := w.Name[:len(w.Name)-len(".weight")]
		a, ok := lora["base_model.model."+mod+".lora_A.weight"]
		if !ok {
			if !bytes.Equal(g.data, w.Data) {
				t.Errorf("%s changed", w.Name)
			}
			continue
		}
		merged++
		b := lora["base_model.model."+mod+".lora_B.weight"]
		W, A, B, G := f64s(t, w.Data, loader.BF16), f64s(t, a.data, loader.F32), f64s(t, b.data, loader.F32), f64s(t, g.data, loader.BF16)
		rows, cols, r := w.Shape[0], w.Shape[1], a.shape[0]
		for i := int64(0); i < rows; i++ {
			for j := int64(0); j < cols; j++ {
				want := W[i*cols+j]
				for k := int64(0); k < r; k++ {
					want += scale * B[i*r+k] * A[k*cols+j]
				}
				if d := math.Abs(G[i*cols+j] - want); d > math.Abs(want)/128+1e-6 {
					t.Fatalf("%s[%d,%d] = %g, want %g", w.Name, i, j, G[i*cols+j], want)
				}
			}
		}
	}
	if merged != 7*spec.Layers {
		t.Errorf("%d weights merged", merged)
	}
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// a base without the targeted weights is refused before anything is written
	bad := filepath.Join(t.TempDir(), "bad")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"model_type": "lora_test_dense"}`), 0o644)
	loader.WriteSafetensors(filepath.Join(bad, "model.safetensors"), ts[:1], nil)
	ck2, err := loader.OpenHF(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer ck2.Close()
	out2 := filepath.Join(t.TempDir(), "m2")
	if _, err := MergeLoRA(context.Background(), p, "", ck2, LoRAExportOptions{Out: out2}); err == nil {
		t.Error("merging into a base without the adapter's weights succeeded")
	}
	if _, err := os.Stat(out2); err == nil {
		t.Error("a refused merge wrote its output")
	}
}
