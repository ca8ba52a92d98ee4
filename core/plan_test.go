package core_test

// Plan tests, one or more per rule of the contract (../shared/docs/mcore-conversion.md).
//
// Expectations are computed here, independently of core: refModel restates the contract
// (names, shapes and, for convert_test.go, the source element of every output element)
// from the tiny fixture's options and the parallel settings, without calling core.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// ---------------------------------------------------------------------------
// fixtures and small helpers

func writeTinyDir(t testing.TB, o fixture.TinyOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteTiny(dir, o); err != nil {
		t.Fatalf("fixture.WriteTiny: %v", err)
	}
	return dir
}

func openCk(t testing.TB, dir string) *loader.Checkpoint {
	t.Helper()
	ck, err := loader.OpenHF(dir)
	if err != nil {
		t.Fatalf("loader.OpenHF(%s): %v", dir, err)
	}
	t.Cleanup(func() { ck.Close() })
	return ck
}

func openTinyCk(t testing.TB, o fixture.TinyOptions) *loader.Checkpoint {
	t.Helper()
	return openCk(t, writeTinyDir(t, o))
}

func tinyWith(f func(*fixture.TinyOptions)) fixture.TinyOptions {
	o := fixture.DefaultTiny()
	if f != nil {
		f(&o)
	}
	return o
}

func settingsWith(f func(*core.Settings)) core.Settings {
	s := core.DefaultSettings()
	if f != nil {
		f(&s)
	}
	return s
}

func buildPlan(t testing.TB, ck *loader.Checkpoint, s core.Settings) *core.Plan {
	t.Helper()
	p, err := core.BuildPlan(ck, s)
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	return p
}

func requireNoErrors(t testing.TB, p *core.Plan) {
	t.Helper()
	if p.HasErrors() {
		for _, is := range p.Errors() {
			t.Errorf("unexpected plan error %s: %s", is.Code, is.Message)
		}
		t.FailNow()
	}
}

func issuesWith(p *core.Plan, code string) []core.Issue {
	var out []core.Issue
	for _, is := range p.Issues {
		if is.Code == code {
			out = append(out, is)
		}
	}
	return out
}

// requireIssue asserts exactly one issue with code and severity and returns it.
func requireIssue(t testing.TB, p *core.Plan, code string, sev core.Severity) core.Issue {
	t.Helper()
	got := issuesWith(p, code)
	if len(got) != 1 {
		var all []string
		for _, is := range p.Issues {
			all = append(all, fmt.Sprintf("%s/%s: %s", is.Severity, is.Code, is.Message))
		}
		t.Fatalf("want exactly one %q issue, got %d; all issues:\n  %s", code, len(got), strings.Join(all, "\n  "))
	}
	if got[0].Severity != sev {
		t.Fatalf("issue %q has severity %s, want %s (%s)", code, got[0].Severity, sev, got[0].Message)
	}
	return got[0]
}

func requireNoIssue(t testing.TB, p *core.Plan, code string) {
	t.Helper()
	if got := issuesWith(p, code); len(got) > 0 {
		t.Fatalf("unexpected %q issue: %s", code, got[0].Message)
	}
}

func mustContain(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, v := range shape {
		n *= v
	}
	return n
}

func dtypeFor(o fixture.TinyOptions) loader.DType {
	if o.DType == "" {
		return loader.BF16
	}
	return o.DType
}

// outDType is the output dtype the contract asks for: the source's unless a cast is requested.
func outDType(o fixture.TinyOptions, s core.Settings) loader.DType {
	switch s.DType {
	case "bf16":
		return loader.BF16
	case "fp16":
		return loader.F16
	case "fp32":
		return loader.F32
	}
	return dtypeFor(o)
}

// editConfig returns config.json with the value at a dotted path replaced (or deleted when del).
func editConfig(t testing.TB, raw []byte, path string, v any, del bool) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("parse config: %v", err)
	}
	parts := strings.Split(path, ".")
	m := root
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("config has no object at %q (in %s)", k, path)
		}
		m = next
	}
	if del {
		delete(m, parts[len(parts)-1])
	} else {
		m[parts[len(parts)-1]] = v
	}
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inputWithConfig is the plan input of ck with another config.json.
func inputWithConfig(t testing.TB, ck *loader.Checkpoint, cfg []byte) core.PlanInput {
	t.Helper()
	n, err := loader.ParseJSONTree(cfg)
	if err != nil {
		t.Fatalf("ParseJSONTree: %v", err)
	}
	return core.PlanInput{Config: n, ConfigBytes: cfg, Tensors: ck.Tensors, NameOrPath: ck.Dir}
}

