package core

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// listNames renders at most n names and a count of the rest.
func listNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

type pending struct {
	rule     int
	prefix   string
	wildcard string
	layer    int
	expert   int
	inputs   []int
	filled   int
	first    int // first tensor index seen (for error ordering)
}

// groups turns tensors into converter-op groups, in the order ROLL emits them
// (a group is emitted when its last input arrives in checkpoint order).
func (b *builder) groups() {
	p, t := b.p, b.t
	p.TensorGroup = make([]int, len(b.in.Tensors))
	open := map[string]*pending{}
	var unmapped []string
	for i := range p.TensorGroup {
		p.TensorGroup[i] = -1 // set before the loop: an FP8 scale after its weight is already placed
	}
	for i := range b.in.Tensors {
		name := b.in.Tensors[i].Name
		prefix, rest, layer, expert := t.SplitPrefix(name)
		if skipped(t, rest) {
			b.noteDropped("not-a-weight", []string{name}, "tensors that are no model weights are left out, as ROLL does: "+strings.Join(t.Skip, ", "))
			continue
		}
		if b.mtpCopy(name, rest, layer) || b.fp8Scale(i) {
			continue
		}
		ri, slot, wc, ok := t.MatchRule(rest)
		if !ok {
			unmapped = append(unmapped, name)
			continue
		}
		key := prefix + "\x00" + fmt.Sprint(ri) + "\x00" + wc
		pg := open[key]
		if pg == nil {
			pg = &pending{rule: ri, prefix: prefix, wildcard: wc, layer: layer, expert: expert, inputs: make([]int, len(t.Rules[ri].HF)), first: i}
			for k := range pg.inputs {
				pg.inputs[k] = -1
			}
			open[key] = pg
		}
		pg.inputs[slot] = i
		pg.filled++
		if pg.filled == len(pg.inputs) {
			delete(open, key)
			b.finishGroup(pg)
		}
	}
	if len(unmapped) > 0 {
		b.foreignLayout(unmapped)
		for _, h := range t.UnmappedHints {
			for _, n := range unmapped {
				if strings.Contains(n, h.Contains) {
					b.errorf("unmapped-layout", "", nil, "%s", h.Hint)
					break
				}
			}
		}
		if p.Settings.SkipUnmapped {
			b.warnf("unmapped", unmapped, "%d tensor(s) match no %s rule and are left out (--skip-unmapped): %s", len(unmapped), t.ModelType, listNames(unmapped, 5))
		} else {
			b.errorf("unmapped", "--skip-unmapped", unmapped, "%d tensor(s) match no %s rule, so ROLL's converter would stop on them: %s. If they are not model weights (e.g. quantization scales from another tool), pass --skip-unmapped to leave them out; otherwise use an unmodified Hugging Face checkpoint", len(unmapped), t.ModelType, listNames(unmapped, 5))
		}
	}
	if len(open) > 0 {
		var incomplete []*pending
		for _, pg := range open {
			incomplete = append(incomplete, pg)
		}
		sort.Slice(incomplete, func(i, j int) bool { return incomplete[i].first < incomplete[j].first })
		var have, lack []string
		for _, pg := range incomplete {
			r := t.Rules[pg.rule]
			for k, ti := range pg.inputs {
				if ti >= 0 {
					have = append(have, b.in.Tensors[ti].Name)
				} else {
					lack = append(lack, pg.prefix+strings.ReplaceAll(r.HF[k], "{}", pg.wildcard))
				}
			}
		}
		b.errorf("incomplete-group", "", have, "%d op group(s) are incomplete (ROLL drops them with only a warning, leaving a checkpoint Megatron cannot load): missing %s. Re-download the checkpoint or restore the missing tensors", len(incomplete), listNames(lack, 5))
	}
}

// foreignLayout tries the other registered families' rules on the names this family
// cannot map: when another family covers most of them, config.json and the weights come
// from different families, which no opt-out can make right.
func (b *builder) foreignLayout(unmapped []string) {
	best, bestN := "", 0
	var bestNames []string
	for _, o := range family.Templates() {
		if o.ModelType == b.t.ModelType {
			continue
		}
		var hit []string
		for _, n := range unmapped {
			_, rest, _, _ := o.SplitPrefix(n)
			if skipped(o, rest) {
				continue
			}
			if rest != "" {
				if _, _, _, ok := o.MatchRule(rest); ok {
					hit = append(hit, n)
				}
			}
		}
		if len(hit) > bestN {
			best, bestN, bestNames = o.ModelType, len(hit), hit
		}
	}
	if bestN == 0 || 2*bestN < len(unmapped) {
		return
	}
	b.errorf("foreign-layout", "", bestNames, "config.json names model_type %q, but %d tensor(s) match no %s rule and follow the %s naming instead: %s. The config and the weights come from different model families: use the config.json that came with these weights, or weights of a %s checkpoint",
		b.t.ModelType, bestN, b.t.ModelType, best, listNames(bestNames, 5), b.t.ModelType)
}

