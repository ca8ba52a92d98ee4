package core

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// PlanInput is everything a plan is a function of.
type PlanInput struct {
	Config      *loader.JSONNode    // config.json as an ordered tree
	ConfigBytes []byte              // config.json as on disk (becomes hf_config_json)
	Tensors     []loader.TensorInfo // tensor headers, in checkpoint order
	NameOrPath  string              // recorded as name_or_path
	// CarryOptional: a family part the config disables (Template.Optional) but the tensors
	// hold is carried with a warning instead of being an error. The reverse conversion and
	// reshards set it: they convert what the files hold (ROLL writes such parts anyway).
	// The part's opt-out, when given, still leaves it out.
	CarryOptional bool
}

// BuildPlan plans the conversion of an opened checkpoint.
func BuildPlan(ck *loader.Checkpoint, s Settings) (*Plan, error) {
	return Build(PlanInput{Config: ck.Config, ConfigBytes: ck.ConfigBytes, Tensors: ck.Tensors, NameOrPath: ck.Dir}, s)
}

// Build computes the plan. It returns an error only when the input cannot be planned at all
// (no config, unsupported model_type); every rule the plan breaks is a Plan issue.
func Build(in PlanInput, s Settings) (*Plan, error) {
	if in.Config == nil {
		return nil, errors.New("no config.json: a Hugging Face checkpoint needs config.json next to its weights")
	}
	t, mt, matched, err := TemplateFor(in.Config, "config.json")
	if err != nil {
		return nil, err
	}
	b := &builder{t: t, in: in}
	b.p = &Plan{ModelType: mt, Template: t.ModelType, MatchedBy: matched, Settings: s.Normalized(), Tensors: in.Tensors}
	b.run()
	return b.p, nil
}

// TemplateFor finds the template of a config (file names it in errors): by model_type, else
// by one of its architectures (matched says how, e.g. "architecture DeepseekV3ForCausalLM
// (model_type kimi_k2)"; "" for a model_type match).
func TemplateFor(cfg *loader.JSONNode, file string) (t *Template, modelType, matched string, err error) {
	mtNode, ok := cfg.Get("model_type")
	if !ok {
		return nil, "", "", fmt.Errorf("%s has no \"model_type\": add it (omnitui has templates for: %s) or point omnitui at the checkpoint's own config.json", file, strings.Join(ModelTypes(), ", "))
	}
	mt, err := mtNode.Str()
	if err != nil {
		return nil, "", "", fmt.Errorf("%s \"model_type\": %w; it must name the model family (omnitui has templates for: %s)", file, err, strings.Join(ModelTypes(), ", "))
	}
	t, err = LookupTemplate(mt)
	if err == nil {
		return t, mt, "", nil
	}
	var archs []string
	if n, ok := cfg.Get("architectures"); ok && n.Kind == loader.JSONArray {
		for _, c := range n.Children {
			if a, e := c.Str(); e == nil {
				archs = append(archs, a)
			}
		}
	}
	if at, arch, ok := family.LookupArchitecture(archs); ok {
		return at, mt, fmt.Sprintf("architecture %s (model_type %s)", arch, mt), nil
	}
	return nil, mt, "", fmt.Errorf("%s: %w", file, err)
}

// TemplateLine says which template a plan uses and how it was matched, e.g.
// "deepseek_v3 template, matched by architecture DeepseekV3ForCausalLM (model_type kimi_k2)".
func (p *Plan) TemplateLine() string {
	t := p.Template
	if t == "" {
		t = p.ModelType
	}
	if p.MatchedBy == "" {
		return t + " template"
	}
	return t + " template, matched by " + p.MatchedBy
}

// HasErrors reports whether the plan has an error-severity issue.
func (p *Plan) HasErrors() bool {
	return hasErrors(p.Issues)
}

// Errors returns the error-severity issues.
func (p *Plan) Errors() []Issue {
	return errorsOf(p.Issues)
}