func buildFrom(t testing.TB, in core.PlanInput, s core.Settings) *core.Plan {
	t.Helper()
	p, err := core.Build(in, s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

func rankByPath(p *core.Plan, path string) *core.RankFile {
	for i := range p.Ranks {
		if p.Ranks[i].Path == path {
			return &p.Ranks[i]
		}
	}
	return nil
}

func entryNames(ch core.Chunk) []string {
	var out []string
	for _, e := range ch.Entries {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

func findEntry(ch core.Chunk, name string) (core.Entry, bool) {
	for _, e := range ch.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return core.Entry{}, false
}

func groupOf(p *core.Plan, hfName string) (*core.Group, bool) {
	for i := range p.Groups {
		if slices.Contains(p.Groups[i].HFNames, hfName) {
			return &p.Groups[i], true
		}
	}
	return nil, false
}

func mcaValue(p *core.Plan, key string) (string, bool) {
	for _, kv := range p.MCAConfig {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

// rankPathOf is the contract's file name (§6), restated.
func rankPathOf(tp, pp, ep, ppSize, epSize int) string {
	s := fmt.Sprintf("iter_0000001/mp_rank_%02d", tp)
	if ppSize > 1 {
		s += fmt.Sprintf("_%03d", pp)
	}
	if epSize > 1 {
		s += fmt.Sprintf("_%03d", ep)
	}
	return s + "/model_optim_rng.pt"
}

// ---------------------------------------------------------------------------
// the reference model

// refTensor is one expected tensor of a rank file: its shape and, for every flat output
// element, the HF tensor and flat element it is copied from.
type refTensor struct {
	shape []int64
	src   func(i int64) (string, int64)
}

type refRank struct {
	tp, pp, ep int
	path       string
	keys       []string // chunk keys in file order
	chunks     map[string]map[string]refTensor
}

type refCkpt struct {
	ranks  []refRank
	dtype  loader.DType
	shapes map[string][]int64 // HF tensor shapes
	seed   int64
}

// layoutDecoderCounts counts 't' per '|'-separated stage of a plain layout string.
func layoutDecoderCounts(t testing.TB, layout string) []int {
	t.Helper()
	if strings.ContainsAny(layout, "*()") {
		t.Fatalf("refModel understands plain layouts only, not %q", layout)
	}
	var out []int
	for _, st := range strings.Split(strings.ReplaceAll(layout, ",", ""), "|") {
		out = append(out, strings.Count(st, "t"))
	}
	return out
}

// refStageCounts returns decoder layers per chunk in chunk order (c = vp*pp + pp_rank).
func refStageCounts(t testing.TB, layers int, s core.Settings) []int {
	t.Helper()
	pp := max(s.PP, 1)
	if s.Layout != "" {
		return layoutDecoderCounts(t, s.Layout)
	}
	v := max(s.VPP, 1)
	n := layers
	if s.AccountEmbedding {
		n++
	}
	if s.AccountLoss {
		n++
	}
	if n%(pp*v) != 0 {
		t.Fatalf("refModel: %d layers do not split into %d chunks", n, pp*v)
	}
	counts := make([]int, pp*v)
	for c := range counts {
		counts[c] = n / (pp * v)
	}
	if s.AccountEmbedding {
		counts[0]--
	}
	if s.AccountLoss {
		counts[len(counts)-1]--
	}
	return counts
}

// refModel restates the contract for a tiny checkpoint: every rank file, chunk, tensor name,
// shape and element source.
func refModel(t testing.TB, o fixture.TinyOptions, s core.Settings) refCkpt {
	t.Helper()
	rows, err := fixture.TinyManifest(o)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int64{}
	var vision, audio, talker, code2wav []string
	for _, r := range rows {
		shapes[r.Name] = r.Shape
		switch {
		case strings.HasPrefix(r.Name, "thinker.visual."):
			vision = append(vision, r.Name)
		case strings.HasPrefix(r.Name, "thinker.audio_tower."):
			audio = append(audio, r.Name)
		case strings.HasPrefix(r.Name, "talker."):
			talker = append(talker, r.Name)
		case strings.HasPrefix(r.Name, "code2wav."):
			code2wav = append(code2wav, r.Name)
		}
	}
	TP, PP, EP := int64(max(s.TP, 1)), max(s.PP, 1), max(s.EP, 1)
	H, nh, ng, d := int64(o.Hidden), int64(o.Heads), int64(o.Groups), int64(o.HeadDim)
	F, E := int64(o.MoEFFN), o.Experts
	El := E / EP
	impl := s.TransformerImpl
	if impl == "" {
		impl = "transformer_engine"
	}
	teGrouped := s.GroupedGEMM && !s.LegacyGroupedGEMM && impl == "transformer_engine"
	legacy := s.GroupedGEMM && !teGrouped
	audioOut := !(!o.EnableAudioOutput && s.OptOut("drop_audio_output"))

	counts := refStageCounts(t, o.Layers, s)
	if len(counts)%PP != 0 {
		t.Fatalf("refModel: %d chunks for PP %d", len(counts), PP)
	}
	V := len(counts) / PP
	firsts := make([]int, len(counts))
	for c := 1; c < len(counts); c++ {
		firsts[c] = firsts[c-1] + counts[c-1]
	}

	whole := func(hf string) refTensor {
		return refTensor{slices.Clone(shapes[hf]), func(i int64) (string, int64) { return hf, i }}
	}
	col := func(hf string, r int64) refTensor {
		sh := slices.Clone(shapes[hf])
		rows := sh[0] / TP
		rowEl := numel(sh[1:])
		sh[0] = rows
		return refTensor{sh, func(i int64) (string, int64) { return hf, r*rows*rowEl + i }}
	}
	row := func(hf string, r int64) refTensor {
		sh := shapes[hf]
		cols := sh[1] / TP
		return refTensor{[]int64{sh[0], cols}, func(i int64) (string, int64) {
			a, b := i/cols, i%cols
			return hf, a*sh[1] + r*cols + b
		}}
	}
	// fused QKV rows: per group g, [q rows of its nh/ng heads, k rows of g, v rows of g]
	qkv := func(q, k, v string, cols int64, r int64) refTensor {
		per := (nh/ng + 2) * d
		qh := nh / ng * d
		rowsPer := (nh + 2*ng) * d / TP
		sh := []int64{rowsPer, cols}
		if cols == 1 {
			sh = []int64{rowsPer}
		}
		return refTensor{sh, func(i int64) (string, int64) {
			a, b := i/cols, i%cols
			fr := r*rowsPer + a
			g, w := fr/per, fr%per
			switch {
			case w < qh:
				return q, (g*qh+w)*cols + b
			case w < qh+d:
				return k, (g*d+w-qh)*cols + b
			default:
				return v, (g*d+w-qh-d)*cols + b
			}
		}}
	}
	f := F / TP
	fc1 := func(gate, up string, r int64) refTensor {
		return refTensor{[]int64{2 * f, H}, func(i int64) (string, int64) {
			a, b := i/H, i%H
			if a < f {
				return gate, (r*f+a)*H + b
			}
			return up, (r*f+a-f)*H + b
		}}
	}
	fc2 := func(down string, r int64) refTensor {
		return refTensor{[]int64{H, f}, func(i int64) (string, int64) {
			a, b := i/f, i%f
			return down, a*F + r*f + b
		}}
	}
	expertName := func(g, e int, what string) string {
		return fmt.Sprintf("thinker.model.layers.%d.mlp.experts.%d.%s.weight", g, e, what)
	}
	// legacy grouped GEMM: weight1 = stack([fc1_e^T]).view(H, -1), weight2 = stack([fc2_e^T]).view(-1, H)
	weight1 := func(g, ep int, r int64) refTensor {
		el := int64(El)
		return refTensor{[]int64{H, el * 2 * f}, func(i int64) (string, int64) {
			le := i / (H * 2 * f)
			rem := i % (H * 2 * f)
			a, b := rem/(2*f), rem%(2*f) // element [a][b] of fc1_e^T = fc1_e[b][a]
			e := ep*El + int(le)
			if b < f {
				return expertName(g, e, "gate_proj"), (r*f+b)*H + a
			}
			return expertName(g, e, "up_proj"), (r*f+b-f)*H + a
		}}
	}
	weight2 := func(g, ep int, r int64) refTensor {
		el := int64(El)
		return refTensor{[]int64{el * f, H}, func(i int64) (string, int64) {
			le := i / (f * H)
			rem := i % (f * H)
			a, b := rem/H, rem%H // element [a][b] of fc2_e^T = fc2_e[b][a]
			e := ep*El + int(le)
			return expertName(g, e, "down_proj"), b*F + r*f + a
		}}
	}

	ref := refCkpt{dtype: outDType(o, s), shapes: shapes, seed: o.Seed}
	for tp := 0; tp < int(TP); tp++ {
		for pp := 0; pp < PP; pp++ {
			for ep := 0; ep < EP; ep++ {
				rr := refRank{tp: tp, pp: pp, ep: ep, path: rankPathOf(tp, pp, ep, PP, EP), chunks: map[string]map[string]refTensor{}}
				r := int64(tp)
				for vp := 0; vp < V; vp++ {
					key := "model"
					if V > 1 {
						key = fmt.Sprintf("model%d", vp)
					}
					m := map[string]refTensor{}
					add := func(name string, x refTensor) {
						if _, dup := m[name]; dup {
							t.Fatalf("refModel: %s twice in %s %s", name, rr.path, key)
						}
						m[name] = x
					}
					c := vp*PP + pp
					if pp == 0 && vp == 0 {
						add("embedding.word_embeddings.weight", col("thinker.model.embed_tokens.weight", r))
						for _, n := range vision {
							add("vision_model."+strings.TrimPrefix(n, "thinker.visual."), whole(n))
						}
						for _, n := range audio {
							add("audio_model."+strings.TrimPrefix(n, "thinker.audio_tower."), whole(n))
						}
					}
					if pp == PP-1 && vp == V-1 {
						add("decoder.final_layernorm.weight", whole("thinker.model.norm.weight"))
						switch {
						case !o.Tied:
							add("output_layer.weight", col("thinker.lm_head.weight", r))
						case PP > 1:
							add("output_layer.weight", col("thinker.model.embed_tokens.weight", r))
						}
						if audioOut {
							for _, n := range talker {
								add(n, whole(n))
							}
							for _, n := range code2wav {
								add(n, whole(n))
							}
						}
					}
					for local := 0; local < counts[c]; local++ {
						g := firsts[c] + local
						P := fmt.Sprintf("thinker.model.layers.%d", g)
						M := fmt.Sprintf("decoder.layers.%d", local)
						if impl == "local" {
							add(M+".input_layernorm.weight", whole(P+".input_layernorm.weight"))
						} else {
							add(M+".self_attention.linear_qkv.layer_norm_weight", whole(P+".input_layernorm.weight"))
						}
						add(M+".self_attention.linear_qkv.weight", qkv(P+".self_attn.q_proj.weight", P+".self_attn.k_proj.weight", P+".self_attn.v_proj.weight", H, r))
						if o.AttentionBias {
							add(M+".self_attention.linear_qkv.bias", qkv(P+".self_attn.q_proj.bias", P+".self_attn.k_proj.bias", P+".self_attn.v_proj.bias", 1, r))
						}
						add(M+".self_attention.linear_proj.weight", row(P+".self_attn.o_proj.weight", r))
						add(M+".self_attention.q_layernorm.weight", whole(P+".self_attn.q_norm.weight"))
						add(M+".self_attention.k_layernorm.weight", whole(P+".self_attn.k_norm.weight"))
						add(M+".pre_mlp_layernorm.weight", whole(P+".post_attention_layernorm.weight"))
						add(M+".mlp.router.weight", whole(P+".mlp.gate.weight"))
						if legacy {
							add(M+".mlp.experts.weight1", weight1(g, ep, r))
							add(M+".mlp.experts.weight2", weight2(g, ep, r))
							continue
						}
						for le := 0; le < El; le++ {
							e := ep*El + le
							a := fc1(expertName(g, e, "gate_proj"), expertName(g, e, "up_proj"), r)
							b := fc2(expertName(g, e, "down_proj"), r)
							if teGrouped {
								add(fmt.Sprintf("%s.mlp.experts.linear_fc1.weight%d", M, le), a)
								add(fmt.Sprintf("%s.mlp.experts.linear_fc2.weight%d", M, le), b)
							} else {
								add(fmt.Sprintf("%s.mlp.experts.local_experts.%d.linear_fc1.weight", M, le), a)
								add(fmt.Sprintf("%s.mlp.experts.local_experts.%d.linear_fc2.weight", M, le), b)
							}
						}
					}
					rr.keys = append(rr.keys, key)
					rr.chunks[key] = m
				}
				ref.ranks = append(ref.ranks, rr)
			}
		}
	}
	return ref
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diffNames reports names in want but not got and in got but not want (at most 5 each).
func diffNames(want, got []string) (missing, extra []string) {
	w := map[string]bool{}
	for _, n := range want {
		w[n] = true
	}
	g := map[string]bool{}
	for _, n := range got {
		g[n] = true
		if !w[n] && len(extra) < 5 {
			extra = append(extra, n)
		}
	}
	for _, n := range want {
		if !g[n] && len(missing) < 5 {
			missing = append(missing, n)
		}
	}
	return missing, extra
}

// checkPlanAgainstRef compares every rank file, chunk key, entry name, shape, dtype and size.
func checkPlanAgainstRef(t testing.TB, p *core.Plan, ref refCkpt) {
	t.Helper()
	if len(p.Ranks) != len(ref.ranks) {
		t.Fatalf("plan has %d rank files, want %d", len(p.Ranks), len(ref.ranks))
	}
	elem := int64(ref.dtype.Size())
	var totalBytes int64
	totalEntries := 0
	for _, rr := range ref.ranks {
		rf := rankByPath(p, rr.path)
		if rf == nil {
			t.Errorf("plan has no rank file %s", rr.path)
			continue
		}
		if rf.TP != rr.tp || rf.PP != rr.pp || rf.EP != rr.ep {
			t.Errorf("%s: plan says tp %d pp %d ep %d, want %d %d %d", rr.path, rf.TP, rf.PP, rf.EP, rr.tp, rr.pp, rr.ep)
		}
		var keys []string
		for _, ch := range rf.Chunks {
			keys = append(keys, ch.Key)
		}
		if !slices.Equal(keys, rr.keys) {
			t.Errorf("%s: chunk keys %v, want %v", rr.path, keys, rr.keys)
			continue
		}
		var bytes int64
		n := 0
		for _, ch := range rf.Chunks {
			want := rr.chunks[ch.Key]
			missing, extra := diffNames(sortedKeys(want), entryNames(ch))
			if len(missing) > 0 || len(extra) > 0 {
				t.Errorf("%s %s: missing %v, unexpected %v", rr.path, ch.Key, missing, extra)
			}
			for _, e := range ch.Entries {
				w, ok := want[e.Name]
				if !ok {
					continue
				}
				if !slices.Equal(e.Shape, w.shape) {
					t.Errorf("%s %s %s: shape %v, want %v", rr.path, ch.Key, e.Name, e.Shape, w.shape)
				}
				if e.DType != ref.dtype {
					t.Errorf("%s %s %s: dtype %s, want %s", rr.path, ch.Key, e.Name, e.DType, ref.dtype)
				}
				if e.Bytes != numel(w.shape)*elem {
					t.Errorf("%s %s %s: %d bytes, want %d", rr.path, ch.Key, e.Name, e.Bytes, numel(w.shape)*elem)
				}
			}
			for _, w := range want {
				bytes += numel(w.shape) * elem
			}
			n += len(want)
		}
		if rf.Tensors != n || rf.Bytes != bytes {
			t.Errorf("%s: plan counts %d tensors / %d bytes, want %d / %d", rr.path, rf.Tensors, rf.Bytes, n, bytes)
		}
		totalBytes += bytes
		totalEntries += n
	}
	if p.TotalBytes() != totalBytes || p.TotalEntries() != totalEntries {
		t.Errorf("plan totals %d bytes / %d tensors, want %d / %d", p.TotalBytes(), p.TotalEntries(), totalBytes, totalEntries)
	}
	checkDestsConsistent(t, p)
}

// checkDestsConsistent checks that every destination names an entry of its chunk with the
// destination's name, and that the parts filling each entry add up to its size.
func checkDestsConsistent(t testing.TB, p *core.Plan) {
	t.Helper()
	filled := map[[3]int]int64{}
	for gi, g := range p.Groups {
		for _, d := range g.Dests {
			if d.Rank < 0 || d.Rank >= len(p.Ranks) || d.Chunk < 0 || d.Chunk >= len(p.Ranks[d.Rank].Chunks) {
				t.Fatalf("group %d (%s): dest out of range: %+v", gi, g.Name, d)
			}
			ch := p.Ranks[d.Rank].Chunks[d.Chunk]
			if d.Entry < 0 || d.Entry >= len(ch.Entries) {
				t.Fatalf("group %d (%s): entry %d out of range", gi, g.Name, d.Entry)
			}
			e := ch.Entries[d.Entry]
			if e.Name != d.Name {
				t.Errorf("group %s: dest %q points at entry %q", g.Name, d.Name, e.Name)
			}
			if !d.Transpose && !slices.Equal(e.Shape, d.Shape) {
				t.Errorf("group %s: dest %s shape %v, entry %v", g.Name, d.Name, d.Shape, e.Shape)
			}
			filled[[3]int{d.Rank, d.Chunk, d.Entry}] += numel(d.Shape) * int64(g.DType.Size())
		}
	}
	for ri, rf := range p.Ranks {
		for ci, ch := range rf.Chunks {
			for ei, e := range ch.Entries {
				if got := filled[[3]int{ri, ci, ei}]; got != e.Bytes {
					t.Errorf("%s %s %s: destinations fill %d of %d bytes", rf.Path, ch.Key, e.Name, got, e.Bytes)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// parallel settings exercised by the reference comparison (also used by convert_test.go)

type planCase struct {
	name string
	o    func(*fixture.TinyOptions)
	s    func(*core.Settings)
}

func refCases() []planCase {
	return []planCase{
		{"default", nil, nil},
		{"tp2", nil, func(s *core.Settings) { s.TP = 2 }},
		{"tp4-groups-lt-tp", nil, func(s *core.Settings) { s.TP = 4 }},
		{"tp2-pp2-ep2", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }},
		{"pp2-vpp2", func(o *fixture.TinyOptions) { o.Deepstack = []int{0} }, func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
		{"pp2-vpp1-given", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 1 }},
		{"pp2-account-embedding", func(o *fixture.TinyOptions) { o.Layers = 5 }, func(s *core.Settings) { s.PP = 2; s.AccountEmbedding = true }},
		{"pp2-account-loss", func(o *fixture.TinyOptions) { o.Layers = 5 }, func(s *core.Settings) { s.PP = 2; s.AccountLoss = true }},
		{"pp2-vpp2-account-both", func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} }, func(s *core.Settings) {
			s.PP, s.VPP = 2, 2
			s.AccountEmbedding, s.AccountLoss = true, true
		}},
		{"layout-pp2", func(o *fixture.TinyOptions) { o.Layers = 6 }, func(s *core.Settings) { s.PP = 2; s.Layout = "Ettt|tttL" }},
		{"layout-pp2-uneven-tp2", func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} }, func(s *core.Settings) { s.PP, s.TP = 2, 2; s.Layout = "Et|tttttL" }},
		{"layout-implies-vpp2", func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} }, func(s *core.Settings) { s.PP = 2; s.Layout = "Et|tt|tt|tL" }},
		{"tied-pp1", func(o *fixture.TinyOptions) { o.Tied = true }, nil},
		{"tied-pp2-tp2", func(o *fixture.TinyOptions) { o.Tied = true }, func(s *core.Settings) { s.PP, s.TP = 2, 2 }},
		{"tied-pp2-vpp2", func(o *fixture.TinyOptions) { o.Tied = true; o.Deepstack = []int{0} }, func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
		{"ep8", nil, func(s *core.Settings) { s.EP = 8 }},
		{"ep4-pp2", nil, func(s *core.Settings) { s.EP, s.PP = 4, 2 }},
		{"grouped-te-ep2-tp2", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.EP, s.TP = 2, 2 }},
		{"grouped-legacy-ep4-tp2", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }},
		{"grouped-legacy-ep1", nil, func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true }},
		{"grouped-local-impl-tp2", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local"; s.TP = 2 }},
		{"local-impl-pp2", nil, func(s *core.Settings) { s.TransformerImpl = "local"; s.PP = 2 }},
		{"bias-mha-tp2", func(o *fixture.TinyOptions) { o.Groups = 4; o.AttentionBias = true }, func(s *core.Settings) { s.TP = 2 }},
		{"bias-gqa4-tp4", func(o *fixture.TinyOptions) {
			o.Heads, o.Groups, o.HeadDim, o.Hidden = 8, 2, 4, 24
			o.AttentionBias = true
		}, func(s *core.Settings) { s.TP = 4 }},
		{"mqa-tp2", func(o *fixture.TinyOptions) { o.Groups = 1 }, func(s *core.Settings) { s.TP = 2 }},
		{"f32-to-bf16-tp2", func(o *fixture.TinyOptions) { o.DType = loader.F32 }, func(s *core.Settings) { s.DType = "bf16"; s.TP = 2 }},
		{"bf16-to-fp32", nil, func(s *core.Settings) { s.DType = "fp32"; s.EP = 2 }},
		{"bf16-to-fp16", nil, func(s *core.Settings) { s.DType = "fp16" }},
		{"f16-keep-single-shard", func(o *fixture.TinyOptions) { o.DType = loader.F16; o.Shards = 1 }, func(s *core.Settings) { s.TP, s.EP = 2, 2 }},
		{"audio-off-dropped-pp2", func(o *fixture.TinyOptions) { o.EnableAudioOutput = false }, func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true); s.PP = 2 }},
		{"thinker-only", func(o *fixture.TinyOptions) { o.Talker, o.Code2Wav, o.Audio = false, false, false }, func(s *core.Settings) { s.TP = 2 }},
	}
}

// TestPlanMatchesReferenceModel compares every rank file's key set, shapes, dtypes, per-rank
// tensor counts and bytes with the reference model, over many parallel settings.
func TestPlanMatchesReferenceModel(t *testing.T) {
	for _, c := range refCases() {
		t.Run(c.name, func(t *testing.T) {
			o := tinyWith(c.o)
			s := settingsWith(c.s)
			p := buildPlan(t, openTinyCk(t, o), s)
			requireNoErrors(t, p)
			checkPlanAgainstRef(t, p, refModel(t, o, s))
		})
	}
}

// ---------------------------------------------------------------------------
// §1 config mapping

// refConfigKeys restates ROLL's qwen3_omni config_hf_to_mca with the nested prefixes.
func refConfigKeys() [][2]string {
	text := [][2]string{
		{"max_position_embeddings", "max_sequence_length"}, {"hidden_size", "hidden_size"},
		{"attention_bias", "add_qkv_bias"}, {"head_dim", "kv_channels"},
		{"num_attention_heads", "num_attention_heads"}, {"num_key_value_heads", "num_query_groups"},
		{"num_hidden_layers", "num_layers"}, {"rms_norm_eps", "layernorm_epsilon"},
		{"vocab_size", "padded_vocab_size"}, {"attention_dropout", "attention_dropout"},
		{"rope_theta", "rotary_base"}, {"rope_scaling", "rope_scaling"}, {"rope_parameters", "rope_parameters"},
		{"intermediate_size", "ffn_hidden_size"}, {"tie_word_embeddings", "tie_embeddings_and_output_weights"},
		{"moe_intermediate_size", "moe_ffn_hidden_size"}, {"decoder_sparse_step", "moe_layer_freq"},
		{"num_experts", "num_moe_experts"}, {"num_experts_per_tok", "moe_router_topk"},
		{"router_aux_loss_coef", "moe_aux_loss_coeff"},
	}
	var out [][2]string
	for _, k := range text {
		out = append(out, [2]string{"thinker_config.text_config." + k[0], k[1]})
	}
	for _, k := range []string{"audio_token_id", "audio_start_token_id", "image_token_id", "video_token_id",
		"vision_start_token_id", "position_id_per_seconds", "vision_config", "audio_config"} {
		out = append(out, [2]string{"thinker_config." + k, k})
	}
	for _, k := range []string{"enable_audio_output", "talker_config", "code2wav_config"} {
		out = append(out, [2]string{k, k})
	}
	return out
}

// jsonAt returns the compact JSON text at a dotted path of raw, parsed with encoding/json.
func jsonAt(t testing.TB, raw []byte, path string) (string, bool) {
	t.Helper()
	cur := json.RawMessage(raw)
	for _, k := range strings.Split(path, ".") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cur, &m); err != nil {
			return "", false
		}
		v, ok := m[k]
		if !ok {
			return "", false
		}
		cur = v
	}
	var b bytes.Buffer
	if err := json.Compact(&b, cur); err != nil {
		t.Fatal(err)
	}
	return b.String(), true
}

