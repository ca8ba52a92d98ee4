package core

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/loader/pt"
	"github.com/omnitui/omnitui/ops"
)

// ReversePlan says how an mcore_adapter checkpoint maps back to Hugging Face tensors.
// It is built by inverting the names of the rank files into a Hugging Face tensor list and
// planning the forward conversion of that list with the checkpoint's own settings: every
// forward destination must then be a tensor of the rank files (same name, shape and
// dtype) and every tensor of the rank files a destination, so the reverse uses exactly
// the forward rules.
type ReversePlan struct {
	Source *mca.Checkpoint
	// Settings are those the rank files were written with: mca_config.json's, with every
	// setting the tensor names reveal read from the names (see detectNaming).
	Settings      Settings
	Forward       *Plan    // forward plan of the reconstructed HF checkpoint; Forward.Tensors are the HF tensors in output order
	Config        []byte   // config.json to write
	ConfigChanged []string // HF config keys whose value was written back from mca_config.json
	Issues        []Issue

	refs  [][][]*pt.TensorRef // per forward rank, chunk, entry
	files []*mca.Rank         // per forward rank
	// copies: HF tensors written as copies of another (an MTP layer's embed_tokens and
	// shared_head.head), by the HF name they copy
	copies map[string][]string
}

// HasErrors reports whether the reverse plan cannot be executed.
func (rp *ReversePlan) HasErrors() bool {
	return hasErrors(rp.Issues)
}

// ErrorText joins the error messages.
func (rp *ReversePlan) ErrorText() string {
	return errorText(rp.Issues)
}

func (rp *ReversePlan) errorf(code string, tensors []string, format string, a ...any) {
	rp.Issues = append(rp.Issues, Issue{Severity: SevError, Code: code, Message: fmt.Sprintf(format, a...), Tensors: tensors})
}

// SettingsFromMCAConfig reads the parallel settings recorded in mca_config.json.
func SettingsFromMCAConfig(cfg *loader.JSONNode) (Settings, error) {
	s := DefaultSettings()
	getInt := func(key string, def int) (int, error) {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return def, nil
		}
		v, err := n.Int()
		if err != nil || v < 0 || v > MaxParallel {
			return 0, fmt.Errorf("mca_config.json %s = %s: it must be a whole number from 0 to %d", key, n.Raw, MaxParallel)
		}
		return int(v), nil
	}
	getBool := func(key string) (bool, error) {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return false, nil
		}
		v, err := n.Bool()
		if err != nil {
			return false, fmt.Errorf("mca_config.json %s: %w", key, err)
		}
		return v, nil
	}
	getStr := func(key string) (string, error) {
		n, ok := cfg.Get(key)
		if !ok || n.Kind == loader.JSONNull {
			return "", nil
		}
		v, err := n.Str()
		if err != nil {
			return "", fmt.Errorf("mca_config.json %s: %w", key, err)
		}
		return v, nil
	}
	var err error
	var errs []error
	try := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	s.TP, err = getInt("tensor_model_parallel_size", 1)
	try(err)
	s.PP, err = getInt("pipeline_model_parallel_size", 1)
	try(err)
	s.VPP, err = getInt("virtual_pipeline_model_parallel_size", 0)
	try(err)
	s.EP, err = getInt("expert_model_parallel_size", 1)
	try(err)
	s.ETP, err = getInt("expert_tensor_parallel_size", 0)
	try(err)
	s.Layout, err = getStr("pipeline_model_parallel_layout")
	try(err)
	s.AccountEmbedding, err = getBool("account_for_embedding_in_pipeline_split")
	try(err)
	s.AccountLoss, err = getBool("account_for_loss_in_pipeline_split")
	try(err)
	s.GroupedGEMM, err = getBool("moe_grouped_gemm")
	try(err)
	s.LegacyGroupedGEMM, err = getBool("moe_use_legacy_grouped_gemm")
	try(err)
	s.TransformerImpl, err = getStr("transformer_impl")
	try(err)
	if len(errs) > 0 {
		return s, fmt.Errorf("%w: fix mca_config.json", errs[0])
	}
	return s.Normalized(), nil
}

