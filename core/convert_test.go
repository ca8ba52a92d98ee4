package core_test

// Go-only end-to-end conversions: every element of every tensor of every rank file is read
// back with loader/pt and compared with the value the reference model (plan_test.go) says it
// comes from, computed by index arithmetic from the contract's formulas.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/pt"
)

// tokenizerFiles are the tokenizer/processor files fixture.WriteTiny writes.
var tokenizerFiles = []string{"generation_config.json", "merges.txt", "preprocessor_config.json", "tokenizer_config.json", "vocab.json"}

func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		f := float32(man) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	case 31:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | man<<13)
}

func decodeFloats(t testing.TB, dt loader.DType, b []byte) []float32 {
	t.Helper()
	var out []float32
	switch dt {
	case loader.BF16:
		for i := 0; i+1 < len(b); i += 2 {
			out = append(out, math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[i:]))<<16))
		}
	case loader.F16:
		for i := 0; i+1 < len(b); i += 2 {
			out = append(out, f16ToF32(binary.LittleEndian.Uint16(b[i:])))
		}
	case loader.F32:
		for i := 0; i+3 < len(b); i += 4 {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
	default:
		t.Fatalf("no decoder for %s", dt)
	}
	return out
}

// valueSource gives the fixture's values of HF tensors (what fixture.WriteTiny stored).
type valueSource struct {
	seed   int64
	shapes map[string][]int64
	mu     sync.Mutex
	cache  map[string][]float32
}

func (v *valueSource) get(t testing.TB, name string) []float32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if x, ok := v.cache[name]; ok {
		return x
	}
	sh, ok := v.shapes[name]
	if !ok {
		t.Fatalf("reference names HF tensor %s, which the fixture does not have", name)
	}
	x := fixture.TensorValues(v.seed, name, numel(sh))
	v.cache[name] = x
	return x
}

// rankFilesUnder lists the model_optim_rng.pt files of out, relative to out.
func rankFilesUnder(t testing.TB, out string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(filepath.Join(out, "iter_0000001"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(out, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the output: %v", err)
	}
	sort.Strings(got)
	return got
}

// checkOutputAgainstRef reads every rank file back and compares keys, names, dtypes, shapes
// and every element with the reference.
func checkOutputAgainstRef(t testing.TB, out string, ref refCkpt) {
	t.Helper()
	var want []string
	for _, rr := range ref.ranks {
		want = append(want, rr.path)
	}
	sort.Strings(want)
	if got := rankFilesUnder(t, out); !slices.Equal(got, want) {
		t.Fatalf("rank files %v, want %v", got, want)
	}
	vals := &valueSource{seed: ref.seed, shapes: ref.shapes, cache: map[string][]float32{}}
	checked := 0
	for _, rr := range ref.ranks {
		f, err := pt.Open(filepath.Join(out, filepath.FromSlash(rr.path)))
		if err != nil {
			t.Fatalf("%s: %v", rr.path, err)
		}
		if keys := f.Keys(); !slices.Equal(keys, rr.keys) {
			t.Errorf("%s: top-level keys %v, want %v", rr.path, keys, rr.keys)
		}
		if d := f.Dicts(); !slices.Equal(d, rr.keys) {
			t.Errorf("%s: state dicts %v, want %v", rr.path, d, rr.keys)
		}
		for _, key := range rr.keys {
			wantT := rr.chunks[key]
			refs := f.Tensors(key)
			var names []string
			for _, r := range refs {
				names = append(names, r.Name)
			}
			sorted := slices.Clone(names)
			sort.Strings(sorted)
			if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
				t.Errorf("%s %s: duplicate tensor names", rr.path, key)
			}
			if missing, extra := diffNames(sortedKeys(wantT), sorted); len(missing) > 0 || len(extra) > 0 {
				t.Errorf("%s %s: missing %v, unexpected %v", rr.path, key, missing, extra)
			}
			if x := f.Extras(key); len(x) > 0 {
				t.Errorf("%s %s: non-tensor entries %v", rr.path, key, x)
			}
			for _, r := range refs {
				w, ok := wantT[r.Name]
				if !ok {
					continue
				}
				if r.DType != ref.dtype || !slices.Equal(r.Shape, w.shape) {
					t.Errorf("%s %s %s: %s %v, want %s %v", rr.path, key, r.Name, r.DType, r.Shape, ref.dtype, w.shape)
					continue
				}
				b, err := f.ReadTensor(r)
				if err != nil {
					t.Errorf("%s %s: %v", rr.path, r.Name, err)
					continue
				}
				got := decodeFloats(t, r.DType, b)
				if int64(len(got)) != numel(w.shape) {
					t.Errorf("%s %s: %d elements, want %d", rr.path, r.Name, len(got), numel(w.shape))
					continue
				}
				bad := 0
				for i, g := range got {
					hf, idx := w.src(int64(i))
					src := vals.get(t, hf)
					if idx < 0 || idx >= int64(len(src)) {
						t.Fatalf("reference bug: %s element %d maps to %s[%d] of %d", r.Name, i, hf, idx, len(src))
					}
					if g != src[idx] {
						if bad < 3 {
							t.Errorf("%s %s %s[%d] = %v, want %v (= %s[%d])", rr.path, key, r.Name, i, g, src[idx], hf, idx)
						}
						bad++
					}
				}
				if bad > 3 {
					t.Errorf("%s %s: %d wrong elements in all", rr.path, r.Name, bad)
				}
				checked++
			}
		}
		f.Close()
	}
	if checked == 0 {
		t.Fatal("no tensor was checked")
	}
}

// convertCase writes the tiny checkpoint of c, plans and converts it.
func convertCase(t *testing.T, c planCase) (hf, out string, p *core.Plan, o fixture.TinyOptions, s core.Settings, res *core.Result) {
	t.Helper()
	o = tinyWith(c.o)
	s = settingsWith(c.s)
	hf = writeTinyDir(t, o)
	ck := openCk(t, hf)
	p = buildPlan(t, ck, s)
	requireNoErrors(t, p)
	out = filepath.Join(t.TempDir(), "out")
	res, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return hf, out, p, o, s, res
}

func readMCAConfig(t testing.TB, out string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "mca_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("mca_config.json: %v", err)
	}
	return m
}

