package core

// Megatron LoRA adapters (as ROLL's mcore_adapter saves them) -> Hugging Face PEFT adapters.
//
// ROLL maps a LoRA tensor through the rule of its base weight: lora_A of a column-parallel
// base is a TP replica and is copied to every HF projection the fused base feeds; lora_B of a
// column-parallel base is split over TP by rows (gate/up interleaved per rank for SwiGLU) and
// is split back like the base, with the LoRA rank in place of the hidden size (QKV per query
// group); lora_A of a row-parallel base is split over TP by columns and lora_B is a replica.
// Experts trained with grouped GEMM have rank r/topk but the scale alpha/r of the whole layer.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/loader/pt"
)

// LoRA scale modes (--lora-scale).
const (
	LoRAScaleKeep = "keep" // alpha_pattern keeps the trained scale of rank-reduced expert modules
	LoRAScaleROLL = "roll" // the config ROLL's converter writes (rank_pattern only)
)

// LoRA ops shown in the Mapping.
const (
	LoRAOpCopy       = "copy"          // one source tensor (or TP replicas that agree)
	LoRAOpMerge      = "merge"         // TP slices concatenated
	LoRAOpSplit      = "split"         // fused QKV lora_B split per query group
	LoRAOpDeinterlve = "de-interleave" // SwiGLU lora_B: [gate_i; up_i] per TP rank
)

// LoRAOptions tune the LoRA plan and export.
type LoRAOptions struct {
	Scale     string `json:"lora_scale"`           // LoRAScaleKeep (default) or LoRAScaleROLL
	BaseModel string `json:"base_model,omitempty"` // overrides base_model_name_or_path
	DType     string `json:"dtype"`                // keep, bf16, fp16, fp32
	TakeRank0 bool   `json:"take_rank0"`           // TP replicas that differ: keep rank 0's instead of failing
}

// LoRAPlan maps every adapter of a ROLL LoRA checkpoint to a PEFT adapter.
type LoRAPlan struct {
	Source    *mca.AdapterSet `json:"-"`
	Dir       string          `json:"dir"`
	ModelType string          `json:"model_type"`
	TopK      int             `json:"moe_router_topk,omitempty"`
	Options   LoRAOptions     `json:"options"`
	Adapters  []*LoRAAdapter  `json:"adapters"`
	Issues    []Issue         `json:"issues"`

	t    *Template
	dims Dims
}

// LoRAAdapter is one adapter: its source config, the PEFT config written and every tensor.
type LoRAAdapter struct {
	Name          string             `json:"name"`
	OutDir        string             `json:"out_dir"` // "" for default (the output's top), else the adapter name
	R             int                `json:"r"`
	Alpha         float64            `json:"lora_alpha"`
	Dropout       float64            `json:"lora_dropout"`
	RSLoRA        bool               `json:"use_rslora"`
	SourceTargets []string           `json:"source_target_modules"`
	Targets       []string           `json:"target_modules"`
	RankPattern   map[string]int     `json:"rank_pattern"`
	AlphaPattern  map[string]float64 `json:"alpha_pattern"`
	ModuleRanks   []LoRAModuleRank   `json:"module_ranks"`
	BaseModel     string             `json:"base_model_name_or_path"`
	TaskType      string             `json:"task_type,omitempty"`
	Tensors       []LoRATensor       `json:"tensors"`
	Bytes         int64              `json:"bytes"`
	Notes         []string           `json:"notes,omitempty"`

	src     *mca.Adapter
	modules []*loraModule
	dtype   loader.DType
	config  []byte
}

// LoRAModuleRank counts the HF modules of one kind and rank.
type LoRAModuleRank struct {
	Module  string  `json:"module"` // HF module name pattern, e.g. "layers.{}.self_attn.q_proj"
	Rank    int     `json:"rank"`
	Scale   float64 `json:"trained_scale"`
	Count   int     `json:"count"`
	Grouped bool    `json:"grouped_experts,omitempty"`
}

// LoRATensor is one PEFT tensor and where it comes from.
type LoRATensor struct {
	Name    string       `json:"name"`
	Shape   []int64      `json:"shape"`
	DType   loader.DType `json:"dtype"`
	Op      string       `json:"op"`
	Sources []string     `json:"sources"` // "rank file: tensor"
}

type loraDup struct {
	b  bool // lora_B (else lora_A)
	tp int
	ls loraSrc
}

type loraSrc struct {
	rank *mca.Rank
	ref  pt.TensorRef
}

// loraModule is one Megatron LoRA-wrapped module (global layer and expert numbers).
type loraModule struct {
	name    string // global Megatron base module, e.g. decoder.layers.3.self_attention.linear_qkv
	pure    string // relative to the layer/expert prefix, e.g. .self_attention.linear_qkv
	layer   int
	expert  int
	grouped bool
	rule    family.Rule
	hf      []string // HF module names, in rule order
	split   SplitKind
	tp      int
	a, b    map[int]loraSrc
	epDup   []loraDup // copies of a non-expert module on EP ranks > 0, which must agree
	rank    int
	outA    []int // tensor indices of the PEFT lora_A outputs (per hf)
	outB    []int
}

