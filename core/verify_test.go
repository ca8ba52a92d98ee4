package core_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
)

// rewriteHF copies an HF checkpoint into a single model.safetensors, letting edit change
// or drop tensors (return false to drop).
func rewriteHF(t *testing.T, src string, edit func(w *loader.WriteTensor) bool) string {
	t.Helper()
	ck, err := loader.OpenHF(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	dst := filepath.Join(t.TempDir(), "edited")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	var ws []loader.WriteTensor
	for i, ti := range ck.Tensors {
		b, err := ck.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		w := loader.WriteTensor{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: append([]byte(nil), b...)}
		if edit(&w) {
			ws = append(ws, w)
		}
	}
	if err := loader.WriteSafetensors(filepath.Join(dst, "model.safetensors"), ws, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "config.json"), ck.ConfigBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestVerify(t *testing.T) {
	hf, mcaA, _ := convertTiny(t, convCase{"tp2-pp2-ep2", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }})
	_, mcaB, _ := convertTiny(t, convCase{"grouped-legacy-ep4", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 4 }})
	const qkv = "thinker.model.layers.1.self_attn.k_proj.weight"
	flipped := rewriteHF(t, hf, func(w *loader.WriteTensor) bool {
		if w.Name == qkv {
			w.Data[5] ^= 0x40
		}
		return true
	})
	lastBit := rewriteHF(t, hf, func(w *loader.WriteTensor) bool {
		if w.Name == qkv {
			w.Data[0] ^= 0x01 // lowest mantissa bit of a bf16 element
		}
		return true
	})
	missing := rewriteHF(t, hf, func(w *loader.WriteTensor) bool {
		return w.Name != "thinker.model.layers.0.mlp.experts.3.down_proj.weight"
	})
	retyped := rewriteHF(t, hf, func(w *loader.WriteTensor) bool {
		if w.Name == "thinker.model.norm.weight" {
			w.DType = loader.F16
		}
		return true
	})
	cases := []struct {
		name     string
		a, b     string
		opt      core.VerifyOptions
		ok       bool
		kind     string
		tensor   string
		mcaSides int
	}{
		{"hf-vs-mca", hf, mcaA, core.VerifyOptions{}, true, "", "", 1},
		{"mca-vs-hf", mcaA, hf, core.VerifyOptions{}, true, "", "", 1},
		{"mca-vs-mca-other-layout", mcaA, mcaB, core.VerifyOptions{}, true, "", "", 2},
		{"hf-vs-rewritten-copy", hf, rewriteHF(t, hf, func(*loader.WriteTensor) bool { return true }), core.VerifyOptions{}, true, "", "", 0},
		{"flipped-byte", mcaA, flipped, core.VerifyOptions{}, false, "values", qkv, 1},
		{"flipped-byte-tolerance-too-small", flipped, mcaA, core.VerifyOptions{Atol: 1e-6}, false, "values", qkv, 1},
		{"last-bit-exact", lastBit, hf, core.VerifyOptions{}, false, "values", qkv, 0},
		{"last-bit-within-rtol", lastBit, hf, core.VerifyOptions{Rtol: 1e-2}, true, "", "", 0},
		{"missing-tensor", mcaA, missing, core.VerifyOptions{}, false, "only-in-a", "thinker.model.layers.0.mlp.experts.3.down_proj.weight", 1},
		{"missing-tensor-reversed", missing, mcaA, core.VerifyOptions{}, false, "only-in-b", "thinker.model.layers.0.mlp.experts.3.down_proj.weight", 1},
		{"dtype-change", retyped, mcaB, core.VerifyOptions{}, false, "dtype", "thinker.model.norm.weight", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := core.Verify(t.Context(), c.a, c.b, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			if err := rep.WriteText(&sb); err != nil {
				t.Fatal(err)
			}
			if rep.OK() != c.ok {
				t.Fatalf("OK = %v, want %v\n%s", rep.OK(), c.ok, sb.String())
			}
			if c.ok {
				if rep.Compared == 0 || rep.Matched != rep.Compared || !strings.Contains(sb.String(), "MATCH") {
					t.Errorf("compared %d matched %d\n%s", rep.Compared, rep.Matched, sb.String())
				}
			} else {
				if len(rep.Diffs) != 1 || rep.Diffs[0].Kind != c.kind || rep.Diffs[0].Tensor != c.tensor {
					t.Errorf("diffs %+v, want one %s on %s", rep.Diffs, c.kind, c.tensor)
				}
			}
			n := 0
			for _, l := range []core.Ledger{rep.A, rep.B} {
				if l.Format == "mca" {
					n++
					if l.Consumed == 0 || l.Targets == 0 {
						t.Errorf("mca ledger %+v accounts for nothing", l)
					}
				}
			}
			if n != c.mcaSides {
				t.Errorf("%d sides detected as mca, want %d", n, c.mcaSides)
			}
		})
	}
}
