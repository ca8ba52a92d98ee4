package loader

import (
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// MaxJSONDepth is the deepest nesting of arrays and objects ParseJSONTree accepts.
const MaxJSONDepth = 512

// JSONSyntaxError is a parse error of ParseJSONTree. Its message starts with
// "line:col:" so that a caller can prefix a file name ("config.json:12:5: ...").
type JSONSyntaxError struct {
	Line, Col int // 1-based; Col counts bytes
	Msg       string
}

func (e *JSONSyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// ParseJSONTree parses one JSON value (RFC 8259) into an ordered tree.
//
// Scalars keep their exact source text in Raw, objects keep their members in
// file order. It is stricter than encoding/json: duplicate object keys,
// invalid UTF-8, nesting deeper than MaxJSONDepth and anything after the
// top-level value are errors; NaN and Infinity (which Python's json module
// writes) are rejected with a message that says so.
//
// The tree's strings refer to a copy of data; see parseJSONTreeShared for the
// loader's own buffers, which it parses without copying.
func ParseJSONTree(data []byte) (*JSONNode, error) {
	return parseJSONTree(string(data))
}

// parseJSONTreeShared parses data without copying it: the tree's Raw strings and
// keys point into data, which must never be modified afterwards. The loader uses
// it for the files it reads (config.json, mca_config.json, the index), so that a
// file with a 50 MB string costs about its size once, not once per copy.
func parseJSONTreeShared(data []byte) (*JSONNode, error) {
	if len(data) == 0 {
		return parseJSONTree("")
	}
	return parseJSONTree(unsafe.String(&data[0], len(data)))
}

// ParseJSONTreeShared is parseJSONTreeShared for the loader's subpackages
// (loader/mca): data must never be modified after the call.
func ParseJSONTreeShared(data []byte) (*JSONNode, error) { return parseJSONTreeShared(data) }

func parseJSONTree(src string) (*JSONNode, error) {
	p := &jsonParser{src: src, line: 1}
	if strings.HasPrefix(p.src, "\xEF\xBB\xBF") {
		return nil, p.errHere("the text starts with a UTF-8 byte-order mark (BOM), which JSON does not allow; save the file as UTF-8 without BOM")
	}
	p.skipWS()
	if p.pos >= len(p.src) {
		return nil, p.errHere("empty input: expected a JSON value")
	}
	root, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos < len(p.src) {
		return nil, p.errHere("unexpected %s after the end of the top-level value that started at %d:%d; remove the trailing text",
			p.describeHere(), root.Line, root.Col)
	}
	return root, nil
}

type jsonParser struct {
	src       string
	pos       int
	line      int
	lineStart int // offset of the first byte of the current line
	depth     int
	slab      []JSONNode  // nodes are carved from chunks to keep allocations low
	stack     []*JSONNode // children of the containers being parsed
}

func (p *jsonParser) newNode() *JSONNode {
	if len(p.slab) == 0 {
		size := 64
		if len(p.src) > 1<<16 {
			size = 1024
		}
		p.slab = make([]JSONNode, size)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	return n
}

func (p *jsonParser) col() int { return p.pos - p.lineStart + 1 }

func (p *jsonParser) errAt(line, col int, format string, args ...any) error {
	return &JSONSyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) errHere(format string, args ...any) error {
	return p.errAt(p.line, p.col(), format, args...)
}

// describeHere names the byte (or rune) at the current position for a message.
func (p *jsonParser) describeHere() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	c := p.src[p.pos]
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("character %q", c)
	}
	if c >= 0x80 {
		r, size := utf8.DecodeRuneInString(p.src[p.pos:])
		if r != utf8.RuneError || size > 1 {
			return fmt.Sprintf("character %q (%U)", r, r)
		}
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *jsonParser) skipWS() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\r':
			p.pos++
		case '\n':
			p.pos++
			p.line++
			p.lineStart = p.pos
		default:
			return
		}
	}
}