func compactJSON(s string) (string, error) {
	var b bytes.Buffer
	err := json.Compact(&b, []byte(s))
	return b.String(), err
}

func TestPlanConfigMapping(t *testing.T) {
	dir := writeTinyDir(t, fixture.DefaultTiny())
	ck := openCk(t, dir)
	raw := ck.ConfigBytes
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = 4, 2, 8 }))
	requireNoErrors(t, p)

	want := refConfigKeys()
	if len(p.Config) != len(want) {
		t.Errorf("plan maps %d config keys, want %d", len(p.Config), len(want))
	}
	byHF := map[string]core.ConfigMapping{}
	for _, m := range p.Config {
		byHF[m.HFKey] = m
	}
	var missing []string
	for _, w := range want {
		m, ok := byHF[w[0]]
		if !ok {
			t.Errorf("plan does not map %s", w[0])
			continue
		}
		if m.MCAKey != w[1] {
			t.Errorf("%s maps to %s, want %s", w[0], m.MCAKey, w[1])
		}
		v, present := jsonAt(t, raw, w[0])
		if m.Missing != !present {
			t.Errorf("%s: Missing = %v but present in config.json = %v", w[0], m.Missing, present)
		}
		mv, inMCA := mcaValue(p, w[1])
		if !present {
			missing = append(missing, w[0])
			if inMCA {
				t.Errorf("%s is missing from config.json but mca_config has %s = %s", w[0], w[1], mv)
			}
			continue
		}
		// numbers exactly as written: compare compact JSON text
		cm, err := compactJSON(m.Value)
		if err != nil || cm != v {
			t.Errorf("%s: mapping value %s (%v), config.json has %s", w[0], m.Value, err, v)
		}
		if !inMCA {
			t.Errorf("mca_config lacks %s (from %s)", w[1], w[0])
			continue
		}
		if cv, err := compactJSON(mv); err != nil || cv != v {
			t.Errorf("mca_config %s = %s, config.json %s has %s", w[1], mv, w[0], v)
		}
	}
	// rms_norm_eps is written 1e-06 in the reference config: kept as written, not re-rendered.
	if v, _ := mcaValue(p, "layernorm_epsilon"); v != "1e-06" {
		t.Errorf("layernorm_epsilon = %s, want 1e-06 exactly as written", v)
	}
	// a key the config lacks is a warning naming it
	if len(missing) > 0 {
		is := requireIssue(t, p, "config-key-missing", core.SevWarning)
		mustContain(t, "config-key-missing message", is.Message, missing...)
	} else {
		requireNoIssue(t, p, "config-key-missing")
	}

	// constants
	for k, v := range map[string]string{
		"swiglu": "true", "position_embedding_type": `"mrope"`, "normalization": `"RMSNorm"`,
		"add_bias_linear": "false", "hidden_dropout": "0.0", "rotary_percent": "1.0",
		"moe_router_load_balancing_type": `"aux_loss"`, "moe_router_pre_softmax": "false", "qk_layernorm": "true",
	} {
		if got, ok := mcaValue(p, k); !ok || got != v {
			t.Errorf("constant %s = %q (present %v), want %s", k, got, ok, v)
		}
	}
	// parallel fields and recorded extras
	for k, v := range map[string]string{
		"tensor_model_parallel_size": "4", "pipeline_model_parallel_size": "2", "expert_model_parallel_size": "8",
		"expert_tensor_parallel_size": "4", "virtual_pipeline_model_parallel_size": "null",
		"account_for_embedding_in_pipeline_split": "false", "account_for_loss_in_pipeline_split": "false",
		"moe_grouped_gemm": "false", "transformer_impl": `"transformer_engine"`,
		"hf_model_type": `"qwen3_omni_moe"`, "bf16": "true", "fp16": "false",
		"pipeline_model_parallel_layout": "null",
	} {
		if got, ok := mcaValue(p, k); !ok || got != v {
			t.Errorf("mca_config %s = %q (present %v), want %s", k, got, ok, v)
		}
	}
	// hf_config_json is config.json verbatim, as a JSON string
	hv, ok := mcaValue(p, "hf_config_json")
	if !ok {
		t.Fatal("mca_config lacks hf_config_json")
	}
	var hs string
	if err := json.Unmarshal([]byte(hv), &hs); err != nil {
		t.Fatalf("hf_config_json is not a JSON string: %v", err)
	}
	if hs != string(raw) {
		t.Error("hf_config_json differs from config.json")
	}
	nv, _ := mcaValue(p, "name_or_path")
	var ns string
	if err := json.Unmarshal([]byte(nv), &ns); err != nil || ns != ck.Dir {
		t.Errorf("name_or_path = %s, want %q", nv, ck.Dir)
	}
	// mca_config.json renders as a flat JSON object holding exactly these fields
	js, err := p.MCAConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	var flat map[string]json.RawMessage
	if err := json.Unmarshal(js, &flat); err != nil {
		t.Fatalf("mca_config.json is not a JSON object: %v", err)
	}
	if len(flat) != len(p.MCAConfig) {
		t.Errorf("mca_config.json has %d keys, plan %d", len(flat), len(p.MCAConfig))
	}
}

func TestPlanConfigRecordsSettings(t *testing.T) {
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} }))
	cases := []struct {
		name string
		s    func(*core.Settings)
		want map[string]string
	}{
		{"vpp-unset", func(s *core.Settings) { s.PP = 2 }, map[string]string{"virtual_pipeline_model_parallel_size": "null"}},
		{"vpp-given-1", func(s *core.Settings) { s.PP, s.VPP = 2, 1 }, map[string]string{"virtual_pipeline_model_parallel_size": "1"}},
		{"vpp-given-3", func(s *core.Settings) { s.PP, s.VPP = 2, 3 }, map[string]string{"virtual_pipeline_model_parallel_size": "3"}},
		{"account", func(s *core.Settings) { s.PP = 2; s.AccountEmbedding, s.AccountLoss = true, true }, map[string]string{
			"account_for_embedding_in_pipeline_split": "true", "account_for_loss_in_pipeline_split": "true"}},
		{"grouped-legacy-local", func(s *core.Settings) {
			s.GroupedGEMM, s.LegacyGroupedGEMM = true, true
			s.TransformerImpl = "local"
		}, map[string]string{"moe_grouped_gemm": "true", "moe_use_legacy_grouped_gemm": "true", "transformer_impl": `"local"`}},
		{"dtype-fp16", func(s *core.Settings) { s.DType = "fp16" }, map[string]string{"bf16": "false", "fp16": "true"}},
		{"dtype-fp32", func(s *core.Settings) { s.DType = "fp32" }, map[string]string{"bf16": "false", "fp16": "false"}},
		{"layout-canonical", func(s *core.Settings) { s.PP = 2; s.Layout = " E, t|t t t t t, L " }, map[string]string{
			"pipeline_model_parallel_layout": `"Et|t*5L"`, "virtual_pipeline_model_parallel_size": "null"}},
		// mcore_adapter's training arguments derive virtual_pipeline_model_parallel_size from a layout
		// with k*PP stages (k > 1), and ROLL's converter places layers by it; the checkpoint is reused
		// only when the recorded size equals the training run's.
		{"layout-implies-vpp", func(s *core.Settings) { s.PP = 2; s.Layout = "Et|tt|tt|tL" }, map[string]string{
			"virtual_pipeline_model_parallel_size": "2"}},
		{"etp", func(s *core.Settings) { s.TP, s.ETP = 2, 2 }, map[string]string{"expert_tensor_parallel_size": "2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(c.s))
			requireNoErrors(t, p)
			for k, v := range c.want {
				if got, ok := mcaValue(p, k); !ok || got != v {
					t.Errorf("mca_config %s = %q (present %v), want %s", k, got, ok, v)
				}
			}
		})
	}
}