// TotalBytes is the sum of all rank files' tensor bytes.
func (p *Plan) TotalBytes() int64 {
	var n int64
	for _, r := range p.Ranks {
		n += r.Bytes
	}
	return n
}

// TotalEntries is the number of tensors written over all rank files.
func (p *Plan) TotalEntries() int {
	n := 0
	for _, r := range p.Ranks {
		n += r.Tensors
	}
	return n
}

// Placed reports whether the plan got as far as placing tensors on ranks.
func (p *Plan) Placed() bool { return len(p.Ranks) > 0 }

type builder struct {
	t  *Template
	in PlanInput
	p  *Plan

	layout *Layout
	// hfLayout is the HF naming of the input (index into the template's Layouts) and
	// names[i] tensor i's name in the rules' naming.
	hfLayout int
	names    []string
	// rule index of the op feeding each group, kept for placement
	groupRule []int
	groupPure []string // name relative to its layer/expert prefix (non-layer: whole name)
	groupLE   []int    // local expert index (set at placement)
	fp8       fp8
}

func (b *builder) errorf(code, optOut string, tensors []string, format string, a ...any) {
	b.p.Issues = append(b.p.Issues, Issue{Severity: SevError, Code: code, Message: fmt.Sprintf(format, a...), Tensors: tensors, OptOut: optOut})
}

func (b *builder) warnf(code string, tensors []string, format string, a ...any) {
	b.p.Issues = append(b.p.Issues, Issue{Severity: SevWarning, Code: code, Message: fmt.Sprintf(format, a...), Tensors: tensors})
}

func (b *builder) run() {
	defer b.boundIssues()
	p := b.p
	p.Issues = append(p.Issues, p.Settings.validate()...)
	for _, name := range sortedOn(p.Settings.OptOuts) {
		if _, ok := b.t.FindOptOut(name); !ok {
			b.warnf("opt-out-not-applicable", nil, "the %s opt-out does not apply to %s (its template has no such rule): it is ignored", name, b.t.ModelType)
		}
	}
	settingsOK := !p.HasErrors()
	b.detectLayout()
	dimsOK := b.configAndDims()
	b.fp8Prepare()
	b.mcaConfig()
	if !dimsOK {
		return
	}
	if p.Settings.KeepFP8 {
		b.errorf("keep-fp8", "", nil, "--keep-fp8 is refused: Megatron-Core loads FP8 parameters only through Transformer Engine's own FP8 formats (Float8Tensor with scaling state in _extra_state), and no released layout maps block scales (weight_scale_inv) onto them, so kept FP8 bytes would not load. Leave --keep-fp8 out: FP8 weights are dequantized to bf16 (block 128×128)")
	}
	b.groups()
	b.mtpCheck()
	b.completeness()
	if !settingsOK {
		return
	}
	if !b.stages() {
		return
	}
	b.divisibility()
	b.place()
}

// ---- config and dims ----

func (b *builder) hfKey(mca string) string {
	for _, k := range b.t.Config {
		if k.MCA == mca {
			return b.t.ConfigPath(b.in.Config, k.HF)
		}
	}
	return ""
}

// withoutAlternatives drops the missing keys another name of which is present
// (Template.ConfigAlternatives).
func (b *builder) withoutAlternatives(missing []string) []string {
	var out []string
	for _, k := range missing {
		covered := false
		for _, g := range b.t.ConfigAlternatives {
			if !slices.Contains(g, k) {
				continue
			}
			for _, alt := range g {
				if _, ok := b.in.Config.Get(alt); ok && alt != k {
					covered = true
				}
			}
		}
		if !covered {
			out = append(out, k)
		}
	}
	return out
}

