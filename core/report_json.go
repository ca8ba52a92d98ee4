package core

// The plan as JSON, streamed: the document is written piece by piece (per rank file, per
// group) through one buffered writer instead of being built, marshalled and indented in
// memory. At real scale (352,576 destinations) this keeps the output and the memory small.
// See README "Plan JSON" for the schema.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// PlanJSONSchema is the version of the plan JSON layout (the "schema" field).
// 2: destinations are [rank, chunk, entry, tp_slice(, part, transpose)] references into
// the rank files' entries; default-valued fields are left out.
const PlanJSONSchema = 2

// WriteJSON prints the plan as one compact JSON document.
func (p *Plan) WriteJSON(w io.Writer, source string) error {
	return p.WriteJSONIndent(w, source, "")
}

// WriteJSONIndent prints the plan as one JSON document, each level indented by indent
// ("" writes it compact, on one line).
func (p *Plan) WriteJSONIndent(w io.Writer, source, indent string) error {
	out := w
	var ind *jsonIndenter
	if indent != "" {
		ind = &jsonIndenter{w: w, indent: indent}
		out = ind
	}
	jw := &jsonWriter{w: bufio.NewWriterSize(out, 256<<10)}
	p.streamJSON(jw, source)
	if jw.err == nil {
		jw.err = jw.w.Flush()
	}
	if jw.err == nil && ind != nil {
		jw.err = ind.finish()
	}
	return jw.err
}

// jsonWriter keeps the first error so the stream reads straight through.
type jsonWriter struct {
	w   *bufio.Writer
	err error
	num [24]byte
	tmp bytes.Buffer
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

func (j *jsonWriter) byte(c byte) {
	if j.err == nil {
		j.err = j.w.WriteByte(c)
	}
}

func (j *jsonWriter) str(s string) {
	if j.err != nil {
		return
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			plain = false
			break
		}
	}
	if plain { // the common case: printable ASCII that needs no escape
		j.w.WriteByte('"')
		j.w.WriteString(s)
		j.err = j.w.WriteByte('"')
		return
	}
	walkJSONString(s, func(lit, esc string) {
		j.w.WriteString(lit)
		j.w.WriteString(esc)
	})
}

func (j *jsonWriter) int(v int64) {
	if j.err == nil {
		_, j.err = j.w.Write(strconv.AppendInt(j.num[:0], v, 10))
	}
}

// key writes `,"k":` (or `"k":` when first).
func (j *jsonWriter) key(k string, first bool) {
	if !first {
		j.byte(',')
	}
	j.byte('"')
	j.raw(k)
	j.raw(`":`)
}

func (j *jsonWriter) marshal(v any) {
	if j.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		j.err = err
		return
	}
	_, j.err = j.w.Write(b)
}

// compact writes JSON text without insignificant space ("" as null).
func (j *jsonWriter) compact(v string) {
	if j.err != nil {
		return
	}
	if v == "" {
		j.raw("null")
		return
	}
	j.tmp.Reset()
	if j.err = json.Compact(&j.tmp, []byte(v)); j.err == nil {
		_, j.err = j.w.Write(j.tmp.Bytes())
	}
}

func (j *jsonWriter) ints(v []int64) {
	j.byte('[')
	for i, x := range v {
		if i > 0 {
			j.byte(',')
		}
		j.int(x)
	}
	j.byte(']')
}

func (j *jsonWriter) strs(v []string) {
	j.byte('[')
	for i, s := range v {
		if i > 0 {
			j.byte(',')
		}
		j.str(s)
	}
	j.byte(']')
}