// checkOutputFiles checks mca_config.json, the iteration file, tokenizer copies and that
// nothing else is in the output directory.
func checkOutputFiles(t testing.TB, hf, out string, o fixture.TinyOptions, s core.Settings, vpp string) {
	t.Helper()
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := append([]string{"iter_0000001", "latest_checkpointed_iteration.txt", "mca_config.json"}, tokenizerFiles...)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("output holds %v, want %v", names, want)
	}
	if b, err := os.ReadFile(filepath.Join(out, "latest_checkpointed_iteration.txt")); err != nil || string(b) != "1" {
		t.Errorf("latest_checkpointed_iteration.txt = %q (%v), want \"1\"", b, err)
	}
	for _, f := range tokenizerFiles {
		a, err1 := os.ReadFile(filepath.Join(hf, f))
		b, err2 := os.ReadFile(filepath.Join(out, f))
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s not copied verbatim (%v, %v)", f, err1, err2)
		}
	}
	m := readMCAConfig(t, out)
	cfgRaw, err := os.ReadFile(filepath.Join(hf, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	etp := s.ETP
	if etp == 0 {
		etp = max(s.TP, 1)
	}
	impl := s.TransformerImpl
	bf16, fp16 := "false", "false"
	switch outDType(o, s) {
	case loader.BF16:
		bf16 = "true"
	case loader.F16:
		fp16 = "true"
	}
	fields := map[string]string{
		"tensor_model_parallel_size":              fmt.Sprint(max(s.TP, 1)),
		"pipeline_model_parallel_size":            fmt.Sprint(max(s.PP, 1)),
		"expert_model_parallel_size":              fmt.Sprint(max(s.EP, 1)),
		"expert_tensor_parallel_size":             fmt.Sprint(etp),
		"virtual_pipeline_model_parallel_size":    vpp,
		"account_for_embedding_in_pipeline_split": fmt.Sprint(s.AccountEmbedding),
		"account_for_loss_in_pipeline_split":      fmt.Sprint(s.AccountLoss),
		"moe_grouped_gemm":                        fmt.Sprint(s.GroupedGEMM),
		"transformer_impl":                        `"` + impl + `"`,
		"bf16":                                    bf16,
		"fp16":                                    fp16,
		"hf_model_type":                           `"qwen3_omni_moe"`,
		"hidden_size":                             fmt.Sprint(o.Hidden),
		"num_attention_heads":                     fmt.Sprint(o.Heads),
		"num_query_groups":                        fmt.Sprint(o.Groups),
		"kv_channels":                             fmt.Sprint(o.HeadDim),
		"num_layers":                              fmt.Sprint(o.Layers),
		"padded_vocab_size":                       fmt.Sprint(o.Vocab),
		"num_moe_experts":                         fmt.Sprint(o.Experts),
		"moe_ffn_hidden_size":                     fmt.Sprint(o.MoEFFN),
		"ffn_hidden_size":                         fmt.Sprint(o.FFN),
		"add_qkv_bias":                            fmt.Sprint(o.AttentionBias),
		"tie_embeddings_and_output_weights":       fmt.Sprint(o.Tied),
		"enable_audio_output":                     fmt.Sprint(o.EnableAudioOutput),
		"layernorm_epsilon":                       "1e-06",
		"swiglu":                                  "true",
		"position_embedding_type":                 `"mrope"`,
		"qk_layernorm":                            "true",
	}
	for k, v := range fields {
		got, ok := m[k]
		if !ok {
			t.Errorf("mca_config.json lacks %s", k)
			continue
		}
		if string(got) != v {
			t.Errorf("mca_config.json %s = %s, want %s", k, got, v)
		}
	}
	var hs string
	if err := json.Unmarshal(m["hf_config_json"], &hs); err != nil || hs != string(cfgRaw) {
		t.Errorf("hf_config_json is not config.json verbatim (%v)", err)
	}
	if len(m["vision_config"]) < 2 || m["vision_config"][0] != '{' {
		if o.Vision {
			t.Errorf("vision_config = %s, want the nested object", m["vision_config"])
		}
	}
}

// TestConvertMatchesReference converts tiny checkpoints under every reference setting and
// checks every element of every tensor of every rank file.
func TestConvertMatchesReference(t *testing.T) {
	cases := append(refCases(), planCase{"skip-unmapped", func(o *fixture.TinyOptions) {
		o.ExtraTensors = []string{"thinker.model.norm.weight_scale", "thinker.model.layers.1.mlp.experts.0.up_proj.weight_scale_inv"}
	}, func(s *core.Settings) { s.SkipUnmapped = true; s.TP, s.EP = 2, 2 }})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hf, out, p, o, s, res := convertCase(t, c)
			ref := refModel(t, o, s)
			checkOutputAgainstRef(t, out, ref)
			vpp := "null"
			if s.VPP > 0 {
				vpp = fmt.Sprint(s.VPP)
			} else if s.Layout != "" {
				if v := len(layoutDecoderCounts(t, s.Layout)) / max(s.PP, 1); v > 1 {
					vpp = fmt.Sprint(v)
				}
			}
			checkOutputFiles(t, hf, out, o, s, vpp)
			var files []string
			for _, rr := range ref.ranks {
				files = append(files, rr.path)
			}
			got := slices.Clone(res.Files)
			sort.Strings(got)
			sort.Strings(files)
			if !slices.Equal(got, files) || res.Bytes != p.TotalBytes() || res.Tensors != p.TotalEntries() {
				t.Errorf("result files %v bytes %d tensors %d; want %v, %d, %d", got, res.Bytes, res.Tensors, files, p.TotalBytes(), p.TotalEntries())
			}
			if abs, _ := filepath.Abs(out); res.Out != abs {
				t.Errorf("result Out %s, want %s", res.Out, abs)
			}
		})
	}
}