func (p *LoRAPlan) errorf(code string, tensors []string, format string, a ...any) {
	p.Issues = append(p.Issues, Issue{Severity: SevError, Code: code, Message: fmt.Sprintf(format, a...), Tensors: tensors})
}

func (p *LoRAPlan) warnf(code string, tensors []string, format string, a ...any) {
	p.Issues = append(p.Issues, Issue{Severity: SevWarning, Code: code, Message: fmt.Sprintf(format, a...), Tensors: tensors})
}

// HasErrors reports whether the plan cannot be executed.
func (p *LoRAPlan) HasErrors() bool {
	return hasErrors(p.Issues)
}

// ErrorText joins the error messages.
func (p *LoRAPlan) ErrorText() string {
	return errorText(p.Issues)
}

// BuildLoRAPlan reads the adapters' configs and rank-file headers and maps every LoRA tensor
// through the family's rules. Errors about the input are Issues; the error return is for
// inputs that cannot be planned at all.
func BuildLoRAPlan(s *mca.AdapterSet, opt LoRAOptions) (*LoRAPlan, error) {
	if opt.Scale == "" {
		opt.Scale = LoRAScaleKeep
	}
	if opt.Scale != LoRAScaleKeep && opt.Scale != LoRAScaleROLL {
		return nil, fmt.Errorf("--lora-scale %q is not one of keep, roll", opt.Scale)
	}
	if opt.DType == "" {
		opt.DType = "keep"
	}
	p := &LoRAPlan{Source: s, Dir: s.Dir, Options: opt}
	hfBytes, err := topHFConfig(s)
	if err != nil {
		return nil, err
	}
	hf, err := loader.ParseJSONTree(hfBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: hf_config_json is not valid JSON: %w", mca.ConfigName, err)
	}
	mt := ""
	if n, ok := hf.Get("model_type"); ok {
		mt, _ = n.Str()
	}
	if mt == "" {
		return nil, fmt.Errorf("hf_config_json in %s has no model_type: the adapter was not written by mcore_adapter", mca.ConfigName)
	}
	p.ModelType = mt
	if p.t, err = LookupTemplate(mt); err != nil {
		return nil, err
	}
	if p.dims, err = DimsFromMCAConfig(s.Config); err != nil {
		return nil, err
	}
	if h := p.t.Hooks.ReadDims; h != nil {
		h(hf, &p.dims)
	}
	if n, ok := s.Config.Get("moe_router_topk"); ok && n.Kind != loader.JSONNull {
		v, err := n.Int()
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%s moe_router_topk = %s: it must be a positive whole number", mca.ConfigName, n.Raw)
		}
		p.TopK = int(v)
	}
	base := opt.BaseModel
	if base == "" {
		if n, ok := hf.Get("_name_or_path"); ok {
			base, _ = n.Str()
		}
	}
	if base == "" {
		if n, ok := s.Config.Get("name_or_path"); ok {
			base, _ = n.Str()
		}
	}
	taskType := ""
	if n, ok := hf.Get("architectures"); ok && n.Kind == loader.JSONArray && len(n.Children) > 0 {
		if a, err := n.Children[0].Str(); err == nil && strings.HasSuffix(a, "ForCausalLM") {
			taskType = "CAUSAL_LM"
		}
	}
	for _, a := range s.Adapters {
		la := p.planAdapter(a, hf)
		if la == nil {
			continue
		}
		la.BaseModel = base
		if la.TaskType == "" {
			la.TaskType = taskType
		}
		p.Adapters = append(p.Adapters, la)
	}
	if !p.HasErrors() {
		for _, la := range p.Adapters {
			if err := p.finishConfig(la); err != nil {
				p.errorf("lora-config", nil, "adapter %s: %v", strconv.Quote(la.Name), err)
			}
		}
	}
	if p.Issues == nil {
		p.Issues = []Issue{}
	}
	return p, nil
}

func topHFConfig(s *mca.AdapterSet) ([]byte, error) {
	n, ok := s.Config.Get("hf_config_json")
	if !ok || n.Kind == loader.JSONNull {
		return nil, fmt.Errorf("%s has no hf_config_json: the adapter's Hugging Face module names cannot be known; save it with mcore_adapter, which records it", filepathJoin(s.Dir, mca.ConfigName))
	}
	v, err := n.Str()
	if err != nil {
		return nil, fmt.Errorf("%s hf_config_json: %w", mca.ConfigName, err)
	}
	return []byte(v), nil
}

func filepathJoin(a, b string) string { return strings.TrimSuffix(a, "/") + "/" + b }