func (b *builder) configAndDims() bool {
	p, cfg := b.p, b.in.Config
	var missing []string
	for _, k := range b.t.Config {
		hf := b.t.ConfigPath(cfg, k.HF)
		m := ConfigMapping{HFKey: hf, MCAKey: k.MCA}
		if n, ok := cfg.Get(hf); ok {
			m.Value = string(n.Compact())
		} else {
			m.Missing = true
			missing = append(missing, hf)
		}
		p.Config = append(p.Config, m)
	}
	missing = b.withoutAlternatives(missing)
	if len(missing) > 0 {
		b.warnf("config-key-missing", nil, "config.json lacks %d mapped key(s), left out of mca_config.json as ROLL does (Megatron defaults apply): %s", len(missing), strings.Join(missing, ", "))
	}

	var issues []Issue
	p.Dims, issues = readDims("config.json", func(mca string) (*loader.JSONNode, string, bool) {
		key := b.hfKey(mca)
		if key == "" { // the template maps no HF key to it: Megatron's default applies
			return nil, mca, false
		}
		n, found := cfg.Get(key)
		return n, key, found
	})
	ok := true
	for _, is := range issues {
		if is.Severity == SevError {
			ok = false
		}
	}
	if h := b.t.Hooks.ReadDims; h != nil {
		for _, is := range h(cfg, &p.Dims) {
			issues = append(issues, is)
			if is.Severity == SevError {
				ok = false
			}
		}
	}
	p.Issues = append(p.Issues, issues...)
	return ok
}

// readDims reads the generic model dims. get finds the config node of a Megatron config key
// and names the key as file knows it: the plan reads config.json through the template's
// mapping, the reverse reads mca_config.json directly. Any error issue means the dims are
// unusable.
func readDims(file string, get func(mca string) (n *loader.JSONNode, key string, found bool)) (Dims, []Issue) {
	var issues []Issue
	bad := func(code, format string, a ...any) {
		issues = append(issues, Issue{Severity: SevError, Code: code, Message: fmt.Sprintf(format, a...)})
	}
	ok := true
	getInt := func(mca string, required bool, def int) int {
		n, key, found := get(mca)
		if !found || n.Kind == loader.JSONNull {
			if required {
				bad("config-required", "%s lacks %s, which the conversion needs: add it or use the checkpoint's original %s", file, key, file)
				ok = false
			}
			return def
		}
		v, err := n.Int()
		if err != nil {
			bad("config-type", "%s %s: %v: it must be a whole number", file, key, err)
			ok = false
			return def
		}
		if v < 0 || v > 1<<40 {
			bad("config-range", "%s %s = %d is out of range: fix %s", file, key, v, file)
			ok = false
			return def
		}
		return int(v)
	}
	getBool := func(mca string, def bool) bool {
		n, key, found := get(mca)
		if !found || n.Kind == loader.JSONNull {
			return def
		}
		v, err := n.Bool()
		if err != nil {
			bad("config-type", "%s %s: %v: it must be true or false", file, key, err)
			ok = false
			return def
		}
		return v
	}
	var d Dims
	d.Hidden = getInt("hidden_size", true, 0)
	d.Heads = getInt("num_attention_heads", true, 0)
	d.Layers = getInt("num_layers", true, 0)
	d.Vocab = getInt("padded_vocab_size", true, 0)
	d.Groups = getInt("num_query_groups", false, d.Heads)
	def := 0
	if d.Heads > 0 {
		def = d.Hidden / d.Heads
	}
	d.KVChannels = getInt("kv_channels", false, def)
	d.FFN = getInt("ffn_hidden_size", false, 0)
	d.Experts = getInt("num_moe_experts", false, 0)
	d.MoEFFN = getInt("moe_ffn_hidden_size", false, 0)
	d.Tied = getBool("tie_embeddings_and_output_weights", false)
	d.MTPLayers = getInt("mtp_num_layers", false, 0)
	if !ok {
		return d, issues
	}
	for _, c := range []struct {
		v    int
		name string
	}{{d.Hidden, "hidden_size"}, {d.Heads, "num_attention_heads"}, {d.Layers, "num_layers"}, {d.Vocab, "padded_vocab_size"}, {d.Groups, "num_query_groups"}, {d.KVChannels, "kv_channels"}} {
		if c.v <= 0 {
			_, key, _ := get(c.name)
			bad("config-range", "%s %s must be positive, found %d: fix %s", file, key, c.v, file)
			ok = false
		}
	}
	if ok && d.Heads%d.Groups != 0 {
		bad("config-range", "num_attention_heads %d is not a multiple of num_key_value_heads %d: the config is inconsistent", d.Heads, d.Groups)
	}
	return d, issues
}

