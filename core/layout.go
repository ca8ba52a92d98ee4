package core

// Pipeline layout strings: Megatron-Core's --pipeline-model-parallel-layout grammar.
//
// Semantics (from Megatron-Core's PipelineParallelLayerLayout and TransformerConfig, restated):
//   - Symbols: E embedding, t decoder layer, L loss, m MTP layer; '|' separates stages.
//   - Megatron first deletes every ',' and then expands "(group)*N" and "x*N" textually, so commas
//     are purely cosmetic anywhere (even inside a count). Stages are listed in chunk order:
//     stage i of the string is pipeline rank i%pp, virtual rank i/pp, so k·pp stages mean vpp = k.
//     Empty stages are allowed.
//   - validate_layer_layout: the first symbol of the flattened layout (all stages concatenated in
//     chunk order) must be E and the last must be L, each exactly once; decoder layers must all come
//     before the first m; m may only sit in the last virtual stage of a pipeline rank, and all m in
//     one stage. Those positions are bookkeeping only: mcore_adapter builds the embedding on
//     (pp 0, vp 0) and the output layer on (pp-1, vpp-1) whatever stage E and L are written in.
//
// Where omnitui's parser differs from Megatron's (it never gives an accepted string another meaning):
//   - Spaces, tabs and newlines are ignored like commas (Megatron rejects them).
//   - Groups may nest: "((tt|)*2E)*3". Megatron's single regex pass cannot expand nested
//     parentheses and rejects them.
//   - "x*0" and "(...)*0" are errors (Megatron silently expands them to nothing).
//   - "x*2*3" is an error (Megatron's textual passes give it a surprising meaning).
// Layout.String is therefore the form to hand to Megatron: it has no spaces and no nesting.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LayerType is one symbol of a pipeline layout.
type LayerType byte

// Layer types; the value is the layout symbol.
const (
	LayerEmbedding LayerType = 'E'
	LayerDecoder   LayerType = 't'
	LayerLoss      LayerType = 'L'
	LayerMTP       LayerType = 'm'
)

// String is Megatron's name of the layer type.
func (t LayerType) String() string {
	switch t {
	case LayerEmbedding:
		return "embedding"
	case LayerDecoder:
		return "decoder"
	case LayerLoss:
		return "loss"
	case LayerMTP:
		return "mtp"
	}
	return fmt.Sprintf("LayerType(%q)", rune(t))
}

// Limits that keep a hostile layout string from exhausting memory.
const (
	maxLayoutSymbols = 1 << 18 // symbols (including '|') after expansion
	maxLayoutDepth   = 64      // nesting of parentheses
)

// Layout is a parsed pipeline layout.
type Layout struct {
	// Stages[pp][vp] lists the layers of pipeline rank pp, virtual rank vp, in order
	// (Megatron's layout.layout[pp_rank][vpp_rank]).
	Stages [][][]LayerType
	PP     int    // pipeline parallel size the layout was parsed for
	VP     int    // virtual rounds: number of stages / PP (>= 1)
	Source string // the string as given
}

// LayoutError is a layout string that cannot be used, with where and why.
type LayoutError struct {
	Layout string // the string as given
	Pos    int    // byte offset of the offending spot in Layout; -1 when the error is not about one spot
	Msg    string // what is wrong
	Hint   string // what to do about it; may be empty
}

