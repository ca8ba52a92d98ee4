package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// A config.json-like sample: nested objects, every scalar kind, exponents,
// long integers, unicode and escapes.
const jsonSample = `{
  "architectures": [
    "Qwen3OmniMoeForConditionalGeneration"
  ],
  "model_type": "qwen3_omni_moe",
  "thinker_config": {
    "text_config": {
      "hidden_size": 2048,
      "rms_norm_eps": 1e-06,
      "rope_theta": 1000000,
      "initializer_range": 0.02,
      "tie_word_embeddings": false,
      "rope_scaling": null,
      "mrope_section": [24, 20, 20]
    },
    "audio_token_id": 151675
  },
  "speaker_id": {"chelsie": 2301, "ethan": 2302, "aiden": 2303},
  "note": "caf\u00e9 \"quoted\" \\ tab\t ☃",
  "empty_obj": {},
  "empty_arr": [],
  "neg": -0.0,
  "big": 12345678901234567890
}
`

func TestParseJSONTreeKeepsTextAndOrder(t *testing.T) {
	root, err := ParseJSONTree([]byte(jsonSample))
	if err != nil {
		t.Fatal(err)
	}
	raws := []struct{ path, raw string }{
		{"thinker_config.text_config.rms_norm_eps", "1e-06"},
		{"thinker_config.text_config.rope_theta", "1000000"},
		{"thinker_config.text_config.initializer_range", "0.02"},
		{"thinker_config.text_config.tie_word_embeddings", "false"},
		{"thinker_config.text_config.rope_scaling", "null"},
		{"thinker_config.text_config.mrope_section.1", "20"},
		{"architectures.0", `"Qwen3OmniMoeForConditionalGeneration"`},
		{"neg", "-0.0"},
		{"big", "12345678901234567890"},
		{"note", `"caf\u00e9 \"quoted\" \\ tab\t ☃"`},
	}
	for _, r := range raws {
		n, ok := root.Get(r.path)
		if !ok {
			t.Errorf("Get(%q) found nothing", r.path)
			continue
		}
		if n.Raw != r.raw {
			t.Errorf("Get(%q).Raw = %s, want %s", r.path, n.Raw, r.raw)
		}
	}
	wantKeys := []string{"architectures", "model_type", "thinker_config", "speaker_id", "note", "empty_obj", "empty_arr", "neg", "big"}
	if got := root.Keys(); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("Keys() = %v, want %v", got, wantKeys)
	}
	spk, _ := root.Get("speaker_id")
	if got := strings.Join(spk.Keys(), ","); got != "chelsie,ethan,aiden" {
		t.Errorf("speaker_id keys = %s, want file order chelsie,ethan,aiden", got)
	}
	hs, _ := root.Get("thinker_config.text_config.hidden_size")
	if hs.Line != 8 || hs.Col != 22 || hs.Key != "hidden_size" {
		t.Errorf("hidden_size at %d:%d key %q, want 8:22 key hidden_size", hs.Line, hs.Col, hs.Key)
	}
	for _, missing := range []string{"nope", "thinker_config.nope", "architectures.1", "architectures.x", "architectures.-1", "architectures.00", "model_type.x"} {
		if _, ok := root.Get(missing); ok {
			t.Errorf("Get(%q) found something", missing)
		}
	}
	if n, ok := root.Get(""); !ok || n != root {
		t.Error(`Get("") should return the node itself`)
	}
}

