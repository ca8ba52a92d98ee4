package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/ops"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	Atol, Rtol float64 // float values match when |a-b| <= Atol + Rtol*|b|; both 0 = bytes must be equal
}

// Difference is one way two checkpoints disagree.
type Difference struct {
	Tensor string `json:"tensor"`
	Kind   string `json:"kind"` // only-in-a, only-in-b, dtype, shape, values, inconsistent-copies, config
	Detail string `json:"detail"`
}

// Ledger accounts for every tensor of one side of a verification.
type Ledger struct {
	Path          string   `json:"path"`
	Format        string   `json:"format"`             // "hf" or "mca"
	SourceTensors int      `json:"source_tensors"`     // tensors in the files (mca: over all rank files and chunks)
	Consumed      int      `json:"consumed"`           // tensor slices that became part of an HF tensor
	Duplicates    int      `json:"duplicates"`         // further copies, checked byte-equal to the first
	Dropped       int      `json:"dropped"`            // tied last-stage output_layer copies, checked equal to the embedding (not written back)
	Targets       int      `json:"targets"`            // HF tensors this side maps to, each produced once
	Warnings      []string `json:"warnings,omitempty"` // what the checkpoint's reader found suspicious (mca: copied rank files)
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	A, B     Ledger       `json:"-"`
	Compared int          `json:"compared"` // HF tensors present on both sides
	Matched  int          `json:"matched"`
	Diffs    []Difference `json:"differences"`
}

// OK reports whether the checkpoints match.
func (r *VerifyReport) OK() bool { return len(r.Diffs) == 0 }

// side is one checkpoint seen as Hugging Face tensors.
type side struct {
	led     Ledger
	tensors []loader.TensorInfo
	byName  map[string]int
	config  []byte
	ck      *loader.Checkpoint
	copyOf  map[int]int // mca side: tensor index of a written-back copy -> its source
	hfIdx   []int       // FP8 HF side: checkpoint index of each compared tensor (scales left out)
	fp8     map[int]int // FP8 HF side: weight index -> scale index
	rp      *ReversePlan
	ga      *gatherer
	groupOf []int
	stats   GatherStats
	lastG   int
	lastD   [][]byte
	lastErr error
	closeFn func() error
}

func openSide(path string) (*side, error) {
	s := &side{byName: map[string]int{}, lastG: -1}
	s.led.Path = path
	if mca.IsMCA(path) {
		m, err := mca.Open(path)
		if err != nil {
			return nil, err
		}
		rp, err := BuildReversePlan(m)
		if err != nil {
			m.Close()
			return nil, err
		}
		if rp.HasErrors() {
			m.Close()
			return nil, fmt.Errorf("%s cannot be mapped to Hugging Face tensors:\n  - %s", path, rp.ErrorText())
		}
		s.led.Format, s.rp, s.ga, s.closeFn = "mca", rp, rp.newGatherer(), m.Close
		s.led.SourceTensors = m.NumTensors()
		s.led.Warnings = m.Warnings
		s.tensors, s.config = rp.Forward.Tensors, rp.Config
		s.groupOf = rp.Forward.TensorGroup
	} else {
		ck, err := loader.OpenHF(path)
		if err != nil {
			return nil, err
		}
		s.led.Format, s.ck, s.closeFn = "hf", ck, ck.Close
		s.led.SourceTensors = len(ck.Tensors)
		s.tensors, s.config = ck.Tensors, ck.ConfigBytes
		// a block-FP8 checkpoint is compared as the bf16 weights it stands for (scales consumed)
		if pairs := FP8Pairs(ck.Tensors); len(pairs) > 0 {
			scale := map[int]bool{}
			for _, si := range pairs {
				scale[si] = true
			}
			s.tensors, s.fp8 = nil, pairs
			if cfg, err := loader.ParseJSONTree(ck.ConfigBytes); err == nil {
				if q, ok := cfg.Member("quantization_config"); ok { // describes FP8 weights only
					cfg.Children = slices.DeleteFunc(cfg.Children, func(c *loader.JSONNode) bool { return c == q })
					s.config = cfg.Indent("", "  ")
				}
			}
			for i, t := range ck.Tensors {
				if scale[i] {
					continue
				}
				if _, ok := pairs[i]; ok {
					t.DType, t.Size = loader.BF16, 2*t.NumEl()
				}
				s.tensors = append(s.tensors, t)
				s.hfIdx = append(s.hfIdx, i)
			}
		}
	}
	for i, t := range s.tensors {
		s.byName[t.Name] = i
	}
	if s.rp != nil {
		s.copyOf = map[int]int{}
		for src, cs := range s.rp.copies {
			for _, c := range cs {
				s.copyOf[s.byName[c]] = s.byName[src]
			}
		}
	}
	s.led.Targets = len(s.tensors)
	return s, nil
}

