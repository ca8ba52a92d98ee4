package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const hfConfig = `{
  "architectures": ["Qwen3OmniMoeForConditionalGeneration"],
  "model_type": "qwen3_omni_moe",
  "thinker_config": {"text_config": {"hidden_size": 64, "rms_norm_eps": 1e-06}}
}
`

// hfShardNames are the shards of the test checkpoint.
var hfShardNames = [3]string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"}

// hfTensors is the content of the test checkpoint, by shard. Names are chosen
// so that global name order differs from shard order.
func hfTensors() [3][]WriteTensor {
	mk := func(name string, dt DType, shape ...int64) WriteTensor {
		n := int64(dt.Size())
		for _, d := range shape {
			n *= d
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(len(name)*31 + i*7 + int(name[len(name)-1]))
		}
		return WriteTensor{Name: name, DType: dt, Shape: shape, Data: data}
	}
	return [3][]WriteTensor{
		{mk("thinker.model.layers.1.w", BF16, 4, 8), mk("thinker.model.layers.0.w", BF16, 8, 4), mk("thinker.model.embed_tokens.weight", BF16, 16, 4)},
		{mk("code2wav.decoder.0.conv.bias", F32, 5), mk("talker.model.norm.weight", BF16, 4), mk("thinker.model.layers.2.w", BF16, 4, 8), mk("empty", BF16, 0, 4)},
		{mk("a.scalar", F32), mk("thinker.lm_head.weight", BF16, 3, 4)},
	}
}