func (p *Plan) streamJSON(j *jsonWriter, source string) {
	j.byte('{')
	j.key("schema", true)
	j.int(PlanJSONSchema)
	j.key("source", false)
	j.str(source)
	j.key("model_type", false)
	j.str(p.ModelType)
	j.key("template", false)
	j.str(p.Template)
	if p.MatchedBy != "" { // a template of another model_type, claimed by architecture
		j.key("matched_by", false)
		j.str(p.MatchedBy)
	}
	if p.HFLayout != "" {
		j.key("hf_layout", false)
		j.str(p.HFLayout)
	}
	j.key("settings", false)
	j.marshal(p.Settings)
	j.key("dims", false)
	j.marshal(p.Dims)
	if n, f8, sc, bf := p.FP8Bytes(); n > 0 {
		// block-FP8 weights dequantized on the fly
		j.key("fp8", false)
		j.byte('{')
		j.key("dequant", true)
		j.str(DequantLabel)
		j.key("weights", false)
		j.int(int64(n))
		j.key("fp8_bytes", false)
		j.int(f8)
		j.key("scale_bytes", false)
		j.int(sc)
		j.key("bf16_bytes", false)
		j.int(bf)
		j.byte('}')
	}
	if m := p.MTPSummary(); m != "" {
		j.key("mtp", false)
		j.str(m)
	}

	j.key("config_mapping", false)
	j.byte('[')
	for i, m := range p.Config {
		if i > 0 {
			j.byte(',')
		}
		j.byte('{')
		j.key("hf_key", true)
		j.str(m.HFKey)
		j.key("mca_key", false)
		j.str(m.MCAKey)
		if m.Value != "" {
			j.key("value", false)
			j.str(m.Value)
		}
		if m.Missing {
			j.key("missing", false)
			j.raw("true")
		}
		j.byte('}')
	}
	j.byte(']')

	// mca_config: the exact mca_config.json content, keys in output order
	j.key("mca_config", false)
	j.byte('{')
	for i, kv := range p.MCAConfig {
		j.key(jsonKeyText(kv.Key), i == 0)
		j.compact(kv.Value)
	}
	j.byte('}')

	j.key("stages", false)
	j.marshal(nonNil(p.Stages))
	j.key("rules", false)
	j.marshal(nonNil(p.RuleSummaries()))

	j.key("ranks", false)
	j.byte('[')
	for ri := range p.Ranks {
		if ri > 0 {
			j.byte(',')
		}
		p.Ranks[ri].streamJSON(j)
		if j.err != nil {
			return
		}
	}
	j.byte(']')

	j.key("groups", false)
	j.byte('[')
	for gi := range p.Groups {
		if gi > 0 {
			j.byte(',')
		}
		p.Groups[gi].streamJSON(j, p)
		if j.err != nil {
			return
		}
	}
	j.byte(']')

	j.key("issues", false)
	j.marshal(nonNil(p.Issues))

	var sum struct {
		Tensors    int   `json:"hf_tensors"`
		Groups     int   `json:"groups"`
		RankFiles  int   `json:"rank_files"`
		OutTensors int   `json:"out_tensors"`
		OutBytes   int64 `json:"out_bytes"`
		Errors     int   `json:"errors"`
		Warnings   int   `json:"warnings"`
		LeftOut    int   `json:"hf_tensors_left_out"`
	}
	sum.Tensors = len(p.Tensors)
	sum.Groups = len(p.Groups)
	sum.RankFiles = len(p.Ranks)
	sum.OutTensors = p.TotalEntries()
	sum.OutBytes = p.TotalBytes()
	for _, is := range p.Issues {
		if is.Severity == SevError {
			sum.Errors++
		} else {
			sum.Warnings++
		}
	}
	for _, g := range p.TensorGroup {
		if g < 0 {
			sum.LeftOut++
		}
	}
	j.key("summary", false)
	j.marshal(sum)
	j.raw("}\n")
}

// jsonPlain marks the bytes a JSON string holds as they are (json.Marshal's escapes aside).
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = jsonEscape(byte(c)) == ""
	}
	return t
}()