func (e *LayoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline layout %q", e.Layout)
	if e.Pos >= 0 {
		fmt.Fprintf(&b, " at column %d", e.Column())
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Column is the 1-based character column of Pos (0 if the error has no position).
func (e *LayoutError) Column() int {
	if e.Pos < 0 {
		return 0
	}
	p := min(e.Pos, len(e.Layout))
	return utf8.RuneCountInString(e.Layout[:p]) + 1
}

// Caret returns the layout and a second line with '^' under the offending column,
// for display in a terminal; "" when the error has no position.
func (e *LayoutError) Caret() string {
	if e.Pos < 0 {
		return ""
	}
	return e.Layout + "\n" + strings.Repeat(" ", e.Column()-1) + "^"
}

// symbolHelp lists what may appear in a layout.
const symbolHelp = "a layout uses E (embedding), t (decoder layer), L (loss), m (MTP layer), | (between stages), x*N and (...)*N"

// ParseLayout parses a Megatron pipeline layout string for pipeline parallel size pp.
// It checks the grammar and Megatron's structural rules (stage count a multiple of pp, E first,
// L last, MTP placement); counts that depend on the model are checked by Validate.
func ParseLayout(s string, pp int) (*Layout, error) {
	if pp < 1 {
		return nil, &LayoutError{Layout: s, Pos: -1, Msg: fmt.Sprintf("--pp %d is not a pipeline size", pp), Hint: "use --pp 1 or more"}
	}
	p := &layoutParser{src: s}
	nodes, err := p.seq(false)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, p.fail(-1, "the layout is empty", `write at least "EL", e.g. "Et*8|t*8L" for --pp 2`)
	}
	total := 0
	for _, n := range nodes {
		total += n.size
	}
	syms := make([]layoutSym, 0, total)
	for _, n := range nodes {
		syms = n.expand(syms)
	}

	// Split into stages in string (= chunk) order.
	var flat [][]layoutSym
	cur := []layoutSym{}
	for _, y := range syms {
		if y.t == '|' {
			flat = append(flat, cur)
			cur = []layoutSym{}
			continue
		}
		cur = append(cur, y)
	}
	flat = append(flat, cur)

	if len(flat)%pp != 0 {
		return nil, p.fail(-1,
			fmt.Sprintf("a layout needs one '|'-separated stage per pipeline rank per virtual round: got %d stages for --pp %d", len(flat), pp),
			stageCountHint(len(flat), pp))
	}
	if err := p.checkStructure(flat, pp); err != nil {
		return nil, err
	}

	vp := len(flat) / pp
	l := &Layout{PP: pp, VP: vp, Source: s, Stages: make([][][]LayerType, pp)}
	for r := range pp {
		l.Stages[r] = make([][]LayerType, vp)
	}
	for c, st := range flat {
		types := make([]LayerType, len(st))
		for i, y := range st {
			types[i] = LayerType(y.t)
		}
		l.Stages[c%pp][c/pp] = types
	}
	return l, nil
}

// stageCountHint says how to fix a stage count that is not a multiple of pp.
func stageCountHint(stages, pp int) string {
	var opts []string
	lo := stages / pp * pp
	if lo > 0 {
		opts = append(opts, fmt.Sprintf("%d (--vpp %d)", lo, lo/pp))
	}
	opts = append(opts, fmt.Sprintf("%d (--vpp %d)", lo+pp, lo/pp+1))
	var divs []string
	for _, d := range divisors(stages, 8) {
		divs = append(divs, strconv.Itoa(d))
	}
	return fmt.Sprintf("add or remove '|' to get a multiple of %d stages, e.g. %s, or use a --pp that divides %d: %s",
		pp, strings.Join(opts, " or "), stages, strings.Join(divs, ", "))
}

// checkStructure applies Megatron's validate_layer_layout rules that do not depend on the model.
func (p *layoutParser) checkStructure(flat [][]layoutSym, pp int) error {
	var all []layoutSym
	stageOf := []int{}
	for c, st := range flat {
		for _, y := range st {
			all = append(all, y)
			stageOf = append(stageOf, c)
		}
	}
	if len(all) == 0 {
		return p.fail(-1, "the layout has no layers, only stage separators", `put E first and L last, e.g. "Et*8|t*8L"`)
	}
	firstE, firstL := -1, -1
	for i, y := range all {
		switch LayerType(y.t) {
		case LayerEmbedding:
			if firstE >= 0 {
				return p.fail(y.pos, "a second E (embedding): the embedding appears exactly once", "keep only the E at the start of the first stage")
			}
			firstE = i
		case LayerLoss:
			if firstL >= 0 {
				return p.fail(y.pos, "a second L (loss): the loss appears exactly once", "keep only the L at the end of the last stage")
			}
			firstL = i
		}
	}
	if firstE < 0 {
		return p.fail(-1, "the layout has no E (embedding)", "start the first stage with E")
	}
	if firstE != 0 {
		return p.fail(all[0].pos, fmt.Sprintf("the first layer is %c (%s), but Megatron requires the layout to start with E (embedding)", all[0].t, LayerType(all[0].t)), "move E to the front of the first stage")
	}
	if firstL < 0 {
		return p.fail(-1, "the layout has no L (loss)", "end the last stage with L")
	}
	if last := all[len(all)-1]; firstL != len(all)-1 {
		return p.fail(last.pos, fmt.Sprintf("the last layer is %c (%s), but Megatron requires the layout to end with L (loss)", last.t, LayerType(last.t)), "move L to the end of the last stage")
	}
	mtpStage := -1
	for i, y := range all {
		if LayerType(y.t) != LayerMTP {
			continue
		}
		c := stageOf[i]
		if mtpStage < 0 {
			mtpStage = c
			for _, z := range all[i:] {
				if LayerType(z.t) == LayerDecoder {
					return p.fail(z.pos, "a decoder layer t after an MTP layer m: Megatron places all decoder layers before MTP layers", "move the m layers after the last t")
				}
			}
			vp, vpp := c/pp, len(flat)/pp
			if vp != vpp-1 {
				return p.fail(y.pos, fmt.Sprintf("MTP layer m in virtual stage %d of pipeline rank %d: Megatron only allows MTP in the last virtual stage (%d) of a rank", vp, c%pp, vpp-1), "move the m layers to the last virtual round")
			}
		} else if c != mtpStage {
			return p.fail(y.pos, "MTP layers m in more than one stage: Megatron requires all of them in the same stage", "put all m layers into one stage")
		}
	}
	return nil
}

// layoutSym is one expanded symbol and where it was written.
type layoutSym struct {
	t   byte // E t L m or '|'
	pos int  // byte offset in the source
}

// layoutNode is a symbol or a group, repeated count times.
type layoutNode struct {
	sym   byte // E t L m '|'; 0 for a group
	pos   int
	kids  []layoutNode
	count int
	size  int // expanded length, at most maxLayoutSymbols
}

func (n layoutNode) expand(out []layoutSym) []layoutSym {
	for range n.count {
		if n.sym != 0 {
			out = append(out, layoutSym{t: n.sym, pos: n.pos})
			continue
		}
		for _, k := range n.kids {
			out = k.expand(out)
		}
	}
	return out
}

type layoutParser struct {
	src   string
	pos   int
	depth int
}

func (p *layoutParser) fail(pos int, msg, hint string) *LayoutError {
	return &LayoutError{Layout: p.src, Pos: pos, Msg: msg, Hint: hint}
}

// peek returns the next significant byte and its offset, skipping commas and ASCII white space;
// 0 at the end.
func (p *layoutParser) peek() (byte, int) {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; c {
		case ',', ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return c, p.pos
		}
	}
	return 0, p.pos
}