func TestJSONAccessors(t *testing.T) {
	root, err := ParseJSONTree([]byte(jsonSample))
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) *JSONNode {
		n, ok := root.Get(p)
		if !ok {
			t.Fatalf("Get(%q) failed", p)
		}
		return n
	}
	if v, err := get("thinker_config.text_config.hidden_size").Int(); err != nil || v != 2048 {
		t.Errorf("Int = %d, %v", v, err)
	}
	if v, err := get("thinker_config.text_config.rms_norm_eps").Float(); err != nil || v != 1e-06 {
		t.Errorf("Float = %g, %v", v, err)
	}
	if v, err := get("thinker_config.text_config.hidden_size").Float(); err != nil || v != 2048 {
		t.Errorf("Float of an integer = %g, %v", v, err)
	}
	if v, err := get("thinker_config.text_config.tie_word_embeddings").Bool(); err != nil || v {
		t.Errorf("Bool = %v, %v", v, err)
	}
	if v, err := get("note").Str(); err != nil || v != "café \"quoted\" \\ tab\t ☃" {
		t.Errorf("Str = %q, %v", v, err)
	}
	if v, err := get("model_type").Str(); err != nil || v != "qwen3_omni_moe" {
		t.Errorf("Str = %q, %v", v, err)
	}

	typeErrs := []struct {
		name string
		call func() error
		want []string
	}{
		{"Int of string", func() error { _, err := get("model_type").Int(); return err }, []string{"5:17:", `"model_type"`, "expected an integer", `found string "qwen3_omni_moe"`}},
		{"Int of fraction", func() error { _, err := get("thinker_config.text_config.initializer_range").Int(); return err }, []string{"11:28:", "expected an integer", "non-integer number 0.02"}},
		{"Int out of range", func() error { _, err := get("big").Int(); return err }, []string{"fits in 64 bits", "12345678901234567890"}},
		{"Float of null", func() error { _, err := get("thinker_config.text_config.rope_scaling").Float(); return err }, []string{"13:23:", "expected a number", "found null"}},
		{"Bool of number", func() error { _, err := get("neg").Bool(); return err }, []string{"expected a boolean", "found number -0.0"}},
		{"Str of array", func() error { _, err := get("architectures").Str(); return err }, []string{"2:20:", "expected a string", "found an array of 1 elements"}},
		{"Str of object", func() error { _, err := get("speaker_id").Str(); return err }, []string{"expected a string", "an object with 3 members"}},
		{"Int of nil", func() error { var n *JSONNode; _, err := n.Int(); return err }, []string{"expected an integer", "missing"}},
	}
	for _, tc := range typeErrs {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var te *JSONTypeError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *JSONTypeError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if v, err := (&JSONNode{Kind: JSONNumber, Raw: "1e999"}).Float(); err == nil {
		t.Errorf("Float(1e999) = %g, want a range error", v)
	}
	if _, err := (&JSONNode{Kind: JSONNumber, Raw: "-9223372036854775808"}).Int(); err != nil {
		t.Errorf("Int(min int64): %v", err)
	}
}

