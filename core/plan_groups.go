package core

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/omnitui/omnitui/core/family"
	"github.com/omnitui/omnitui/loader"
)

// jsonString is json.Marshal(s), byte for byte (HTML-safe escapes, \ufffd for
// invalid UTF-8, \u2028/\u2029), built in one allocation of the exact size:
// hf_config_json embeds all of config.json, and json.Marshal's growing buffer
// and copies cost several times a big config's size.
func jsonString(s string) (string, error) {
	var b strings.Builder
	b.Grow(jsonStringLen(s))
	walkJSONString(s, func(lit string, esc string) {
		b.WriteString(lit)
		b.WriteString(esc)
	})
	return b.String(), nil
}

func jsonStringLen(s string) int {
	n := 0
	walkJSONString(s, func(lit, esc string) { n += len(lit) + len(esc) })
	return n
}

// jsonEscape is json.Marshal's escape of an ASCII byte, "" when it has none.
func jsonEscape(c byte) string {
	switch c {
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '<':
		return `\u003c`
	case '>':
		return `\u003e`
	case '&':
		return `\u0026`
	}
	if c < 0x20 {
		const c0 = `\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f`
		return c0[6*int(c) : 6*int(c)+6]
	}
	return ""
}

// walkJSONString calls emit with runs of literal text and the escape that follows each.
func walkJSONString(s string, emit func(lit, esc string)) {
	emit("", `"`)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if esc := jsonEscape(c); esc != "" {
				emit(s[start:i], esc)
				start = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			emit(s[start:i], `\ufffd`)
		case r == '\u2028':
			emit(s[start:i], `\u2028`)
		case r == '\u2029':
			emit(s[start:i], `\u2029`)
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	emit(s[start:], `"`)
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
		name := b.names[i] // in the rules' naming
		prefix, rest, layer, expert := t.SplitPrefix(name)
		if skipped(t, name) {
			b.noteDropped("not-a-weight", []string{b.in.Tensors[i].Name}, "tensors that are no model weights are left out, as ROLL does: "+strings.Join(t.Skip, ", "))
			continue
		}
		if b.mtpCopy(name, rest, layer) || b.fp8Scale(i) {
			continue
		}
		ri, slot, wc, ok := t.MatchRule(rest)
		if !ok {
			unmapped = append(unmapped, b.in.Tensors[i].Name)
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
					lack = append(lack, t.FromRules(pg.prefix+strings.ReplaceAll(r.HF[k], "{}", pg.wildcard), b.hfLayout))
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
func skipped(t *Template, name string) bool {
	for _, k := range t.Skip {
		if strings.HasSuffix(name, k) {
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
	ruleRel := strings.ReplaceAll(r.MCA, "{}", pg.wildcard)
	g := Group{Op: r.Op, Rule: r.Display(), HFNames: names, Inputs: pg.inputs, Layer: pg.layer, Expert: pg.expert}
	// nameOf is the Megatron name of the group (of piece e of a fan-out, e >= 0) and its
	// name relative to its layer/expert prefix.
	nameOf := func(expert int) (name, rel string) {
		rel = ruleRel
		if h := t.Hooks.RenameMCA; h != nil {
			rel = h(rel, pg.layer, expert, d)
		}
		if pg.layer >= 0 {
			return t.MCAPrefix(pg.layer, expert) + rel, rel
		}
		return rel, rel
	}
	var rel string
	g.Name, rel = nameOf(pg.expert)
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
	if dr, ok := op.(Dropper); ok && dr.Drops() {
		b.noteDropped("template-drop", names, fmt.Sprintf("tensors matching %s are left out on purpose, as ROLL's %s template drops them (its DropConverOp): the Megatron checkpoint has no such weights and --to-hf cannot bring them back", r.Display(), t.ModelType))
		return
	}
	shape, err := op.Shape(ins, d)
	if err != nil {
		b.errorf("shape", "", names, "%s: %v", g.Name, err)
		return
	}
	g.Shape = shape
	parts := 0 // pieces of a fan-out op (one group each), 0 for one group
	if fo, ok := op.(Fanout); ok {
		if parts, err = fo.Parts(ins, d); err != nil {
			b.errorf("shape", "", names, "%s: %v", g.Name, err)
			return
		}
		if pg.layer < 0 {
			b.errorf("shape", "", names, "%s: a %s rule fans out per expert and must name a tensor inside a decoder layer (this is a bug in the %s template)", g.Name, r.Op, t.ModelType)
			return
		}
		g.Pieces = parts
		g.Expert = 0
		g.Name, rel = nameOf(0)
	}
	if rule, ok := b.t.Shapes[rel]; ok {
		if want := rule.Shape(d); !equalShape(shape, want) {
			b.noteError("config-mismatch", "", names, fmt.Sprintf("%s tensors have shape %s, but config.json implies %s (%s): the config does not match the weights; use the checkpoint's own config.json",
				rel, shapeStr(shape), shapeStr(want), rule.From))
			return
		}
	}

	if pg.layer >= d.Layers && g.MTP == "" {
		b.noteError("layer-range", "", names, fmt.Sprintf("tensors of layers beyond the config's num_hidden_layers = %d: the config does not match the weights; use the checkpoint's own config.json", d.Layers))
		return
	}
	if pg.expert >= 0 && pg.expert >= d.Experts {
		b.noteError("expert-range", "", names, fmt.Sprintf("tensors of experts beyond the config's expert count (%d): the config does not match the weights; use the checkpoint's own config.json", d.Experts))
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
		if b.in.CarryOptional {
			b.noteCarried(opt, names)
			break
		}
		flag := ""
		if o, ok := t.FindOptOut(opt.OptOut); ok {
			flag = "--" + o.Flag
		}
		b.noteError(opt.ErrorCode, flag, names, opt.ErrorMsg)
		return
	}
	// --drop-mtp where the config declares MTP layers, for families whose rules name the
	// MTP tensors (mtp.*; Template.MTP families are handled by mtpGroup above)
	if t.MTP == nil && d.MTPLayers > 0 && b.mtpDropped() && strings.HasPrefix(g.Name, "mtp.") {
		b.noteDropped("mtp-dropped", names, "the multi-token-prediction (MTP) layers are left out and mtp_num_layers is 0 (--drop-mtp)")
		return
	}
	if d.Tied && g.Name == MCAOutputLayer {
		if p.Settings.PP > 1 {
			b.noteDropped("tied-lm-head", names, "tie_word_embeddings is true but the checkpoint also has "+names[0]+": with PP > 1 the last stage's output_layer.weight is the embedding's copy and the lm_head tensor is left out (ROLL's converter writes one of the two there, chosen by hash order)")
			return
		}
		b.warnf("tied-lm-head", names, "tie_word_embeddings is true but the checkpoint also has %s: at PP 1 it is written as output_layer.weight beside the embedding, as ROLL's converter does (deterministically); the tied Megatron model uses the embedding, and converting back restores %s", names[0], names[0])
	}
	gi := len(p.Groups)
	for piece := 0; piece < max(parts, 1); piece++ {
		gg := g
		if parts > 0 {
			// the pieces of a fan-out: one group per expert over the same inputs
			gg.Piece, gg.Expert = piece, piece
			gg.Name, rel = nameOf(piece)
			gg.Shape = append([]int64(nil), g.Shape...)
		}
		p.Groups = append(p.Groups, gg)
		pure := rel
		if pg.layer < 0 {
			pure = gg.Name
		}
		b.groupRule = append(b.groupRule, pg.rule)
		b.groupPure = append(b.groupPure, pure)
	}
	for _, ti := range pg.inputs {
		p.TensorGroup[ti] = gi // a fan-out's first piece
	}
	for _, si := range g.Scales {
		p.TensorGroup[si] = gi
	}
}

// maxIssuesPerCode bounds the issues of one code and severity: beyond it (a
// config that disagrees with every layer, say) they become one issue that keeps
// the first message, says how many more there are and lists every tensor.
const maxIssuesPerCode = 3

// boundIssues merges the issues of any code that has more than maxIssuesPerCode.
func (b *builder) boundIssues() {
	type key struct {
		sev  Severity
		code string
	}
	count := map[key]int{}
	for _, is := range b.p.Issues {
		count[key{is.Severity, is.Code}]++
	}
	out := b.p.Issues[:0:0]
	merged := map[key]int{}
	for _, is := range b.p.Issues {
		k := key{is.Severity, is.Code}
		if count[k] <= maxIssuesPerCode {
			out = append(out, is)
			continue
		}
		if i, ok := merged[k]; ok {
			out[i].Tensors = append(out[i].Tensors, is.Tensors...)
			continue
		}
		is.Message = fmt.Sprintf("%s (and %d more %s issues like it)", is.Message, count[k]-1, is.Code)
		is.Tensors = append([]string(nil), is.Tensors...)
		merged[k] = len(out)
		out = append(out, is)
	}
	b.p.Issues = out
}

// noteCarried warns that a part the config disables is carried because the files hold it.
func (b *builder) noteCarried(opt family.Optional, names []string) {
	code, msg := opt.CarryCode, opt.CarryMsg
	if code == "" {
		code = "optional-part-carried"
	}
	if msg == "" {
		msg = fmt.Sprintf("the config leaves out the part of the model under %s, but the checkpoint holds its weights: they are carried as they are", strings.Join(opt.Prefixes, ", "))
	}
	b.noteDropped(code, names, msg)
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

// missingCause says why tensors are missing, from what the weights hold: a
// config claiming more layers than the weights have, tensors under names no rule
// knows (a naming mismatch), or else files missing from the download.
func (b *builder) missingCause(lack []string) string {
	t, d := b.t, b.p.Dims
	layerOf := func(name string) int {
		rest, ok := strings.CutPrefix(name, t.LayerPrefix)
		if !ok {
			return -1
		}
		if i := strings.IndexByte(rest, '.'); i > 0 {
			if l, err := strconv.Atoi(rest[:i]); err == nil {
				return l
			}
		}
		return -1
	}
	expertOf := func(name string) int {
		if t.MoEPrefix == "" {
			return -1
		}
		i := strings.Index(name, t.MoEPrefix)
		if i < 0 {
			return -1
		}
		rest := name[i+len(t.MoEPrefix):]
		if j := strings.IndexByte(rest, '.'); j > 0 {
			if e, err := strconv.Atoi(rest[:j]); err == nil {
				return e
			}
		}
		return -1
	}
	hi, hiExpert := -1, -1
	for i := range b.in.Tensors {
		hi = max(hi, layerOf(b.in.Tensors[i].Name))
		hiExpert = max(hiExpert, expertOf(b.in.Tensors[i].Name))
	}
	beyond, beyondExperts := hi+1 < d.Layers, hiExpert >= 0 && hiExpert+1 < d.Experts
	for _, n := range lack {
		if layerOf(n) <= hi {
			beyond = false
		}
		if expertOf(n) <= hiExpert {
			beyondExperts = false
		}
	}
	if beyondExperts && !beyond {
		return fmt.Sprintf("config.json says %d experts but the weights hold %d: the config does not match the weights; use the checkpoint's own config.json", d.Experts, hiExpert+1)
	}
	for _, is := range b.p.Issues {
		if is.Code == "unmapped" && is.Severity == SevError && !beyond {
			return "Tensors under names no rule knows are reported too (unmapped): the checkpoint names its weights differently from what omnitui expects for this config (another export tool or version), not a broken download; convert from an unmodified Hugging Face checkpoint"
		}
	}
	if beyond {
		return fmt.Sprintf("config.json says %d layers but the weights hold %d: the config does not match the weights; use the checkpoint's own config.json", d.Layers, hi+1)
	}
	return "A shard may be missing from the download (re-download the checkpoint), or config.json does not match the weights"
}

// completeness checks that every tensor the Megatron model needs has an HF source.
func (b *builder) completeness() {
	p, t, d := b.p, b.t, b.p.Dims
	have := make(map[string]bool, len(b.in.Tensors))
	for i := range b.in.Tensors {
		have[b.names[i]] = true
	}
	var lack []string
	need := func(n string) {
		if !have[n] {
			lack = append(lack, t.FromRules(n, b.hfLayout))
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
			Message: fmt.Sprintf("the checkpoint lacks %s tensor(s) the Megatron model needs (its loader rejects missing keys): %s. %s", count, listNames(lack, 5), b.missingCause(lack))})
	}
}