// restoreHFConfig writes mapped mca_config.json values back into the HF config
// (ROLL's set_hf_config_value): it returns the config bytes and the keys that changed.
// When nothing changed the recorded hf_config_json text is returned as is.
func restoreHFConfig(t *Template, hfBytes []byte, hf, mc *loader.JSONNode) ([]byte, []string, error) {
	var changed []string
	for _, k := range t.Config {
		mv, ok := mc.Get(k.MCA)
		if !ok {
			continue
		}
		path := t.ConfigPath(hf, k.HF)
		hv, ok := hf.Get(path)
		if !ok {
			continue
		}
		if bytes.Equal(mv.Compact(), hv.Compact()) {
			continue
		}
		cp, err := loader.ParseJSONTree(mv.Compact())
		if err != nil {
			return nil, nil, fmt.Errorf("mca_config.json %s: %w", k.MCA, err)
		}
		hv.Kind, hv.Raw, hv.Children = cp.Kind, cp.Raw, cp.Children
		changed = append(changed, path)
	}
	// Megatron holds dequantized weights: a block-FP8 release's quantization_config no
	// longer describes them (transformers would load the bf16 weights as FP8).
	if q, ok := hf.Member("quantization_config"); ok {
		hf.Children = slices.DeleteFunc(hf.Children, func(c *loader.JSONNode) bool { return c == q })
		changed = append(changed, "quantization_config (removed: the weights are bf16)")
	}
	if len(changed) == 0 {
		return hfBytes, nil, nil
	}
	return append(hf.Indent("", "  "), '\n'), changed, nil
}

// globalInfo collects one global Megatron tensor seen in the rank files.
type globalInfo struct {
	name     string // global Megatron name
	pure     string // relative to its layer/expert prefix
	layer    int
	expert   int
	dtype    loader.DType
	tpShapes map[int][]int64
}

// ReverseOptions are the choices of a reverse plan.
type ReverseOptions struct {
	// HFLayout names the HF naming to write (one of the family's Layouts); "" = the naming
	// recorded in mca_config.json (the input's), else the one the family's rules use.
	HFLayout string
}

// BuildReversePlan inverts an opened mcore_adapter checkpoint into a Hugging Face tensor list
// and checks it against the forward rules.
func BuildReversePlan(m *mca.Checkpoint) (*ReversePlan, error) {
	return BuildReversePlanWith(m, ReverseOptions{})
}