func TestPlanConfigMissingKey(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	cfg := editConfig(t, ck.ConfigBytes, "thinker_config.text_config.router_aux_loss_coef", nil, true)
	cfg = editConfig(t, cfg, "thinker_config.position_id_per_seconds", nil, true)
	p := buildFrom(t, inputWithConfig(t, ck, cfg), core.DefaultSettings())
	requireNoErrors(t, p)
	is := requireIssue(t, p, "config-key-missing", core.SevWarning)
	mustContain(t, "message", is.Message, "thinker_config.text_config.router_aux_loss_coef", "thinker_config.position_id_per_seconds")
	for _, k := range []string{"moe_aux_loss_coeff", "position_id_per_seconds"} {
		if v, ok := mcaValue(p, k); ok {
			t.Errorf("mca_config has %s = %s although config.json lacks it", k, v)
		}
	}
	for _, m := range p.Config {
		if m.HFKey == "thinker_config.text_config.router_aux_loss_coef" && (!m.Missing || m.Value != "") {
			t.Errorf("mapping of the missing key: %+v", m)
		}
	}
}

// ---------------------------------------------------------------------------
// §2 ops and global names

func TestPlanOps(t *testing.T) {
	o := tinyWith(func(o *fixture.TinyOptions) { o.AttentionBias = true })
	p := buildPlan(t, openTinyCk(t, o), settingsWith(func(s *core.Settings) { s.TP, s.EP = 2, 2 }))
	requireNoErrors(t, p)
	H, V, E, F := int64(o.Hidden), int64(o.Vocab), int64(o.Experts), int64(o.MoEFFN)
	qkvRows := int64(o.Heads+2*o.Groups) * int64(o.HeadDim)
	L := "thinker.model.layers."
	cases := []struct {
		hf     []string // op inputs in op order
		op     core.OpKind
		mca    string
		split  core.SplitKind
		shape  []int64
		layer  int
		expert int
	}{
		{[]string{"thinker.model.embed_tokens.weight"}, core.OpRename, "embedding.word_embeddings.weight", core.SplitColumn, []int64{V, H}, -1, -1},
		{[]string{"thinker.model.norm.weight"}, core.OpRename, "decoder.final_layernorm.weight", core.SplitDuplicated, []int64{H}, -1, -1},
		{[]string{"thinker.lm_head.weight"}, core.OpRename, "output_layer.weight", core.SplitColumn, []int64{V, H}, -1, -1},
		{[]string{L + "3.input_layernorm.weight"}, core.OpRename, "decoder.layers.3.self_attention.linear_qkv.layer_norm_weight", core.SplitDuplicated, []int64{H}, 3, -1},
		{[]string{L + "1.self_attn.q_proj.weight", L + "1.self_attn.k_proj.weight", L + "1.self_attn.v_proj.weight"}, core.OpQKV, "decoder.layers.1.self_attention.linear_qkv.weight", core.SplitColumn, []int64{qkvRows, H}, 1, -1},
		{[]string{L + "2.self_attn.q_proj.bias", L + "2.self_attn.k_proj.bias", L + "2.self_attn.v_proj.bias"}, core.OpQKVBias, "decoder.layers.2.self_attention.linear_qkv.bias", core.SplitColumn, []int64{qkvRows}, 2, -1},
		{[]string{L + "0.self_attn.o_proj.weight"}, core.OpRename, "decoder.layers.0.self_attention.linear_proj.weight", core.SplitRow, []int64{H, int64(o.Heads * o.HeadDim)}, 0, -1},
		{[]string{L + "0.self_attn.q_norm.weight"}, core.OpRename, "decoder.layers.0.self_attention.q_layernorm.weight", core.SplitDuplicated, []int64{int64(o.HeadDim)}, 0, -1},
		{[]string{L + "0.self_attn.k_norm.weight"}, core.OpRename, "decoder.layers.0.self_attention.k_layernorm.weight", core.SplitDuplicated, []int64{int64(o.HeadDim)}, 0, -1},
		{[]string{L + "3.post_attention_layernorm.weight"}, core.OpRename, "decoder.layers.3.pre_mlp_layernorm.weight", core.SplitDuplicated, []int64{H}, 3, -1},
		{[]string{L + "2.mlp.gate.weight"}, core.OpRename, "decoder.layers.2.mlp.router.weight", core.SplitDuplicated, []int64{E, H}, 2, -1},
		{[]string{L + "2.mlp.experts.5.gate_proj.weight", L + "2.mlp.experts.5.up_proj.weight"}, core.OpStack, "decoder.layers.2.mlp.experts.local_experts.5.linear_fc1.weight", core.SplitSwiGLU, []int64{2 * F, H}, 2, 5},
		{[]string{L + "2.mlp.experts.7.down_proj.weight"}, core.OpRename, "decoder.layers.2.mlp.experts.local_experts.7.linear_fc2.weight", core.SplitRow, []int64{H, F}, 2, 7},
		// encoders, talker and code2wav: duplicated whatever their inner names look like
		{[]string{"thinker.visual.blocks.0.mlp.linear_fc1.weight"}, core.OpRename, "vision_model.blocks.0.mlp.linear_fc1.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"thinker.visual.blocks.1.mlp.linear_fc2.weight"}, core.OpRename, "vision_model.blocks.1.mlp.linear_fc2.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"thinker.visual.blocks.1.attn.qkv.bias"}, core.OpRename, "vision_model.blocks.1.attn.qkv.bias", core.SplitDuplicated, nil, -1, -1},
		{[]string{"thinker.visual.merger_list.1.mlp.0.weight"}, core.OpRename, "vision_model.merger_list.1.mlp.0.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"thinker.audio_tower.layers.1.fc1.weight"}, core.OpRename, "audio_model.layers.1.fc1.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"thinker.audio_tower.layers.0.self_attn.q_proj.weight"}, core.OpRename, "audio_model.layers.0.self_attn.q_proj.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"talker.model.layers.0.input_layernorm.weight"}, core.OpRename, "talker.model.layers.0.input_layernorm.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"talker.model.layers.1.mlp.experts.3.gate_proj.weight"}, core.OpRename, "talker.model.layers.1.mlp.experts.3.gate_proj.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"talker.model.layers.0.self_attn.q_proj.weight"}, core.OpRename, "talker.model.layers.0.self_attn.q_proj.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"talker.text_projection.linear_fc1.weight"}, core.OpRename, "talker.text_projection.linear_fc1.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"talker.hidden_projection.linear_fc2.weight"}, core.OpRename, "talker.hidden_projection.linear_fc2.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"code2wav.pre_transformer.layers.0.input_layernorm.weight"}, core.OpRename, "code2wav.pre_transformer.layers.0.input_layernorm.weight", core.SplitDuplicated, nil, -1, -1},
		{[]string{"code2wav.pre_transformer.layers.0.mlp.gate_proj.weight"}, core.OpRename, "code2wav.pre_transformer.layers.0.mlp.gate_proj.weight", core.SplitDuplicated, nil, -1, -1},
	}
	rows, _ := fixture.TinyManifest(o)
	shapeOf := map[string][]int64{}
	for _, r := range rows {
		shapeOf[r.Name] = r.Shape
	}
	for _, c := range cases {
		t.Run(c.mca, func(t *testing.T) {
			g, ok := groupOf(p, c.hf[0])
			if !ok {
				t.Fatalf("no group holds %s", c.hf[0])
			}
			if g.Op != c.op || g.Name != c.mca || g.Split != c.split || g.Layer != c.layer || g.Expert != c.expert {
				t.Errorf("group = op %s name %s split %s layer %d expert %d; want %s %s %s %d %d",
					g.Op, g.Name, g.Split, g.Layer, g.Expert, c.op, c.mca, c.split, c.layer, c.expert)
			}
			if !slices.Equal(g.HFNames, c.hf) {
				t.Errorf("inputs %v, want %v in op order", g.HFNames, c.hf)
			}
			for k, ti := range g.Inputs {
				if p.Tensors[ti].Name != c.hf[k] || p.TensorGroup[ti] < 0 || &p.Groups[p.TensorGroup[ti]] != g {
					t.Errorf("input %d: tensor %d (%s) not linked to this group", k, ti, p.Tensors[ti].Name)
				}
			}
			want := c.shape
			if want == nil {
				want = shapeOf[c.hf[0]]
			}
			if !slices.Equal(g.Shape, want) {
				t.Errorf("shape %v, want %v", g.Shape, want)
			}
			if g.DType != loader.BF16 {
				t.Errorf("dtype %s, want BF16 (source dtype kept)", g.DType)
			}
		})
	}
	// every tensor of the checkpoint is in exactly one group
	seen := map[int]int{}
	for gi, g := range p.Groups {
		for _, ti := range g.Inputs {
			if prev, dup := seen[ti]; dup {
				t.Errorf("tensor %s in groups %d and %d", p.Tensors[ti].Name, prev, gi)
			}
			seen[ti] = gi
		}
	}
	if len(seen) != len(p.Tensors) {
		t.Errorf("%d of %d tensors are in a group", len(seen), len(p.Tensors))
	}
	// the number of groups follows from the dims: per layer 8 ops (norm, qkv, qkv bias, proj,
	// q/k norm, post norm, router) + 2 per expert; 3 globals; encoders/talker/code2wav one each
	other := 0
	for _, r := range rows {
		for _, pre := range []string{"thinker.visual.", "thinker.audio_tower.", "talker.", "code2wav."} {
			if strings.HasPrefix(r.Name, pre) {
				other++
			}
		}
	}
	if want := o.Layers*(8+2*o.Experts) + 3 + other; len(p.Groups) != want {
		t.Errorf("%d groups, want %d", len(p.Groups), want)
	}
}

// ---------------------------------------------------------------------------
// §3 TP split kinds and slice shapes