// DimsFromMCAConfig reads the model dims recorded in mca_config.json.
func DimsFromMCAConfig(cfg *loader.JSONNode) (Dims, error) {
	d, issues := readDims("mca_config.json", func(mca string) (*loader.JSONNode, string, bool) {
		n, found := cfg.Get(mca)
		return n, mca, found
	})
	for _, is := range issues {
		if is.Severity == SevError {
			return d, fmt.Errorf("%s: the checkpoint cannot be mapped back", is.Message)
		}
	}
	return d, nil
}

func (b *builder) mcaConfig() {
	p, s := b.p, b.p.Settings
	kv := map[string]string{}
	for _, m := range p.Config {
		if !m.Missing {
			kv[m.MCAKey] = m.Value
		}
	}
	for _, c := range b.t.Constants {
		kv[c.Key] = c.Value
	}
	if h := b.t.Hooks.MCAConfig; h != nil {
		p.Issues = append(p.Issues, h(b.in.Config, kv)...)
	}
	if b.mtpDropped() {
		kv["mtp_num_layers"] = "0" // --drop-mtp: no MTP layers in the Megatron model
	}
	js := func(v string) string { q, _ := jsonString(v); return q }
	if b.hfLayout > 0 {
		// not the rules' naming: recorded so that the reverse writes the input's naming
		// back (mcore_adapter ignores keys it does not know)
		kv[HFLayoutKey] = js(p.HFLayout)
	}
	// mcore_adapter picks its model class by hf_model_type: an architecture match records
	// the template's model type (hf_config_json keeps the checkpoint's own).
	kv["hf_model_type"] = js(b.t.ModelType)
	kv["name_or_path"] = js(b.in.NameOrPath)
	kv["hf_config_json"] = js(string(b.hfConfigJSON()))
	kv["tensor_model_parallel_size"] = strconv.Itoa(s.TP)
	kv["pipeline_model_parallel_size"] = strconv.Itoa(s.PP)
	kv["expert_model_parallel_size"] = strconv.Itoa(s.EP)
	kv["expert_tensor_parallel_size"] = strconv.Itoa(s.ETP)
	kv["virtual_pipeline_model_parallel_size"] = "null"
	if s.VPP > 0 {
		kv["virtual_pipeline_model_parallel_size"] = strconv.Itoa(s.VPP)
	}
	kv["pipeline_model_parallel_layout"] = "null"
	if s.Layout != "" {
		// Record the string as typed, as ROLL does, when Megatron's parser (which
		// mcore_adapter re-parses it with) reads it the same way; else the canonical form.
		text := s.Layout
		if l, err := ParseLayout(s.Layout, s.PP); err == nil {
			var canonical bool
			if text, canonical = RecordedLayout(l, s.Layout); canonical {
				b.warnf("layout-canonical", nil, "--layout %q is recorded in mca_config.json as %q: Megatron's parser, which mcore_adapter reads the layout with, does not accept it as typed (it knows no spaces or nested groups); the recorded form means the same stages", s.Layout, text)
			}
			// A layout with k*PP stages (k > 1) implies virtual size k: mcore_adapter's training
			// arguments (like Megatron's) derive it when --vpp is unset, ROLL's converter places
			// layers by it, and a checkpoint is reused only when the recorded size matches.
			if s.VPP == 0 && l.VP > 1 {
				kv["virtual_pipeline_model_parallel_size"] = strconv.Itoa(l.VP)
			}
		}
		kv["pipeline_model_parallel_layout"] = js(text)
	}
	kv["account_for_embedding_in_pipeline_split"] = strconv.FormatBool(s.AccountEmbedding)
	kv["account_for_loss_in_pipeline_split"] = strconv.FormatBool(s.AccountLoss)
	kv["moe_grouped_gemm"] = strconv.FormatBool(s.GroupedGEMM)
	kv["moe_use_legacy_grouped_gemm"] = strconv.FormatBool(s.LegacyGroupedGEMM)
	kv["transformer_impl"] = js(s.TransformerImpl)
	bf16, fp16 := false, false
	switch s.DType {
	case "bf16":
		bf16 = true
	case "fp16":
		fp16 = true
	case "keep":
		switch b.dominantDType() {
		case loader.BF16:
			bf16 = true
		case loader.F16:
			fp16 = true
		}
	}
	kv["bf16"] = strconv.FormatBool(bf16)
	kv["fp16"] = strconv.FormatBool(fp16)
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p.MCAConfig = p.MCAConfig[:0]
	for _, k := range keys {
		p.MCAConfig = append(p.MCAConfig, KV{Key: k, Value: kv[k]})
	}
}