// read returns tensor i's bytes (mca: gathering its group, cached for the group's other tensors).
func (s *side) read(i int) ([]byte, error) {
	if s.ck != nil {
		s.led.Consumed++
		if s.hfIdx == nil {
			return s.ck.TensorData(i)
		}
		i = s.hfIdx[i]
		b, err := s.ck.TensorData(i)
		if si, ok := s.fp8[i]; ok && err == nil {
			return dequantWhole(s.ck, i, si, b)
		}
		return b, err
	}
	if src, ok := s.copyOf[i]; ok {
		return s.read(src) // a release's stored copy (MTP embed_tokens / shared_head.head)
	}
	gi := s.groupOf[i]
	if gi < 0 {
		return nil, fmt.Errorf("%s belongs to no group", s.tensors[i].Name)
	}
	if gi != s.lastG {
		s.lastG = gi
		s.lastD, s.lastErr = s.ga.gatherTensors(gi, GatherOptions{}, &s.stats)
	}
	if s.lastErr != nil {
		return nil, s.lastErr
	}
	for k, ti := range s.rp.Forward.Groups[gi].Inputs {
		if ti == i {
			return s.lastD[k], nil
		}
	}
	return nil, fmt.Errorf("%s is no input of its group", s.tensors[i].Name)
}

// order lists tensor indices so that an mca side's groups are read together.
func (s *side) order() []int {
	out := make([]int, 0, len(s.tensors))
	if s.rp == nil {
		for i := range s.tensors {
			out = append(out, i)
		}
		return out
	}
	copies := map[int][]int{}
	for c, src := range s.copyOf {
		copies[src] = append(copies[src], c)
	}
	for _, g := range s.rp.Forward.Groups {
		if g.Piece > 0 {
			continue // a fan-out's inputs are listed with its first piece
		}
		for _, ti := range g.Inputs {
			out = append(out, ti)
			slices.Sort(copies[ti])
			out = append(out, copies[ti]...)
		}
	}
	return out
}

// Verify compares two checkpoints, each a Hugging Face or an mcore_adapter checkpoint, as
// Hugging Face tensors: names, shapes, dtypes and values, plus the configs.
func Verify(ctx context.Context, a, b string, opt VerifyOptions) (*VerifyReport, error) {
	sa, err := openSide(a)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", a, err)
	}
	defer sa.closeFn()
	sb, err := openSide(b)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", b, err)
	}
	defer sb.closeFn()
	rep := &VerifyReport{}
	if !sameJSON(sa.config, sb.config) {
		rep.Diffs = append(rep.Diffs, Difference{Tensor: "config.json", Kind: "config", Detail: "the Hugging Face configs differ"})
	}
	// drive by the mca side so its groups are gathered once
	drive, other, swapped := sa, sb, false
	if sa.rp == nil && sb.rp != nil {
		drive, other, swapped = sb, sa, true
	}
	onlyIn := func(fromDrive bool) string {
		if fromDrive != swapped {
			return "only-in-a"
		}
		return "only-in-b"
	}
	seen := map[string]bool{}
	for _, i := range drive.order() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := drive.tensors[i]
		seen[t.Name] = true
		j, ok := other.byName[t.Name]
		if !ok {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: onlyIn(true)})
			continue
		}
		u := other.tensors[j]
		rep.Compared++
		if t.DType != u.DType {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: "dtype", Detail: pair(swapped, string(t.DType), string(u.DType))})
			continue
		}
		if !equalShape(t.Shape, u.Shape) {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: "shape", Detail: pair(swapped, shapeStr(t.Shape), shapeStr(u.Shape))})
			continue
		}
		x, err := drive.read(i)
		if err != nil {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: "inconsistent-copies", Detail: err.Error()})
			continue
		}
		y, err := other.read(j)
		if err != nil {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: "inconsistent-copies", Detail: err.Error()})
			continue
		}
		if bytes.Equal(x, y) {
			rep.Matched++
			continue
		}
		if swapped {
			x, y = y, x
		}
		if d, ok := compareValues(t.DType, x, y, opt); ok {
			rep.Matched++
		} else {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: t.Name, Kind: "values", Detail: d})
		}
	}
	for _, u := range other.tensors {
		if !seen[u.Name] {
			rep.Diffs = append(rep.Diffs, Difference{Tensor: u.Name, Kind: onlyIn(false)})
		}
	}
	for _, s := range []*side{sa, sb} {
		if s.rp != nil {
			s.led.Consumed, s.led.Duplicates, s.led.Dropped = s.stats.Consumed, s.stats.Duplicates, s.stats.Dropped
		}
	}
	rep.A, rep.B = sa.led, sb.led
	sort.SliceStable(rep.Diffs, func(i, j int) bool { return naturalLess(rep.Diffs[i].Tensor, rep.Diffs[j].Tensor) })
	return rep, nil
}