func TestPlanTPSliceShapes(t *testing.T) {
	o := tinyWith(func(o *fixture.TinyOptions) { o.AttentionBias = true })
	ck := openTinyCk(t, o)
	H, V, F := int64(o.Hidden), int64(o.Vocab), int64(o.MoEFFN)
	R := int64(o.Heads+2*o.Groups) * int64(o.HeadDim)
	C := int64(o.Heads * o.HeadDim)
	L := "thinker.model.layers.1."
	for _, tp := range []int64{1, 2, 4} {
		t.Run(fmt.Sprint("tp", tp), func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP = int(tp) }))
			requireNoErrors(t, p)
			cases := []struct {
				hf    string
				slice []int64 // shape on every TP rank
				split bool    // sliced (TPSize = tp) or duplicated (TPSize 1)
			}{
				{"thinker.model.embed_tokens.weight", []int64{V / tp, H}, true},
				{"thinker.lm_head.weight", []int64{V / tp, H}, true},
				{"thinker.model.norm.weight", []int64{H}, false},
				{L + "self_attn.q_proj.weight", []int64{R / tp, H}, true},
				{L + "self_attn.v_proj.bias", []int64{R / tp}, true},
				{L + "self_attn.o_proj.weight", []int64{H, C / tp}, true},
				{L + "input_layernorm.weight", []int64{H}, false},
				{L + "self_attn.q_norm.weight", []int64{int64(o.HeadDim)}, false},
				{L + "mlp.gate.weight", []int64{int64(o.Experts), H}, false},
				{L + "mlp.experts.3.up_proj.weight", []int64{2 * F / tp, H}, true},
				{L + "mlp.experts.3.down_proj.weight", []int64{H, F / tp}, true},
				{"thinker.visual.blocks.0.mlp.linear_fc1.weight", []int64{16, 8}, false},
				{"talker.text_projection.linear_fc1.weight", []int64{32, 32}, false},
				{"code2wav.pre_transformer.layers.0.mlp.down_proj.weight", []int64{16, 32}, false},
			}
			for _, c := range cases {
				g, ok := groupOf(p, c.hf)
				if !ok {
					t.Fatalf("no group holds %s", c.hf)
				}
				if len(g.Dests) != int(tp) {
					t.Errorf("%s: %d destinations, want one per TP rank (%d)", c.hf, len(g.Dests), tp)
				}
				ranks := map[int]bool{}
				for _, d := range g.Dests {
					rf := p.Ranks[d.Rank]
					ranks[rf.TP] = true
					if !slices.Equal(d.Shape, c.slice) {
						t.Errorf("%s on tp %d: slice %v, want %v", c.hf, rf.TP, d.Shape, c.slice)
					}
					wantSlice, wantSize := rf.TP, int(tp)
					if !c.split || tp == 1 {
						wantSlice, wantSize = 0, 1
					}
					if d.TPRank != wantSlice || d.TPSize != wantSize {
						t.Errorf("%s on tp %d: slice %d of %d, want %d of %d", c.hf, rf.TP, d.TPRank, d.TPSize, wantSlice, wantSize)
					}
				}
				if len(ranks) != int(tp) {
					t.Errorf("%s reaches TP ranks %v, want all %d", c.hf, ranks, tp)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// §4 pipeline

func TestPlanPipelineStages(t *testing.T) {
	cases := []struct {
		name   string
		layers int
		s      func(*core.Settings)
		want   []core.Stage // chunk order
	}{
		{"pp1", 4, nil, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 4}}},
		{"pp2", 4, func(s *core.Settings) { s.PP = 2 }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 2}, {PP: 1, VP: 0, First: 2, Count: 2}}},
		{"pp2-vpp2", 4, func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 1}, {PP: 1, VP: 0, First: 1, Count: 1}, {PP: 0, VP: 1, First: 2, Count: 1}, {PP: 1, VP: 1, First: 3, Count: 1}}},
		{"pp2-accE", 5, func(s *core.Settings) { s.PP = 2; s.AccountEmbedding = true }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 2}, {PP: 1, VP: 0, First: 2, Count: 3}}},
		{"pp2-accL", 5, func(s *core.Settings) { s.PP = 2; s.AccountLoss = true }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 3}, {PP: 1, VP: 0, First: 3, Count: 2}}},
		{"pp2-vpp2-accE-accL", 6, func(s *core.Settings) {
			s.PP, s.VPP = 2, 2
			s.AccountEmbedding, s.AccountLoss = true, true
			*s = s.WithOptOut("ignore_deepstack", true)
		}, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 1}, {PP: 1, VP: 0, First: 1, Count: 2}, {PP: 0, VP: 1, First: 3, Count: 2}, {PP: 1, VP: 1, First: 5, Count: 1}}},
		{"layout", 6, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|ttttL" }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 2}, {PP: 1, VP: 0, First: 2, Count: 4}}},
		{"layout-repeat", 6, func(s *core.Settings) { s.PP = 2; s.Layout = "Et*2|t*4L" }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 2}, {PP: 1, VP: 0, First: 2, Count: 4}}},
		{"layout-vpp", 6, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|t|t|ttL" }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 2}, {PP: 1, VP: 0, First: 2, Count: 1}, {PP: 0, VP: 1, First: 3, Count: 1}, {PP: 1, VP: 1, First: 4, Count: 2}}},
		{"layout-empty-stage", 4, func(s *core.Settings) { s.PP = 2; s.Layout = "E|ttttL"; *s = s.WithOptOut("ignore_deepstack", true) }, []core.Stage{{PP: 0, VP: 0, First: 0, Count: 0}, {PP: 1, VP: 0, First: 0, Count: 4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Layers = c.layers }))
			s := settingsWith(c.s)
			p := buildPlan(t, ck, s)
			requireNoErrors(t, p)
			if !slices.Equal(p.Stages, c.want) {
				t.Fatalf("stages %+v, want %+v", p.Stages, c.want)
			}
			// every layer's tensors land on its chunk with the local number
			for _, st := range c.want {
				for g := st.First; g < st.First+st.Count; g++ {
					grp, ok := groupOf(p, fmt.Sprintf("thinker.model.layers.%d.self_attn.o_proj.weight", g))
					if !ok {
						t.Fatalf("layer %d has no o_proj group", g)
					}
					if grp.Name != fmt.Sprintf("decoder.layers.%d.self_attention.linear_proj.weight", g) {
						t.Errorf("global name %s", grp.Name)
					}
					for _, d := range grp.Dests {
						rf := p.Ranks[d.Rank]
						want := fmt.Sprintf("decoder.layers.%d.self_attention.linear_proj.weight", g-st.First)
						if rf.PP != st.PP || rf.Chunks[d.Chunk].VP != st.VP || d.Name != want {
							t.Errorf("layer %d: on pp %d vp %d as %s, want pp %d vp %d as %s", g, rf.PP, rf.Chunks[d.Chunk].VP, d.Name, st.PP, st.VP, want)
						}
					}
				}
			}
			// chunk layer ranges agree
			for _, rf := range p.Ranks {
				for _, ch := range rf.Chunks {
					for _, st := range c.want {
						if st.PP == rf.PP && st.VP == ch.VP && ch.Layers != [2]int{st.First, st.First + st.Count} {
							t.Errorf("%s %s layers %v, want [%d %d)", rf.Path, ch.Key, ch.Layers, st.First, st.First+st.Count)
						}
					}
				}
			}
		})
	}
}

func TestPlanChunkKeys(t *testing.T) {
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Deepstack = []int{0} }))
	cases := []struct {
		name string
		s    func(*core.Settings)
		keys []string
	}{
		{"pp1", nil, []string{"model"}},
		{"pp2", func(s *core.Settings) { s.PP = 2 }, []string{"model"}},
		{"pp2-vpp1-given", func(s *core.Settings) { s.PP, s.VPP = 2, 1 }, []string{"model"}},
		{"pp1-vpp1-given", func(s *core.Settings) { s.VPP = 1 }, []string{"model"}},
		{"pp2-vpp2", func(s *core.Settings) { s.PP, s.VPP = 2, 2 }, []string{"model0", "model1"}},
		{"layout-vpp2", func(s *core.Settings) { s.PP = 2; s.Layout = "Et|t|t|tL" }, []string{"model0", "model1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(c.s))
			requireNoErrors(t, p)
			for _, rf := range p.Ranks {
				var keys []string
				for i, ch := range rf.Chunks {
					keys = append(keys, ch.Key)
					if ch.VP != i {
						t.Errorf("%s chunk %d has vp %d", rf.Path, i, ch.VP)
					}
				}
				if !slices.Equal(keys, c.keys) {
					t.Errorf("%s: keys %v, want %v", rf.Path, keys, c.keys)
				}
			}
		})
	}
	// vpp 1 at pp 1 is recorded as given, with a warning that Megatron rejects it
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.VPP = 1 }))
	is := requireIssue(t, p, "vpp-at-pp1", core.SevWarning)
	mustContain(t, "vpp-at-pp1", is.Message, "leave --vpp out")
}

func TestPlanStageExtras(t *testing.T) {
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Deepstack = []int{0} }))
	has := func(ch core.Chunk, prefix string) bool {
		for _, e := range ch.Entries {
			if strings.HasPrefix(e.Name, prefix) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		name string
		s    func(*core.Settings)
	}{
		{"pp1", nil},
		{"pp2", func(s *core.Settings) { s.PP = 2 }},
		{"pp4-ep2", func(s *core.Settings) { s.PP, s.EP = 4, 2 }},
		{"pp2-vpp2-tp2", func(s *core.Settings) { s.PP, s.VPP, s.TP = 2, 2, 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := settingsWith(c.s)
			p := buildPlan(t, ck, s)
			requireNoErrors(t, p)
			v := max(s.VPP, 1)
			for _, rf := range p.Ranks {
				for _, ch := range rf.Chunks {
					first := rf.PP == 0 && ch.VP == 0
					last := rf.PP == s.PP-1 && ch.VP == v-1
					for _, x := range []struct {
						prefix string
						want   bool
					}{
						{"embedding.word_embeddings.weight", first}, {"vision_model.", first}, {"audio_model.", first},
						{"output_layer.weight", last}, {"decoder.final_layernorm.weight", last}, {"talker.", last}, {"code2wav.", last},
					} {
						if got := has(ch, x.prefix); got != x.want {
							t.Errorf("%s %s (pp %d vp %d): has %s = %v, want %v", rf.Path, ch.Key, rf.PP, ch.VP, x.prefix, got, x.want)
						}
					}
					for _, x := range []struct {
						name string
						want bool
					}{{"embedding", first}, {"vision", first}, {"audio", first}, {"output_layer", last}, {"final_layernorm", last}, {"talker", last}, {"code2wav", last}} {
						if got := slices.Contains(ch.Extras, x.name); got != x.want {
							t.Errorf("%s %s: extras %v, %s expected %v", rf.Path, ch.Key, ch.Extras, x.name, x.want)
						}
					}
				}
			}
		})
	}
}