// sourceLoRAConfig reads the fields of adapter_config.json omnitui converts, refusing what
// it cannot.
func (p *LoRAPlan) sourceLoRAConfig(a *mca.Adapter, la *LoRAAdapter) bool {
	c := a.PEFT
	file := filepathJoin(a.Checkpoint.Dir, mca.AdapterConfigName)
	ok := true
	str := func(k string) string {
		if n, found := c.Get(k); found && n.Kind != loader.JSONNull {
			v, _ := n.Str()
			return v
		}
		return ""
	}
	boolean := func(k string) bool {
		if n, found := c.Get(k); found && n.Kind != loader.JSONNull {
			v, _ := n.Bool()
			return v
		}
		return false
	}
	if pt := str("peft_type"); pt != "" && pt != "LORA" {
		p.errorf("lora-peft-type", nil, "%s: peft_type %s is not LoRA: omnitui exports LoRA adapters only", file, strconv.Quote(pt))
		ok = false
	}
	if boolean("use_dora") {
		p.errorf("lora-dora", nil, "%s: use_dora is true: DoRA adapters (magnitude vectors) are not supported", file)
		ok = false
	}
	if b := str("bias"); b != "" && b != "none" {
		p.errorf("lora-bias", nil, "%s: bias %s: LoRA biases are not supported; only bias \"none\" converts", file, strconv.Quote(b))
		ok = false
	}
	if boolean("lora_bias") {
		p.errorf("lora-bias", nil, "%s: lora_bias is true: LoRA biases are not supported", file)
		ok = false
	}
	n, found := c.Get("r")
	r, err := int64(0), error(nil)
	if found {
		r, err = n.Int()
	}
	if !found || err != nil || r < 1 || r > 1<<20 {
		p.errorf("lora-rank", nil, "%s: r must be a positive whole number", file)
		return false
	}
	la.R = int(r)
	la.Alpha = float64(r)
	if n, found := c.Get("lora_alpha"); found && n.Kind != loader.JSONNull {
		if la.Alpha, err = n.Float(); err != nil {
			p.errorf("lora-alpha", nil, "%s: lora_alpha: %v", file, err)
			ok = false
		}
	}
	if n, found := c.Get("lora_dropout"); found && n.Kind != loader.JSONNull {
		la.Dropout, _ = n.Float()
	}
	la.RSLoRA = boolean("use_rslora")
	la.TaskType = str("task_type")
	if n, found := c.Get("target_modules"); found {
		switch n.Kind {
		case loader.JSONArray:
			for _, e := range n.Children {
				if v, err := e.Str(); err == nil {
					la.SourceTargets = append(la.SourceTargets, v)
				}
			}
		case loader.JSONString:
			v, _ := n.Str()
			la.SourceTargets = []string{v}
		}
	}
	for _, k := range []string{"rank_pattern", "alpha_pattern"} {
		if n, found := c.Get(k); found && n.Kind == loader.JSONObject && len(n.Keys()) > 0 {
			p.errorf("lora-pattern", nil, "%s: %s is set: per-module ranks or alphas chosen at training are not supported yet", file, k)
			ok = false
		}
	}
	if n, found := c.Get("modules_to_save"); found && n.Kind == loader.JSONArray && len(n.Children) > 0 {
		p.errorf("lora-modules-to-save", nil, "%s: modules_to_save is set: fully trained modules saved beside the adapter are not supported", file)
		ok = false
	}
	return ok
}

