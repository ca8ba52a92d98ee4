package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// Every flag must reach TinyOptions: the CLI output equals WriteTiny with the
// same options set directly.
func TestTinyFlagsMapToOptions(t *testing.T) {
	o := fixture.DefaultTiny()
	o.Hidden, o.Heads, o.Groups, o.HeadDim, o.Layers, o.Experts, o.MoEFFN, o.FFN, o.Vocab = 24, 6, 3, 4, 3, 5, 12, 40, 40
	o.DType, o.Shards, o.AttentionBias, o.Tied = loader.F16, 3, true, true
	o.Vision, o.Audio, o.Talker, o.Code2Wav, o.EnableAudioOutput = true, false, true, false, false
	o.Deepstack, o.Seed, o.ExtraTensors, o.Tokenizer = []int{2}, 9, []string{"x.y", "z"}, false
	want := t.TempDir()
	if err := fixture.WriteTiny(want, o); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(t.TempDir(), "out")
	args := []string{"tiny", "-out", got, "-hidden", "24", "-heads", "6", "-groups", "3", "-head-dim", "4", "-layers", "3",
		"-experts", "5", "-moe-ffn", "12", "-ffn", "40", "-vocab", "40", "-dtype", "f16", "-shards", "3",
		"-attention-bias", "-tied", "-audio=false", "-code2wav=false", "-enable-audio-output=false",
		"-deepstack", "2", "-seed", "9", "-extra", "x.y,z", "-tokenizer=false"}
	var out, errb bytes.Buffer
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	ents, _ := os.ReadDir(want)
	gents, _ := os.ReadDir(got)
	if len(ents) != len(gents) {
		t.Fatalf("CLI wrote %d files, WriteTiny %d", len(gents), len(ents))
	}
	for _, e := range ents {
		a, _ := os.ReadFile(filepath.Join(want, e.Name()))
		b, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the CLI and WriteTiny (%v)", e.Name(), err)
		}
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "missing subcommand"},
		{"unknown subcommand", []string{"huge"}, "unknown subcommand"},
		{"no out", []string{"tiny"}, "-out is required"},
		{"bad dtype", []string{"tiny", "-out", dir, "-dtype", "Q4"}, "unknown dtype"},
		{"bad deepstack", []string{"tiny", "-out", dir, "-deepstack", "1,x"}, "not an integer"},
		{"invalid sizes", []string{"tiny", "-out", dir, "-heads", "5"}, "Groups"},
		{"stray argument", []string{"tiny", "-out", dir, "extra"}, "unexpected argument"},
		{"bad variant", []string{"realscale", "-out", dir, "-variant", "captioner"}, "unknown reference variant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(tc.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestForceReplacesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run([]string{"tiny", "-out", dir, "-shards", "3"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"tiny", "-out", dir, "-shards", "1"}, &out, &errb); err == nil {
		t.Fatal("second run without -force succeeded")
	}
	if err := run([]string{"tiny", "-out", dir, "-shards", "1", "-force"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(m) != 1 || filepath.Base(m[0]) != "model.safetensors" {
		t.Errorf("after -force: %v, want only model.safetensors", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		t.Error("stale index left behind by -force")
	}
}