// BuildReversePlanWith is BuildReversePlan with options.
func BuildReversePlanWith(m *mca.Checkpoint, opt ReverseOptions) (*ReversePlan, error) {
	hfBytes, err := m.HFConfigJSON()
	if err != nil {
		return nil, err
	}
	hf, err := loader.ParseJSONTree(hfBytes)
	if err != nil {
		return nil, fmt.Errorf("mca_config.json hf_config_json is not valid JSON: %w", err)
	}
	mtNode, ok := hf.Get("model_type")
	if !ok {
		return nil, fmt.Errorf("hf_config_json in mca_config.json has no model_type: the checkpoint was not written by mcore_adapter or omnitui")
	}
	if _, err := mtNode.Str(); err != nil {
		return nil, fmt.Errorf("hf_config_json model_type: %w", err)
	}
	// by model_type, or by architecture (kimi_k2 → deepseek_v3), as the forward plan did
	t, _, _, err := TemplateFor(hf, "hf_config_json")
	if err != nil {
		return nil, err
	}
	s, err := SettingsFromMCAConfig(m.Config)
	if err != nil {
		return nil, err
	}
	// The reverse converts what the files hold: rules about whether Megatron could load
	// the layout are not its business.
	s.AllowUneven = true
	for _, o := range t.OptOuts {
		if o.Reverse {
			s = s.WithOptOut(o.Name, true)
		}
	}
	if s.TP != m.TP || s.PP != m.PP || s.EP != m.EP {
		return nil, fmt.Errorf("mca_config.json sizes disagree with the opened rank files (TP %d/%d, PP %d/%d, EP %d/%d)", s.TP, m.TP, s.PP, m.PP, s.EP, m.EP)
	}
	rp := &ReversePlan{Source: m}
	hfLayout, err := reverseLayout(t, m.Config, opt.HFLayout)
	if err != nil {
		return nil, err
	}
	// dims from mca_config.json
	dims, err := DimsFromMCAConfig(m.Config)
	if err != nil {
		return nil, err
	}
	var naming []Issue
	s, naming = detectNaming(t, m, s, dims.Layers)
	rp.Issues = append(rp.Issues, naming...)
	rp.Settings = s
	if rp.HasErrors() {
		return rp, nil
	}
	rp.Config, rp.ConfigChanged, err = restoreHFConfig(t, hfBytes, hf, m.Config)
	if err != nil {
		return nil, err
	}
	if h := t.Hooks.ReadDims; h != nil {
		h(hf, &dims) // the family's own dims, for its name hooks; the forward plan reports their issues
	}
	layers, experts := dims.Layers, dims.Experts
	var layout *Layout
	if s.Layout != "" {
		if layout, err = ParseLayout(s.Layout, s.PP); err != nil {
			return nil, fmt.Errorf("mca_config.json pipeline_model_parallel_layout: %w", err)
		}
	}
	stages, err := PipelineStages(layers, s.PP, s.VPP, s.AccountEmbedding, s.AccountLoss, layout)
	if err != nil {
		return nil, fmt.Errorf("pipeline stages from mca_config.json: %w", err)
	}
	stageOf := map[stageKey]Stage{}
	for _, st := range stages {
		stageOf[stageKey{st.PP, st.VP}] = st
	}
	eLocal := 1
	if experts > 0 && s.EP > 0 {
		eLocal = experts / s.EP
	}
	tied := false
	if n, ok := m.Config.Get("tie_embeddings_and_output_weights"); ok {
		tied, _ = n.Bool()
	}
	localToTE := localToTENames(t)

	infos := map[string]*globalInfo{}
	mtpInner := ""
	var order []string
	var unknown []string
	add := func(name, pure string, layer, expert int, dt loader.DType, tp int, shape []int64) {
		gi := infos[name]
		if gi == nil {
			gi = &globalInfo{name: name, pure: pure, layer: layer, expert: expert, dtype: dt, tpShapes: map[int][]int64{}}
			infos[name] = gi
			order = append(order, name)
		}
		if _, ok := gi.tpShapes[tp]; !ok {
			gi.tpShapes[tp] = shape
		}
	}
	for _, r := range m.Ranks {
		for _, ch := range r.Chunks {
			st, ok := stageOf[stageKey{r.PP, ch.VP}]
			if !ok {
				rp.errorf("stage", nil, "%s holds chunk %s, but the pipeline of mca_config.json has no stage pp=%d vp=%d: the config does not describe these files", r.Path, ch.Key, r.PP, ch.VP)
				continue
			}
			for _, ref := range ch.Tensors {
				name := ref.Name
				if tied && s.PP > 1 && name == MCAOutputLayer {
					continue // the last stage's tied copy of the embedding (checked against it by the gather)
				}
				var layer int
				var rel, lp string
				if rest, ok := strings.CutPrefix(name, "mtp.layers."); ok && t.MTP != nil {
					// MTP layer k: its own tensors, or its inner decoder layer under either
					// Megatron-Core name (the files say which)
					j := 0
					for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
						j++
					}
					if j == 0 || j > 9 || j == len(rest) {
						unknown = append(unknown, r.Path+": "+name)
						continue
					}
					k := atoi(rest[:j])
					rel = rest[j:]
					inner := ""
					for _, in := range []string{MTPInnerDefault, MTPInnerOld} {
						if after, ok := strings.CutPrefix(rel, "."+in+"."); ok {
							inner, rel = in, "."+after
						}
					}
					if inner != "" {
						if mtpInner != "" && mtpInner != inner {
							rp.errorf("mtp-naming", []string{name}, "the rank files name MTP inner layers both %s and %s: a checkpoint uses one Megatron-Core version's names", mtpInner, inner)
						}
						mtpInner = inner
					}
					layer, lp = layers+k, MTPPrefix(k, inner)
				} else {
					rest, ok := strings.CutPrefix(name, MCALayerPrefix)
					if !ok {
						if te, ok := localToTE[name]; ok && s.TransformerImpl == "local" {
							name = te // a full-name rule's local-impl name (e.g. an MTP layer's norms)
						}
						add(name, name, -1, -1, ref.DType, r.TP, ref.Shape)
						continue
					}
					j := 0
					for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
						j++
					}
					if j == 0 || j > 9 || j == len(rest) {
						unknown = append(unknown, r.Path+": "+name)
						continue
					}
					layer = st.First + atoi(rest[:j])
					rel = rest[j:]
					lp = fmt.Sprintf("%s%d", MCALayerPrefix, layer)
				}
				if te, ok := localToTE[rel]; ok && s.TransformerImpl == "local" {
					rel = te
				}
				// per-expert names
				if er, ok := strings.CutPrefix(rel, MCAMoEPrefix); ok {
					k := 0
					for k < len(er) && er[k] >= '0' && er[k] <= '9' {
						k++
					}
					if k == 0 || k > 9 {
						unknown = append(unknown, r.Path+": "+name)
						continue
					}
					e := r.EP*eLocal + atoi(er[:k])
					add(fmt.Sprintf("%s%s%d%s", lp, MCAMoEPrefix, e, er[k:]), er[k:], layer, e, ref.DType, r.TP, ref.Shape)
					continue
				}
				handled := false
				if s.GroupedGEMM {
					for pure, te := range t.Dist.GroupedTE {
						if num, ok := strings.CutPrefix(rel, te); ok && s.TEGrouped() && num != "" && len(num) <= 9 && strings.Trim(num, "0123456789") == "" {
							e := r.EP*eLocal + atoi(num)
							add(fmt.Sprintf("%s%s%d%s", lp, MCAMoEPrefix, e, pure), pure, layer, e, ref.DType, r.TP, ref.Shape)
							handled = true
						}
					}
					for pure, leg := range t.Dist.GroupedLegacy {
						if rel == leg && !s.TEGrouped() && len(ref.Shape) == 2 {
							var sl []int64
							if strings.Contains(pure, "fc1") {
								sl = []int64{ref.Shape[1] / int64(eLocal), ref.Shape[0]}
							} else {
								sl = []int64{ref.Shape[1], ref.Shape[0] / int64(eLocal)}
							}
							for le := 0; le < eLocal; le++ {
								e := r.EP*eLocal + le
								add(fmt.Sprintf("%s%s%d%s", lp, MCAMoEPrefix, e, pure), pure, layer, e, ref.DType, r.TP, sl)
							}
							handled = true
						}
					}
				}
				if !handled {
					add(lp+rel, rel, layer, -1, ref.DType, r.TP, ref.Shape)
				}
			}
		}
	}
	if len(unknown) > 0 {
		rp.errorf("unmapped", unknown, "%d tensor(s) of the rank files have names omnitui cannot map back: %s", len(unknown), listNames(unknown, 5))
	}

	// global Megatron tensors -> HF tensors
	var tensors []loader.TensorInfo
	fanned := map[string]bool{}            // fused HF tensors already listed (one per fan-out, E experts)
	hfOf := map[string]loader.TensorInfo{} // global Megatron name -> its (first) HF tensor
	mtpSeen := map[int]bool{}
	for _, name := range order {
		gi := infos[name]
		shape, err := globalShape(t, gi, s)
		if err != nil {
			rp.errorf("shape", []string{name}, "%v", err)
			continue
		}
		names, shapes, fan, err := hfTensorsOf(t, gi, shape, dims)
		if err != nil {
			rp.errorf("unmapped", []string{name}, "%v", err)
			continue
		}
		for i := range names {
			names[i] = t.FromRules(names[i], hfLayout)
			if fan {
				if fanned[names[i]] {
					continue
				}
				fanned[names[i]] = true
			}
			n := numel(shapes[i])
			tensors = append(tensors, loader.TensorInfo{Name: names[i], DType: gi.dtype, Shape: shapes[i], Size: n * int64(gi.dtype.Size())})
			if _, ok := hfOf[name]; !ok {
				hfOf[name] = tensors[len(tensors)-1]
			}
		}
		if gi.layer >= layers {
			mtpSeen[gi.layer] = true
		}
	}
	// The release stores copies of the embedding and lm_head in each MTP layer (Megatron
	// shares them): write them back as copies.
	if t.MTP != nil && len(mtpSeen) > 0 {
		rp.copies = map[string][]string{}
		for _, layer := range slices.Sorted(maps.Keys(mtpSeen)) {
			for _, rel := range slices.Sorted(maps.Keys(t.MTP.Copies)) {
				src, ok := hfOf[t.MTP.Copies[rel]]
				if !ok && t.MTP.Copies[rel] == MCAOutputLayer {
					src, ok = hfOf[MCAEmbedding] // tied
				}
				if !ok {
					continue
				}
				c := src
				c.Name = fmt.Sprintf("%s%d%s", t.LayerPrefix, layer, rel)
				tensors = append(tensors, c)
				rp.copies[src.Name] = append(rp.copies[src.Name], c.Name)
			}
		}
	}
	if mtpInner != "" {
		s.MTPLayerName = mtpInner
	}
	sort.SliceStable(tensors, func(i, j int) bool { return naturalLess(tensors[i].Name, tensors[j].Name) })
	for i := 1; i < len(tensors); i++ {
		if tensors[i].Name == tensors[i-1].Name {
			rp.errorf("duplicate", []string{tensors[i].Name}, "two Megatron tensors map back to %s", tensors[i].Name)
		}
	}
	nameOrPath := ""
	if n, ok := m.Config.Get("name_or_path"); ok {
		nameOrPath, _ = n.Str()
	}
	fwd, err := Build(PlanInput{Config: hf, ConfigBytes: hfBytes, Tensors: tensors, NameOrPath: nameOrPath, CarryOptional: true}, s)
	if err != nil {
		return nil, err
	}
	rp.Forward = fwd
	// The forward plan's errors stop the reverse; of its warnings, those about what the
	// files hold (a carried optional part, a tied lm_head written beside the embedding) are
	// the reverse's too.
	about := map[string]bool{"tied-lm-head": true, "optional-part-carried": true}
	for _, o := range t.Optional {
		about[o.CarryCode] = true
	}
	for _, is := range fwd.Issues {
		if is.Severity == SevError || about[is.Code] {
			rp.Issues = append(rp.Issues, is)
		}
	}
	if rp.HasErrors() || !fwd.Placed() {
		if !rp.HasErrors() {
			rp.errorf("placement", nil, "the checkpoint's settings place no tensors")
		}
		return rp, nil
	}
	rp.match()
	return rp, nil
}

