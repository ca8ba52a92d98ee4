// Command gen writes Qwen3-Omni MoE test checkpoints.
//
//	go run ./testdata/gen tiny -out DIR [flags]       tiny checkpoint with real names and config nesting
//	go run ./testdata/gen realscale -out DIR [flags]  real-size sparse checkpoint (real headers, data = holes)
//
// Run with -h after a subcommand for its flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

const usage = `gen writes Qwen3-Omni MoE checkpoints for tests.

Usage:
  go run ./testdata/gen tiny      -out DIR [flags]
  go run ./testdata/gen realscale -out DIR [-variant instruct]
  go run ./testdata/gen release   -out DIR -family llama|qwen3_moe [sizes]

tiny       A few hundred KB checkpoint: config.json with the real nesting of
           Qwen3-Omni-30B-A3B-Instruct (sizes replaced), tensors with the real
           names in state_dict order, deterministic values, shards + index.
           With no flags it writes the committed example
           testdata/example/qwen3-omni-tiny.
realscale  The real tensor list and shard headers (15 shards, 70.5 GB apparent
           size) with the data regions left as file holes, so it costs a few MB
           of disk. All tensors read as zeros.

release    A release-shaped llama or qwen3_moe checkpoint of any size (real
           tensor names and config keys, deterministic values): benchmark
           inputs of several GB. -realscale NAME writes a published model's
           anatomy sparsely instead (qwen3-235b-a22b, llama-3.1-405b).

All refuse a directory that already holds config.json or *.safetensors;
-force removes those files first.

Run "go run ./testdata/gen tiny -h" or "... realscale -h" for the flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing subcommand: tiny or realscale")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "tiny":
		return runTiny(args[1:], stdout, stderr)
	case "realscale":
		return runRealScale(args[1:], stdout, stderr)
	case "release":
		return runRelease(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown subcommand %q: use tiny or realscale", args[0])
}

// intList is a comma-separated list of integers ("" = empty list).
type intList struct{ v *[]int }

func (l intList) String() string {
	if l.v == nil {
		return ""
	}
	s := make([]string, len(*l.v))
	for i, x := range *l.v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func (l intList) Set(s string) error {
	*l.v = nil
	if s == "" {
		return nil
	}
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("%q is not an integer", p)
		}
		*l.v = append(*l.v, n)
	}
	return nil
}

// strList is a comma-separated list of names ("" = empty list).
type strList struct{ v *[]string }

func (l strList) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l strList) Set(s string) error {
	*l.v = nil
	if s == "" {
		return nil
	}
	for _, p := range strings.Split(s, ",") {
		*l.v = append(*l.v, strings.TrimSpace(p))
	}
	return nil
}

func runTiny(args []string, stdout, stderr io.Writer) error {
	o := fixture.DefaultTiny()
	fs := flag.NewFlagSet("tiny", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (required)")
	force := fs.Bool("force", false, "remove config.json, *.safetensors and the index from -out first")
	dtype := fs.String("dtype", string(o.DType), "tensor dtype: BF16, F16 or F32")
	fs.IntVar(&o.Hidden, "hidden", o.Hidden, "thinker text hidden_size")
	fs.IntVar(&o.Heads, "heads", o.Heads, "num_attention_heads")
	fs.IntVar(&o.Groups, "groups", o.Groups, "num_key_value_heads (query groups); must divide -heads")
	fs.IntVar(&o.HeadDim, "head-dim", o.HeadDim, "head_dim (even)")
	fs.IntVar(&o.Layers, "layers", o.Layers, "num_hidden_layers (all MoE)")
	fs.IntVar(&o.Experts, "experts", o.Experts, "num_experts")
	fs.IntVar(&o.MoEFFN, "moe-ffn", o.MoEFFN, "moe_intermediate_size (expert gate/up rows)")
	fs.IntVar(&o.FFN, "ffn", o.FFN, "intermediate_size (config only)")
	fs.IntVar(&o.Vocab, "vocab", o.Vocab, "vocab_size (at least 16)")
	fs.IntVar(&o.Shards, "shards", o.Shards, "number of safetensors files; 1 writes model.safetensors without an index")
	fs.BoolVar(&o.AttentionBias, "attention-bias", o.AttentionBias, "attention_bias: add q/k/v_proj.bias")
	fs.BoolVar(&o.Tied, "tied", o.Tied, "tie_word_embeddings: omit thinker.lm_head.weight")
	fs.BoolVar(&o.Vision, "vision", o.Vision, "write thinker.visual.* and vision_config (-vision=false to omit)")
	fs.BoolVar(&o.Audio, "audio", o.Audio, "write thinker.audio_tower.* and audio_config (-audio=false to omit)")
	fs.BoolVar(&o.Talker, "talker", o.Talker, "write talker.* and talker_config (-talker=false to omit)")
	fs.BoolVar(&o.Code2Wav, "code2wav", o.Code2Wav, "write code2wav.* and code2wav_config (-code2wav=false to omit)")
	fs.BoolVar(&o.EnableAudioOutput, "enable-audio-output", o.EnableAudioOutput, "top-level enable_audio_output")
	fs.Var(intList{&o.Deepstack}, "deepstack", "vision deepstack_visual_indexes, comma-separated (\"\" for none)")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of the tensor values")
	fs.Var(strList{&o.ExtraTensors}, "extra", "extra tensor names (shape [2,2]), comma-separated, to test unmapped names")
	fs.BoolVar(&o.Tokenizer, "tokenizer", o.Tokenizer, "write tokenizer/generation/preprocessor files")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./testdata/gen tiny -out DIR [flags]\n\n"+
			"Writes a tiny Qwen3-Omni MoE checkpoint. Defaults reproduce testdata/example/qwen3-omni-tiny.\n"+
			"Boolean flags that default to true are turned off with -name=false.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, out); err != nil {
		return err
	}
	dt, err := loader.ParseDType(strings.ToUpper(*dtype))
	if err != nil {
		return fmt.Errorf("-dtype: %w", err)
	}
	o.DType = dt
	if *force {
		if err := clearCheckpoint(*out); err != nil {
			return err
		}
	}
	if err := fixture.WriteTiny(*out, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote tiny checkpoint to %s\n", *out)
	return nil
}

func runRealScale(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("realscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (required)")
	force := fs.Bool("force", false, "remove config.json, *.safetensors and the index from -out first")
	variant := fs.String("variant", fixture.VariantInstruct,
		"instruct (28,010 tensors, 15 shards), thinker_only (19,743 tensors, 13 shards) or fused_v5 (transformers v5 fused experts)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: go run ./testdata/gen realscale -out DIR [-variant instruct]\n\n"+
			"Writes config.json, model.safetensors.index.json and shards with the real headers of\n"+
			"Qwen3-Omni-30B-A3B-Instruct. Data regions are sparse holes (read as zeros).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, out); err != nil {
		return err
	}
	if *force {
		if err := clearCheckpoint(*out); err != nil {
			return err
		}
	}
	if err := fixture.WriteRealScale(*out, *variant); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote real-scale %s checkpoint (sparse) to %s\n", *variant, *out)
	return nil
}

// clearCheckpoint removes the files a previous run may have written.
func clearCheckpoint(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("-force: read %s: %w", dir, err)
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			continue
		}
		if n == "config.json" || n == "model.safetensors.index.json" || strings.HasSuffix(n, ".safetensors") ||
			tokenizerFile(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("-force: %w", err)
			}
		}
	}
	return nil
}

func tokenizerFile(n string) bool {
	switch n {
	case "vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json", "preprocessor_config.json":
		return true
	}
	return false
}

// parseFlags parses a subcommand's flags, which take no positional arguments and need -out.
func parseFlags(fs *flag.FlagSet, args []string, out *string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every option is a flag (see -h)", fs.Arg(0))
	}
	if *out == "" {
		fs.Usage()
		return errors.New("-out is required")
	}
	return nil
}

func runRelease(args []string, stdout, stderr io.Writer) error {
	d := fixture.Dec{Hidden: 2048, Heads: 16, KV: 8, HeadDim: 128, Inter: 8192, Layers: 16, Vocab: 32000}
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "output directory (required)")
	fam := fs.String("family", "llama", "model_type: llama, qwen3_moe or deepseek_v3 (block FP8 + MTP layer)")
	real := fs.String("realscale", "", "write this published model's anatomy sparsely instead: "+strings.Join(fixture.RealScaleReleases(), ", "))
	shards := fs.Int("shards", 4, "number of safetensors files")
	experts := fs.Int("experts", 16, "qwen3_moe / deepseek_v3 number of experts")
	moeInter := fs.Int("moe-ffn", 768, "qwen3_moe / deepseek_v3 moe_intermediate_size")
	fs.IntVar(&d.Hidden, "hidden", d.Hidden, "hidden_size")
	fs.IntVar(&d.Heads, "heads", d.Heads, "num_attention_heads")
	fs.IntVar(&d.KV, "kv", d.KV, "num_key_value_heads")
	fs.IntVar(&d.HeadDim, "head-dim", d.HeadDim, "head_dim")
	fs.IntVar(&d.Inter, "ffn", d.Inter, "intermediate_size")
	fs.IntVar(&d.Layers, "layers", d.Layers, "num_hidden_layers")
	fs.IntVar(&d.Vocab, "vocab", d.Vocab, "vocab_size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("release: -out is required")
	}
	if *real != "" {
		return fixture.WriteRealScaleRelease(*out, *real)
	}
	spec, err := fixture.SizedRelease(*fam, d, *experts, *moeInter)
	if err != nil {
		return err
	}
	if err := fixture.WriteRelease(*out, spec, fixture.ReleaseOptions{Shards: *shards, Seed: 1}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %d tensors)\n", *out, *fam, len(spec.Tensors))
	return nil
}