// tempSiblings lists the entries of dir whose names contain the temporary marker.
func tempSiblings(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), "omnitui-tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

type convFixture struct {
	hf  string
	ck  *loader.Checkpoint
	p   *core.Plan
	dir string // parent of the output
	out string
}

func newConvFixture(t *testing.T, s core.Settings) convFixture {
	t.Helper()
	o := fixture.DefaultTiny()
	hf := writeTinyDir(t, o)
	ck := openCk(t, hf)
	p := buildPlan(t, ck, s)
	requireNoErrors(t, p)
	dir := t.TempDir()
	return convFixture{hf: hf, ck: ck, p: p, dir: dir, out: filepath.Join(dir, "out")}
}

func TestConvertExistingOutput(t *testing.T) {
	f := newConvFixture(t, settingsWith(func(s *core.Settings) { s.TP = 2 }))
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(f.out, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out})
	if err == nil {
		t.Fatal("Convert replaced an existing output without Force")
	}
	mustContain(t, "error", err.Error(), "already exists", "--force")
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("existing output touched: %q %v", b, err)
	}
	if s := tempSiblings(t, f.dir); len(s) > 0 {
		t.Errorf("temporary directories left: %v", s)
	}

	// Force does not replace a directory holding what omnitui did not write: it
	// says what is there and leaves it alone.
	_, err = core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out, Force: true})
	if !errors.Is(err, core.ErrNotReplaceable) {
		t.Fatalf("Convert with Force over a folder holding keep.txt: %v, want a refusal", err)
	}
	mustContain(t, "error", err.Error(), "keep.txt", "not a checkpoint", "--out")
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("existing output touched by a refused Force: %q %v", b, err)
	}
	if s := tempSiblings(t, f.dir); len(s) > 0 {
		t.Errorf("temporary directories left: %v", s)
	}

	// A checkpoint omnitui wrote is replaced with Force.
	if err := os.Remove(keep); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out, Force: true}); err != nil {
		t.Fatalf("Convert with Force over an empty folder: %v", err)
	}
	marker := filepath.Join(f.out, "mca_config.json")
	before, _ := os.Stat(marker)
	if _, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out, Force: true}); err != nil {
		t.Fatalf("Convert with Force over its own output: %v", err)
	}
	if after, err := os.Stat(marker); err != nil || os.SameFile(before, after) {
		t.Errorf("the previous output was not replaced (%v)", err)
	}
	checkOutputAgainstRef(t, f.out, refModel(t, fixture.DefaultTiny(), f.p.Settings))
	if s := tempSiblings(t, f.dir); len(s) > 0 {
		t.Errorf("temporary directories left: %v", s)
	}
	if ents, _ := os.ReadDir(f.dir); len(ents) != 1 {
		t.Errorf("parent of the output holds %d entries, want only the output", len(ents))
	}
}