func TestPlanTiedEmbeddings(t *testing.T) {
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Tied = true }))
	t.Run("pp1", func(t *testing.T) {
		p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP = 2 }))
		requireNoErrors(t, p)
		for _, rf := range p.Ranks {
			for _, ch := range rf.Chunks {
				if _, ok := findEntry(ch, "output_layer.weight"); ok {
					t.Errorf("%s %s has output_layer.weight with tied embeddings at PP 1", rf.Path, ch.Key)
				}
				if _, ok := findEntry(ch, "embedding.word_embeddings.weight"); !ok {
					t.Errorf("%s lacks the embedding", rf.Path)
				}
			}
		}
		if v, _ := mcaValue(p, "tie_embeddings_and_output_weights"); v != "true" {
			t.Errorf("tie_embeddings_and_output_weights = %s", v)
		}
	})
	t.Run("pp2", func(t *testing.T) {
		p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP, s.PP = 2, 2 }))
		requireNoErrors(t, p)
		emb, ok := groupOf(p, "thinker.model.embed_tokens.weight")
		if !ok {
			t.Fatal("no embedding group")
		}
		count := map[string]int{}
		for _, d := range emb.Dests {
			rf := p.Ranks[d.Rank]
			count[fmt.Sprintf("%s@pp%d", d.Name, rf.PP)]++
			if d.Shape[0] != int64(64/2) || d.TPSize != 2 || d.TPRank != rf.TP {
				t.Errorf("%s on %s: slice %d of %d shape %v, want the TP split embedding", d.Name, rf.Path, d.TPRank, d.TPSize, d.Shape)
			}
		}
		want := map[string]int{"embedding.word_embeddings.weight@pp0": 2, "output_layer.weight@pp1": 2}
		if fmt.Sprint(count) != fmt.Sprint(want) {
			t.Errorf("embedding destinations %v, want %v", count, want)
		}
		for _, rf := range p.Ranks {
			_, hasEmb := findEntry(rf.Chunks[0], "embedding.word_embeddings.weight")
			_, hasOut := findEntry(rf.Chunks[0], "output_layer.weight")
			if hasEmb != (rf.PP == 0) || hasOut != (rf.PP == 1) {
				t.Errorf("%s: embedding %v output_layer %v", rf.Path, hasEmb, hasOut)
			}
		}
	})
	// a tied config whose checkpoint also holds lm_head: the embedding wins, with a warning
	t.Run("lm-head-present", func(t *testing.T) {
		ck := openTinyCk(t, fixture.DefaultTiny())
		cfg := editConfig(t, ck.ConfigBytes, "thinker_config.text_config.tie_word_embeddings", true, false)
		for _, pp := range []int{1, 2} {
			p := buildFrom(t, inputWithConfig(t, ck, cfg), settingsWith(func(s *core.Settings) { s.PP = pp }))
			requireNoErrors(t, p)
			is := requireIssue(t, p, "tied-lm-head", core.SevWarning)
			if !slices.Contains(is.Tensors, "thinker.lm_head.weight") {
				t.Errorf("tied-lm-head names %v", is.Tensors)
			}
			mustContain(t, "tied-lm-head", is.Message, "embedding")
			if _, ok := groupOf(p, "thinker.lm_head.weight"); ok {
				t.Error("lm_head is still converted")
			}
			outs := 0
			for _, rf := range p.Ranks {
				for _, ch := range rf.Chunks {
					if _, ok := findEntry(ch, "output_layer.weight"); ok {
						outs++
					}
				}
			}
			if want := map[int]int{1: 0, 2: 1}[pp]; outs != want {
				t.Errorf("pp %d: %d output_layer entries, want %d", pp, outs, want)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// §5 expert parallel and file names

func TestPlanExpertParallel(t *testing.T) {
	o := fixture.DefaultTiny()
	ck := openTinyCk(t, o)
	for _, ep := range []int{1, 2, 4, 8} {
		t.Run(fmt.Sprint("ep", ep), func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.EP = ep; s.TP = 2 }))
			requireNoErrors(t, p)
			per := o.Experts / ep
			for layer := 0; layer < o.Layers; layer++ {
				for e := 0; e < o.Experts; e++ {
					g, ok := groupOf(p, fmt.Sprintf("thinker.model.layers.%d.mlp.experts.%d.down_proj.weight", layer, e))
					if !ok {
						t.Fatalf("expert %d of layer %d has no group", e, layer)
					}
					want := fmt.Sprintf("decoder.layers.%d.mlp.experts.local_experts.%d.linear_fc2.weight", layer, e%per)
					for _, d := range g.Dests {
						rf := p.Ranks[d.Rank]
						if rf.EP != e/per || d.Name != want {
							t.Errorf("expert %d: on ep %d as %s, want ep %d as %s", e, rf.EP, d.Name, e/per, want)
						}
					}
				}
			}
			// non-expert tensors reach every EP rank
			g, _ := groupOf(p, "thinker.model.layers.0.mlp.gate.weight")
			if len(g.Dests) != 2*ep {
				t.Errorf("router has %d destinations, want TP*EP = %d", len(g.Dests), 2*ep)
			}
		})
	}
	// talker experts are not EP-split
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.EP = 4 }))
	g, _ := groupOf(p, "talker.model.layers.0.mlp.experts.3.gate_proj.weight")
	if g.Expert != -1 || len(g.Dests) != 4 {
		t.Errorf("talker expert: expert %d, %d destinations; want -1 and one per EP rank", g.Expert, len(g.Dests))
	}
}

func TestPlanRankFileNames(t *testing.T) {
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.Deepstack = nil }))
	cases := []struct {
		tp, pp, ep int
		want       []string
	}{
		{1, 1, 1, []string{"mp_rank_00"}},
		{2, 1, 1, []string{"mp_rank_00", "mp_rank_01"}},
		{1, 2, 1, []string{"mp_rank_00_000", "mp_rank_00_001"}},
		{1, 1, 2, []string{"mp_rank_00_000", "mp_rank_00_001"}},
		{2, 2, 2, []string{"mp_rank_00_000_000", "mp_rank_00_000_001", "mp_rank_00_001_000", "mp_rank_00_001_001",
			"mp_rank_01_000_000", "mp_rank_01_000_001", "mp_rank_01_001_000", "mp_rank_01_001_001"}},
		{1, 4, 8, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("tp%d-pp%d-ep%d", c.tp, c.pp, c.ep), func(t *testing.T) {
			p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TP, s.PP, s.EP = c.tp, c.pp, c.ep }))
			requireNoErrors(t, p)
			var got []string
			for _, rf := range p.Ranks {
				got = append(got, rf.Path)
				if want := rankPathOf(rf.TP, rf.PP, rf.EP, c.pp, c.ep); rf.Path != want {
					t.Errorf("tp %d pp %d ep %d: path %s, want %s", rf.TP, rf.PP, rf.EP, rf.Path, want)
				}
			}
			if len(got) != c.tp*c.pp*c.ep {
				t.Errorf("%d rank files, want %d", len(got), c.tp*c.pp*c.ep)
			}
			if c.want != nil {
				var want []string
				for _, w := range c.want {
					want = append(want, "iter_0000001/"+w+"/model_optim_rng.pt")
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Errorf("files %v, want %v", got, want)
				}
			}
			if c.pp == 4 && c.ep == 8 {
				if rankByPath(p, "iter_0000001/mp_rank_00_003_007/model_optim_rng.pt") == nil {
					t.Error("no mp_rank_00_003_007")
				}
			}
		})
	}
}

func TestPlanGroupedGEMMNaming(t *testing.T) {
	o := fixture.DefaultTiny()
	ck := openTinyCk(t, o)
	H, F := int64(o.Hidden), int64(o.MoEFFN)
	for _, c := range []struct {
		name   string
		s      func(*core.Settings)
		tp, ep int
	}{
		{"te-ep2-tp2", func(s *core.Settings) { s.GroupedGEMM = true; s.EP, s.TP = 2, 2 }, 2, 2},
		{"legacy-ep4-tp2", func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }, 2, 4},
		{"local-impl-is-legacy", func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local" }, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := settingsWith(c.s)
			p := buildPlan(t, ck, s)
			requireNoErrors(t, p)
			El := int64(o.Experts / c.ep)
			tp := int64(c.tp)
			te := s.TransformerImpl == "transformer_engine" && !s.LegacyGroupedGEMM
			for _, rf := range p.Ranks {
				ch := rf.Chunks[0]
				for l := 0; l < o.Layers; l++ {
					M := fmt.Sprintf("decoder.layers.%d.mlp.experts.", l)
					for _, e := range ch.Entries {
						if strings.HasPrefix(e.Name, M+"local_experts.") {
							t.Errorf("%s: per-expert name %s with grouped GEMM", rf.Path, e.Name)
						}
					}
					if te {
						for le := int64(0); le < El; le++ {
							for _, x := range []struct {
								name  string
								shape []int64
							}{{fmt.Sprintf("%slinear_fc1.weight%d", M, le), []int64{2 * F / tp, H}}, {fmt.Sprintf("%slinear_fc2.weight%d", M, le), []int64{H, F / tp}}} {
								e, ok := findEntry(ch, x.name)
								if !ok {
									t.Errorf("%s lacks %s", rf.Path, x.name)
								} else if !slices.Equal(e.Shape, x.shape) {
									t.Errorf("%s %s: shape %v, want %v", rf.Path, x.name, e.Shape, x.shape)
								}
							}
						}
						continue
					}
					for _, x := range []struct {
						name  string
						shape []int64
					}{{M + "weight1", []int64{H, El * 2 * F / tp}}, {M + "weight2", []int64{El * F / tp, H}}} {
						e, ok := findEntry(ch, x.name)
						if !ok {
							t.Errorf("%s lacks %s", rf.Path, x.name)
							continue
						}
						if !slices.Equal(e.Shape, x.shape) || e.Parts != int(El) {
							t.Errorf("%s %s: shape %v parts %d, want %v from %d experts", rf.Path, x.name, e.Shape, e.Parts, x.shape, El)
						}
					}
				}
			}
			// legacy: the local experts fill consecutive parts, each transposed
			if !te {
				g, _ := groupOf(p, "thinker.model.layers.1.mlp.experts.3.down_proj.weight")
				for _, d := range g.Dests {
					if !d.Transpose || int64(d.Part) != 3%El || d.Name != "decoder.layers.1.mlp.experts.weight2" {
						t.Errorf("legacy dest %+v: want transposed part %d of weight2", d, 3%El)
					}
				}
			}
		})
	}
	// legacy without grouped GEMM has no effect, with a warning
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.LegacyGroupedGEMM = true }))
	requireIssue(t, p, "legacy-without-grouped", core.SevWarning)
	if _, ok := findEntry(p.Ranks[0].Chunks[0], "decoder.layers.0.mlp.experts.local_experts.0.linear_fc1.weight"); !ok {
		t.Error("legacy flag alone changed the expert naming")
	}
}

func TestPlanLocalImpl(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	p := buildPlan(t, ck, settingsWith(func(s *core.Settings) { s.TransformerImpl = "local" }))
	requireNoErrors(t, p)
	ch := p.Ranks[0].Chunks[0]
	for l := 0; l < 4; l++ {
		for _, x := range []struct {
			name string
			want bool
		}{
			{fmt.Sprintf("decoder.layers.%d.input_layernorm.weight", l), true},
			{fmt.Sprintf("decoder.layers.%d.self_attention.linear_qkv.layer_norm_weight", l), false},
			{fmt.Sprintf("decoder.layers.%d.pre_mlp_layernorm.weight", l), true},
			{fmt.Sprintf("decoder.layers.%d.self_attention.q_layernorm.weight", l), true},
		} {
			if _, ok := findEntry(ch, x.name); ok != x.want {
				t.Errorf("local impl: %s present = %v, want %v", x.name, ok, x.want)
			}
		}
	}
	g, _ := groupOf(p, "thinker.model.layers.2.input_layernorm.weight")
	if g.Name != "decoder.layers.2.self_attention.linear_qkv.layer_norm_weight" || g.Dests[0].Name != "decoder.layers.2.input_layernorm.weight" {
		t.Errorf("global %s local %s", g.Name, g.Dests[0].Name)
	}
}