// hfMake writes a valid sharded checkpoint into dir and returns the tensors
// by shard and the weight map.
func hfMake(t *testing.T, dir string) ([3][]WriteTensor, map[string]string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(hfConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	shards := hfTensors()
	wm := map[string]string{}
	var total int64
	for s := 2; s >= 0; s-- { // written out of order on purpose
		if err := WriteSafetensors(filepath.Join(dir, hfShardNames[s]), shards[s], map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		for _, w := range shards[s] {
			wm[w.Name] = hfShardNames[s]
			total += int64(len(w.Data))
		}
	}
	hfWriteIndex(t, dir, wm, fmt.Sprintf(`{"total_size": %d, "total_parameters": 123}`, total))
	return shards, wm
}

func hfWriteIndex(t *testing.T, dir string, wm map[string]string, meta string) {
	t.Helper()
	wmj, err := json.MarshalIndent(wm, "  ", "  ")
	if err != nil {
		t.Fatal(err)
	}
	text := "{\n  \"metadata\": " + meta + ",\n  \"weight_map\": " + string(wmj) + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hfTouch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenHFSharded(t *testing.T) {
	dir := t.TempDir()
	shards, _ := hfMake(t, dir)
	extras := []string{"added_tokens.json", "chat_template.jinja", "chat_template.json", "generation_config.json", "merges.txt",
		"preprocessor_config.json", "special_tokens_map.json", "spiece.model", "tokenizer.json", "tokenizer.model",
		"tokenizer_config.json", "video_preprocessor_config.json", "vocab.json"}
	hfTouch(t, dir, extras...)
	hfTouch(t, dir, "README.md", ".gitattributes", "LICENSE", "sub/tokenizer.json", "notes.txt", ".model")
	if err := os.Mkdir(filepath.Join(dir, "merges.txt.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tokenizer.json", filepath.Join(dir, "dangling.model")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "tokenizer.json")) // dangling.model -> missing: not an extra file
	extras = slices.DeleteFunc(extras, func(s string) bool { return s == "tokenizer.json" })

	c, err := OpenHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if c.Dir != dir || c.IndexPath != filepath.Join(dir, IndexFileName) {
		t.Errorf("Dir %q IndexPath %q", c.Dir, c.IndexPath)
	}
	if mt, ok := c.Config.Get("model_type"); !ok || mt.Raw != `"qwen3_omni_moe"` {
		t.Errorf("config model_type = %v", mt)
	}
	if eps, _ := c.Config.Get("thinker_config.text_config.rms_norm_eps"); eps == nil || eps.Raw != "1e-06" {
		t.Errorf("rms_norm_eps not kept as written: %v", eps)
	}
	if string(c.ConfigBytes) != hfConfig {
		t.Error("ConfigBytes differ from config.json")
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if !slices.Equal(c.ExtraFiles, extras) {
		t.Errorf("ExtraFiles\n got %v\nwant %v", c.ExtraFiles, extras)
	}
	if ts, ok := c.IndexMeta["total_size"].(json.Number); !ok || ts.String() != fmt.Sprint(c.TotalBytes()) {
		t.Errorf("IndexMeta total_size = %#v, TotalBytes %d", c.IndexMeta["total_size"], c.TotalBytes())
	}

	if len(c.Shards) != 3 {
		t.Fatalf("%d shards", len(c.Shards))
	}
	var wantTensors []TensorInfo
	var wantBytes, wantParams int64
	for s, sh := range c.Shards {
		if sh.Name != hfShardNames[s] || sh.Path != filepath.Join(dir, sh.Name) || sh.Metadata["format"] != "pt" {
			t.Errorf("shard %d = %+v", s, sh)
		}
		fi, _ := os.Stat(sh.Path)
		h, err := ReadSafetensorsHeader(sh.Path)
		if err != nil {
			t.Fatal(err)
		}
		if sh.Size != fi.Size() || sh.HeaderLen != h.HeaderLen {
			t.Errorf("shard %d size %d header %d, want %d %d", s, sh.Size, sh.HeaderLen, fi.Size(), h.HeaderLen)
		}
		names := make([]string, 0)
		for _, w := range shards[s] {
			names = append(names, w.Name)
			wantBytes += int64(len(w.Data))
			n := int64(1)
			for _, d := range w.Shape {
				n *= d
			}
			wantParams += n
		}
		sort.Strings(names)
		for _, n := range names {
			wantTensors = append(wantTensors, TensorInfo{Name: n, Shard: s})
		}
	}
	if len(c.Tensors) != len(wantTensors) {
		t.Fatalf("%d tensors, want %d", len(c.Tensors), len(wantTensors))
	}
	for i, ti := range c.Tensors {
		if ti.Name != wantTensors[i].Name || ti.Shard != wantTensors[i].Shard {
			t.Errorf("tensor %d = %s in shard %d, want %s in shard %d", i, ti.Name, ti.Shard, wantTensors[i].Name, wantTensors[i].Shard)
		}
		if c.ByName[ti.Name] != i {
			t.Errorf("ByName[%s] = %d, want %d", ti.Name, c.ByName[ti.Name], i)
		}
		if c.ShardOf(i) != &c.Shards[ti.Shard] {
			t.Errorf("ShardOf(%d) wrong", i)
		}
	}
	if len(c.ByName) != len(c.Tensors) {
		t.Errorf("ByName has %d entries", len(c.ByName))
	}
	if c.TotalBytes() != wantBytes || c.TotalParams() != wantParams {
		t.Errorf("TotalBytes %d TotalParams %d, want %d %d", c.TotalBytes(), c.TotalParams(), wantBytes, wantParams)
	}
	if c.ShardOf(-1) != nil || c.ShardOf(len(c.Tensors)) != nil {
		t.Error("ShardOf out of range is not nil")
	}
	// Opening the index file itself gives the same checkpoint.
	ci, err := OpenHF(c.IndexPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	if ci.Dir != c.Dir || len(ci.Tensors) != len(c.Tensors) || len(ci.Shards) != 3 {
		t.Errorf("OpenHF(index): dir %s, %d tensors, %d shards", ci.Dir, len(ci.Tensors), len(ci.Shards))
	}
	// Data through the mapping equals what was written.
	for s := range shards {
		for _, w := range shards[s] {
			got, err := c.TensorData(c.ByName[w.Name])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, w.Data) || got == nil {
				t.Errorf("TensorData(%s) = %v, want %v", w.Name, got, w.Data)
			}
		}
	}
}

func TestOpenHFSingleFileForms(t *testing.T) {
	dir := t.TempDir()
	tensors := hfTensors()[1]
	if err := WriteSafetensors(filepath.Join(dir, SingleFileName), tensors, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFileName), []byte(hfConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	hfTouch(t, dir, "tokenizer_config.json")
	for _, path := range []string{dir, filepath.Join(dir, SingleFileName), filepath.Join(dir, ConfigFileName)} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, err := OpenHF(path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Shards) != 1 || c.Shards[0].Name != SingleFileName || c.IndexPath != "" || c.IndexMeta != nil {
				t.Errorf("shards %+v index %q meta %v", c.Shards, c.IndexPath, c.IndexMeta)
			}
			if len(c.Tensors) != len(tensors) || !slices.Equal(c.ExtraFiles, []string{"tokenizer_config.json"}) || len(c.Warnings) != 0 {
				t.Errorf("%d tensors, extras %v, warnings %v", len(c.Tensors), c.ExtraFiles, c.Warnings)
			}
			for _, w := range tensors {
				got, err := c.TensorData(c.ByName[w.Name])
				if err != nil || !bytes.Equal(got, w.Data) {
					t.Errorf("TensorData(%s) = %v, %v", w.Name, got, err)
				}
			}
		})
	}
}

func TestOpenHFWarnings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string, wm map[string]string)
		open   string // relative path to open, "" for the directory
		want   string
	}{
		{"single and index", func(t *testing.T, dir string, _ map[string]string) {
			if err := WriteSafetensors(filepath.Join(dir, SingleFileName), hfTensors()[0], nil); err != nil {
				t.Fatal(err)
			}
		}, "", "both present"},
		{"total_size mismatch", func(t *testing.T, dir string, wm map[string]string) {
			hfWriteIndex(t, dir, wm, `{"total_size": 5}`)
		}, "", "metadata.total_size is 5 but the shards hold"},
		{"stray shard", func(t *testing.T, dir string, _ map[string]string) {
			if err := WriteSafetensors(filepath.Join(dir, "model-00009-of-00009.safetensors"), nil, nil); err != nil {
				t.Fatal(err)
			}
		}, "", `does not list "model-00009-of-00009.safetensors"`},
		{"one shard of many", func(*testing.T, string, map[string]string) {}, hfShardNames[1], "opened only model-00002-of-00003.safetensors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, wm := hfMake(t, dir)
			tc.mutate(t, dir, wm)
			c, err := OpenHF(filepath.Join(dir, tc.open))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.want) {
				t.Errorf("warnings %q, want one containing %q", c.Warnings, tc.want)
			}
		})
	}
}