func (p *LoRAPlan) planAdapter(a *mca.Adapter, hf *loader.JSONNode) *LoRAAdapter {
	la := &LoRAAdapter{Name: a.Name, src: a, RankPattern: map[string]int{}, AlphaPattern: map[string]float64{}}
	if a.Name != "default" {
		la.OutDir = a.Name
	}
	if !p.sourceLoRAConfig(a, la) {
		return nil
	}
	m := a.Checkpoint
	s, err := SettingsFromMCAConfig(m.Config)
	if err != nil {
		p.errorf("lora-config", nil, "adapter %s: %v", strconv.Quote(a.Name), err)
		return nil
	}
	s.DType = p.Options.DType
	if s.TP != m.TP || s.PP != m.PP || s.EP != m.EP {
		p.errorf("lora-config", nil, "adapter %s: mca_config.json sizes disagree with the rank files", strconv.Quote(a.Name))
		return nil
	}
	if s.TransformerImpl == "local" || s.LegacyGrouped() {
		p.errorf("lora-impl", nil, "adapter %s: ROLL trains LoRA on Transformer Engine layers only; transformer_impl local or the legacy grouped GEMM (moe_use_legacy_grouped_gemm) have no LoRA layout to convert", strconv.Quote(a.Name))
		return nil
	}
	if s.ETP != s.TP && p.dims.Experts > 0 {
		p.errorf("lora-etp", nil, "adapter %s: expert_tensor_parallel_size %d differs from tensor_model_parallel_size %d: ROLL's LoRA conversion gathers expert slices over TP, so this layout is not supported", strconv.Quote(a.Name), s.ETP, s.TP)
		return nil
	}
	var layout *Layout
	if s.Layout != "" {
		if layout, err = ParseLayout(s.Layout, s.PP); err != nil {
			p.errorf("lora-config", nil, "adapter %s: pipeline_model_parallel_layout: %v", strconv.Quote(a.Name), err)
			return nil
		}
	}
	stages, err := PipelineStages(p.dims.Layers, s.PP, s.VPP, s.AccountEmbedding, s.AccountLoss, layout)
	if err != nil {
		p.errorf("lora-config", nil, "adapter %s: pipeline stages: %v", strconv.Quote(a.Name), err)
		return nil
	}
	stageOf := map[stageKey]Stage{}
	for _, st := range stages {
		stageOf[stageKey{st.PP, st.VP}] = st
	}
	eLocal := 1
	if p.dims.Experts > 0 && s.EP > 0 {
		eLocal = p.dims.Experts / s.EP
	}
	grouped := map[string]string{} // layer-level TE grouped module -> pure expert module
	if s.TEGrouped() {
		for pure, te := range p.t.Dist.GroupedTE {
			grouped[strings.TrimSuffix(te, ".weight")] = strings.TrimSuffix(pure, ".weight")
		}
	}
	mods := map[string]*loraModule{}
	var order []string
	var infixed, bad []string
	for _, r := range m.Ranks {
		for _, ch := range r.Chunks {
			st, ok := stageOf[stageKey{r.PP, ch.VP}]
			if !ok {
				p.errorf("stage", nil, "%s holds chunk %s, but the pipeline of mca_config.json has no stage pp=%d vp=%d", filepathJoin(m.Dir, r.Path), ch.Key, r.PP, ch.VP)
				continue
			}
			for _, ref := range ch.Tensors {
				name := ref.Name
				where := filepathJoin(m.Dir, r.Path) + ": " + name
				if strings.HasSuffix(name, "_extra_state") {
					continue
				}
				base, ab, suffix, infix, why := splitLoRAName(name)
				if why != "" {
					p.errorf("lora-tensor", []string{where}, "%s: %s", where, why)
					bad = append(bad, where)
					continue
				}
				if infix != "" {
					infixed = append(infixed, where)
				}
				mod, key, why := p.locate(base, suffix, r, st, eLocal, grouped)
				if why != "" {
					p.errorf("lora-unmapped", []string{where}, "%s: %s", where, why)
					continue
				}
				lm := mods[key]
				if lm == nil {
					lm = mod
					lm.a, lm.b = map[int]loraSrc{}, map[int]loraSrc{}
					mods[key] = lm
					order = append(order, key)
				}
				side := lm.a
				if ab == "B" {
					side = lm.b
				}
				if lm.expert < 0 && r.EP > 0 {
					lm.epDup = append(lm.epDup, loraDup{b: ab == "B", tp: r.TP, ls: loraSrc{rank: r, ref: ref}})
					continue
				}
				if _, dup := side[r.TP]; dup {
					p.errorf("lora-duplicate", []string{where}, "%s: a second lora_%s for %s on TP rank %d", where, ab, lm.name, r.TP)
					continue
				}
				side[r.TP] = loraSrc{rank: r, ref: ref}
			}
		}
	}
	if len(infixed) > 0 {
		p.warnf("lora-adapter-infix", infixed, "adapter %s: %d tensor(s) carry the adapter name inside their names (e.g. %s); read as plain lora_A / lora_B", strconv.Quote(a.Name), len(infixed), infixed[0])
	}
	_ = bad
	sort.SliceStable(order, func(i, j int) bool { return naturalLess(order[i], order[j]) })
	if _, err := s.OutDType(loader.F32); err != nil {
		p.errorf("dtype", nil, "%v", err)
		return nil
	}
	for _, key := range order {
		lm := mods[key]
		lm.tp = s.TP
		if lm.expert >= 0 && s.ETP > 0 {
			lm.tp = s.ETP
		}
		p.checkModule(la, lm, s)
		la.modules = append(la.modules, lm)
	}
	if len(la.modules) == 0 && !p.HasErrors() {
		p.errorf("lora-empty", nil, "adapter %s: the rank files hold no lora_A / lora_B tensors", strconv.Quote(a.Name))
	}
	return la
}

// splitLoRAName splits "<base>.lora_A[.<adapter>].weight<N>"; why says what is refused.
func splitLoRAName(name string) (base, ab, suffix, infix, why string) {
	i := strings.Index(name, ".lora_")
	if i < 0 {
		switch {
		case strings.Contains(name, "modules_to_save"):
			return "", "", "", "", "a modules_to_save copy of a trained module: not supported"
		}
		return "", "", "", "", "not a LoRA tensor (no .lora_A / .lora_B in its name): a LoRA checkpoint holds only adapter weights"
	}
	base, rest := name[:i], name[i+1:]
	switch {
	case strings.HasPrefix(rest, "lora_magnitude_vector"):
		return "", "", "", "", "a DoRA magnitude vector: DoRA adapters are not supported"
	case strings.HasPrefix(rest, "lora_embedding_"):
		return "", "", "", "", "a LoRA embedding (lora_embedding_A/B): LoRA on embeddings is not supported"
	case strings.HasPrefix(rest, "lora_A."):
		ab, rest = "A", rest[len("lora_A."):]
	case strings.HasPrefix(rest, "lora_B."):
		ab, rest = "B", rest[len("lora_B."):]
	default:
		return "", "", "", "", "an unknown LoRA tensor kind: only lora_A / lora_B weights convert"
	}
	if j := strings.Index(rest, "."); j >= 0 && !strings.HasPrefix(rest, "weight") && !strings.HasPrefix(rest, "bias") {
		infix, rest = rest[:j], rest[j+1:]
	}
	switch {
	case strings.HasPrefix(rest, "bias"):
		return "", "", "", "", "a LoRA bias: LoRA biases (lora_bias) are not supported"
	case strings.HasPrefix(rest, "weight"):
		suffix = rest[len("weight"):]
		if strings.Trim(suffix, "0123456789") != "" || len(suffix) > 9 {
			return "", "", "", "", "an unexpected LoRA tensor name"
		}
	default:
		return "", "", "", "", "an unexpected LoRA tensor name"
	}
	return base, ab, suffix, infix, ""
}