// match pairs every forward destination entry with a tensor of the rank files.
func (rp *ReversePlan) match() {
	m, p := rp.Source, rp.Forward
	rp.refs = make([][][]*pt.TensorRef, len(p.Ranks))
	rp.files = make([]*mca.Rank, len(p.Ranks))
	var missing, mismatched, extra []string
	for ri, rf := range p.Ranks {
		r := m.Rank(rf.TP, rf.PP, rf.EP)
		if r == nil {
			rp.errorf("missing-rank", nil, "rank tp=%d pp=%d ep=%d (%s) is missing", rf.TP, rf.PP, rf.EP, rf.Path)
			continue
		}
		rp.files[ri] = r
		used := map[chunkUseKey]bool{}
		rp.refs[ri] = make([][]*pt.TensorRef, len(rf.Chunks))
		for ci, ch := range rf.Chunks {
			mc := r.Chunk(ch.VP)
			byName := map[string]*pt.TensorRef{}
			if mc != nil {
				for k := range mc.Tensors {
					byName[mc.Tensors[k].Name] = &mc.Tensors[k]
				}
			}
			rp.refs[ri][ci] = make([]*pt.TensorRef, len(ch.Entries))
			for ei, e := range ch.Entries {
				ref := byName[e.Name]
				key := ch.Key // the file's own key: one chunk may be "model" or "model0"
				if mc != nil {
					key = mc.Key
				}
				if ref == nil {
					missing = append(missing, fmt.Sprintf("%s[%s] %s", r.Path, key, e.Name))
					continue
				}
				if ref.DType != e.DType || !equalShape(ref.Shape, e.Shape) {
					mismatched = append(mismatched, fmt.Sprintf("%s[%s] %s is %s %s, expected %s %s", r.Path, key, e.Name, ref.DType, shapeStr(ref.Shape), e.DType, shapeStr(e.Shape)))
					continue
				}
				used[chunkUse(ch.VP, e.Name)] = true
				rp.refs[ri][ci][ei] = ref
			}
		}
		for _, mc := range r.Chunks {
			for _, ref := range mc.Tensors {
				if !used[chunkUse(mc.VP, ref.Name)] {
					extra = append(extra, fmt.Sprintf("%s[%s] %s", r.Path, mc.Key, ref.Name))
				}
			}
		}
	}
	if len(missing) > 0 {
		rp.errorf("missing-tensor", missing, "%d tensor(s) the mapping needs are not in the rank files: %s", len(missing), listNames(missing, 5))
	}
	if len(mismatched) > 0 {
		rp.errorf("tensor-mismatch", mismatched, "%d tensor(s) have an unexpected shape or dtype: %s", len(mismatched), listNames(mismatched, 5))
	}
	if len(extra) > 0 {
		rp.errorf("unexpected-tensor", extra, "%d tensor(s) of the rank files are not produced by the mapping back to Hugging Face: %s", len(extra), listNames(extra, 5))
	}
}

