package dcp

import (
	"bytes"
	"errors"
	"github.com/omnitui/omnitui/loader/dcp/dcptest"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

const qkv = "decoder.layers.self_attention.linear_qkv.weight"

// Every hostile input fails Open (or View, or a read) with an error that
// names the file and, where one is concerned, the key, and says what to do.
func TestHostileCheckpoints(t *testing.T) {
	oneDim := func(key string, chunks ...[2]int64) *dcptest.Fixture {
		ft := dcptest.Tensor{Key: key, DType: loader.F32, Shape: []int64{4}}
		for _, c := range chunks {
			ft.Chunks = append(ft.Chunks, dcptest.Chunk{Off: []int64{c[0]}, Size: []int64{c[1]}, File: "__0_0.distcp"})
		}
		return &dcptest.Fixture{Tensors: []dcptest.Tensor{ft}}
	}
	cases := []struct {
		name  string
		fx    func() *dcptest.Fixture
		after func(t *testing.T, dir string) // breaks the written directory
		kind  error
		want  []string // substrings of the message
	}{
		{"metadata.json missing", dcptest.TinyMoE, func(t *testing.T, dir string) { rm(t, dir, ConfigName) },
			loader.ErrMissingFile, []string{"metadata.json", "incomplete"}},
		{"other backend", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.MetadataJSON = `{"sharded_backend": "zarr"}`
			return f
		}, nil,
			loader.ErrNotCheckpoint, []string{"metadata.json", `"zarr"`, "torch_dist"}},
		{"metadata.json not JSON", func() *dcptest.Fixture { f := dcptest.TinyMoE(); f.MetadataJSON = `{"sharded_backend": `; return f }, nil,
			loader.ErrCorrupt, []string{"metadata.json"}},
		{".metadata missing", dcptest.TinyMoE, func(t *testing.T, dir string) { rm(t, dir, MetadataName) },
			loader.ErrMissingFile, []string{".metadata", "incomplete"}},
		{".metadata truncated", dcptest.TinyMoE, func(t *testing.T, dir string) { truncFile(t, dir, MetadataName, 0.6) },
			loader.ErrCorrupt, []string{".metadata", "truncated"}},
		{".metadata empty", dcptest.TinyMoE, func(t *testing.T, dir string) { truncFile(t, dir, MetadataName, 0) },
			loader.ErrCorrupt, []string{".metadata"}},
		{"class outside the allow-list", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditPickle = func(p *dcptest.Pickler, where string) bool {
				if where != "tensor:"+qkv {
					return false
				}
				p.Obj("numpy.core.multiarray", "_reconstruct", func() { p.None() })
				return true
			}
			return f
		}, nil, pt.ErrNotAllowed, []string{".metadata", "numpy.core.multiarray._reconstruct", "allow-list"}},
		{"code-running global", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditPickle = func(p *dcptest.Pickler, where string) bool {
				if where != "root-state" {
					return false
				}
				p.Global("os", "system")
				p.Op('(')
				p.Str("true")
				p.Op('t', 'R')
				return true
			}
			return f
		}, nil, pt.ErrUnsafe, []string{".metadata", "os.system"}},
		{"safetensors-serialised DCP", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditPickle = func(p *dcptest.Pickler, where string) bool {
				if where != "storage:"+qkv {
					return false
				}
				p.Obj("torch.distributed.checkpoint._hf_utils", "_HFStorageInfo", func() { p.None() })
				return true
			}
			return f
		}, nil, pt.ErrNotAllowed, []string{".metadata", "safetensors"}},
		{"stream transforms", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditPickle = func(p *dcptest.Pickler, where string) bool {
				if where != "storage:"+qkv {
					return false
				}
				p.Obj("torch.distributed.checkpoint.filesystem", "_StorageInfo", func() {
					p.Dict(func() { p.Str("relative_path") }, func() { p.Str("__0_0.distcp") },
						func() { p.Str("offset") }, func() { p.Int(0) },
						func() { p.Str("length") }, func() { p.Int(10) },
						func() { p.Str("transform_descriptors") }, func() { p.Op(']'); p.Str("zstd"); p.Op('a') })
				})
				return true
			}
			return f
		}, nil, loader.ErrNotCheckpoint, []string{".metadata", qkv, "transforms", "zstd"}},
		{"path outside the directory", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditPickle = func(p *dcptest.Pickler, where string) bool {
				if where != "storage:"+qkv {
					return false
				}
				p.Obj("torch.distributed.checkpoint.filesystem", "_StorageInfo", func() {
					p.Dict(func() { p.Str("relative_path") }, func() { p.Str("../../etc/passwd") },
						func() { p.Str("offset") }, func() { p.Int(0) },
						func() { p.Str("length") }, func() { p.Int(10) })
				})
				return true
			}
			return f
		}, nil, loader.ErrCorrupt, []string{".metadata", qkv, "not a file name inside"}},
		{"chunk past the end of its file", dcptest.TinyMoE, func(t *testing.T, dir string) { truncFile(t, dir, "__3_0.distcp", 0.5) },
			loader.ErrTruncated, []string{"__3_0.distcp", "spans bytes"}},
		{"chunk in a missing .distcp", dcptest.TinyMoE, func(t *testing.T, dir string) { rm(t, dir, "__2_0.distcp") },
			loader.ErrMissingFile, []string{"__2_0.distcp", "missing"}},
		{"overlapping chunks", func() *dcptest.Fixture { return oneDim("w", [2]int64{0, 2}, [2]int64{1, 2}) }, nil,
			loader.ErrCorrupt, []string{".metadata", `"w"`, "overlap"}},
		{"overlapping chunks, too many elements", func() *dcptest.Fixture { return oneDim("w", [2]int64{0, 2}, [2]int64{1, 2}, [2]int64{3, 1}) }, nil,
			loader.ErrCorrupt, []string{".metadata", `"w"`, "overlap"}},
		{"gap between chunks", func() *dcptest.Fixture { return oneDim("w", [2]int64{0, 2}, [2]int64{3, 1}) }, nil,
			loader.ErrCorrupt, []string{".metadata", `"w"`, "cover 3 of the 4"}},
		{"chunk exceeding the global shape", func() *dcptest.Fixture { return oneDim("w", [2]int64{0, 2}, [2]int64{3, 2}) }, nil,
			loader.ErrCorrupt, []string{".metadata", `"w"`, "exceeds the global shape"}},
		{"chunk archive of another dtype", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditChunk = func(key string, off []int64, arc []byte) []byte {
				if key != qkv || off[0] != 1 {
					return arc
				}
				b, err := pt.EncodeTensorArchive("archive", loader.F16, []int64{1, 12, 8}, make([]byte, 192))
				if err != nil {
					panic(err)
				}
				return b
			}
			return f
		}, nil, loader.ErrCorrupt, []string{".distcp", qkv, "HalfStorage", "bfloat16"}},
		{"chunk archive of another size", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditChunk = func(key string, off []int64, arc []byte) []byte {
				if key != qkv || off[0] != 1 {
					return arc
				}
				b, err := pt.EncodeTensorArchive("archive", loader.BF16, []int64{1, 8, 12}, make([]byte, 192))
				if err != nil {
					panic(err)
				}
				return b
			}
			return f
		}, nil, loader.ErrCorrupt, []string{".distcp", qkv, "shape [1 8 12]", "sizes [1 12 8]"}},
		{"chunk bytes that are no archive", func() *dcptest.Fixture {
			f := dcptest.TinyMoE()
			f.EditChunk = func(key string, off []int64, arc []byte) []byte {
				if key != qkv {
					return arc
				}
				return make([]byte, len(arc))
			}
			return f
		}, nil, loader.ErrCorrupt, []string{".distcp", qkv, "no torch.save archive"}},
		{"stray .distcp of another save", dcptest.TinyMoE, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "__9_0.distcp"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, loader.ErrCorrupt, []string{".metadata", "__9_0.distcp", "two saves"}},
		{".distcp from another save", dcptest.TinyMoE, func(t *testing.T, dir string) {
			other := dcptest.TinySingleton().Write(t, t.TempDir())
			data, err := os.ReadFile(filepath.Join(other, "__1_0.distcp"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "__1_0.distcp"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, []string{"__1_0.distcp"}},
		{".distcp with trailing bytes", dcptest.TinyMoE, func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "__0_0.distcp"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		}, loader.ErrCorrupt, []string{"__0_0.distcp", "different saves"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.fx().Write(t, t.TempDir())
			if tc.after != nil {
				tc.after(t, dir)
			}
			c, err := Open(dir)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			var fe *loader.FileError
			if !errors.As(err, &fe) || fe.File == "" || !strings.HasPrefix(fe.File, dir) {
				t.Errorf("error %q does not name a file of the checkpoint", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestHostileView(t *testing.T) {
	c := openFixture(t, dcptest.TinyMoE())
	for _, tc := range []struct {
		cfg  ViewConfig
		want string
	}{
		{ViewConfig{Layers: 3, Experts: 4, Source: "mca_config.json"}, "stacked layer axis has length 2 but the config (mca_config.json) has 3 layers"},
		{ViewConfig{Layers: 2, Experts: 8, Source: "common.pt args"}, "stacked expert axis has length 4 but the config (common.pt args) has 8 experts"},
	} {
		_, err := c.View(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ".metadata") {
			t.Errorf("View(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	s := dcptest.TinySingleton()
	cs := openFixture(t, s)
	if _, err := cs.View(ViewConfig{Layers: 1, Source: "x"}); err == nil || !strings.Contains(err.Error(), "layer 1 is stored but the config (x) has 1 layers") {
		t.Errorf("explicit layer past the config: %v", err)
	}
	// An empty tensor claiming a million stacked layers: the view must not
	// loop over them.
	empty := &dcptest.Fixture{Tensors: []dcptest.Tensor{{Key: "decoder.layers.mlp.router.weight", DType: loader.F32, Shape: []int64{1 << 20, 0},
		Chunks: []dcptest.Chunk{{Off: []int64{0, 0}, Size: []int64{1, 0}, File: "__0_0.distcp"}}}}}
	ce := openFixture(t, empty)
	if _, err := ce.View(ViewConfig{}); err == nil || !strings.Contains(err.Error(), "1048576 slots but only 1 chunks") {
		t.Errorf("a million empty layers: %v", err)
	}
	// A _w without its _v.
	s.Tensors = s.Tensors[:1]
	co := openFixture(t, s)
	if _, err := co.View(ViewConfig{}); err == nil || !strings.Contains(err.Error(), "weight_v is not") {
		t.Errorf("lone SwiGLU half: %v", err)
	}
}

func TestDamagedChunkDataFailsItsCRC(t *testing.T) {
	f := dcptest.TinyMoE()
	f.EditChunk = func(key string, off []int64, arc []byte) []byte {
		if key == qkv && off[0] == 1 && off[1] == 0 {
			arc = append([]byte(nil), arc...)
			a, err := pt.OpenReaderAt("chunk", bytes.NewReader(arc), int64(len(arc)))
			if err != nil {
				panic(err)
			}
			ref, _ := a.RootTensor()
			sp, err := a.ContiguousSpan(ref)
			if err != nil {
				panic(err)
			}
			arc[sp.Off+sp.Len/2] ^= 0xff
		}
		return arc
	}
	c := openFixture(t, f)
	v, err := c.View(ViewConfig{})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := v.Index("decoder.layers.1.self_attention.linear_qkv.weight")
	_, err = v.TensorData(i)
	if err == nil || !strings.Contains(err.Error(), "CRC-32") || !strings.Contains(err.Error(), qkv) {
		t.Fatalf("err = %v, want a CRC failure naming the key", err)
	}
	j, _ := v.Index("decoder.layers.0.self_attention.linear_qkv.weight")
	if _, err := v.TensorData(j); err != nil {
		t.Fatalf("an undamaged layer fails: %v", err)
	}
}

// Shared references make a pickle's value graph exponentially larger than
// the pickle; decoding must stay linear.
func TestMetadataSharedReferenceBomb(t *testing.T) {
	p := &dcptest.Pickler{}
	p.Op(0x80, 2)
	p.Op(')')
	for i := 0; i < 80; i++ {
		p.Op('2', 0x86) // DUP, TUPLE2: (x, x)
	}
	p.Op('.')
	_, err := decodeMetadata("/x/.metadata", p.Bytes())
	if err == nil || !strings.Contains(err.Error(), "not a torch.distributed.checkpoint Metadata") {
		t.Fatalf("err = %v", err)
	}
}

func rm(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func truncFile(t *testing.T, dir, name string, frac float64) {
	t.Helper()
	path := filepath.Join(dir, name)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(st.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

// FuzzMetadata feeds arbitrary bytes to the .metadata decoder: it must return
// an error or a Metadata, never panic, and never allocate more than a small
// multiple of its input (every length is checked against the bytes left).
func FuzzMetadata(f *testing.F) {
	for _, fx := range []*dcptest.Fixture{dcptest.TinyMoE(), dcptest.TinySingleton(), func() *dcptest.Fixture { x := dcptest.TinyMoE(); x.MCore15 = true; return x }()} {
		dir := f.TempDir()
		fx.Write(f, dir)
		b, err := os.ReadFile(filepath.Join(dir, MetadataName))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x80\x02X\xff\xff\xff\x7f"))            // a 2 GiB string in a few bytes
	f.Add([]byte("\x80\x04\x95\xff\xff\xff\xff\xff\xff")) // a huge frame
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMetadata("/x/.metadata", data)
		if err == nil && m == nil {
			t.Fatal("no Metadata and no error")
		}
	})
}

// TestMetadataMutations runs the decoder over deterministic random damage of a
// valid .metadata (what FuzzMetadata explores without bound): every result is
// an error or a Metadata whose tensors each have a dtype name and a shape.
func TestMetadataMutations(t *testing.T) {
	dir := t.TempDir()
	dcptest.TinyMoE().Write(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, MetadataName))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var failed int
	for i := 0; i < 1000; i++ {
		m := append([]byte(nil), b...)
		for k := 0; k < 1+r.IntN(4); k++ {
			m[r.IntN(len(m))] = byte(r.IntN(256))
		}
		md, err := decodeMetadata("/x/.metadata", m)
		if err != nil {
			failed++
			continue
		}
		for k, tm := range md.Tensors {
			if tm.TName == "" || tm.Key != k {
				t.Fatalf("mutation %d decoded tensor %q without a dtype", i, k)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no mutation was refused: the decoder checks nothing")
	}
}