func TestOpenHFFollowsSymlinks(t *testing.T) {
	// Hugging Face cache layout: snapshot files are symlinks into blobs/.
	root := t.TempDir()
	src := filepath.Join(root, "blobs")
	snap := filepath.Join(root, "snapshots", "abc123")
	for _, d := range []string{src, snap} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hfMake(t, src)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if err := os.Symlink(filepath.Join("..", "..", "blobs", e.Name()), filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	c, err := OpenHF(snap)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Tensors) != 9 || c.Shards[2].Size == 0 {
		t.Errorf("%d tensors, shards %+v", len(c.Tensors), c.Shards)
	}
	if _, err := c.TensorData(0); err != nil {
		t.Error(err)
	}
	// The cache root itself is not a checkpoint, and says where to look.
	_, err = OpenHF(root)
	stCheckFileError(t, err, root, "", ErrNotCheckpoint, "Hugging Face cache folder", "snapshots/<revision>")
}

func TestOpenHFErrors(t *testing.T) {
	type env struct {
		dir string
		wm  map[string]string
	}
	rm := func(t *testing.T, p string) {
		t.Helper()
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	write := func(t *testing.T, p, text string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shard := func(e env, i int) string { return filepath.Join(e.dir, hfShardNames[i]) }
	index := func(e env) string { return filepath.Join(e.dir, IndexFileName) }
	config := func(e env) string { return filepath.Join(e.dir, ConfigFileName) }

	cases := []struct {
		name   string
		setup  func(t *testing.T, e env) (open, file, tensor string)
		kind   error
		want   []string
		asRoot bool // false: skip when running as root (permissions do not apply)
	}{
		{"path does not exist", func(t *testing.T, e env) (string, string, string) {
			p := filepath.Join(e.dir, "nope")
			return p, p, ""
		}, ErrMissingFile, []string{"no such file or directory", "Hugging Face checkpoint"}, true},
		{"path is an unrelated file", func(t *testing.T, e env) (string, string, string) {
			p := filepath.Join(e.dir, "README.md")
			write(t, p, "hi")
			return p, p, ""
		}, ErrNotCheckpoint, []string{"not a checkpoint"}, true},
		{"empty directory", func(t *testing.T, e env) (string, string, string) {
			d := t.TempDir()
			return d, d, ""
		}, ErrNotCheckpoint, []string{"no config.json and no weights", "looked for model.safetensors and model.safetensors.index.json"}, true},
		{"config but no weights", func(t *testing.T, e env) (string, string, string) {
			rm(t, index(e))
			for i := range hfShardNames {
				rm(t, shard(e, i))
			}
			return e.dir, e.dir, ""
		}, ErrMissingFile, []string{"no weights next to config.json", "looked for model.safetensors and model.safetensors.index.json"}, true},
		{"shards without index", func(t *testing.T, e env) (string, string, string) {
			rm(t, index(e))
			return e.dir, e.dir, ""
		}, ErrMissingFile, []string{`found "model-00001-of-00003.safetensors"`, "no model.safetensors.index.json"}, true},
		{"pytorch weights", func(t *testing.T, e env) (string, string, string) {
			d := t.TempDir()
			hfTouch(t, d, "config.json", "pytorch_model.bin")
			return d, d, ""
		}, ErrNotCheckpoint, []string{"PyTorch pickles", `"pytorch_model.bin"`, "safe_serialization=True"}, true},
		{"megatron directory", func(t *testing.T, e env) (string, string, string) {
			d := t.TempDir()
			hfTouch(t, d, "latest_checkpointed_iteration.txt", "iter_0000001/mp_rank_00/model_optim_rng.pt")
			return d, d, ""
		}, ErrNotCheckpoint, []string{"Megatron checkpoint"}, true},
		{"config missing", func(t *testing.T, e env) (string, string, string) {
			rm(t, config(e))
			return e.dir, config(e), ""
		}, ErrMissingFile, []string{"no config.json next to the weights"}, true},
		{"config missing next to single file", func(t *testing.T, e env) (string, string, string) {
			rm(t, config(e))
			return shard(e, 0), config(e), ""
		}, ErrMissingFile, []string{"no config.json"}, true},
		{"config empty", func(t *testing.T, e env) (string, string, string) {
			write(t, config(e), " \n")
			return e.dir, config(e), ""
		}, ErrCorrupt, []string{"file is empty"}, true},
		{"config not JSON", func(t *testing.T, e env) (string, string, string) {
			write(t, config(e), "{\n  \"a\": 1,\n  \"b\" 2\n}")
			return e.dir, config(e), ""
		}, ErrCorrupt, []string{"config.json:3:7: expected ':' after object key \"b\""}, true},
		{"config is an array", func(t *testing.T, e env) (string, string, string) {
			write(t, config(e), "[]")
			return e.dir, config(e), ""
		}, ErrCorrupt, []string{"top-level value is a JSON array, expected an object"}, true},
		{"config is a directory", func(t *testing.T, e env) (string, string, string) {
			rm(t, config(e))
			if err := os.Mkdir(config(e), 0o755); err != nil {
				t.Fatal(err)
			}
			return e.dir, config(e), ""
		}, ErrUnreadable, []string{"is a directory, not a regular file"}, true},
		{"index not JSON", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), `{"weight_map": {"a": "b",}}`)
			return e.dir, index(e), ""
		}, ErrCorrupt, []string{IndexFileName + ":1:26: trailing comma"}, true},
		{"index empty", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), "")
			return e.dir, index(e), ""
		}, ErrCorrupt, []string{"file is empty"}, true},
		{"index without weight_map", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), `{"metadata": {}}`)
			return e.dir, index(e), ""
		}, ErrCorrupt, []string{`no "weight_map"`}, true},
		{"weight_map not object", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), `{"weight_map": ["a"]}`)
			return e.dir, index(e), ""
		}, ErrCorrupt, []string{`"weight_map" is an array`}, true},
		{"weight_map value not string", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), `{"weight_map": {"w.x": 3}}`)
			return e.dir, index(e), "w.x"
		}, ErrCorrupt, []string{"must be a shard file name", "expected a string, found number 3"}, true},
		{"weight_map escapes directory", func(t *testing.T, e env) (string, string, string) {
			write(t, index(e), `{"weight_map": {"w.x": "../model.safetensors"}}`)
			return e.dir, index(e), "w.x"
		}, ErrCorrupt, []string{`shard "../model.safetensors" is not a file name inside the checkpoint directory`}, true},
		{"shard missing", func(t *testing.T, e env) (string, string, string) {
			rm(t, shard(e, 1))
			return e.dir, shard(e, 1), ""
		}, ErrMissingFile, []string{"shard listed in model.safetensors.index.json for 4 tensors", "download the missing shard"}, true},
		{"shard is a directory", func(t *testing.T, e env) (string, string, string) {
			rm(t, shard(e, 2))
			if err := os.Mkdir(shard(e, 2), 0o755); err != nil {
				t.Fatal(err)
			}
			return e.dir, shard(e, 2), ""
		}, ErrUnreadable, []string{"is a directory, not a regular file"}, true},
		{"shard symlink loop", func(t *testing.T, e env) (string, string, string) {
			rm(t, shard(e, 0))
			if err := os.Symlink(hfShardNames[0], shard(e, 0)); err != nil {
				t.Fatal(err)
			}
			return e.dir, shard(e, 0), ""
		}, ErrUnreadable, []string{"symbolic link loop"}, true},
		{"shard unreadable", func(t *testing.T, e env) (string, string, string) {
			if err := os.Chmod(shard(e, 0), 0); err != nil {
				t.Fatal(err)
			}
			return e.dir, shard(e, 0), ""
		}, ErrUnreadable, []string{"permission denied", "chmod"}, false},
		{"shard truncated", func(t *testing.T, e env) (string, string, string) {
			fi, _ := os.Stat(shard(e, 1))
			if err := os.Truncate(shard(e, 1), fi.Size()-3); err != nil {
				t.Fatal(err)
			}
			return e.dir, shard(e, 1), "thinker.model.layers.2.w"
		}, ErrTruncated, []string{fmt.Sprintf("truncated: expected %d bytes, file has %d", hfShardSize(t, 1), hfShardSize(t, 1)-3), "re-download"}, true},
		{"shard not safetensors", func(t *testing.T, e env) (string, string, string) {
			write(t, shard(e, 2), "PK\x03\x04 this is a zip file, not safetensors")
			return e.dir, shard(e, 2), ""
		}, ErrCorrupt, []string{"header length", "not a safetensors file"}, true},
		{"tensor in index but not in shard", func(t *testing.T, e env) (string, string, string) {
			e.wm["thinker.model.ghost"] = hfShardNames[0]
			hfWriteIndex(t, e.dir, e.wm, "{}")
			return e.dir, index(e), "thinker.model.ghost"
		}, ErrCorrupt, []string{"for shard model-00001-of-00003.safetensors, but that shard (like every other) does not contain it"}, true},
		{"tensor in shard but not in index", func(t *testing.T, e env) (string, string, string) {
			delete(e.wm, "talker.model.norm.weight")
			hfWriteIndex(t, e.dir, e.wm, "{}")
			return e.dir, index(e), "talker.model.norm.weight"
		}, ErrCorrupt, []string{"stored in shard model-00002-of-00003.safetensors but missing from the index's weight_map"}, true},
		{"index points to the wrong shard", func(t *testing.T, e env) (string, string, string) {
			e.wm["a.scalar"] = hfShardNames[0]
			hfWriteIndex(t, e.dir, e.wm, "{}")
			return e.dir, index(e), "a.scalar"
		}, ErrCorrupt, []string{"the index puts it in shard model-00001-of-00003.safetensors but it is stored in shard model-00003-of-00003.safetensors"}, true},
		{"same tensor in two shards", func(t *testing.T, e env) (string, string, string) {
			ts := hfTensors()
			dup := append(ts[2], ts[0][0])
			if err := WriteSafetensors(shard(e, 2), dup, nil); err != nil {
				t.Fatal(err)
			}
			return e.dir, shard(e, 2), ts[0][0].Name
		}, ErrCorrupt, []string{"also stored in shard model-00001-of-00003.safetensors", "exactly one shard"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.asRoot && os.Geteuid() == 0 {
				t.Skip("permissions do not apply to root")
			}
			dir := t.TempDir()
			_, wm := hfMake(t, dir)
			open, file, tensor := tc.setup(t, env{dir, wm})
			c, err := OpenHF(open)
			if err == nil {
				c.Close()
				t.Fatal("OpenHF succeeded")
			}
			stCheckFileError(t, err, file, tensor, tc.kind, tc.want...)
		})
	}
}