func TestJSONStringDecoding(t *testing.T) {
	cases := []struct{ raw, want string }{
		{`"plain"`, "plain"},
		{`"a\/b\b\f\n\r\t"`, "a/b\b\f\n\r\t"},
		{`"\u00e9\u4e2d"`, "é中"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\uFFFD"},
		{`"\ude00x"`, "\uFFFDx"},
		{`"\ud83dx"`, "\uFFFDx"},
		{`"日本"`, "日本"},
	}
	for _, c := range cases {
		n, err := ParseJSONTree([]byte(c.raw))
		if err != nil {
			t.Errorf("parse %s: %v", c.raw, err)
			continue
		}
		got, err := n.Str()
		if err != nil || got != c.want {
			t.Errorf("Str(%s) = %q, %v; want %q", c.raw, got, err, c.want)
		}
		// encoding/json agrees on the decoded value.
		var ref string
		if err := json.Unmarshal([]byte(c.raw), &ref); err != nil || ref != got {
			t.Errorf("encoding/json decodes %s to %q, we to %q", c.raw, ref, got)
		}
	}
}

func TestParseJSONTreeErrors(t *testing.T) {
	deep := strings.Repeat("[", MaxJSONDepth+1) + strings.Repeat("]", MaxJSONDepth+1)
	cases := []struct {
		name, in string
		pos      string // "line:col:"
		want     []string
	}{
		{"missing comma", "{\n  \"hidden_size\": 1\n  \"b\": 2\n}", "3:3:", []string{`expected ',' or '}' after object member "hidden_size"`, `character '"'`}},
		{"missing array comma", "[1 2]", "1:4:", []string{"expected ',' or ']' after array element 0"}},
		{"trailing garbage", "{} x", "1:4:", []string{"after the end of the top-level value", "character 'x'"}},
		{"two values", "1 2", "1:3:", []string{"after the end of the top-level value"}},
		{"duplicate key", "{\n\"a\": 1,\n\"b\": 2,\n  \"a\": 3}", "4:3:", []string{`duplicate key "a"`, "first at line 2", "again at line 4"}},
		{"duplicate in big object", bigObjectWithDup(), "", []string{`duplicate key "k7"`, "first at line 9", "again at line 42"}},
		{"too deep", deep, "1:513:", []string{"deeper than 512"}},
		{"invalid utf8", "\"a\xffb\"", "1:3:", []string{"invalid UTF-8 byte 0xff"}},
		{"invalid utf8 outside string", "[\xc3\xa9]", "1:2:", []string{"unexpected character 'é'"}},
		{"NaN", `{"a": NaN}`, "1:7:", []string{"NaN is not valid JSON", "null"}},
		{"Infinity", `[Infinity]`, "1:2:", []string{"Infinity is not valid JSON"}},
		{"-Infinity", `[-Infinity]`, "1:3:", []string{"-Infinity is not valid JSON"}},
		{"leading zero", `[01]`, "1:3:", []string{"leading zeros"}},
		{"bare minus", `[-]`, "1:3:", []string{"expected a digit"}},
		{"dot no digits", `[1.]`, "1:4:", []string{"after the decimal point"}},
		{"exponent no digits", `[1e+]`, "1:5:", []string{"in the exponent"}},
		{"control char", "[\"a\nb\"]", "1:4:", []string{"control character U+000A", "escaped"}},
		{"unterminated string", `{"a": "abc`, "1:7:", []string{"unterminated string"}},
		{"bad escape", `["\q"]`, "1:3:", []string{`invalid escape \q`}},
		{"bad unicode escape", `["\u12G4"]`, "1:7:", []string{"4 hex digits"}},
		{"unclosed object", "{\"a\": 1", "1:8:", []string{"object opened at 1:1 is not closed", "truncated"}},
		{"unclosed array", "[1,\n2", "2:2:", []string{"array opened at 1:1 is not closed"}},
		{"trailing comma object", `{"a":1,}`, "1:8:", []string{"trailing comma"}},
		{"trailing comma array", `[1,]`, "1:4:", []string{"trailing comma"}},
		{"non-string key", `{a:1}`, "1:2:", []string{"expected a string key"}},
		{"missing colon", `{"a" 1}`, "1:6:", []string{`expected ':' after object key "a"`}},
		{"empty", "  \n ", "2:2:", []string{"empty input"}},
		{"bom", "\xEF\xBB\xBF{}", "1:1:", []string{"byte-order mark"}},
		{"misspelt literal", "[tru]", "1:2:", []string{"did you mean true"}},
		{"single quotes", "{'a': 1}", "1:2:", []string{"expected a string key", `character '\''`}},
		{"missing value", `{"a": }`, "1:7:", []string{"expected a value"}},
		{"eof after colon", `{"a":`, "1:6:", []string{"expected a value", "truncated"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseJSONTree([]byte(tc.in))
			if err == nil {
				t.Fatalf("parsed %q without error: %s", tc.in, n.Compact())
			}
			var se *JSONSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *JSONSyntaxError", err)
			}
			msg := err.Error()
			if tc.pos != "" && !strings.HasPrefix(msg, tc.pos) {
				t.Errorf("error %q does not start with position %s", msg, tc.pos)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			// encoding/json is laxer on duplicates, depth and UTF-8 only.
			if json.Valid([]byte(tc.in)) && !strings.Contains(tc.name, "duplicate") && tc.name != "too deep" && tc.name != "invalid utf8" {
				t.Errorf("encoding/json accepts %q, which we reject", tc.in)
			}
		})
	}
}

// bigObjectWithDup has 50 members, one per line (k0 on line 2), k7 repeated on line 42: the
// map-based duplicate check (objects beyond linearDupLimit) is exercised.
func bigObjectWithDup() string {
	var b strings.Builder
	b.WriteString("{\n")
	for i := 0; i < 50; i++ {
		key := "k" + strconv.Itoa(i)
		if i == 40 {
			key = "k7"
		}
		b.WriteString(`"` + key + `": ` + strconv.Itoa(i))
		if i < 49 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}")
	return b.String()
}

func TestParseJSONTreeDepthLimitAccepts512(t *testing.T) {
	in := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	if _, err := ParseJSONTree([]byte(in)); err != nil {
		t.Fatalf("depth %d rejected: %v", MaxJSONDepth, err)
	}
}

func TestJSONCompactAndIndent(t *testing.T) {
	root, err := ParseJSONTree([]byte(jsonSample))
	if err != nil {
		t.Fatal(err)
	}
	compact := root.Compact()
	// Oracle: encoding/json.Compact keeps order and number text too.
	var ref bytes.Buffer
	if err := json.Compact(&ref, []byte(jsonSample)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact, ref.Bytes()) {
		t.Errorf("Compact:\n got %s\nwant %s", compact, ref.Bytes())
	}
	again, err := ParseJSONTree(compact)
	if err != nil {
		t.Fatalf("Compact output does not parse: %v", err)
	}
	if !bytes.Equal(again.Compact(), compact) {
		t.Error("Compact is not stable under a parse round trip")
	}
	for _, style := range []struct{ prefix, indent string }{{"", "  "}, {"> ", "\t"}} {
		got := root.Indent(style.prefix, style.indent)
		var want bytes.Buffer
		if err := json.Indent(&want, compact, style.prefix, style.indent); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("Indent(%q, %q):\n got %s\nwant %s", style.prefix, style.indent, got, want.Bytes())
		}
	}
	// Keys with characters that need escaping are re-encoded validly.
	n, err := ParseJSONTree([]byte(`{"a\"b\\c\u0001\n": 1, "\u00e9": [true, null]}`))
	if err != nil {
		t.Fatal(err)
	}
	out := n.Compact()
	if string(out) != "{\"a\\\"b\\\\c\\u0001\\n\":1,\"é\":[true,null]}" {
		t.Errorf("Compact with escaped keys = %s", out)
	}
	if !json.Valid(out) {
		t.Errorf("Compact output %s is not valid JSON", out)
	}
}