// parseValue parses the value at p.pos (whitespace already skipped).
func (p *jsonParser) parseValue() (*JSONNode, error) {
	if p.pos >= len(p.src) {
		return nil, p.errHere("unexpected end of input: expected a value; the text is truncated")
	}
	n := p.newNode()
	n.Line, n.Col = p.line, p.col()
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '{':
		return n, p.parseObject(n)
	case c == '[':
		return n, p.parseArray(n)
	case c == '"':
		if _, err := p.scanString(); err != nil {
			return nil, err
		}
		n.Kind = JSONString
	case c == '-' || (c >= '0' && c <= '9'):
		if err := p.scanNumber(); err != nil {
			return nil, err
		}
		n.Kind = JSONNumber
	case c == 't':
		if err := p.literal("true"); err != nil {
			return nil, err
		}
		n.Kind = JSONBool
	case c == 'f':
		if err := p.literal("false"); err != nil {
			return nil, err
		}
		n.Kind = JSONBool
	case c == 'n':
		if err := p.literal("null"); err != nil {
			return nil, err
		}
		n.Kind = JSONNull
	case c == 'N' && strings.HasPrefix(p.src[p.pos:], "NaN"):
		return nil, p.errHere("NaN is not valid JSON (Python's json module writes it for float('nan')); replace it with null or a number")
	case c == 'I' && strings.HasPrefix(p.src[p.pos:], "Infinity"):
		return nil, p.errHere("Infinity is not valid JSON (Python's json module writes it for float('inf')); replace it with a number")
	default:
		return nil, p.errHere("unexpected %s: expected a value (object, array, string, number, true, false or null)", p.describeHere())
	}
	n.Raw = p.src[start:p.pos]
	return n, nil
}

func (p *jsonParser) literal(word string) error {
	if strings.HasPrefix(p.src[p.pos:], word) {
		p.pos += len(word)
		return nil
	}
	return p.errHere("unexpected %s: expected a value (did you mean %s?)", p.describeHere(), word)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *jsonParser) scanNumber() error {
	s := p.src
	if s[p.pos] == '-' {
		p.pos++
		if strings.HasPrefix(s[p.pos:], "Infinity") {
			return p.errHere("-Infinity is not valid JSON (Python's json module writes it for float('-inf')); replace it with a number")
		}
	}
	switch {
	case p.pos < len(s) && s[p.pos] == '0':
		p.pos++
		if p.pos < len(s) && isDigit(s[p.pos]) {
			return p.errHere("invalid number: leading zeros are not allowed in JSON")
		}
	case p.pos < len(s) && isDigit(s[p.pos]):
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
	default:
		return p.errHere("invalid number: expected a digit, found %s", p.describeHere())
	}
	if p.pos < len(s) && s[p.pos] == '.' {
		p.pos++
		if p.pos >= len(s) || !isDigit(s[p.pos]) {
			return p.errHere("invalid number: expected a digit after the decimal point, found %s", p.describeHere())
		}
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
	}
	if p.pos < len(s) && (s[p.pos] == 'e' || s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(s) && (s[p.pos] == '+' || s[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(s) || !isDigit(s[p.pos]) {
			return p.errHere("invalid number: expected a digit in the exponent, found %s", p.describeHere())
		}
		for p.pos < len(s) && isDigit(s[p.pos]) {
			p.pos++
		}
	}
	return nil
}

// scanString moves past the string starting at p.pos (at the opening quote)
// and validates it. It reports whether the string holds escapes.
func (p *jsonParser) scanString() (escaped bool, err error) {
	s := p.src
	line, col := p.line, p.col()
	p.pos++
	for {
		if p.pos >= len(s) {
			return false, p.errAt(line, col, "unterminated string: no closing '\"' before the end of input; the text is truncated")
		}
		c := s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return escaped, nil
		case c == '\\':
			escaped = true
			p.pos++
			if p.pos >= len(s) {
				return false, p.errAt(line, col, "unterminated string: no closing '\"' before the end of input; the text is truncated")
			}
			switch s[p.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos++
			case 'u':
				p.pos++
				for i := 0; i < 4; i++ {
					if p.pos >= len(s) || !isHex(s[p.pos]) {
						return false, p.errHere("invalid \\u escape in string: expected 4 hex digits, found %s", p.describeHere())
					}
					p.pos++
				}
			default:
				p.pos-- // point at the backslash
				return false, p.errHere("invalid escape \\%s in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", printableByte(s[p.pos+1]))
			}
		case c < 0x20:
			return false, p.errHere("control character %U inside a string; it must be escaped (\\n, \\t or \\u%04X)", rune(c), c)
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(s[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return false, p.errHere("invalid UTF-8 byte 0x%02x inside a string; the file must be UTF-8 encoded", c)
			}
			p.pos += size
		}
	}
}

func printableByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(rune(c))
	}
	return fmt.Sprintf("<0x%02x>", c)
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (p *jsonParser) enter(n *JSONNode) error {
	p.depth++
	if p.depth > MaxJSONDepth {
		return p.errAt(n.Line, n.Col, "arrays and objects nested deeper than %d levels; this is not a checkpoint file", MaxJSONDepth)
	}
	p.pos++ // the opening bracket
	return nil
}

func (p *jsonParser) finish(n *JSONNode, start int) {
	if k := len(p.stack) - start; k > 0 {
		n.Children = make([]*JSONNode, k)
		copy(n.Children, p.stack[start:])
	}
	clear(p.stack[start:])
	p.stack = p.stack[:start]
	p.depth--
}

// linearDupLimit: objects with more members than this use a map for the
// duplicate-key check.
const linearDupLimit = 16

func (p *jsonParser) parseObject(n *JSONNode) error {
	n.Kind = JSONObject
	if err := p.enter(n); err != nil {
		return err
	}
	start := len(p.stack)
	var seen map[string]*JSONNode
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.finish(n, start)
		return nil
	}
	for {
		if p.pos >= len(p.src) {
			return p.errHere("unexpected end of input: the object opened at %d:%d is not closed; the text is truncated", n.Line, n.Col)
		}
		if p.src[p.pos] != '"' {
			if p.src[p.pos] == '}' && len(p.stack) > start {
				return p.errHere("trailing comma before '}' is not allowed in JSON; remove it")
			}
			return p.errHere("unexpected %s: expected a string key for an object member", p.describeHere())
		}
		kline, kcol, kstart := p.line, p.col(), p.pos
		escaped, err := p.scanString()
		if err != nil {
			return err
		}
		key := p.src[kstart+1 : p.pos-1]
		if escaped {
			key, err = decodeJSONString(key)
			if err != nil {
				return p.errAt(kline, kcol, "%v", err)
			}
		}
		// Duplicate keys: encoding/json and Python silently keep the last
		// one; for a checkpoint that hides a real mistake, so refuse.
		var prev *JSONNode
		if count := len(p.stack) - start; count <= linearDupLimit {
			for _, c := range p.stack[start:] {
				if c.Key == key {
					prev = c
					break
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]*JSONNode, 2*count)
				for _, c := range p.stack[start:] {
					seen[c.Key] = c
				}
			}
			prev = seen[key]
		}
		if prev != nil {
			return p.errAt(kline, kcol, "duplicate key %s in object (first at line %d, again at line %d); remove one of them",
				quote(key), prev.keyLine, kline)
		}
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.errHere("expected ':' after object key %s, found %s", quote(key), p.describeHere())
		}
		p.pos++
		p.skipWS()
		child, err := p.parseValue()
		if err != nil {
			return err
		}
		child.Key, child.keyLine, child.keyCol = key, kline, kcol
		p.stack = append(p.stack, child)
		if seen != nil {
			seen[key] = child
		}
		p.skipWS()
		if p.pos >= len(p.src) {
			return p.errHere("unexpected end of input: the object opened at %d:%d is not closed; the text is truncated", n.Line, n.Col)
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case '}':
			p.pos++
			p.finish(n, start)
			return nil
		default:
			return p.errHere("expected ',' or '}' after object member %s, found %s", quote(key), p.describeHere())
		}
	}
}