// seq parses items up to the end or, inside a group, up to the closing ')' (not consumed).
func (p *layoutParser) seq(inGroup bool) ([]layoutNode, error) {
	var out []layoutNode
	size := 0
	for {
		c, at := p.peek()
		var n layoutNode
		switch {
		case c == 0:
			return out, nil
		case c == ')':
			if inGroup {
				return out, nil
			}
			return nil, p.fail(at, "')' without a matching '('", "remove it or add the '(' that opens the group")
		case c == 'E' || c == 't' || c == 'L' || c == 'm' || c == '|':
			p.pos++
			n = layoutNode{sym: c, pos: at, count: 1, size: 1}
		case c == '(':
			g, err := p.group(at)
			if err != nil {
				return nil, err
			}
			n = g
		case c == '*':
			return nil, p.fail(at, "'*' with nothing before it to repeat", `write the symbol or group first, e.g. "t*4" or "(tt|)*4"`)
		case c >= '0' && c <= '9':
			return nil, p.fail(at, fmt.Sprintf("unexpected number %q", c), `a count goes after '*', e.g. "t*4"`)
		default:
			r, size := utf8.DecodeRuneInString(p.src[at:])
			if r == utf8.RuneError && size <= 1 {
				return nil, p.fail(at, fmt.Sprintf("invalid byte 0x%02x (not UTF-8 text)", c), symbolHelp)
			}
			return nil, p.fail(at, fmt.Sprintf("invalid character %q", r), symbolHelp)
		}
		if n.sym != 0 {
			cnt, err := p.count(false)
			if err != nil {
				return nil, err
			}
			n.count = cnt
			n.size = cnt
		}
		size += n.size
		if size > maxLayoutSymbols {
			return nil, p.fail(n.pos, fmt.Sprintf("the layout expands to more than %d symbols", maxLayoutSymbols), "use smaller repeat counts")
		}
		out = append(out, n)
	}
}