// chunkUse keys a rank-file tensor by virtual stage, not chunk key: one chunk is stored as
// "model" or, when ROLL is given a virtual size of 1, as "model0".
type chunkUseKey struct {
	vp   int
	name string
}

func chunkUse(vp int, name string) chunkUseKey { return chunkUseKey{vp, name} }

func ruleMCA(t *Template, rel string) bool {
	for _, r := range t.Rules {
		if r.MCA == rel {
			return true
		}
	}
	return false
}

// splitOf classifies a global Megatron tensor like the forward placement.
func splitOf(t *Template, pure string) (SplitKind, bool) {
	match := pure
	if strings.HasSuffix(match, ".bias") {
		match = strings.TrimSuffix(match, ".bias") + ".weight"
	}
	switch {
	case fnmatchAny(match, t.Dist.SwiGLU):
		return SplitSwiGLU, true
	case fnmatchAny(match, t.Dist.Sections):
		return SplitSections, true
	case fnmatchAny(match, t.Dist.Duplicated):
		return SplitDuplicated, true
	case fnmatchAny(match, t.Dist.Column):
		return SplitColumn, true
	case fnmatchAny(match, t.Dist.Row):
		return SplitRow, true
	}
	return "", false
}

func globalShape(t *Template, gi *globalInfo, s Settings) ([]int64, error) {
	split, ok := splitOf(t, gi.pure)
	if !ok {
		return nil, fmt.Errorf("%s has no tensor-parallel rule in the %s template, so it cannot be mapped back", gi.name, t.ModelType)
	}
	tp := s.TP
	if gi.expert >= 0 {
		tp = s.ETP
	}
	if split == SplitDuplicated {
		return append([]int64(nil), gi.tpShapes[0]...), nil
	}
	dim := 0
	if split == SplitRow {
		dim = 1
	}
	var out []int64
	for r := 0; r < tp; r++ {
		sh, ok := gi.tpShapes[r]
		if !ok {
			return nil, fmt.Errorf("%s: TP rank %d holds no slice of it", gi.name, r)
		}
		if len(sh) <= dim {
			return nil, fmt.Errorf("%s: slice of shape %s cannot be split by %s", gi.name, shapeStr(sh), split)
		}
		if out == nil {
			out = append([]int64(nil), sh...)
			continue
		}
		out[dim] += sh[dim]
	}
	return out, nil
}