// locate turns a rank-local Megatron module name into its global module.
func (p *LoRAPlan) locate(base, suffix string, r *mca.Rank, st Stage, eLocal int, grouped map[string]string) (*loraModule, string, string) {
	rest, ok := strings.CutPrefix(base, MCALayerPrefix)
	if !ok {
		if suffix != "" {
			return nil, "", "an expert index outside a decoder layer"
		}
		lm := &loraModule{name: base, pure: base, layer: -1, expert: -1}
		return lm, base, p.resolve(lm)
	}
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 || j > 9 || j == len(rest) {
		return nil, "", "a decoder layer name omnitui cannot read"
	}
	layer := st.First + atoi(rest[:j])
	rel := rest[j:]
	lp := fmt.Sprintf("%s%d", MCALayerPrefix, layer)
	expert := -1
	isGrouped := false
	if er, ok := strings.CutPrefix(rel, MCAMoEPrefix); ok {
		if suffix != "" {
			return nil, "", "a grouped expert index on a sequential expert"
		}
		k := 0
		for k < len(er) && er[k] >= '0' && er[k] <= '9' {
			k++
		}
		if k == 0 || k > 9 || atoi(er[:k]) >= eLocal {
			return nil, "", fmt.Sprintf("an expert index outside 0..%d", eLocal-1)
		}
		expert = r.EP*eLocal + atoi(er[:k])
		rel = er[k:]
	} else if pure, ok := grouped[rel]; ok {
		if suffix == "" {
			return nil, "", "a grouped-GEMM expert LoRA tensor without its expert number (weight<N>)"
		}
		if atoi(suffix) >= eLocal {
			return nil, "", fmt.Sprintf("expert weight%s outside 0..%d", suffix, eLocal-1)
		}
		expert = r.EP*eLocal + atoi(suffix)
		rel = pure
		isGrouped = true
	} else if suffix != "" {
		return nil, "", "an expert number (weight" + suffix + ") on a module that is no grouped-GEMM expert module"
	}
	name := lp + rel
	if expert >= 0 {
		name = fmt.Sprintf("%s%s%d%s", lp, MCAMoEPrefix, expert, rel)
	}
	lm := &loraModule{name: name, pure: rel, layer: layer, expert: expert, grouped: isGrouped}
	return lm, name, p.resolve(lm)
}