// group parses "( items ) * N" starting at the '(' at offset open.
func (p *layoutParser) group(open int) (layoutNode, error) {
	p.pos++ // '('
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxLayoutDepth {
		return layoutNode{}, p.fail(open, fmt.Sprintf("parentheses nested more than %d deep", maxLayoutDepth), "flatten the groups")
	}
	kids, err := p.seq(true)
	if err != nil {
		return layoutNode{}, err
	}
	c, at := p.peek()
	if c != ')' {
		return layoutNode{}, p.fail(open, "'(' is never closed", fmt.Sprintf("add ')' and a count, e.g. \"%s)*2\"", strings.TrimSpace(p.src[open:at])))
	}
	if len(kids) == 0 {
		return layoutNode{}, p.fail(open, "empty group '()'", "put layers inside the parentheses or remove them")
	}
	p.pos++ // ')'
	cnt, err := p.count(true)
	if err != nil {
		return layoutNode{}, err
	}
	inner := 0
	for _, k := range kids {
		inner += k.size
	}
	size := int64(inner) * int64(cnt)
	if size > maxLayoutSymbols {
		return layoutNode{}, p.fail(open, fmt.Sprintf("the layout expands to more than %d symbols", maxLayoutSymbols), "use smaller repeat counts")
	}
	return layoutNode{pos: open, kids: kids, count: cnt, size: int(size)}, nil
}

// count parses an optional "*N" (required after a group) and returns N (1 when absent).
func (p *layoutParser) count(required bool) (int, error) {
	c, star := p.peek()
	if c != '*' {
		if required {
			return 0, p.fail(star, "a group '(...)' must be followed by '*N'", `Megatron only expands parentheses with a count, e.g. "(tt|)*4"; drop the parentheses if you meant one copy`)
		}
		return 1, nil
	}
	p.pos++
	n, digits := 0, 0
	for {
		d, at := p.peek()
		if d < '0' || d > '9' {
			break
		}
		p.pos++
		digits++
		n = n*10 + int(d-'0')
		if n > maxLayoutSymbols {
			return 0, p.fail(at, fmt.Sprintf("repeat count is larger than %d", maxLayoutSymbols), "use a smaller count")
		}
	}
	if digits == 0 {
		_, at := p.peek()
		return 0, p.fail(at, "expected a repeat count after '*'", `write a number, e.g. "t*4" or "(tt|)*4"`)
	}
	if n == 0 {
		return 0, p.fail(star, "repeat count 0", "a repetition needs at least one copy; leave the item out instead (Megatron would silently drop it)")
	}
	if c, at := p.peek(); c == '*' {
		return 0, p.fail(at, "a repetition cannot be repeated again with a second '*'", `use a group, e.g. "(t*2)*3"; Megatron would not read "t*2*3" as six layers`)
	}
	return n, nil
}

// Stage returns the layers of pipeline rank pp, virtual rank vp (nil when out of range).
func (l *Layout) Stage(pp, vp int) []LayerType {
	if l == nil || pp < 0 || pp >= len(l.Stages) || vp < 0 || vp >= len(l.Stages[pp]) {
		return nil
	}
	return l.Stages[pp][vp]
}

// Count is the number of layers of type t in stage (pp, vp); 0 when out of range.
func (l *Layout) Count(pp, vp int, t LayerType) int {
	n := 0
	for _, x := range l.Stage(pp, vp) {
		if x == t {
			n++
		}
	}
	return n
}