func pair(swapped bool, d, o string) string {
	if swapped {
		d, o = o, d
	}
	return "A " + d + ", B " + o
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// compareValues compares float tensors within tolerance; other dtypes must be byte-equal.
func compareValues(dt loader.DType, a, b []byte, opt VerifyOptions) (string, bool) {
	dec := floatDecoder(dt)
	if dec == nil || (opt.Atol == 0 && opt.Rtol == 0) {
		n, first := 0, -1
		es := max(dt.Size(), 1)
		for i := 0; i+es <= len(a) && i+es <= len(b); i += es {
			if !bytes.Equal(a[i:i+es], b[i:i+es]) {
				if first < 0 {
					first = i / es
				}
				n++
			}
		}
		return fmt.Sprintf("%d element(s) differ, first at flat index %d", n, first), false
	}
	es := dt.Size()
	n, first := 0, -1
	maxAbs := 0.0
	for i := 0; i+es <= len(a); i += es {
		x, y := dec(a[i:]), dec(b[i:])
		if math.IsNaN(x) && math.IsNaN(y) {
			continue
		}
		d := math.Abs(x - y)
		if d > maxAbs || math.IsNaN(d) {
			maxAbs = d
		}
		if !(d <= opt.Atol+opt.Rtol*math.Abs(y)) {
			if first < 0 {
				first = i / es
			}
			n++
		}
	}
	if n == 0 {
		return "", true
	}
	return fmt.Sprintf("%d element(s) beyond atol %g rtol %g, first at flat index %d, max |a-b| %g", n, opt.Atol, opt.Rtol, first, maxAbs), false
}

func floatDecoder(dt loader.DType) func([]byte) float64 {
	switch dt {
	case loader.BF16:
		return func(b []byte) float64 {
			return float64(math.Float32frombits(ops.BF16ToF32Bits(binary.LittleEndian.Uint16(b))))
		}
	case loader.F16:
		return func(b []byte) float64 {
			return float64(math.Float32frombits(ops.F16ToF32Bits(binary.LittleEndian.Uint16(b))))
		}
	case loader.F32:
		return func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	case loader.F64:
		return func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
	}
	return nil
}

// WriteText prints the ledger and the differences.
func (r *VerifyReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	for _, l := range []struct {
		tag string
		l   Ledger
	}{{"A", r.A}, {"B", r.B}} {
		ew.printf("%s: %s (%s)\n", l.tag, l.l.Path, l.l.Format)
		for _, w := range l.l.Warnings {
			ew.printf("   warning: %s\n", w)
		}
		if l.l.Format == "mca" {
			ew.printf("   %d rank-file tensors; slices consumed %d, duplicate copies checked equal %d, tied output_layer copies checked equal to the embedding %d\n", l.l.SourceTensors, l.l.Consumed, l.l.Duplicates, l.l.Dropped)
		} else {
			ew.printf("   %d tensors; consumed %d\n", l.l.SourceTensors, l.l.Consumed)
		}
		ew.printf("   %d Hugging Face tensors, each produced once\n", l.l.Targets)
	}
	ew.printf("compared %d tensors: %d match, %d difference(s)\n", r.Compared, r.Matched, len(r.Diffs))
	for i, d := range r.Diffs {
		if i == 50 {
			ew.printf("  ... and %d more\n", len(r.Diffs)-50)
			break
		}
		if d.Detail != "" {
			ew.printf("  %-20s %s: %s\n", d.Kind, d.Tensor, d.Detail)
		} else {
			ew.printf("  %-20s %s\n", d.Kind, d.Tensor)
		}
	}
	if r.OK() {
		ew.printf("MATCH\n")
	} else {
		ew.printf("MISMATCH\n")
	}
	return ew.err
}
