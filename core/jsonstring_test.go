package core

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"
)

// TestJSONStringMatchesMarshal: jsonString writes exactly what json.Marshal writes
// (hf_config_json must not change), for every byte, tricky runes and random text.
func TestJSONStringMatchesMarshal(t *testing.T) {
	inputs := []string{"", "plain", `{"a": "<b>&c", "d": "\\n"}`, "\u2028\u2029", "\xff\xfe", "é模型\U0001F600", "\x7f\u0085\u202e"}
	for c := 0; c < 256; c++ {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"z")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		inputs = append(inputs, string(b))
	}
	if cfg, err := os.ReadFile("../testdata/example/qwen3-omni-tiny/config.json"); err == nil {
		inputs = append(inputs, string(cfg))
	}
	for _, s := range inputs {
		want, _ := json.Marshal(s)
		got, err := jsonString(s)
		if err != nil || got != string(want) {
			t.Fatalf("jsonString(%q) = %q, json.Marshal gives %q", s, got, want)
		}
		// the plan JSON's streaming writer (with its plain-ASCII fast path) too
		var buf bytes.Buffer
		jw := &jsonWriter{w: bufio.NewWriter(&buf)}
		jw.str(s)
		if jw.err != nil || jw.w.Flush() != nil || buf.String() != string(want) {
			t.Fatalf("jsonWriter.str(%q) = %q, json.Marshal gives %q", s, buf.String(), want)
		}
	}
}

// TestJSONStringAllocatesOnce: a big string costs one output-sized allocation.
func TestJSONStringAllocatesOnce(t *testing.T) {
	s := string(make([]byte, 1<<20)) // NULs: every byte becomes a 6-byte escape
	if n := testing.AllocsPerRun(3, func() { jsonString(s) }); n > 1 {
		t.Errorf("jsonString allocates %v times, want 1", n)
	}
}