// Decoders is the number of decoder layers of stage (pp, vp); 0 when out of range.
func (l *Layout) Decoders(pp, vp int) int { return l.Count(pp, vp, LayerDecoder) }

// Offset is the global index of the first decoder layer of stage (pp, vp): the decoder layers
// of all chunks before it in chunk order (c = vp*PP + pp). -1 when out of range.
func (l *Layout) Offset(pp, vp int) int {
	if l == nil || pp < 0 || pp >= l.PP || vp < 0 || vp >= l.VP {
		return -1
	}
	off := 0
	for c := range vp*l.PP + pp {
		off += l.Decoders(c%l.PP, c/l.PP)
	}
	return off
}

// Total is the number of layers of type t in the whole layout.
func (l *Layout) Total(t LayerType) int {
	if l == nil {
		return 0
	}
	n := 0
	for pp := range l.Stages {
		for vp := range l.Stages[pp] {
			n += l.Count(pp, vp, t)
		}
	}
	return n
}

// NumDecoders is the number of decoder layers in the whole layout.
func (l *Layout) NumDecoders() int { return l.Total(LayerDecoder) }

// Validate checks the counts Megatron's validate_layer_layout compares with the model:
// numLayers decoder layers and mtpLayers MTP layers (0 when the model has none).
func (l *Layout) Validate(numLayers, mtpLayers int) error {
	if got := l.NumDecoders(); got != numLayers {
		return &LayoutError{Layout: l.Source, Pos: -1,
			Msg:  fmt.Sprintf("the layout has %d decoder layers (t) but the model has %d", got, numLayers),
			Hint: fmt.Sprintf("write exactly %d t's over all stages", numLayers)}
	}
	if got := l.Total(LayerMTP); got != mtpLayers {
		hint := fmt.Sprintf("write exactly %d m's in the last stage", mtpLayers)
		if mtpLayers == 0 {
			hint = "remove the m's: this model has no multi-token-prediction layers"
		}
		return &LayoutError{Layout: l.Source, Pos: -1,
			Msg:  fmt.Sprintf("the layout has %d MTP layers (m) but the model has %d", got, mtpLayers),
			Hint: hint}
	}
	return nil
}

// String is the canonical form of the layout: no spaces, no nested groups, runs of three or more
// equal layers as "x*N" and runs of equal stages as "(|stage)*N". Megatron's own parser reads it
// to the same stages, so this is the form to record in mca_config.json.
func (l *Layout) String() string {
	if l == nil || l.PP < 1 || l.VP < 1 {
		return ""
	}
	stages := make([]string, 0, l.PP*l.VP)
	for c := range l.PP * l.VP {
		stages = append(stages, stageString(l.Stage(c%l.PP, c/l.PP)))
	}
	var b strings.Builder
	b.WriteString(stages[0])
	for i := 1; i < len(stages); {
		j := i
		for j < len(stages) && stages[j] == stages[i] {
			j++
		}
		if r := j - i; r >= 2 {
			fmt.Fprintf(&b, "(|%s)*%d", stages[i], r)
		} else {
			b.WriteString("|")
			b.WriteString(stages[i])
		}
		i = j
	}
	return b.String()
}

func stageString(st []LayerType) string {
	var b strings.Builder
	for i := 0; i < len(st); {
		j := i
		for j < len(st) && st[j] == st[i] {
			j++
		}
		if r := j - i; r >= 3 {
			fmt.Fprintf(&b, "%c*%d", byte(st[i]), r)
		} else {
			b.WriteString(strings.Repeat(string(rune(st[i])), r))
		}
		i = j
	}
	return b.String()
}

// divisors returns up to limit divisors of n in ascending order (n >= 1).
func divisors(n, limit int) []int {
	var lo, hi []int
	for d := 1; d*d <= n; d++ {
		if n%d == 0 {
			lo = append(lo, d)
			if d != n/d {
				hi = append(hi, n/d)
			}
		}
	}
	for i := len(hi) - 1; i >= 0; i-- {
		lo = append(lo, hi[i])
	}
	if len(lo) > limit {
		lo = lo[:limit]
	}
	return lo
}