// TestPlanRankCounts checks per-rank tensor counts and bytes against closed forms of the dims.
func TestPlanRankCounts(t *testing.T) {
	o := fixture.DefaultTiny()
	rows, _ := fixture.TinyManifest(o)
	ck := openTinyCk(t, o)
	var nVis, nAud, nTalk, nC2W, bVis, bAud, bTalk, bC2W int64
	for _, r := range rows {
		switch {
		case strings.HasPrefix(r.Name, "thinker.visual."):
			nVis, bVis = nVis+1, bVis+r.Bytes()
		case strings.HasPrefix(r.Name, "thinker.audio_tower."):
			nAud, bAud = nAud+1, bAud+r.Bytes()
		case strings.HasPrefix(r.Name, "talker."):
			nTalk, bTalk = nTalk+1, bTalk+r.Bytes()
		case strings.HasPrefix(r.Name, "code2wav."):
			nC2W, bC2W = nC2W+1, bC2W+r.Bytes()
		}
	}
	H, nh, ng, d := int64(o.Hidden), int64(o.Heads), int64(o.Groups), int64(o.HeadDim)
	V, E, F := int64(o.Vocab), int64(o.Experts), int64(o.MoEFFN)
	for _, c := range []struct{ tp, pp, ep int }{{1, 1, 1}, {2, 2, 2}, {4, 1, 8}, {2, 4, 4}} {
		t.Run(fmt.Sprintf("tp%d-pp%d-ep%d", c.tp, c.pp, c.ep), func(t *testing.T) {
			s := settingsWith(func(s *core.Settings) {
				s.TP, s.PP, s.EP = c.tp, c.pp, c.ep
				*s = s.WithOptOut("ignore_deepstack", true)
			})
			p := buildPlan(t, ck, s)
			requireNoErrors(t, p)
			tp := int64(c.tp)
			El := E / int64(c.ep)
			layers := int64(o.Layers / c.pp)
			// elements of one layer on one rank: norms H, H; qkv; proj; q/k norm d, d; router E*H; experts
			layerEl := 2*H + (nh+2*ng)*d*H/tp + H*nh*d/tp + 2*d + E*H + El*(2*F/tp*H+H*F/tp)
			layerN := int64(7) + 2*El
			var totalBytes int64
			for _, rf := range p.Ranks {
				n, b := layers*layerN, layers*layerEl*2
				if rf.PP == 0 {
					n += 1 + nVis + nAud
					b += V/tp*H*2 + bVis + bAud
				}
				if rf.PP == c.pp-1 {
					n += 2 + nTalk + nC2W
					b += H*2 + V/tp*H*2 + bTalk + bC2W
				}
				if int64(rf.Tensors) != n || rf.Bytes != b {
					t.Errorf("%s: %d tensors / %d bytes, want %d / %d", rf.Path, rf.Tensors, rf.Bytes, n, b)
				}
				totalBytes += b
			}
			if p.TotalBytes() != totalBytes {
				t.Errorf("total %d bytes, want %d", p.TotalBytes(), totalBytes)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// plan errors and warnings

func TestPlanIssues(t *testing.T) {
	cases := []struct {
		name     string
		o        func(*fixture.TinyOptions)
		s        func(*core.Settings)
		code     string
		sev      core.Severity
		mentions []string // the message says what is wrong and what to change
		optOut   string
		flip     func(*core.Settings) // the opt-out: the same issue becomes a warning
	}{
		{"tp-divisibility-vocab", func(o *fixture.TinyOptions) { o.Vocab = 66 }, func(s *core.Settings) { s.TP = 4 },
			"tp-divisibility", core.SevError, []string{"vocab_size 66", "Choose a TP"}, "--allow-uneven", func(s *core.Settings) { s.AllowUneven = true }},
		{"tp-divisibility-heads", func(o *fixture.TinyOptions) { o.Heads, o.Groups, o.Hidden = 6, 2, 48 }, func(s *core.Settings) { s.TP = 4 },
			"tp-divisibility", core.SevError, []string{"num_attention_heads 6", "Choose a TP"}, "--allow-uneven", func(s *core.Settings) { s.AllowUneven = true }},
		{"tp-divisibility-groups", func(o *fixture.TinyOptions) { o.Heads, o.Groups, o.Hidden = 12, 6, 96 }, func(s *core.Settings) { s.TP = 4 },
			"tp-divisibility", core.SevError, []string{"num_key_value_heads 6", "Choose a TP"}, "--allow-uneven", func(s *core.Settings) { s.AllowUneven = true }},
		{"tp-divisibility-moe-ffn", func(o *fixture.TinyOptions) { o.MoEFFN = 18 }, func(s *core.Settings) { s.TP = 4 },
			"tp-divisibility", core.SevError, []string{"moe_intermediate_size 18", "Choose a TP"}, "--allow-uneven", func(s *core.Settings) { s.AllowUneven = true }},
		{"groups-lt-tp", nil, func(s *core.Settings) { s.TP = 4 },
			"groups-lt-tp", core.SevWarning, []string{"num_key_value_heads 2", "TP 4"}, "", nil},
		{"etp-not-tp", nil, func(s *core.Settings) { s.TP, s.ETP = 2, 1 },
			"etp-not-tp", core.SevError, []string{"--etp 1", "set --etp 2"}, "", nil},
		{"etp-gt-tp", nil, func(s *core.Settings) { s.TP, s.ETP = 1, 2 },
			"etp-not-tp", core.SevError, []string{"--etp 2", "set --etp 1"}, "", nil},
		{"ep-divisibility", nil, func(s *core.Settings) { s.EP = 3 },
			"ep-divisibility", core.SevError, []string{"EP 3", "num_experts 8", "choose an EP that divides 8"}, "", nil},
		{"deepstack-first-stage", nil, func(s *core.Settings) { s.PP = 4 },
			"deepstack-first-stage", core.SevError, []string{"holds 1 decoder layer", "feeds 2", "at least 2 layers", "--ignore-deepstack"}, "--ignore-deepstack", func(s *core.Settings) { *s = s.WithOptOut("ignore_deepstack", true) }},
		// 3 layers + 1 for the embedding over PP 2: the first stage holds one layer
		{"deepstack-first-stage-account", func(o *fixture.TinyOptions) { o.Layers = 3 }, func(s *core.Settings) { s.PP = 2; s.AccountEmbedding = true },
			"deepstack-first-stage", core.SevError, []string{"holds 1 decoder layer", "feeds 2"}, "--ignore-deepstack", func(s *core.Settings) { *s = s.WithOptOut("ignore_deepstack", true) }},
		{"deepstack-first-stage-layout", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Et|tttL" },
			"deepstack-first-stage", core.SevError, []string{"holds 1 decoder layer", "--layout"}, "--ignore-deepstack", func(s *core.Settings) { *s = s.WithOptOut("ignore_deepstack", true) }},
		{"unmapped", func(o *fixture.TinyOptions) {
			o.ExtraTensors = []string{"thinker.model.norm.weight_scale", "thinker.model.layers.0.input_layernorm.weight_scale",
				"thinker.model.layers.1.mlp.experts.2.down_proj.weight_scale_inv", "thinker.model.layers.2.self_attn.q_proj.weight.absmax", "lm_head.weight"}
		}, nil, "unmapped", core.SevError, []string{"5 tensor(s)", "--skip-unmapped", "thinker.model.norm.weight_scale"}, "--skip-unmapped", func(s *core.Settings) { s.SkipUnmapped = true }},
		{"audio-output-disabled", func(o *fixture.TinyOptions) { o.EnableAudioOutput = false }, nil,
			"audio-output-disabled", core.SevError, []string{"enable_audio_output", "--drop-audio-output"}, "--drop-audio-output", nil},
		{"layout-bad-symbol", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Ettx|ttL" },
			"layout", core.SevError, []string{"column 4"}, "", nil},
		{"layout-no-loss", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|tt" },
			"layout", core.SevError, []string{"no L", "end the last stage with L"}, "", nil},
		{"layout-stage-count", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Et|t|ttL" },
			"layout", core.SevError, []string{"3 stages for --pp 2", "'|'"}, "", nil},
		{"layout-layer-count", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|tL" },
			"pipeline-split", core.SevError, []string{"3 decoder layers", "has 4", "write exactly 4 t's"}, "", nil},
		{"layout-vpp-conflict", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 3; s.Layout = "Et|t|t|tL" },
			"pipeline-split", core.SevError, []string{"--vpp 3", "set it to 2"}, "", nil},
		{"layout-with-account", nil, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|ttL"; s.AccountEmbedding = true },
			"layout-with-account", core.SevError, []string{"--layout", "--account-embedding", "put E and L into the layout"}, "", nil},
		{"uniform-split", nil, func(s *core.Settings) { s.PP = 3 },
			"pipeline-split", core.SevError, []string{"4 decoder layers", "3 pipeline ranks", "--pp 1, 2, 4", "--layout"}, "", nil},
		{"vpp-without-pp", nil, func(s *core.Settings) { s.VPP = 2 },
			"vpp-without-pp", core.SevError, []string{"--vpp 2", "raise --pp"}, "", nil},
		{"bad-size-negative", nil, func(s *core.Settings) { s.TP = -2 },
			"bad-size", core.SevError, []string{"--tp -2", "from 1 to"}, "", nil},
		{"bad-size-huge", nil, func(s *core.Settings) { s.EP = 1 << 40 },
			"bad-size", core.SevError, []string{"--ep", "from 1 to"}, "", nil},
		{"bad-size-vpp", nil, func(s *core.Settings) { s.PP, s.VPP = 2, -1 },
			"bad-size", core.SevError, []string{"--vpp -1", "leave it unset"}, "", nil},
		{"too-many-ranks", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 256, 256, 1 },
			"too-many-ranks", core.SevError, []string{"65536 rank files", "choose smaller sizes"}, "", nil},
		{"bad-impl", nil, func(s *core.Settings) { s.TransformerImpl = "apex" },
			"bad-impl", core.SevError, []string{"apex", "transformer_engine or local"}, "", nil},
		{"bad-dtype", nil, func(s *core.Settings) { s.DType = "int8" },
			"bad-dtype", core.SevError, []string{"int8", "keep, bf16, fp16, fp32"}, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck := openTinyCk(t, tinyWith(c.o))
			s := settingsWith(c.s)
			p := buildPlan(t, ck, s)
			is := requireIssue(t, p, c.code, c.sev)
			mustContain(t, c.code+" message", is.Message, c.mentions...)
			if is.OptOut != c.optOut {
				t.Errorf("opt-out %q, want %q", is.OptOut, c.optOut)
			}
			if c.sev == core.SevError && !p.HasErrors() {
				t.Error("HasErrors is false")
			}
			if c.flip != nil {
				c.flip(&s)
				p2 := buildPlan(t, ck, s)
				requireIssue(t, p2, c.code, core.SevWarning)
				for _, e := range p2.Errors() {
					t.Errorf("with %s the plan still has error %s: %s", c.optOut, e.Code, e.Message)
				}
			}
		})
	}
}

func TestPlanUnmappedDetails(t *testing.T) {
	extra := []string{"thinker.model.norm.weight_scale", "thinker.model.layers.0.input_layernorm.weight_scale",
		"thinker.model.layers.1.mlp.experts.2.down_proj.weight_scale_inv", "thinker.model.layers.2.self_attn.q_proj.weight.absmax", "lm_head.weight"}
	ck := openTinyCk(t, tinyWith(func(o *fixture.TinyOptions) { o.ExtraTensors = extra }))
	p := buildPlan(t, ck, core.DefaultSettings())
	is := requireIssue(t, p, "unmapped", core.SevError)
	got := slices.Clone(is.Tensors)
	sort.Strings(got)
	want := slices.Clone(extra)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("unmapped tensors %v, want exactly %v (anchored matching: a norm's weight_scale is not the norm)", got, want)
	}
	// the real norms next to them are still converted
	for _, n := range []string{"thinker.model.norm.weight", "thinker.model.layers.0.input_layernorm.weight", "thinker.model.layers.1.mlp.experts.2.down_proj.weight"} {
		if _, ok := groupOf(p, n); !ok {
			t.Errorf("%s lost its group", n)
		}
	}
	// opted out: the extras are left out of every rank file, everything else is placed
	s := settingsWith(func(s *core.Settings) { s.SkipUnmapped = true; s.TP = 2 })
	p = buildPlan(t, ck, s)
	requireNoErrors(t, p)
	for i, tn := range p.Tensors {
		if slices.Contains(extra, tn.Name) != (p.TensorGroup[i] < 0) {
			t.Errorf("%s: group %d", tn.Name, p.TensorGroup[i])
		}
	}
	checkPlanAgainstRef(t, p, refModel(t, fixture.DefaultTiny(), s))
}

func TestPlanAudioOutputDropped(t *testing.T) {
	o := tinyWith(func(o *fixture.TinyOptions) { o.EnableAudioOutput = false })
	ck := openTinyCk(t, o)
	p := buildPlan(t, ck, core.DefaultSettings())
	is := requireIssue(t, p, "audio-output-disabled", core.SevError)
	rows, _ := fixture.TinyManifest(o)
	n := 0
	for _, r := range rows {
		if strings.HasPrefix(r.Name, "talker.") || strings.HasPrefix(r.Name, "code2wav.") {
			n++
			if !slices.Contains(is.Tensors, r.Name) {
				t.Errorf("audio-output-disabled does not list %s", r.Name)
			}
		}
	}
	if len(is.Tensors) != n {
		t.Errorf("audio-output-disabled lists %d tensors, want %d", len(is.Tensors), n)
	}
	p = buildPlan(t, ck, settingsWith(func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true) }))
	requireNoErrors(t, p)
	w := requireIssue(t, p, "audio-output-dropped", core.SevWarning)
	if len(w.Tensors) != n {
		t.Errorf("audio-output-dropped lists %d tensors, want %d", len(w.Tensors), n)
	}
	for _, e := range p.Ranks[0].Chunks[0].Entries {
		if strings.HasPrefix(e.Name, "talker.") || strings.HasPrefix(e.Name, "code2wav.") {
			t.Errorf("%s kept although dropped", e.Name)
		}
	}
	// with audio output enabled the drop flag changes nothing
	ck2 := openTinyCk(t, fixture.DefaultTiny())
	p = buildPlan(t, ck2, settingsWith(func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true) }))
	requireNoIssue(t, p, "audio-output-dropped")
	checkPlanAgainstRef(t, p, refModel(t, fixture.DefaultTiny(), core.DefaultSettings()))
}