func TestConvertCancel(t *testing.T) {
	f := newConvFixture(t, settingsWith(func(s *core.Settings) { s.TP, s.EP = 2, 2 }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var events []core.Progress
	_, err := core.Convert(ctx, f.ck, f.p, core.ConvertOptions{Out: f.out, Workers: 1, Progress: func(ev core.Progress) {
		events = append(events, ev)
		if len(events) == 1 {
			cancel()
		}
	}})
	if err == nil {
		t.Fatal("Convert succeeded although cancelled from the first progress event")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if _, err := os.Stat(f.out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output exists after cancellation: %v", err)
	}
	if s := tempSiblings(t, f.dir); len(s) > 0 {
		t.Errorf("temporary directories left beside the output: %v", s)
	}
	if last := events[len(events)-1]; last.Kind != core.ProgError || last.Err == nil {
		t.Errorf("last event %+v, want an error event", last)
	}
	for _, ev := range events {
		if ev.Kind == core.ProgDone {
			t.Error("a done event after cancellation")
		}
	}
}

func TestConvertCleansStaleTemp(t *testing.T) {
	f := newConvFixture(t, core.DefaultSettings())
	// pids above Linux's pid_max (at most 2^22) never belong to a live process
	const deadPid = 2147483000
	withOwner := filepath.Join(f.dir, fmt.Sprintf(".out.omnitui-tmp-%d-0badf00d", deadPid))
	nameOnly := filepath.Join(f.dir, fmt.Sprintf(".out.omnitui-tmp-%d-feedbeef", deadPid+1))
	live := filepath.Join(f.dir, fmt.Sprintf(".out.omnitui-tmp-%d-c0ffee00", os.Getpid()))
	other := filepath.Join(f.dir, fmt.Sprintf(".other.omnitui-tmp-%d-00000000", deadPid))
	for _, d := range []string{withOwner, nameOnly, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "iter_0000001"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(withOwner, ".omnitui-owner"), []byte(fmt.Sprintf("%d\n", deadPid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(live, ".omnitui-owner"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	_, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out, Progress: func(ev core.Progress) {
		if ev.Message != "" {
			msgs = append(msgs, ev.Message)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{withOwner, nameOnly} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s not removed (%v)", filepath.Base(d), err)
		}
		found := false
		for _, m := range msgs {
			if strings.Contains(m, d) && strings.Contains(m, "interrupted") {
				found = true
			}
		}
		if !found {
			t.Errorf("no message about removing %s; messages %q", d, msgs)
		}
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s (live owner or another output) was removed: %v", filepath.Base(d), err)
		}
	}
	checkOutputAgainstRef(t, f.out, refModel(t, fixture.DefaultTiny(), f.p.Settings))
}

// symlinkTo makes a symbolic link to dir in a new temporary directory.
func symlinkTo(t *testing.T, dir string) string {
	t.Helper()
	l := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, l); err != nil {
		t.Skipf("symlink: %v", err)
	}
	return l
}

func TestConvertRefusesOverlap(t *testing.T) {
	f := newConvFixture(t, core.DefaultSettings())
	for _, c := range []struct {
		name  string
		out   string
		force bool
	}{
		{"inside-input", filepath.Join(f.hf, "mca"), false},
		{"inside-input-force", filepath.Join(f.hf, "sub", "mca"), true},
		{"the-input", f.hf, true},
		{"parent-of-input", filepath.Dir(f.hf), true},
		{"the-input-through-a-symlink", symlinkTo(t, f.hf), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: c.out, Force: c.force})
			if err == nil {
				t.Fatalf("Convert wrote into %s, which overlaps the input", c.out)
			}
			mustContain(t, "error", err.Error(), "input checkpoint", "choose an output directory outside the input")
			// the input is intact
			if _, err := os.Stat(filepath.Join(f.hf, "config.json")); err != nil {
				t.Fatalf("input damaged: %v", err)
			}
			if s := tempSiblings(t, filepath.Dir(c.out)); len(s) > 0 {
				t.Errorf("temporary directories left: %v", s)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(f.hf, "mca")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output created inside the input: %v", err)
	}
	if _, err := loader.OpenHF(f.hf); err != nil {
		t.Errorf("input no longer opens: %v", err)
	}
}

func TestConvertRefusesPlanErrors(t *testing.T) {
	o := tinyWith(func(o *fixture.TinyOptions) { o.EnableAudioOutput = false })
	ck := openTinyCk(t, o)
	p := buildPlan(t, ck, core.DefaultSettings())
	if !p.HasErrors() {
		t.Fatal("want a plan with errors")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	_, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out})
	if err == nil {
		t.Fatal("Convert ran a plan with errors")
	}
	mustContain(t, "error", err.Error(), "--drop-audio-output", "nothing was written")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused conversion left %d entries", len(ents))
	}
	// the opt-out makes the same checkpoint convert
	p = buildPlan(t, ck, settingsWith(func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true) }))
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out}); err != nil {
		t.Fatalf("with --drop-audio-output: %v", err)
	}
	// no output dir given
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{}); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("empty Out: %v", err)
	}
}