func (p *jsonParser) parseArray(n *JSONNode) error {
	n.Kind = JSONArray
	if err := p.enter(n); err != nil {
		return err
	}
	start := len(p.stack)
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.finish(n, start)
		return nil
	}
	for {
		if p.pos < len(p.src) && p.src[p.pos] == ']' && len(p.stack) > start {
			return p.errHere("trailing comma before ']' is not allowed in JSON; remove it")
		}
		child, err := p.parseValue()
		if err != nil {
			return err
		}
		p.stack = append(p.stack, child)
		p.skipWS()
		if p.pos >= len(p.src) {
			return p.errHere("unexpected end of input: the array opened at %d:%d is not closed; the text is truncated", n.Line, n.Col)
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case ']':
			p.pos++
			p.finish(n, start)
			return nil
		default:
			return p.errHere("expected ',' or ']' after array element %d, found %s", len(p.stack)-start-1, p.describeHere())
		}
	}
}

// decodeJSONString decodes the inside of a JSON string literal (no quotes).
// Lone surrogates decode to U+FFFD, as encoding/json does.
func decodeJSONString(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("invalid UTF-8 inside a string")
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("string ends inside an escape")
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s, i)
			if !ok {
				return "", fmt.Errorf("invalid \\u escape in string")
			}
			i += 4
			if r >= 0xD800 && r < 0xDC00 { // high surrogate: try to pair
				if lo, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				} else {
					r = utf8.RuneError
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("invalid escape \\%s in string", printableByte(e))
		}
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", fmt.Errorf("invalid UTF-8 inside a string")
	}
	return out, nil
}

func hex4(s string, i int) (rune, bool) {
	if i < 0 || i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var v byte
		switch {
		case isDigit(c):
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// appendJSONString appends s as a JSON string literal. Like serde_json (the
// encoder of the reference safetensors library) it escapes only '"', '\\'
// and control characters and writes other text as UTF-8. Invalid UTF-8 is
// replaced by U+FFFD so the output is always valid JSON.
func appendJSONString(buf []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