// hfTensorsOf inverts the template rule that produces a global Megatron tensor. fan reports
// a fan-out rule: the HF tensor is the whole fused tensor that every expert's Megatron
// tensor of the layer comes from (the caller lists it once).
func hfTensorsOf(t *Template, gi *globalInfo, shape []int64, dims Dims) (names []string, shapes [][]int64, fan bool, err error) {
	prefix, layerPrefix := "", ""
	rel := gi.name
	if gi.layer >= 0 {
		prefix = fmt.Sprintf("%s%d", t.LayerPrefix, gi.layer)
		layerPrefix = prefix
		rel = gi.pure
		if gi.expert >= 0 {
			prefix += fmt.Sprintf("%s%d", t.MoEPrefix, gi.expert)
		}
	}
	if h := t.Hooks.UnrenameMCA; h != nil {
		rel = h(rel, gi.layer, gi.expert, dims)
	}
	for _, r := range t.Rules {
		// expert rules apply only inside experts, layer rules only to layer tensors
		if strings.HasPrefix(r.MCA, ".") != (gi.layer >= 0) {
			continue
		}
		wc := ""
		if i := strings.Index(r.MCA, "{}"); i >= 0 {
			pre, suf := r.MCA[:i], r.MCA[i+2:]
			if !strings.HasPrefix(rel, pre) || !strings.HasSuffix(rel, suf) || len(rel) <= len(pre)+len(suf) {
				continue
			}
			wc = rel[len(pre) : len(rel)-len(suf)]
		} else if r.MCA != rel {
			continue
		}
		op, err := LookupOp(r.Op)
		if err != nil {
			return nil, nil, false, err
		}
		pre := prefix
		if _, fan = op.(Fanout); fan {
			if gi.expert < 0 {
				continue // a fan-out rule names experts only
			}
			pre = layerPrefix
		}
		names := make([]string, len(r.HF))
		for k, h := range r.HF {
			names[k] = pre + strings.ReplaceAll(h, "{}", wc)
		}
		shapes, err := op.HFShapes(gi.name, shape, dims)
		if err != nil {
			return nil, nil, false, err
		}
		return names, shapes, fan, nil
	}
	return nil, nil, false, fmt.Errorf("%s matches no %s rule, so omnitui cannot name it in Hugging Face terms", gi.name, t.ModelType)
}