// skipped reports whether an HF name, relative to its layer/expert prefix (whole outside
// layers), is one of the template's non-weights (ROLL's hf_invalid_keys, matched exactly as
// ROLL does, so ".embed_tokens.weight" skips a layer's copy but not model.embed_tokens.weight).
func skipped(t *Template, rest string) bool {
	for _, k := range t.Skip {
		if rest == k {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (b *builder) finishGroup(pg *pending) {
	p, t, d := b.p, b.t, b.p.Dims
	r := t.Rules[pg.rule]
	ins := make([]*loader.TensorInfo, len(pg.inputs))
	names := make([]string, len(pg.inputs))
	for k, ti := range pg.inputs {
		ins[k] = &b.in.Tensors[ti]
		names[k] = ins[k].Name
	}
	rel := strings.ReplaceAll(r.MCA, "{}", pg.wildcard)
	g := Group{Op: r.Op, Rule: r.Display(), HFNames: names, Inputs: pg.inputs, Layer: pg.layer, Expert: pg.expert}
	if h := t.Hooks.RenameMCA; h != nil {
		rel = h(rel, pg.layer, pg.expert, d)
	}
	if pg.layer >= 0 {
		g.Name = t.MCAPrefix(pg.layer, pg.expert) + rel
	} else {
		g.Name = rel
	}
	if pg.layer >= d.Layers && t.MTP != nil {
		ok, drop := b.mtpGroup(&g, rel, names)
		if !ok {
			return
		}
		if drop {
			b.noteDropped("mtp-dropped", names, "the multi-token-prediction (MTP) layers are left out and mtp_num_layers is 0 (--drop-mtp)")
			return
		}
	}
	if !b.fp8Group(&g, ins) {
		return
	}
	src := ins[0].DType
	for _, in := range ins[1:] {
		if in.DType != src {
			b.errorf("mixed-dtype", "", names, "%s mixes dtypes (%s and %s) in one op: all inputs of an op must share a dtype; fix the checkpoint", g.Name, src, in.DType)
			return
		}
	}
	if g.Scales != nil {
		src = loader.BF16 // dequantized before the op
	}
	out, err := p.Settings.OutDType(src)
	if err != nil {
		b.noteError("cast", "", names, err.Error()) // one issue per reason, however many tensors
		return
	}
	g.DType = out
	if out == loader.F8E4M3 || out == loader.F8E5M2 {
		b.noteError("f8-output", "", names, fmt.Sprintf("%s tensors cannot be written: PyTorch 1.13 cannot load %s from a .pt file; convert a bf16 release of the model", out, out))
		return
	}

	op, err := LookupOp(r.Op)
	if err != nil {
		b.errorf("shape", "", names, "%s: %v", g.Name, err)
		return
	}
	shape, err := op.Shape(ins, d)
	if err != nil {
		b.errorf("shape", "", names, "%s: %v", g.Name, err)
		return
	}
	g.Shape = shape
	if rule, ok := b.t.Shapes[rel]; ok {
		if want := rule.Shape(d); !equalShape(shape, want) {
			b.noteError("config-mismatch", "", names, fmt.Sprintf("%s tensors have shape %s, but config.json implies %s (%s): the config does not match the weights; use the checkpoint's own config.json",
				rel, shapeStr(shape), shapeStr(want), rule.From))
			return
		}
	}

	if pg.layer >= d.Layers && g.MTP == "" {
		b.errorf("layer-range", "", names, "%s belongs to layer %d but the config has %d layers (num_hidden_layers): the config does not match the weights", names[0], pg.layer, d.Layers)
		return
	}
	if pg.expert >= 0 && pg.expert >= d.Experts {
		b.errorf("expert-range", "", names, "%s belongs to expert %d but the config has %d experts: the config does not match the weights", names[0], pg.expert, d.Experts)
		return
	}
	// parts of the model the config leaves out
	for _, opt := range t.Optional {
		if opt.Present == nil || opt.Present(d) || !hasAnyPrefix(g.Name, opt.Prefixes) {
			continue
		}
		if p.Settings.OptOut(opt.OptOut) {
			b.noteDropped(opt.DropCode, names, opt.DropMsg)
			return
		}
		flag := ""
		if o, ok := t.FindOptOut(opt.OptOut); ok {
			flag = "--" + o.Flag
		}
		b.noteError(opt.ErrorCode, flag, names, opt.ErrorMsg)
		return
	}
	if d.Tied && g.Name == MCAOutputLayer {
		b.noteDropped("tied-lm-head", names, "tie_word_embeddings is true but the checkpoint also has "+names[0]+": the embedding is used for the output layer and the lm_head tensor is left out (ROLL's choice here depends on hash order)")
		return
	}
	gi := len(p.Groups)
	p.Groups = append(p.Groups, g)
	pure := rel
	if pg.layer < 0 {
		pure = g.Name
	}
	b.groupRule = append(b.groupRule, pg.rule)
	b.groupPure = append(b.groupPure, pure)
	for _, ti := range pg.inputs {
		p.TensorGroup[ti] = gi
	}
	for _, si := range g.Scales {
		p.TensorGroup[si] = gi
	}
}

// noteDropped and noteError aggregate per-code issues so that thousands of tensors make one issue.
func (b *builder) noteDropped(code string, names []string, msg string) {
	b.note(SevWarning, code, "", names, msg)
}

func (b *builder) noteError(code, optOut string, names []string, msg string) {
	b.note(SevError, code, optOut, names, msg)
}

func (b *builder) note(sev Severity, code, optOut string, names []string, msg string) {
	for i := range b.p.Issues {
		is := &b.p.Issues[i]
		if is.Code == code && is.Message == msg {
			is.Tensors = append(is.Tensors, names...)
			return
		}
	}
	b.p.Issues = append(b.p.Issues, Issue{Severity: sev, Code: code, Message: msg, Tensors: append([]string(nil), names...), OptOut: optOut})
}

func shapeStr(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// completeness checks that every tensor the Megatron model needs has an HF source.
func (b *builder) completeness() {
	p, t, d := b.p, b.t, b.p.Dims
	have := make(map[string]bool, len(b.in.Tensors))
	for i := range b.in.Tensors {
		have[b.in.Tensors[i].Name] = true
	}
	var lack []string
	need := func(n string) {
		if !have[n] {
			lack = append(lack, n)
		}
	}
	req := t.Required
	for _, n := range req.Global {
		need(n)
	}
	if !d.Tied && req.LMHead != "" {
		need(req.LMHead)
	}
	bias := false
	if key := b.hfKey("add_qkv_bias"); key != "" {
		if n, ok := b.in.Config.Get(key); ok {
			bias, _ = n.Bool()
		}
	} else {
		for _, c := range t.Constants { // families whose attention always has QKV biases
			if c.Key == "add_qkv_bias" {
				bias = c.Value == "true"
			}
		}
	}
	// A config claiming far more layers or experts than the weights hold (hand-edited,
	// or hostile) must not make this loop, or the list, as large as the claim.
	const maxLack = 1000
	for l := 0; l < d.Layers && len(lack) < maxLack; l++ {
		pre := fmt.Sprintf("%s%d", t.LayerPrefix, l)
		for _, s := range req.Layer {
			need(pre + s)
		}
		if bias {
			for _, s := range req.Bias {
				need(pre + s)
			}
		}
		if d.Experts > 0 && t.Hooks.MoELayer != nil && !t.Hooks.MoELayer(l, d) {
			for _, s := range req.Dense {
				need(pre + s)
			}
		} else if d.Experts > 0 {
			for _, s := range req.MoE {
				need(pre + s)
			}
			for e := 0; e < d.Experts && len(lack) < maxLack; e++ {
				for _, s := range req.Expert {
					need(fmt.Sprintf("%s%s%d%s", pre, t.MoEPrefix, e, s))
				}
			}
		}
	}
	if len(lack) > 0 {
		count := strconv.Itoa(len(lack))
		if len(lack) >= maxLack {
			count = "at least " + count
		}
		p.Issues = append(p.Issues, Issue{Severity: SevError, Code: "missing-tensor", Tensors: lack,
			Message: fmt.Sprintf("the checkpoint lacks %s tensor(s) the Megatron model needs (its loader rejects missing keys): %s. Re-download the checkpoint, or check that config.json matches the weights", count, listNames(lack, 5))})
	}
}