func TestJSONKindName(t *testing.T) {
	root, err := ParseJSONTree([]byte(`[null, true, 1, "s", [], {}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"null", "boolean", "number", "string", "array", "object"}
	for i, c := range root.Children {
		if c.KindName() != want[i] {
			t.Errorf("element %d: KindName %q, want %q", i, c.KindName(), want[i])
		}
	}
	var nilNode *JSONNode
	if nilNode.KindName() != "missing" {
		t.Errorf("nil KindName = %q", nilNode.KindName())
	}
	if _, ok := nilNode.Get("a"); ok {
		t.Error("Get on nil node succeeded")
	}
	if _, ok := root.Member("a"); ok {
		t.Error("Member on an array succeeded")
	}
}

func FuzzParseJSONTree(f *testing.F) {
	for _, s := range []string{jsonSample, `{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `-0.0e+10`, `{"a":1,"a":2}`, "[" + strings.Repeat("[", 600), `{"x": NaN}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseJSONTree(data)
		if err != nil {
			var se *JSONSyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// Everything we accept, encoding/json accepts too.
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		c := n.Compact()
		if !json.Valid(c) {
			t.Fatalf("Compact produced invalid JSON %q", c)
		}
		n2, err := ParseJSONTree(c)
		if err != nil {
			t.Fatalf("Compact output %q does not re-parse: %v", c, err)
		}
		if c2 := n2.Compact(); !bytes.Equal(c, c2) {
			t.Fatalf("Compact not stable: %q then %q", c, c2)
		}
		if ind := n.Indent("", " "); !json.Valid(ind) {
			t.Fatalf("Indent produced invalid JSON %q", ind)
		}
		if n.Kind == JSONString {
			s, err := n.Str()
			var ref string
			if rerr := json.Unmarshal(data, &ref); err != nil || rerr != nil || ref != s {
				t.Fatalf("Str = %q (%v), encoding/json %q (%v)", s, err, ref, rerr)
			}
		}
	})
}
