package loader

import (
	"fmt"
	"strconv"
	"strings"
)

// JSONKind is the kind of a JSON value.
type JSONKind int

const (
	JSONNull JSONKind = iota
	JSONBool
	JSONNumber
	JSONString
	JSONArray
	JSONObject
)

// JSONNode is a JSON value kept in file order with scalars exactly as written
// (1e-06 stays 1e-06, 1000000 stays 1000000).
type JSONNode struct {
	Kind     JSONKind
	Key      string      // member name when the parent is an object
	Raw      string      // scalar text as written (strings keep their quotes); empty for arrays/objects
	Children []*JSONNode // array elements or object members, in file order
	Line     int         // 1-based position of the value in the source
	Col      int

	keyLine, keyCol int // position of the member key, when parsed from an object
}

// String names the kind as in messages: "null", "boolean", "number", "string", "array", "object".
func (k JSONKind) String() string {
	switch k {
	case JSONNull:
		return "null"
	case JSONBool:
		return "boolean"
	case JSONNumber:
		return "number"
	case JSONString:
		return "string"
	case JSONArray:
		return "array"
	case JSONObject:
		return "object"
	}
	return fmt.Sprintf("JSONKind(%d)", int(k))
}

// KindName is the kind of n for messages; "missing" for a nil node.
func (n *JSONNode) KindName() string {
	if n == nil {
		return "missing"
	}
	return n.Kind.String()
}

// Pos is "line:col" of the value.
func (n *JSONNode) Pos() string {
	if n == nil {
		return "?:?"
	}
	return fmt.Sprintf("%d:%d", n.Line, n.Col)
}

// Member returns the member key of an object. It reports false when n is not
// an object or has no such member.
func (n *JSONNode) Member(key string) (*JSONNode, bool) {
	if n == nil || n.Kind != JSONObject {
		return nil, false
	}
	for _, c := range n.Children {
		if c.Key == key {
			return c, true
		}
	}
	return nil, false
}