// hfConfigJSON is config.json as recorded in mca_config.json: as on disk, except that a
// block-FP8 checkpoint's quantization_config is left out (the Megatron weights are its
// dequantized bf16, and an export from them must not claim FP8).
func (b *builder) hfConfigJSON() []byte {
	if len(b.fp8.scaleOf) == 0 {
		return b.in.ConfigBytes
	}
	cfg, err := loader.ParseJSONTree(b.in.ConfigBytes)
	if err != nil {
		return b.in.ConfigBytes
	}
	q, ok := cfg.Member("quantization_config")
	if !ok {
		return b.in.ConfigBytes
	}
	cfg.Children = slices.DeleteFunc(cfg.Children, func(c *loader.JSONNode) bool { return c == q })
	return append(cfg.Indent("", "  "), '\n')
}

// dominantDType is the dtype holding the most bytes among float tensors.
func (b *builder) dominantDType() loader.DType {
	by := map[loader.DType]int64{}
	for i := range b.in.Tensors {
		t := &b.in.Tensors[i]
		switch {
		case b.fp8.scales[i]:
			// block scales are dequantization metadata, not weights
		case isF8(t.DType) && b.fp8.scaleOf != nil:
			by[loader.BF16] += 2 * t.NumEl() // dequantized to bf16
		case t.DType.IsFloat():
			by[t.DType] += t.Size
		}
	}
	var best loader.DType
	var n int64 = -1
	for _, d := range loader.AllDTypes() {
		if v, ok := by[d]; ok && v > n {
			best, n = d, v
		}
	}
	return best
}

// sortedOn lists the names that are on, sorted.
func sortedOn(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// HFLayoutKey is the mca_config.json key recording the HF naming a checkpoint was converted
// from when it is not the one the family's rules use.
const HFLayoutKey = "omnitui_hf_layout"

// detectLayout finds the HF naming of the input and the rules' name of every tensor; a
// checkpoint mixing namings is an error.
func (b *builder) detectLayout() {
	t, ts := b.t, b.in.Tensors
	b.names = make([]string, len(ts))
	li, others := t.DetectLayout(len(ts), func(i int) string { return ts[i].Name }, 5)
	b.hfLayout = li
	if len(t.Layouts) > 0 {
		b.p.HFLayout = t.Layouts[li].Name
	}
	for i := range ts {
		b.names[i] = t.ToRules(ts[i].Name, li)
	}
	if len(others) > 0 {
		b.errorf("mixed-layout", "", others, "the checkpoint mixes HF namings: most tensors use the %q naming (%s) but some use another: %s. Use a checkpoint saved in one naming", t.Layouts[li].Name, t.Layouts[li].Help, listNames(others, 5))
	}
}