// resolve finds the module's family rule, HF module names and TP split.
func (p *LoRAPlan) resolve(lm *loraModule) string {
	t := p.t
	w := lm.pure + ".weight"
	prefix := ""
	if lm.layer >= 0 {
		prefix = fmt.Sprintf("%s%d", t.LayerPrefix, lm.layer)
		if lm.expert >= 0 {
			prefix += fmt.Sprintf("%s%d", t.MoEPrefix, lm.expert)
		}
	}
	rel := w
	if h := t.Hooks.UnrenameMCA; h != nil && lm.layer >= 0 {
		rel = h(rel, lm.layer, lm.expert, p.dims)
	}
	for _, r := range t.Rules {
		if strings.HasPrefix(r.MCA, ".") != (lm.layer >= 0) {
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
		lm.rule = r
		for _, h := range r.HF {
			n := prefix + strings.ReplaceAll(h, "{}", wc)
			if !strings.HasSuffix(n, ".weight") {
				return fmt.Sprintf("its base %s maps to %s, which is no weight", w, n)
			}
			lm.hf = append(lm.hf, strings.TrimSuffix(n, ".weight"))
		}
		switch r.Op {
		case family.OpRename, family.OpQKV, family.OpStack:
		default:
			return fmt.Sprintf("its base weight %s is converted by the %s op, which has no LoRA mapping", w, r.Op)
		}
		split, ok := splitOf(t, w)
		if !ok {
			return fmt.Sprintf("its base weight %s has no tensor-parallel rule in the %s template", w, t.ModelType)
		}
		lm.split = split
		return ""
	}
	return fmt.Sprintf("its base module %s matches no %s rule: the family does not map it to Hugging Face", strings.TrimSuffix(w, ".weight"), t.ModelType)
}

// aSplit / bSplit: how lora_A and lora_B of a module are spread over TP.
func (lm *loraModule) aSplit() SplitKind {
	if lm.split == SplitRow {
		return SplitRow
	}
	return SplitDuplicated
}

func (lm *loraModule) bSplit() SplitKind {
	switch lm.split {
	case SplitColumn, SplitSwiGLU:
		return lm.split
	}
	return SplitDuplicated
}

// checkModule checks shapes, ranks and TP completeness, and adds the PEFT tensors.
func (p *LoRAPlan) checkModule(la *LoRAAdapter, lm *loraModule, s Settings) {
	file := func(ls loraSrc) string { return filepathJoin(la.src.Checkpoint.Dir, ls.rank.Path) }
	for _, side := range []struct {
		ab string
		m  map[int]loraSrc
		o  map[int]loraSrc
	}{{"A", lm.a, lm.b}, {"B", lm.b, lm.a}} {
		if len(side.m) == 0 {
			for _, ls := range side.o {
				p.errorf("lora-pair", []string{ls.ref.Name}, "%s: %s has no lora_%s: every lora_A needs its lora_B", file(ls), ls.ref.Name, side.ab)
				return
			}
		}
		for tp := 0; tp < lm.tp; tp++ {
			if _, ok := side.m[tp]; !ok {
				p.errorf("lora-missing", []string{lm.name}, "%s.lora_%s: TP rank %d holds no slice of it", lm.name, side.ab, tp)
				return
			}
		}
	}
	a0, b0 := lm.a[0].ref, lm.b[0].ref
	if len(a0.Shape) != 2 || len(b0.Shape) != 2 {
		p.errorf("lora-shape", []string{a0.Name}, "%s: %s / lora_B are not matrices", file(lm.a[0]), a0.Name)
		return
	}
	rank := int(a0.Shape[0])
	want := la.R
	if lm.grouped && p.TopK > 0 {
		want = la.R / p.TopK
	}
	if rank != want || b0.Shape[1] != a0.Shape[0] {
		what := fmt.Sprintf("r = %d", la.R)
		if lm.grouped {
			what = fmt.Sprintf("r / moe_router_topk = %d / %d = %d (grouped-GEMM experts)", la.R, p.TopK, want)
		}
		p.errorf("lora-rank", []string{a0.Name}, "%s: %s has shape %s and lora_B %s, but adapter_config.json says %s", file(lm.a[0]), a0.Name, shapeStr(a0.Shape), shapeStr(b0.Shape), what)
		return
	}
	lm.rank = rank
	var dt loader.DType = a0.DType
	for _, side := range []struct {
		ab    string
		m     map[int]loraSrc
		split SplitKind
	}{{"A", lm.a, lm.aSplit()}, {"B", lm.b, lm.bSplit()}} {
		first := side.m[0].ref
		for tp := 0; tp < lm.tp; tp++ {
			ref := side.m[tp].ref
			if ref.DType != dt || len(ref.Shape) != 2 {
				p.errorf("lora-shape", []string{ref.Name}, "%s: %s has dtype %s, unlike the module's other LoRA tensors (%s)", file(side.m[tp]), ref.Name, ref.DType, dt)
				return
			}
			if side.split == SplitDuplicated || tp == 0 {
				if !equalShape(ref.Shape, first.Shape) {
					p.errorf("lora-shape", []string{ref.Name}, "%s: %s has shape %s on TP rank %d but %s on rank 0", file(side.m[tp]), ref.Name, shapeStr(ref.Shape), tp, shapeStr(first.Shape))
					return
				}
			}
			if side.split == SplitRow && ref.Shape[0] != first.Shape[0] || side.split != SplitRow && side.split != SplitDuplicated && ref.Shape[1] != first.Shape[1] {
				p.errorf("lora-shape", []string{ref.Name}, "%s: %s has shape %s, inconsistent with rank 0's %s", file(side.m[tp]), ref.Name, shapeStr(ref.Shape), shapeStr(first.Shape))
				return
			}
		}
	}
	odt, err := s.OutDType(dt)
	if err != nil {
		p.errorf("dtype", nil, "%v", err)
		return
	}
	la.dtype = odt
	// global shapes
	in := int64(0)
	for tp := 0; tp < lm.tp; tp++ {
		if lm.aSplit() == SplitRow {
			in += lm.a[tp].ref.Shape[1]
		}
	}
	if lm.aSplit() != SplitRow {
		in = a0.Shape[1]
	}
	outRows := int64(0)
	for tp := 0; tp < lm.tp; tp++ {
		outRows += lm.b[tp].ref.Shape[0]
	}
	if lm.bSplit() == SplitDuplicated {
		outRows = b0.Shape[0]
	}
	srcs := func(m map[int]loraSrc, all bool) []string {
		var out []string
		for tp := 0; tp < lm.tp; tp++ {
			out = append(out, filepathJoin(la.src.Checkpoint.Dir, m[tp].rank.Path)+": "+m[tp].ref.Name)
			if !all {
				break
			}
		}
		return out
	}
	n := int64(len(lm.hf))
	var rowsB []int64
	opB := LoRAOpCopy
	switch {
	case lm.rule.Op == family.OpQKV:
		d := p.dims
		if d.Groups < 1 || d.Heads%d.Groups != 0 || outRows != int64(d.Groups*d.KVChannels*(d.Heads/d.Groups+2)) {
			p.errorf("lora-shape", []string{b0.Name}, "%s.lora_B has %d rows, not num_query_groups·kv_channels·(heads/groups + 2) = %d·%d·(%d/%d + 2)", lm.name, outRows, d.Groups, d.KVChannels, d.Heads, max(d.Groups, 1))
			return
		}
		q := int64(d.Heads * d.KVChannels)
		kv := int64(d.Groups * d.KVChannels)
		rowsB = []int64{q, kv, kv}
		opB = LoRAOpSplit
	case len(lm.hf) > 1:
		if outRows%n != 0 {
			p.errorf("lora-shape", []string{b0.Name}, "%s.lora_B has %d rows, which do not split into %d projections", lm.name, outRows, n)
			return
		}
		for range lm.hf {
			rowsB = append(rowsB, outRows/n)
		}
		opB = LoRAOpSplit
		if lm.bSplit() == SplitSwiGLU {
			opB = LoRAOpDeinterlve
			for tp := 0; tp < lm.tp; tp++ {
				if lm.b[tp].ref.Shape[0]%n != 0 {
					p.errorf("lora-shape", []string{lm.b[tp].ref.Name}, "%s.lora_B slice of TP rank %d has %d rows, which do not split into %s", lm.name, tp, lm.b[tp].ref.Shape[0], strings.Join(lm.hf, ", "))
					return
				}
			}
		}
	default:
		rowsB = []int64{outRows}
		if lm.bSplit() != SplitDuplicated && lm.tp > 1 {
			opB = LoRAOpMerge
		}
	}
	opA := LoRAOpCopy
	if lm.aSplit() == SplitRow && lm.tp > 1 {
		opA = LoRAOpMerge
	}
	esz := int64(odt.Size())
	for i, h := range lm.hf {
		lm.outA = append(lm.outA, len(la.Tensors))
		la.Tensors = append(la.Tensors, LoRATensor{Name: "base_model.model." + h + ".lora_A.weight", Shape: []int64{int64(rank), in}, DType: odt, Op: opA, Sources: srcs(lm.a, lm.aSplit() == SplitRow)})
		lm.outB = append(lm.outB, len(la.Tensors))
		la.Tensors = append(la.Tensors, LoRATensor{Name: "base_model.model." + h + ".lora_B.weight", Shape: []int64{rowsB[i], int64(rank)}, DType: odt, Op: opB, Sources: srcs(lm.b, lm.bSplit() != SplitDuplicated)})
		la.Bytes += (int64(rank)*in + rowsB[i]*int64(rank)) * esz
	}
}

// modulePattern names a module generically: layer and expert numbers as {}.
func (p *LoRAPlan) modulePattern(lm *loraModule, h string) string {
	t := p.t
	if lm.layer < 0 {
		return h
	}
	prefix := fmt.Sprintf("%s%d", t.LayerPrefix, lm.layer)
	pat := t.LayerPrefix + "{}"
	if lm.expert >= 0 {
		prefix += fmt.Sprintf("%s%d", t.MoEPrefix, lm.expert)
		pat += t.MoEPrefix + "{}"
	}
	return pat + strings.TrimPrefix(h, prefix)
}

// finishConfig derives target_modules, rank_pattern and alpha_pattern and renders
// adapter_config.json.
func (p *LoRAPlan) finishConfig(la *LoRAAdapter) error {
	f := func(k float64) float64 {
		if la.RSLoRA {
			return math.Sqrt(k)
		}
		return k
	}
	trained := la.Alpha / f(float64(la.R))
	targets := map[string]bool{}
	type agg struct {
		rank    int
		grouped bool
		count   int
		rel     string // module relative to its expert prefix
	}
	ranks := map[string]*agg{}
	var patOrder []string
	for _, lm := range la.modules {
		for _, h := range lm.hf {
			short := h[strings.LastIndexByte(h, '.')+1:]
			targets[short] = true
			pat := p.modulePattern(lm, h)
			g := ranks[pat]
			if g == nil {
				g = &agg{rank: lm.rank, grouped: lm.grouped}
				if lm.expert >= 0 {
					g.rel = pat[strings.LastIndex(pat, "{}")+2:]
				}
				ranks[pat] = g
				patOrder = append(patOrder, pat)
			}
			if g.rank != lm.rank {
				return fmt.Errorf("modules %s have ranks %d and %d", pat, g.rank, lm.rank)
			}
			g.count++
		}
	}
	for _, pat := range patOrder {
		g := ranks[pat]
		la.ModuleRanks = append(la.ModuleRanks, LoRAModuleRank{Module: pat, Rank: g.rank, Scale: trained, Count: g.count, Grouped: g.grouped})
	}
	for k := range targets {
		la.Targets = append(la.Targets, k)
	}
	sort.Strings(la.Targets)
	moe := strings.TrimPrefix(p.t.MoEPrefix, ".")
	if p.Options.Scale == LoRAScaleROLL {
		// ROLL: every MoE model gets rank r/topk on these names, whatever their real rank.
		if p.dims.Experts > 0 && p.TopK > 0 {
			for _, k := range []string{"down_proj", "up_proj", "gate_proj", "w1", "w2", "w3", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"} {
				la.RankPattern[k] = la.R / p.TopK
			}
			var wrong []string
			for _, pat := range patOrder {
				g := ranks[pat]
				for k, v := range la.RankPattern {
					if (pat == k || strings.HasSuffix(pat, "."+k)) && g.rank != v {
						wrong = append(wrong, fmt.Sprintf("%s (rank %d)", pat, g.rank))
					}
				}
			}
			if len(wrong) > 0 {
				sort.Strings(wrong)
				return fmt.Errorf("--lora-scale roll writes ROLL's rank_pattern (rank %d for every gate/up/down projection), but %s have rank %d: PEFT could not load that config; use the default --lora-scale keep", la.R/p.TopK, listNames(wrong, 3), la.R)
			}
			la.Notes = append(la.Notes, fmt.Sprintf("--lora-scale roll: ROLL's config; PEFT scales the rank-%d expert modules by alpha/%d, %dx the trained alpha/%d", la.R/p.TopK, la.R/p.TopK, p.TopK, la.R))
		}
	} else {
		for _, pat := range patOrder {
			g := ranks[pat]
			if g.rank == la.R {
				continue
			}
			key := pat
			if g.rel != "" && moe != "" {
				key = regexpQuote(moe) + `\d+` + regexpQuote(g.rel)
			}
			la.RankPattern[key] = g.rank
			la.AlphaPattern[key] = la.Alpha * f(float64(g.rank)) / f(float64(la.R))
		}
		if len(la.RankPattern) > 0 {
			la.Notes = append(la.Notes, fmt.Sprintf("grouped-GEMM experts were trained at rank r/topk with scale alpha/r = %s; alpha_pattern keeps that scale (ROLL's config would make it %dx larger; --lora-scale roll writes ROLL's)", fmtFloat(trained), p.TopK))
		}
	}
	la.config = renderPEFTConfig(la)
	return nil
}

func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

func fmtFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func jsonQuote(s string) string {
	q, _ := jsonString(s)
	return q
}

// renderPEFTConfig writes adapter_config.json with keys in PEFT's (sorted) order.
func renderPEFTConfig(la *LoRAAdapter) []byte {
	var b strings.Builder
	kv := []string{}
	add := func(k, v string) { kv = append(kv, "  "+jsonQuote(k)+": "+v) }
	strMap := func(keys []string, val func(string) string) string {
		if len(keys) == 0 {
			return "{}"
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, "    "+jsonQuote(k)+": "+val(k))
		}
		return "{\n" + strings.Join(parts, ",\n") + "\n  }"
	}
	var ak, rk []string
	for k := range la.AlphaPattern {
		ak = append(ak, k)
	}
	for k := range la.RankPattern {
		rk = append(rk, k)
	}
	add("alpha_pattern", strMap(ak, func(k string) string { return fmtFloat(la.AlphaPattern[k]) }))
	add("auto_mapping", "null")
	if la.BaseModel == "" {
		add("base_model_name_or_path", "null")
	} else {
		add("base_model_name_or_path", jsonQuote(la.BaseModel))
	}
	add("bias", `"none"`)
	add("fan_in_fan_out", "false")
	add("inference_mode", "true")
	add("init_lora_weights", "true")
	add("layers_pattern", "null")
	add("layers_to_transform", "null")
	add("lora_alpha", fmtFloat(la.Alpha))
	add("lora_dropout", fmtFloat(la.Dropout))
	add("modules_to_save", "null")
	add("peft_type", `"LORA"`)
	add("r", strconv.Itoa(la.R))
	add("rank_pattern", strMap(rk, func(k string) string { return strconv.Itoa(la.RankPattern[k]) }))
	add("revision", "null")
	var tq []string
	for _, t := range la.Targets {
		tq = append(tq, jsonQuote(t))
	}
	add("target_modules", "["+strings.Join(tq, ", ")+"]")
	if la.TaskType == "" {
		add("task_type", "null")
	} else {
		add("task_type", jsonQuote(la.TaskType))
	}
	add("use_dora", "false")
	add("use_rslora", strconv.FormatBool(la.RSLoRA))
	b.WriteString("{\n")
	b.WriteString(strings.Join(kv, ",\n"))
	b.WriteString("\n}\n")
	return []byte(b.String())
}

// Config returns the adapter_config.json the export writes.
func (la *LoRAAdapter) Config() []byte { return la.config }