// Get follows a dotted path from n: "thinker_config.text_config.hidden_size".
// A segment that is a non-negative integer indexes an array ("architectures.0").
// Keys that themselves contain dots cannot be reached this way; use Member.
// An empty path returns n.
func (n *JSONNode) Get(path string) (*JSONNode, bool) {
	if n == nil {
		return nil, false
	}
	cur := n
	for path != "" {
		seg, rest, _ := strings.Cut(path, ".")
		path = rest
		switch cur.Kind {
		case JSONObject:
			next, ok := cur.Member(seg)
			if !ok {
				return nil, false
			}
			cur = next
		case JSONArray:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(cur.Children) || seg != strconv.Itoa(i) {
				return nil, false
			}
			cur = cur.Children[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Keys lists the member names of an object in file order (nil otherwise).
func (n *JSONNode) Keys() []string {
	if n == nil || n.Kind != JSONObject {
		return nil
	}
	keys := make([]string, len(n.Children))
	for i, c := range n.Children {
		keys[i] = c.Key
	}
	return keys
}

// JSONTypeError is returned by the typed accessors (Int, Float, Bool, Str)
// when the value is not of the requested type. Its message starts with
// "line:col:" so a caller can prefix the file name.
type JSONTypeError struct {
	Line, Col int
	Key       string // member name, if the value is an object member
	Want      string // "an integer", "a number", "a boolean", "a string"
	Got       string // what was found, e.g. `string "abc"`
}

func (e *JSONTypeError) Error() string {
	key := ""
	if e.Key != "" {
		key = quote(e.Key) + ": "
	}
	return fmt.Sprintf("%d:%d: %sexpected %s, found %s", e.Line, e.Col, key, e.Want, e.Got)
}

func (n *JSONNode) typeError(want, got string) error {
	if n == nil {
		return &JSONTypeError{Want: want, Got: "nothing (value missing)"}
	}
	if got == "" {
		got = n.describe()
	}
	return &JSONTypeError{Line: n.Line, Col: n.Col, Key: n.Key, Want: want, Got: got}
}

// describe renders the value for an error message: kind plus (short) text.
func (n *JSONNode) describe() string {
	switch n.Kind {
	case JSONArray:
		return fmt.Sprintf("an array of %d elements", len(n.Children))
	case JSONObject:
		return fmt.Sprintf("an object with %d members", len(n.Children))
	case JSONNull:
		return "null"
	}
	raw := n.Raw
	if len(raw) > 60 {
		raw = raw[:57] + "..."
	}
	return n.Kind.String() + " " + raw
}

// Int returns an integer number. Numbers written with a fraction or exponent
// (1.0, 1e3) are not integers and give an error, as do values beyond int64.
func (n *JSONNode) Int() (int64, error) {
	if n == nil || n.Kind != JSONNumber {
		return 0, n.typeError("an integer", "")
	}
	v, err := strconv.ParseInt(n.Raw, 10, 64)
	if err != nil {
		if strings.ContainsAny(n.Raw, ".eE") {
			return 0, n.typeError("an integer", "the non-integer number "+n.Raw)
		}
		return 0, n.typeError("an integer that fits in 64 bits", "the number "+n.Raw)
	}
	return v, nil
}

// Float returns a number as float64 (integers included). Numbers beyond the
// float64 range are an error.
func (n *JSONNode) Float() (float64, error) {
	if n == nil || n.Kind != JSONNumber {
		return 0, n.typeError("a number", "")
	}
	v, err := strconv.ParseFloat(n.Raw, 64)
	if err != nil {
		return 0, n.typeError("a number within the float64 range", "the number "+n.Raw)
	}
	return v, nil
}

// Bool returns a true/false value.
func (n *JSONNode) Bool() (bool, error) {
	if n == nil || n.Kind != JSONBool {
		return false, n.typeError("a boolean", "")
	}
	return n.Raw == "true", nil
}

// Str returns a string value with its escapes decoded.
func (n *JSONNode) Str() (string, error) {
	if n == nil || n.Kind != JSONString {
		return "", n.typeError("a string", "")
	}
	if len(n.Raw) < 2 || n.Raw[0] != '"' || n.Raw[len(n.Raw)-1] != '"' {
		return "", n.typeError("a string", "a malformed string literal "+n.Raw)
	}
	s, err := decodeJSONString(n.Raw[1 : len(n.Raw)-1])
	if err != nil {
		return "", n.typeError("a valid string", err.Error())
	}
	return s, nil
}

// Compact renders n as compact JSON: members in file order, scalars exactly
// as written, keys re-encoded.
func (n *JSONNode) Compact() []byte {
	return n.appendCompact(nil)
}

func (n *JSONNode) appendCompact(buf []byte) []byte {
	if n == nil {
		return append(buf, "null"...)
	}
	switch n.Kind {
	case JSONObject:
		buf = append(buf, '{')
		for i, c := range n.Children {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, c.Key)
			buf = append(buf, ':')
			buf = c.appendCompact(buf)
		}
		return append(buf, '}')
	case JSONArray:
		buf = append(buf, '[')
		for i, c := range n.Children {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = c.appendCompact(buf)
		}
		return append(buf, ']')
	default:
		return n.appendScalar(buf)
	}
}

func (n *JSONNode) appendScalar(buf []byte) []byte {
	if n.Raw != "" {
		return append(buf, n.Raw...)
	}
	// Hand-built nodes without Raw: write something valid.
	switch n.Kind {
	case JSONBool:
		return append(buf, "false"...)
	case JSONNumber:
		return append(buf, '0')
	case JSONString:
		return append(buf, `""`...)
	}
	return append(buf, "null"...)
}

// Indent renders n like encoding/json.Indent: every nested line starts with
// prefix followed by one indent per level, members keep file order, scalars
// are written as in the source, and empty arrays/objects stay "[]"/"{}".
func (n *JSONNode) Indent(prefix, indent string) []byte {
	return n.appendIndent(nil, prefix, indent, 0)
}

func (n *JSONNode) appendIndent(buf []byte, prefix, indent string, depth int) []byte {
	if n == nil {
		return append(buf, "null"...)
	}
	newline := func(buf []byte, d int) []byte {
		buf = append(buf, '\n')
		buf = append(buf, prefix...)
		for i := 0; i < d; i++ {
			buf = append(buf, indent...)
		}
		return buf
	}
	switch n.Kind {
	case JSONObject, JSONArray:
		open, close := byte('['), byte(']')
		if n.Kind == JSONObject {
			open, close = '{', '}'
		}
		buf = append(buf, open)
		if len(n.Children) == 0 {
			return append(buf, close)
		}
		for i, c := range n.Children {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = newline(buf, depth+1)
			if n.Kind == JSONObject {
				buf = appendJSONString(buf, c.Key)
				buf = append(buf, ':', ' ')
			}
			buf = c.appendIndent(buf, prefix, indent, depth+1)
		}
		buf = newline(buf, depth)
		return append(buf, close)
	default:
		return n.appendScalar(buf)
	}
}
