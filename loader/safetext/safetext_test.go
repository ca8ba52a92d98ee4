package safetext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// hostile holds every kind of text a terminal would act on.
const hostile = "a\x1b]0;pwned\x07b\x1b[2Jc\x00d\x7fe\u009bf\u202eg\u2066h\ri\nj\tk\xff"

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"thinker.model.layers.0.mlp.gate.weight", "thinker.model.layers.0.mlp.gate.weight"},
		{"héllo wörld ✓ 模型", "héllo wörld ✓ 模型"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"nul\x00", `nul\x00`},
		{"del\x7f", `del\x7f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202eevil\u202c", `bidi\u202eevil\u202c`},
		{"iso\u2066x\u2069", `iso\u2066x\u2069`},
		{"line1\nline2\ttab\rcr", `line1\nline2\ttab\rcr`},
		{"bad\xffutf8\xc3", `bad\xffutf8\xc3`},
		{"sep\u2028", `sep\u2028`},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestMultilineKeepsLines(t *testing.T) {
	got := Multiline("a\nb\tc\x1b[31md\re")
	if want := "a\nb\tc\\x1b[31md\\re"; got != want {
		t.Errorf("Multiline = %q, want %q", got, want)
	}
}

// noControls fails when s holds anything a terminal acts on (besides \n and \t when lines is set).
func noControls(t *testing.T, s string, lines bool) {
	t.Helper()
	for _, r := range s {
		if lines && (r == '\n' || r == '\t') {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("output holds %U: %q", r, s)
		}
	}
}

func TestEscapeRemovesEveryControl(t *testing.T) {
	noControls(t, Escape(hostile), false)
	noControls(t, Multiline(hostile), true)
	if Safe(hostile) || !Safe("plain.name") {
		t.Error("Safe misjudges")
	}
}

func TestSafeDoesNotAllocate(t *testing.T) {
	s := "thinker.model.layers.17.mlp.experts.3.down_proj.weight"
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s) }); n != 0 {
		t.Errorf("Escape of safe text allocates %v times", n)
	}
}

func TestWriterSplitRunes(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := []byte("x\u202ey\u00e9\n")
	// write byte by byte: every multi-byte rune is split across writes
	for i := range in {
		if _, err := w.Write(in[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "x\\u202ey\u00e9\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	out.Reset()
	w.Write([]byte("tail\xe2\x80"))
	w.Flush()
	if got := out.String(); got != `tail\xe2\x80` {
		t.Errorf("flushed incomplete sequence: %q", got)
	}
}

func TestJSONWriter(t *testing.T) {
	v := map[string]string{"name": hostile}
	var out bytes.Buffer
	w := NewJSONWriter(&out)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	noControls(t, strings.TrimSuffix(out.String(), "\n"), false)
	var back map[string]string
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("not JSON any more: %v\n%s", err, out.String())
	}
	// encoding/json turns the invalid byte into U+FFFD; everything else survives exactly
	want := strings.Replace(hostile, "\xff", "\ufffd", 1)
	if back["name"] != want {
		t.Errorf("value changed: %q, want %q", back["name"], want)
	}
}

func TestFrameKeepsStylesOnly(t *testing.T) {
	styled := "\x1b[1;38;5;212mtitle\x1b[0m\nrow ✓\n"
	if got := Frame(styled); got != styled {
		t.Errorf("Frame changed a styled frame: %q", got)
	}
	got := Frame("\x1b[31mred\x1b[0m " + hostile)
	if !strings.HasPrefix(got, "\x1b[31mred\x1b[0m ") {
		t.Errorf("SGR lost: %q", got)
	}
	rest := strings.TrimPrefix(got, "\x1b[31mred\x1b[0m ")
	noControls(t, rest, true)
	if !strings.Contains(rest, `\x1b]0;pwned\x07b\x1b[2J`) {
		t.Errorf("escape sequences not shown: %q", rest)
	}
}

// FuzzEscape: whatever the input, the escaped forms hold nothing a terminal acts
// on, and safe text is returned unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", hostile, "\x1b[31mred\x1b[0m", "\u202e\u2066", "\xc2\x9b", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		noControls(t, Escape(s), false)
		noControls(t, Multiline(s), true)
		if Safe(s) && Escape(s) != s {
			t.Fatalf("safe text changed: %q", s)
		}
		fr := Frame(s)
		for i := 0; i < len(fr); i++ {
			if fr[i] == 0x1b {
				if sgrEnd(fr, i) < 0 {
					t.Fatalf("Frame let a non-SGR escape through: %q", fr)
				}
			}
		}
	})
}