// naturalLess orders names with digit runs compared as numbers (layers.2 before layers.10).
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:min(da, 18)], 10, 64)
			nb, _ := strconv.ParseUint(b[:min(db, 18)], 10, 64)
			if na != nb {
				return na < nb
			}
			if da != db {
				return da < db
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// GatherOptions control how a group's copies are merged.
type GatherOptions struct {
	TakeRank0 bool // where duplicated copies disagree, keep the lowest rank's copy instead of failing
}

// GatherStats counts the rank-file tensors a gather read.
type GatherStats struct {
	Consumed   int // slices that became part of an HF tensor
	Duplicates int // further copies checked equal (or ignored with TakeRank0)
	Dropped    int // tied last-stage output_layer copies, compared with the embedding (not written back)
}

// gatherer reads rank-file tensors with a small cache for stacked legacy grouped-GEMM entries.
type gatherer struct {
	rp    *ReversePlan
	cache map[*pt.TensorRef][]byte
	layer int
}

func (rp *ReversePlan) newGatherer() *gatherer {
	return &gatherer{rp: rp, cache: map[*pt.TensorRef][]byte{}, layer: -2}
}

func (ga *gatherer) read(d Dest, g *Group, elem int) ([]byte, error) {
	rp := ga.rp
	ref := rp.refs[d.Rank][d.Chunk][d.Entry]
	file := rp.files[d.Rank]
	if ref == nil || file == nil {
		return nil, fmt.Errorf("%s: no tensor %s in rank %s", g.Name, d.Name, rp.Forward.Ranks[d.Rank].Path)
	}
	if !d.Transpose {
		return file.File.ReadTensor(*ref)
	}
	n := int(numel(d.Shape)) * elem
	var part []byte
	if ga.cache == nil {
		// No cache (concurrent use): read only this expert's part of the stacked tensor
		// when it is contiguous, else the whole tensor for this one call.
		if sub, ok := partRef(*ref, d.Part, numel(d.Shape)); ok {
			b, err := file.File.ReadTensor(sub)
			if err != nil {
				return nil, err
			}
			part = b
		} else {
			whole, err := file.File.ReadTensor(*ref)
			if err != nil {
				return nil, err
			}
			if (d.Part+1)*n > len(whole) {
				return nil, fmt.Errorf("%s: part %d is outside %s", g.Name, d.Part, d.Name)
			}
			part = whole[d.Part*n : (d.Part+1)*n]
		}
	} else {
		if g.Layer != ga.layer {
			clear(ga.cache)
			ga.layer = g.Layer
		}
		whole, ok := ga.cache[ref]
		if !ok {
			b, err := file.File.ReadTensor(*ref)
			if err != nil {
				return nil, err
			}
			whole = b
			ga.cache[ref] = b
		}
		if (d.Part+1)*n > len(whole) {
			return nil, fmt.Errorf("%s: part %d is outside %s", g.Name, d.Part, d.Name)
		}
		part = whole[d.Part*n : (d.Part+1)*n]
	}
	if len(part) != n {
		return nil, fmt.Errorf("%s: part %d of %s holds %d bytes, expected %d", g.Name, d.Part, d.Name, len(part), n)
	}
	out := make([]byte, n)
	if err := ops.Transpose2D(out, part, int(d.Shape[1]), int(d.Shape[0]), elem); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	return out, nil
}

// partRef is the view of elements [part*n, (part+1)*n) of ref in row-major order, when
// ref is contiguous (so that range is one run of its storage); ok is false otherwise.
func partRef(ref pt.TensorRef, part int, n int64) (pt.TensorRef, bool) {
	if len(ref.Stride) != len(ref.Shape) || n <= 0 || part < 0 {
		return ref, false
	}
	want := int64(1)
	for i := len(ref.Shape) - 1; i >= 0; i-- {
		if ref.Shape[i] != 1 && ref.Stride[i] != want {
			return ref, false
		}
		want *= ref.Shape[i]
	}
	if int64(part+1)*n > want {
		return ref, false
	}
	sub := ref
	sub.Shape = []int64{n}
	sub.Stride = []int64{1}
	sub.StorageOffset = ref.StorageOffset + int64(part)*n
	return sub, true
}

// gather rebuilds the HF tensors of forward group gi from the rank files.
func (ga *gatherer) gather(gi int, opt GatherOptions, st *GatherStats) ([][]byte, error) {
	rp := ga.rp
	p := rp.Forward
	g := &p.Groups[gi]
	elem := g.DType.Size()
	slices := map[int][]byte{}
	from := map[int]string{}
	tpSize := 1
	var tied []Dest
	for _, d := range g.Dests {
		rf := &p.Ranks[d.Rank]
		if g.Name == MCAEmbedding && (rf.PP != 0 || d.Chunk != 0) {
			tied = append(tied, d) // the last stage's tied output_layer copy, checked below
			continue
		}
		tpSize = d.TPSize
		data, err := ga.read(d, g, elem)
		if err != nil {
			return nil, err
		}
		where := rf.Path + " " + d.Name
		if prev, ok := slices[d.TPRank]; ok {
			st.Duplicates++
			if !bytes.Equal(prev, data) && !opt.TakeRank0 {
				return nil, fmt.Errorf("copies of %s (TP slice %d) disagree between %s and %s: the ranks were not in sync; pass --take-rank0 to keep the first copy", g.Name, d.TPRank, from[d.TPRank], where)
			}
			continue
		}
		st.Consumed++
		slices[d.TPRank] = data
		from[d.TPRank] = where
	}
	parts := make([][]byte, tpSize)
	shapes := make([][]int64, tpSize)
	for r := 0; r < tpSize; r++ {
		b, ok := slices[r]
		if !ok {
			return nil, fmt.Errorf("%s: TP slice %d of %d is missing", g.Name, r, tpSize)
		}
		parts[r] = b
		shapes[r], _ = sliceShape(g.Shape, g.Split, sectionsOf(g, p.Dims), tpSize, r)
	}
	if err := ga.checkTied(g, tied, slices, from, elem, opt, st); err != nil {
		return nil, err
	}
	total := int(numel(g.Shape)) * elem
	var whole []byte
	switch g.Split {
	case SplitDuplicated:
		whole = parts[0]
	case SplitColumn:
		whole = bytes.Join(parts, nil)
	case SplitSections:
		// rank r holds its chunk of every section in turn: regroup section by section
		rb := int(numel(g.Shape[1:])) * elem
		whole = make([]byte, 0, total)
		offs := make([]int, tpSize)
		for _, n := range sectionsOf(g, p.Dims) {
			for r := 0; r < tpSize; r++ {
				_, size, ok := ops.ChunkRange(int(n), tpSize, r)
				if !ok || offs[r]+size*rb > len(parts[r]) {
					return nil, fmt.Errorf("%s: TP slice %d is too short for its sections", g.Name, r)
				}
				whole = append(whole, parts[r][offs[r]:offs[r]+size*rb]...)
				offs[r] += size * rb
			}
		}
	case SplitRow:
		whole = make([]byte, total)
		if err := ops.ConcatDim(whole, parts, shapes, elem, 1); err != nil {
			return nil, fmt.Errorf("%s: %w", g.Name, err)
		}
	case SplitSwiGLU:
		half := append([]int64(nil), g.Shape...)
		half[0] /= 2
		whole = make([]byte, total)
		gate, up := whole[:total/2], whole[total/2:]
		if err := ops.SwiGLUMerge(gate, up, parts, half, elem, tpSize); err != nil {
			return nil, fmt.Errorf("%s: %w", g.Name, err)
		}
		if g.Pieces == 0 {
			return [][]byte{gate, up}, nil
		}
		// a fan-out piece: [gate; up] is the expert's tensor, which the op inverts
	}
	if len(whole) != total {
		return nil, fmt.Errorf("%s: gathered %d bytes, expected %d", g.Name, len(whole), total)
	}
	op, err := LookupOp(g.Op)
	if err != nil {
		return nil, err
	}
	inSize := make([]int64, len(g.Inputs))
	for k, ti := range g.Inputs {
		inSize[k] = p.Tensors[ti].Size
	}
	out, err := op.Inverse(g, whole, inSize, elem, p.Dims)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.Name, err)
	}
	return out, nil
}