// jsonKeyText is a key's JSON string without its quotes (key() adds them).
func jsonKeyText(k string) string {
	s, _ := jsonString(k)
	return s[1 : len(s)-1]
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func (rf *RankFile) streamJSON(j *jsonWriter) {
	j.byte('{')
	j.key("tp", true)
	j.int(int64(rf.TP))
	j.key("pp", false)
	j.int(int64(rf.PP))
	j.key("ep", false)
	j.int(int64(rf.EP))
	j.key("path", false)
	j.str(rf.Path)
	j.key("bytes", false)
	j.int(rf.Bytes)
	j.key("tensors", false)
	j.int(int64(rf.Tensors))
	j.key("chunks", false)
	j.byte('[')
	for ci := range rf.Chunks {
		ch := &rf.Chunks[ci]
		if ci > 0 {
			j.byte(',')
		}
		j.byte('{')
		j.key("vp", true)
		j.int(int64(ch.VP))
		j.key("key", false)
		j.str(ch.Key)
		j.key("layers", false)
		j.byte('[')
		j.int(int64(ch.Layers[0]))
		j.byte(',')
		j.int(int64(ch.Layers[1]))
		j.byte(']')
		if len(ch.Extras) > 0 {
			j.key("extras", false)
			j.strs(ch.Extras)
		}
		j.key("entries", false)
		j.byte('[')
		for ei := range ch.Entries {
			e := &ch.Entries[ei]
			if ei > 0 {
				j.byte(',')
			}
			j.byte('{')
			j.key("name", true)
			j.str(e.Name)
			j.key("dtype", false)
			j.str(string(e.DType))
			j.key("shape", false)
			j.ints(e.Shape)
			j.key("bytes", false)
			j.int(e.Bytes)
			if e.Parts != 1 {
				j.key("parts", false)
				j.int(int64(e.Parts))
			}
			j.byte('}')
		}
		j.byte(']')
		j.byte('}')
	}
	j.byte(']')
	j.byte('}')
}

func (g *Group) streamJSON(j *jsonWriter, p *Plan) {
	j.byte('{')
	j.key("op", true)
	j.str(string(g.Op))
	j.key("rule", false)
	j.str(g.Rule)
	j.key("hf", false)
	j.strs(g.HFNames)
	j.key("mca", false)
	j.str(g.Name)
	j.key("shape", false)
	j.ints(g.Shape)
	j.key("dtype", false)
	j.str(string(g.DType))
	j.key("split", false)
	j.str(string(g.Split))
	if g.Layer != -1 {
		j.key("layer", false)
		j.int(int64(g.Layer))
	}
	if g.Expert != -1 {
		j.key("expert", false)
		j.int(int64(g.Expert))
	}
	if g.MTP != "" { // an MTP layer's tensor: the Megatron prefix, not renumbered by stage
		j.key("mtp", false)
		j.str(g.MTP)
	}
	if len(g.Scales) > 0 { // FP8 inputs: the HF scale tensor of each (null: not FP8)
		j.key("fp8_scales", false)
		j.byte('[')
		for k, si := range g.Scales {
			if k > 0 {
				j.byte(',')
			}
			if si < 0 {
				j.raw("null")
			} else {
				j.str(p.Tensors[si].Name)
			}
		}
		j.byte(']')
	}
	if g.Pieces > 0 { // a fan-out's piece of its inputs
		j.key("piece", false)
		j.int(int64(g.Piece))
		j.key("pieces", false)
		j.int(int64(g.Pieces))
	}
	// every destination of a group is cut into the same number of slices
	if len(g.Dests) > 0 && g.Dests[0].TPSize != 1 {
		j.key("tp_of", false)
		j.int(int64(g.Dests[0].TPSize))
	}
	j.key("dests", false)
	j.byte('[')
	for di := range g.Dests {
		d := &g.Dests[di]
		if di > 0 {
			j.byte(',')
		}
		j.byte('[')
		j.int(int64(d.Rank))
		j.byte(',')
		j.int(int64(d.Chunk))
		j.byte(',')
		j.int(int64(d.Entry))
		j.byte(',')
		j.int(int64(d.TPRank))
		if d.Part != 0 || d.Transpose {
			j.byte(',')
			j.int(int64(d.Part))
			if d.Transpose {
				j.raw(",1")
			} else {
				j.raw(",0")
			}
		}
		j.byte(']')
	}
	j.byte(']')
	j.byte('}')
}

// jsonIndenter indents a compact JSON stream as it passes (json.Indent's layout:
// `"k": v`, one element a line, empty arrays and objects kept as [] and {}).
type jsonIndenter struct {
	w      io.Writer
	indent string
	depth  int
	inStr  bool
	esc    bool
	open   byte // a '[' or '{' whose newline waits to see if the container is empty
	buf    []byte
}

func (d *jsonIndenter) newline() {
	d.buf = append(d.buf, '\n')
	for i := 0; i < d.depth; i++ {
		d.buf = append(d.buf, d.indent...)
	}
}

func (d *jsonIndenter) Write(p []byte) (int, error) {
	d.buf = d.buf[:0]
	for _, c := range p {
		if d.open != 0 {
			o := d.open
			d.open = 0
			if (o == '[' && c == ']') || (o == '{' && c == '}') {
				d.buf = append(d.buf, c)
				continue
			}
			d.depth++
			d.newline()
		}
		if d.inStr {
			d.buf = append(d.buf, c)
			switch {
			case d.esc:
				d.esc = false
			case c == '\\':
				d.esc = true
			case c == '"':
				d.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			d.inStr = true
			d.buf = append(d.buf, c)
		case '[', '{':
			d.buf = append(d.buf, c)
			d.open = c
		case ']', '}':
			d.depth--
			d.newline()
			d.buf = append(d.buf, c)
		case ',':
			d.buf = append(d.buf, c)
			d.newline()
		case ':':
			d.buf = append(d.buf, ':', ' ')
		case '\n':
			d.buf = append(d.buf, c)
		default:
			d.buf = append(d.buf, c)
		}
	}
	if _, err := d.w.Write(d.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *jsonIndenter) finish() error {
	if d.open != 0 {
		d.depth++
		d.buf = d.buf[:0]
		d.newline()
		d.open = 0
		_, err := d.w.Write(d.buf)
		return err
	}
	return nil
}