// hfShardSize is the size of test shard i as hfMake writes it.
func hfShardSize(t *testing.T, i int) int64 {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.safetensors")
	if err := WriteSafetensors(p, hfTensors()[i], map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestOpenHFReportsAllProblems(t *testing.T) {
	dir := t.TempDir()
	_, wm := hfMake(t, dir)
	for i := 0; i < 14; i++ {
		wm[fmt.Sprintf("ghost.%02d", i)] = hfShardNames[i%3]
	}
	hfWriteIndex(t, dir, wm, "{}")
	_, err := OpenHF(dir)
	if err == nil {
		t.Fatal("OpenHF succeeded")
	}
	msg := err.Error()
	if n := strings.Count(msg, `tensor "ghost.`); n != 10 {
		t.Errorf("%d ghost tensors named, want the first 10:\n%s", n, msg)
	}
	if !strings.Contains(msg, "and 4 more problems") {
		t.Errorf("no summary of the remaining problems:\n%s", msg)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("joined error is not ErrCorrupt")
	}
}

func TestIsExtraFile(t *testing.T) {
	for name, want := range map[string]bool{
		"tokenizer.json": true, "tokenizer_config.json": true, "vocab.json": true, "merges.txt": true,
		"special_tokens_map.json": true, "added_tokens.json": true, "preprocessor_config.json": true,
		"video_preprocessor_config.json": true, "processor_config.json": true, "chat_template.json": true,
		"chat_template.jinja": true, "generation_config.json": true, "tokenizer.model": true, "qwen.tiktoken": true,
		"config.json": false, "model.safetensors": false, IndexFileName: false, "model-00001-of-00015.safetensors": false,
		"README.md": false, ".gitattributes": false, "LICENSE": false, ".model": false, "model": false,
		"pytorch_model.bin": false, "configuration_qwen.py": false,
	} {
		if got := IsExtraFile(name); got != want {
			t.Errorf("IsExtraFile(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzOpenIndex(f *testing.F) {
	f.Add([]byte(`{"metadata": {"total_size": 10}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`))
	f.Add([]byte(`{"weight_map": {"a": "../x"}}`))
	f.Add([]byte(`{"weight_map": {}}`))
	f.Add([]byte(`{"metadata": {"total_size": 1.5e3}, "weight_map": {"a": "s"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseSafetensorsIndex("idx.json", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "idx.json") {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if len(idx.Entries) == 0 || len(idx.Shards) == 0 || !slices.IsSorted(idx.Shards) {
			t.Fatalf("accepted index with entries %v shards %v", idx.Entries, idx.Shards)
		}
		for _, e := range idx.Entries {
			if !filepath.IsLocal(e.Shard) {
				t.Fatalf("accepted shard name %q", e.Shard)
			}
			if _, ok := slices.BinarySearch(idx.Shards, e.Shard); !ok {
				t.Fatalf("shard %q missing from Shards", e.Shard)
			}
		}
	})
}
