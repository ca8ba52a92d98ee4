package core

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// TestPiecewiseStreamingIsByteIdentical converts with a piece size of a few bytes, so every
// tensor goes through the piecewise paths that only large tensors take with the default
// size (plain copies, row blocks, gate/up halves, casts per piece), and checks that every
// output file is byte-identical to a conversion done in one piece per tensor.
func TestPiecewiseStreamingIsByteIdentical(t *testing.T) {
	cases := []struct {
		name  string
		dtype loader.DType
		s     func(*Settings)
	}{
		{"bf16 tp2 pp2 ep2", loader.BF16, func(s *Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"bf16 tp4 grouped legacy", loader.BF16, func(s *Settings) { s.TP = 4; s.GroupedGEMM, s.LegacyGroupedGEMM = true, true }},
		{"f32 cast to bf16 tp2", loader.F32, func(s *Settings) { s.TP = 2; s.DType = "bf16" }},
		{"f16 cast to fp32 tp2 ep4", loader.F16, func(s *Settings) { s.TP, s.EP = 2, 4; s.DType = "fp32" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fixture.DefaultTiny()
			o.DType = c.dtype
			o.Hidden, o.Heads, o.Groups, o.HeadDim = 24, 4, 2, 6 // rows of 48 or 96 bytes: pieces cut inside rows
			in := filepath.Join(t.TempDir(), "hf")
			if err := fixture.WriteTiny(in, o); err != nil {
				t.Fatal(err)
			}
			ck, err := loader.OpenHF(in)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			s := DefaultSettings()
			c.s(&s)
			p, err := BuildPlan(ck, s)
			if err != nil || p.HasErrors() {
				t.Fatalf("plan: %v %+v", err, p.Errors())
			}
			convert := func(piece int64) (string, int64) {
				out := filepath.Join(t.TempDir(), "out")
				var writes atomic.Int64
				opt := ConvertOptions{Out: out, Workers: 2, pieceBytes: piece, beforeWrite: func(int) error { writes.Add(1); return nil }}
				if _, err := Convert(context.Background(), ck, p, opt); err != nil {
					t.Fatal(err)
				}
				return out, writes.Load()
			}
			whole, wholeWrites := convert(1 << 40)
			pieces, pieceWrites := convert(6)
			if pieceWrites < 4*wholeWrites {
				t.Fatalf("piece size 6 made %d writes, one piece per tensor %d: the piecewise path was not taken", pieceWrites, wholeWrites)
			}
			n := 0
			err = filepath.Walk(whole, func(path string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(whole, path)
				a, _ := os.ReadFile(path)
				b, err := os.ReadFile(filepath.Join(pieces, rel))
				if err != nil {
					t.Errorf("%s missing from the piecewise output: %v", rel, err)
					return nil
				}
				if !bytes.Equal(a, b) {
					t.Errorf("%s differs between piecewise and whole-tensor conversion", rel)
				}
				n++
				return nil
			})
			if err != nil || n < len(p.Ranks)+2 {
				t.Fatalf("compared %d files (%v)", n, err)
			}
		})
	}
}