// gatherTensors rebuilds the whole HF inputs of forward group gi: gather's result, or for a
// fan-out every piece's gather placed at its range of the fused inputs.
func (ga *gatherer) gatherTensors(gi int, opt GatherOptions, st *GatherStats) ([][]byte, error) {
	p := ga.rp.Forward
	g := &p.Groups[gi]
	if g.Pieces == 0 {
		return ga.gather(gi, opt, st)
	}
	first := gi - g.Piece
	if first < 0 || first+g.Pieces > len(p.Groups) {
		return nil, fmt.Errorf("%s: piece %d of %d has no sibling groups (this is a bug in omnitui; please report it)", g.Name, g.Piece, g.Pieces)
	}
	out := make([][]byte, len(g.Inputs))
	for k, ti := range g.Inputs {
		out[k] = make([]byte, p.Tensors[ti].Size)
	}
	for piece := 0; piece < g.Pieces; piece++ {
		pg := &p.Groups[first+piece]
		if pg.Piece != piece || pg.Pieces != g.Pieces || !slices.Equal(pg.Inputs, g.Inputs) {
			return nil, fmt.Errorf("%s: the pieces of %s are not consecutive groups (this is a bug in omnitui; please report it)", pg.Name, g.HFNames[0])
		}
		data, err := ga.gather(first+piece, opt, st)
		if err != nil {
			return nil, err
		}
		for k := range out {
			off, n := pieceRange(pg, int64(len(out[k])))
			if int64(len(data[k])) != n {
				return nil, fmt.Errorf("%s: expert %d gathered %d bytes, expected %d", g.HFNames[k], piece, len(data[k]), n)
			}
			copy(out[k][off:], data[k])
		}
	}
	return out, nil
}

// reverseLayout picks the HF naming the reverse writes: the one asked for, else the one
// recorded in mca_config.json, else the rules' own.
func reverseLayout(t *Template, mc *loader.JSONNode, asked string) (int, error) {
	name, from := asked, "--hf-layout"
	if name == "" {
		if n, ok := mc.Get(HFLayoutKey); ok && n.Kind != loader.JSONNull {
			name, _ = n.Str()
			from = "mca_config.json " + HFLayoutKey
		}
	}
	if name == "" {
		return 0, nil
	}
	if len(t.Layouts) == 0 {
		return 0, fmt.Errorf("%s %q: %s checkpoints have one Hugging Face naming; leave --hf-layout out", from, name, t.ModelType)
	}
	i, ok := t.LayoutIndex(name)
	if !ok {
		return 0, fmt.Errorf("%s %q is no Hugging Face naming of %s: use one of %s", from, name, t.ModelType, strings.Join(t.LayoutNames(), ", "))
	}
	return i, nil
}