func TestConvertProgress(t *testing.T) {
	f := newConvFixture(t, settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }))
	var events []core.Progress
	res, err := core.Convert(context.Background(), f.ck, f.p, core.ConvertOptions{Out: f.out, Workers: 2, Progress: func(ev core.Progress) {
		events = append(events, ev)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 2 {
		t.Fatalf("%d progress events", len(events))
	}
	if events[0].Kind != core.ProgStart {
		t.Errorf("first event %s, want start", events[0].Kind)
	}
	total := f.p.TotalBytes()
	for i, ev := range events {
		if ev.Kind == core.ProgError {
			t.Errorf("error event: %s", ev.Message)
		}
		if ev.BytesTotal != total {
			t.Errorf("event %d: total %d, want %d", i, ev.BytesTotal, total)
		}
		if ev.BytesDone < 0 || ev.BytesDone > total || ev.TensorsDone > ev.TensorsTotal {
			t.Errorf("event %d out of range: %+v", i, ev)
		}
		if i > 0 {
			prev := events[i-1]
			if ev.BytesDone < prev.BytesDone || ev.TensorsDone < prev.TensorsDone || ev.Elapsed < prev.Elapsed {
				t.Errorf("event %d goes back: %d/%d bytes, %d/%d tensors after %d/%d", i, ev.BytesDone, prev.BytesDone, ev.TensorsDone, prev.TensorsDone, prev.BytesDone, prev.TensorsDone)
			}
		}
		var sum int64
		for _, b := range ev.RankBytes {
			sum += b
		}
		if len(ev.RankBytes) > 0 && sum != ev.BytesDone {
			t.Errorf("event %d: rank bytes sum %d, bytes done %d", i, sum, ev.BytesDone)
		}
	}
	last := events[len(events)-1]
	if last.Kind != core.ProgDone || last.BytesDone != total || last.TensorsDone != last.TensorsTotal || last.TensorsTotal != len(f.p.Groups) {
		t.Errorf("last event %s %d/%d bytes %d/%d tensors, want done at 100%%", last.Kind, last.BytesDone, total, last.TensorsDone, last.TensorsTotal)
	}
	if len(last.RankBytes) != len(f.p.Ranks) {
		t.Fatalf("done event has %d rank byte counts, want %d", len(last.RankBytes), len(f.p.Ranks))
	}
	for i, rf := range f.p.Ranks {
		if last.RankBytes[i] != rf.Bytes {
			t.Errorf("%s: %d bytes written, plan says %d", rf.Path, last.RankBytes[i], rf.Bytes)
		}
	}
	for i, ev := range events[:len(events)-1] {
		if ev.Kind == core.ProgDone {
			t.Errorf("event %d of %d is done", i, len(events))
		}
	}
	if res.Bytes != total {
		t.Errorf("result bytes %d, want %d", res.Bytes, total)
	}
}