func TestPlanUnevenAllowed(t *testing.T) {
	// vocab 66 at TP 4: torch.chunk gives 17/17/17/15
	o := tinyWith(func(o *fixture.TinyOptions) { o.Vocab = 66 })
	p := buildPlan(t, openTinyCk(t, o), settingsWith(func(s *core.Settings) { s.TP = 4; s.AllowUneven = true }))
	requireNoErrors(t, p)
	g, _ := groupOf(p, "thinker.model.embed_tokens.weight")
	rows := map[int]int64{}
	for _, d := range g.Dests {
		rows[d.TPRank] = d.Shape[0]
	}
	if want := map[int]int64{0: 17, 1: 17, 2: 17, 3: 15}; fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("embedding rows per TP rank %v, want %v", rows, want)
	}
}

// tensor-level problems built on the plan input
func TestPlanTensorIssues(t *testing.T) {
	o := tinyWith(func(o *fixture.TinyOptions) { o.AttentionBias = true })
	ck := openTinyCk(t, o)
	without := func(names ...string) []loader.TensorInfo {
		var out []loader.TensorInfo
		for _, ti := range ck.Tensors {
			if !slices.Contains(names, ti.Name) {
				out = append(out, ti)
			}
		}
		if len(out) != len(ck.Tensors)-len(names) {
			t.Fatalf("not all of %v are in the checkpoint", names)
		}
		return out
	}
	in := func(ts []loader.TensorInfo) core.PlanInput {
		return core.PlanInput{Config: ck.Config, ConfigBytes: ck.ConfigBytes, Tensors: ts, NameOrPath: ck.Dir}
	}
	t.Run("incomplete-qkv-bias", func(t *testing.T) {
		p := buildFrom(t, in(without("thinker.model.layers.1.self_attn.k_proj.bias")), core.DefaultSettings())
		is := requireIssue(t, p, "incomplete-group", core.SevError)
		mustContain(t, "incomplete-group", is.Message, "thinker.model.layers.1.self_attn.k_proj.bias", "Re-download")
		if !slices.Contains(is.Tensors, "thinker.model.layers.1.self_attn.q_proj.bias") || !slices.Contains(is.Tensors, "thinker.model.layers.1.self_attn.v_proj.bias") {
			t.Errorf("incomplete-group names %v, want the q and v biases it has", is.Tensors)
		}
		m := requireIssue(t, p, "missing-tensor", core.SevError)
		if !slices.Contains(m.Tensors, "thinker.model.layers.1.self_attn.k_proj.bias") {
			t.Errorf("missing-tensor lists %v", m.Tensors)
		}
	})
	t.Run("incomplete-expert-pair", func(t *testing.T) {
		p := buildFrom(t, in(without("thinker.model.layers.3.mlp.experts.6.up_proj.weight")), core.DefaultSettings())
		is := requireIssue(t, p, "incomplete-group", core.SevError)
		mustContain(t, "incomplete-group", is.Message, "thinker.model.layers.3.mlp.experts.6.up_proj.weight")
	})
	t.Run("missing-tensor", func(t *testing.T) {
		gone := []string{"thinker.model.layers.2.self_attn.o_proj.weight", "thinker.lm_head.weight", "thinker.model.norm.weight"}
		p := buildFrom(t, in(without(gone...)), core.DefaultSettings())
		is := requireIssue(t, p, "missing-tensor", core.SevError)
		for _, g := range gone {
			if !slices.Contains(is.Tensors, g) {
				t.Errorf("missing-tensor does not list %s: %v", g, is.Tensors)
			}
		}
		mustContain(t, "missing-tensor", is.Message, "3 tensor(s)", "Re-download")
	})
	t.Run("missing-expert", func(t *testing.T) {
		p := buildFrom(t, in(without("thinker.model.layers.0.mlp.experts.4.gate_proj.weight",
			"thinker.model.layers.0.mlp.experts.4.up_proj.weight", "thinker.model.layers.0.mlp.experts.4.down_proj.weight")), core.DefaultSettings())
		is := requireIssue(t, p, "missing-tensor", core.SevError)
		if len(is.Tensors) != 3 {
			t.Errorf("missing-tensor lists %v", is.Tensors)
		}
	})
	t.Run("f8", func(t *testing.T) {
		ts := slices.Clone(ck.Tensors)
		f8 := []string{"thinker.model.layers.0.self_attn.o_proj.weight", "thinker.model.layers.0.mlp.experts.1.down_proj.weight",
			"thinker.model.layers.0.mlp.experts.1.gate_proj.weight", "thinker.model.layers.0.mlp.experts.1.up_proj.weight"}
		for i := range ts {
			if slices.Contains(f8, ts[i].Name) {
				ts[i].DType = loader.F8E4M3
				ts[i].Size /= 2
			}
		}
		// F8 tensors are listed and planned as far as possible, but refused: one issue names them all
		p := buildFrom(t, in(ts), core.DefaultSettings())
		is := requireIssue(t, p, "f8-output", core.SevError)
		mustContain(t, "f8-output", is.Message, "F8_E4M3", "bf16 release")
		got := slices.Clone(is.Tensors)
		sort.Strings(got)
		want := slices.Clone(f8)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("f8-output lists %v, want %v", got, want)
		}
		for _, n := range f8 {
			if _, ok := groupOf(p, n); ok {
				t.Errorf("%s is planned despite being F8", n)
			}
		}
		// a cast is refused too (scales would be ignored)
		p = buildFrom(t, in(ts), settingsWith(func(s *core.Settings) { s.DType = "bf16" }))
		c := requireIssue(t, p, "cast", core.SevError)
		mustContain(t, "cast", c.Message, "F8_E4M3", "scale", "bf16 release")
		if len(c.Tensors) != len(f8) {
			t.Errorf("cast lists %v", c.Tensors)
		}
		requireNoIssue(t, p, "f8-output")
	})
	t.Run("mixed-dtype", func(t *testing.T) {
		ts := slices.Clone(ck.Tensors)
		for i := range ts {
			if ts[i].Name == "thinker.model.layers.0.self_attn.k_proj.weight" {
				ts[i].DType = loader.F16
			}
		}
		p := buildFrom(t, in(ts), core.DefaultSettings())
		is := requireIssue(t, p, "mixed-dtype", core.SevError)
		mustContain(t, "mixed-dtype", is.Message, "BF16", "F16")
	})
	t.Run("shape-mismatch", func(t *testing.T) {
		ts := slices.Clone(ck.Tensors)
		for i := range ts {
			if ts[i].Name == "thinker.model.layers.0.self_attn.k_proj.weight" {
				ts[i].Shape = []int64{8, 32}
			}
		}
		p := buildFrom(t, in(ts), core.DefaultSettings())
		is := requireIssue(t, p, "shape", core.SevError)
		mustContain(t, "shape", is.Message, "k_proj.weight", "[8, 32]", "config.json does not match")
	})
	t.Run("layer-and-expert-range", func(t *testing.T) {
		ts := slices.Clone(ck.Tensors)
		ts = append(ts, loader.TensorInfo{Name: "thinker.model.layers.9.self_attn.o_proj.weight", DType: loader.BF16, Shape: []int64{32, 32}, Size: 2048},
			loader.TensorInfo{Name: "thinker.model.layers.0.mlp.experts.8.down_proj.weight", DType: loader.BF16, Shape: []int64{32, 16}, Size: 1024})
		p := buildFrom(t, in(ts), core.DefaultSettings())
		mustContain(t, "layer-range", requireIssue(t, p, "layer-range", core.SevError).Message, "layer 9", "4 layers")
		mustContain(t, "expert-range", requireIssue(t, p, "expert-range", core.SevError).Message, "expert 8", "8 experts")
	})
}

// config problems: Build either reports a plan issue or, when nothing can be planned, an error
func TestPlanConfigErrors(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	t.Run("unknown-model-type", func(t *testing.T) {
		cfg := editConfig(t, ck.ConfigBytes, "model_type", "gpt_neox", false)
		_, err := core.Build(inputWithConfig(t, ck, cfg), core.DefaultSettings())
		if err == nil {
			t.Fatal("Build accepted model_type gpt_neox")
		}
		mustContain(t, "error", err.Error(), "gpt_neox", "qwen3_omni_moe")
	})
	t.Run("missing-model-type", func(t *testing.T) {
		cfg := editConfig(t, ck.ConfigBytes, "model_type", nil, true)
		_, err := core.Build(inputWithConfig(t, ck, cfg), core.DefaultSettings())
		if err == nil {
			t.Fatal("Build accepted a config without model_type")
		}
		mustContain(t, "error", err.Error(), "model_type")
	})
	t.Run("model-type-not-string", func(t *testing.T) {
		cfg := editConfig(t, ck.ConfigBytes, "model_type", 3, false)
		if _, err := core.Build(inputWithConfig(t, ck, cfg), core.DefaultSettings()); err == nil {
			t.Fatal("Build accepted a numeric model_type")
		}
	})
	t.Run("no-config", func(t *testing.T) {
		if _, err := core.Build(core.PlanInput{Tensors: ck.Tensors}, core.DefaultSettings()); err == nil {
			t.Fatal("Build accepted a nil config")
		}
	})
	for _, c := range []struct {
		name, path string
		v          any
		del        bool
		code       string
		mentions   []string
	}{
		{"string-for-number", "thinker_config.text_config.hidden_size", "32", false, "config-type", []string{"thinker_config.text_config.hidden_size", "whole number"}},
		{"float-for-int", "thinker_config.text_config.num_hidden_layers", 4.5, false, "config-type", []string{"num_hidden_layers", "whole number"}},
		{"string-for-bool", "thinker_config.text_config.tie_word_embeddings", "yes", false, "config-type", []string{"tie_word_embeddings", "true or false"}},
		{"deepstack-not-list", "thinker_config.vision_config.deepstack_visual_indexes", 3, false, "config-type", []string{"deepstack_visual_indexes", "list"}},
		{"required-missing", "thinker_config.text_config.vocab_size", nil, true, "config-required", []string{"thinker_config.text_config.vocab_size", "add it"}},
		{"negative", "thinker_config.text_config.num_attention_heads", -4, false, "config-range", []string{"num_attention_heads", "fix config.json"}},
		{"zero", "thinker_config.text_config.hidden_size", 0, false, "config-range", []string{"hidden_size", "positive"}},
		{"heads-not-multiple-of-groups", "thinker_config.text_config.num_key_value_heads", 3, false, "config-range", []string{"num_key_value_heads 3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := editConfig(t, ck.ConfigBytes, c.path, c.v, c.del)
			p := buildFrom(t, inputWithConfig(t, ck, cfg), core.DefaultSettings())
			is := issuesWith(p, c.code)
			if len(is) == 0 || is[0].Severity != core.SevError {
				t.Fatalf("want a %s error, got issues %+v", c.code, p.Issues)
			}
			mustContain(t, c.code, is[0].Message, c.mentions...)
			if p.Placed() {
				t.Error("a plan with a broken config placed tensors")
			}
		})
	}
}

// TestPlanSizesNormalized: a size of 0 means "not given" in the Go API and becomes the default.
// (The CLI must reject --tp 0 itself; core cannot tell 0 from unset.)
func TestPlanSizesNormalized(t *testing.T) {
	ck := openTinyCk(t, fixture.DefaultTiny())
	p := buildPlan(t, ck, core.Settings{TP: 0, PP: 0, EP: 0})
	requireNoErrors(t, p)
	s := p.Settings
	if s.TP != 1 || s.PP != 1 || s.EP != 1 || s.ETP != 1 || s.TransformerImpl != "transformer_engine" || s.DType != "keep" {
		t.Errorf("normalized settings %+v", s)
	}
	p = buildPlan(t, ck, core.Settings{TP: 2})
	if p.Settings.ETP != 2 {
		t.Errorf("ETP 0 became %d, want TP 2", p.Settings.ETP)
	}
	// hostile sizes do not allocate per rank: the plan comes back at once, unplaced
	for _, s := range []core.Settings{{TP: 1 << 16, PP: 1 << 16, EP: 1 << 16}, {TP: 1 << 30}, {PP: -1 << 40}} {
		p := buildPlan(t, ck, s)
		if !p.HasErrors() || p.Placed() {
			t.Errorf("%+v: errors %v placed %v", s, p.HasErrors(), p.Placed())
		}
	}
}
