// Package dcptest writes small Megatron torch_dist checkpoint directories for
// tests: a hand-made writer that follows loader/dcp/FORMAT.md (a pickled
// Metadata in .metadata, each tensor chunk a torch.save archive of a bare
// tensor written by loader/pt, bytes items raw, items back to back in
// __R_I.distcp files, metadata.json last), with hooks that break it in
// chosen ways. Files it writes show robustness and self-consistency; they are
// not evidence of conformance with the real writers (testdata/torch_dist).
package dcptest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// Pickler emits protocol-2 pickle opcodes.
type Pickler struct{ b []byte }

// Bytes returns the pickle so far.
func (p *Pickler) Bytes() []byte { return p.b }

const (
	metadataName = ".metadata"
	configName   = "metadata.json"
)

func volume(s []int64) (int64, bool) {
	v := int64(1)
	for _, d := range s {
		v *= d
	}
	return v, true
}

func offsetsKey(o []int64) string {
	var b strings.Builder
	for i, v := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	return b.String()
}

func (p *Pickler) Op(c ...byte) { p.b = append(p.b, c...) }
func (p *Pickler) Global(m, n string) {
	p.Op('c')
	p.b = append(p.b, m+"\n"+n+"\n"...)
}
func (p *Pickler) Str(s string) {
	p.Op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}
func (p *Pickler) Int(v int64) {
	p.Op('J')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
}
func (p *Pickler) None() { p.Op('N') }

// obj emits cls.__new__(cls) with BUILD state written by state.
func (p *Pickler) Obj(module, name string, state func()) {
	p.Global(module, name)
	p.Op(')', 0x81) // EMPTY_TUPLE NEWOBJ
	state()
	p.Op('b')
}

// dict emits a dict from alternating key/value writers.
func (p *Pickler) Dict(kv ...func()) {
	p.Op('}', '(')
	for _, f := range kv {
		f()
	}
	p.Op('u')
}

func (p *Pickler) Size(v []int64) {
	p.Global("torch", "Size")
	p.Op('(')
	for _, x := range v {
		p.Int(x)
	}
	p.Op('t', 0x85, 'R') // TUPLE, TUPLE1, REDUCE
}

// Tensor is a global tensor and how it is chunked.
type Tensor struct {
	Key    string
	DType  loader.DType
	Shape  []int64
	Chunks []Chunk
}

// Chunk is one stored piece of a Tensor and the .distcp file it goes to.
type Chunk struct {
	Off, Size []int64
	File      string
}

// Object is a bytes item.
type Object struct {
	Key, File string
	Data      []byte
}

// Fixture describes a torch_dist directory; hooks let hostile tests break it.
type Fixture struct {
	Tensors []Tensor
	Objects []Object
	// NewTorch writes what newer PyTorch 2.x write: TensorProperties in
	// torch.distributed.checkpoint.metadata, StorageMeta and a version.
	NewTorch bool
	MCore15  bool // pickle megatron-core 0.15's MCoreMetadata
	// EditPickle may emit a replacement for the value at where
	// ("root-state", "tensor:<key>", "storage:<key>") and return true.
	EditPickle func(p *Pickler, where string) bool
	// EditChunk may replace the archive of a chunk.
	EditChunk func(key string, off []int64, arc []byte) []byte
	// MetadataJSON replaces metadata.json's content; SkipMetaJSON leaves it out.
	MetadataJSON string
	SkipMetaJSON bool
}

// Value is the deterministic content of element i of tensor key.
func Value(key string, i int64, esize int) []byte {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", key, i)
	v := h.Sum64()
	out := make([]byte, esize)
	for j := range out {
		out[j] = byte(v >> (8 * (j % 8)))
	}
	return out
}

// GlobalBytes is the row-major content of a whole tensor.
func GlobalBytes(t Tensor) []byte {
	n, _ := volume(t.Shape)
	es := t.DType.Size()
	out := make([]byte, 0, n*int64(es))
	for i := int64(0); i < n; i++ {
		out = append(out, Value(t.Key, i, es)...)
	}
	return out
}

// BoxBytes extracts a box of a tensor element by element (independently of
// the reader's run-copying).
func BoxBytes(t Tensor, off, size []int64) []byte {
	es := int64(t.DType.Size())
	n, _ := volume(size)
	out := make([]byte, 0, n*es)
	idx := make([]int64, len(size))
	for k := int64(0); k < n; k++ {
		rem := k
		for d := len(size) - 1; d >= 0; d-- {
			idx[d] = rem % size[d]
			rem /= size[d]
		}
		var flat int64
		inside := true
		for d := range size {
			inside = inside && off[d]+idx[d] < t.Shape[d]
			flat = flat*t.Shape[d] + off[d] + idx[d]
		}
		if !inside { // hostile chunks past the shape hold zeros
			out = append(out, make([]byte, es)...)
			continue
		}
		out = append(out, Value(t.Key, flat, int(es))...)
	}
	return out
}

type item struct {
	Key     string
	offsets []int64 // nil for bytes
	Data    []byte
	bytes   bool
}

// Write creates the directory and returns it.
func (f *Fixture) Write(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]item{}
	var order []string
	add := func(file string, it item) {
		if _, ok := files[file]; !ok {
			order = append(order, file)
		}
		files[file] = append(files[file], it)
	}
	for _, o := range f.Objects {
		add(o.File, item{Key: o.Key, Data: o.Data, bytes: true})
	}
	for _, tt := range f.Tensors {
		for _, ch := range tt.Chunks {
			arc, err := pt.EncodeTensorArchive("archive", tt.DType, ch.Size, BoxBytes(tt, ch.Off, ch.Size))
			if err != nil {
				t.Fatal(err)
			}
			if f.EditChunk != nil {
				arc = f.EditChunk(tt.Key, ch.Off, arc)
			}
			add(ch.File, item{Key: tt.Key, offsets: ch.Off, Data: arc})
		}
	}
	type loc struct {
		File     string
		Off, Len int64
	}
	locs := map[string]loc{}
	lk := func(key string, off []int64) string {
		if off == nil {
			return key + "|-"
		}
		return key + "|" + offsetsKey(off)
	}
	sort.Strings(order)
	for _, name := range order {
		var buf []byte
		for _, it := range files[name] {
			locs[lk(it.Key, it.offsets)] = loc{name, int64(len(buf)), int64(len(it.Data))}
			buf = append(buf, it.Data...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// .metadata
	p := &Pickler{}
	p.Op(0x80, 2)
	cls := "torch.distributed.checkpoint.metadata"
	rootMod, rootName := cls, "Metadata"
	if f.MCore15 {
		rootMod, rootName = "megatron.core.dist_checkpointing.strategies.torch", "MCoreMetadata"
	}
	propsMod, propsEnum := "torch.distributed._shard.sharded_tensor.metadata", "MEM_FORMAT_ENCODING"
	if f.NewTorch {
		propsMod, propsEnum = cls, "_MEM_FORMAT_ENCODING"
	}
	tname := map[loader.DType]string{loader.BF16: "bfloat16", loader.F32: "float32", loader.F16: "float16", loader.I64: "int64"}
	edited := func(where string) bool { return f.EditPickle != nil && f.EditPickle(p, where) }
	p.Obj(rootMod, rootName, func() {
		if edited("root-state") {
			return
		}
		var kv []func()
		kv = append(kv, func() { p.Str("state_dict_metadata") }, func() {
			var items []func()
			for _, tt := range f.Tensors {
				tt := tt
				items = append(items, func() { p.Str(tt.Key) }, func() {
					if edited("tensor:" + tt.Key) {
						return
					}
					p.Obj(cls, "TensorStorageMetadata", func() {
						p.Dict(
							func() { p.Str("properties") }, func() {
								p.Obj(propsMod, "TensorProperties", func() {
									p.Op('(')
									p.Global("torch", tname[tt.DType])
									p.Global("torch", "strided")
									p.Op(0x89) // False
									p.Global(propsMod, propsEnum)
									p.Int(0)
									p.Op(0x85, 'R')
									p.Op(0x89)
									p.Op('t')
								})
							},
							func() { p.Str("size") }, func() { p.Size(tt.Shape) },
							func() { p.Str("chunks") }, func() {
								p.Op(']', '(')
								for _, ch := range tt.Chunks {
									ch := ch
									p.Obj(cls, "ChunkStorageMetadata", func() {
										p.Dict(func() { p.Str("offsets") }, func() { p.Size(ch.Off) },
											func() { p.Str("sizes") }, func() { p.Size(ch.Size) })
									})
								}
								p.Op('e')
							},
						)
					})
				})
			}
			for _, o := range f.Objects {
				o := o
				items = append(items, func() { p.Str(o.Key) }, func() {
					p.Obj(cls, "BytesStorageMetadata", func() { p.None() })
				})
			}
			p.Dict(items...)
		})
		kv = append(kv, func() { p.Str("planner_data") }, func() { p.None() })
		kv = append(kv, func() { p.Str("storage_data") }, func() {
			var items []func()
			emit := func(key string, off []int64) {
				l := locs[lk(key, off)]
				items = append(items, func() {
					p.Obj(cls, "MetadataIndex", func() {
						p.Dict(func() { p.Str("fqn") }, func() { p.Str(key) },
							func() { p.Str("offset") }, func() {
								if off == nil {
									p.None()
								} else {
									p.Size(off)
								}
							},
							func() { p.Str("index") }, func() { p.None() })
					})
				}, func() {
					if edited("storage:" + key) {
						return
					}
					p.Obj("torch.distributed.checkpoint.filesystem", "_StorageInfo", func() {
						p.Dict(func() { p.Str("relative_path") }, func() { p.Str(l.File) },
							func() { p.Str("offset") }, func() { p.Int(l.Off) },
							func() { p.Str("length") }, func() { p.Int(l.Len) })
					})
				})
			}
			for _, tt := range f.Tensors {
				for _, ch := range tt.Chunks {
					emit(tt.Key, ch.Off)
				}
			}
			for _, o := range f.Objects {
				emit(o.Key, nil)
			}
			p.Dict(items...)
		})
		if f.NewTorch {
			kv = append(kv, func() { p.Str("storage_meta") }, func() {
				p.Obj(cls, "StorageMeta", func() {
					p.Dict(func() { p.Str("checkpoint_id") }, func() {
						p.Global("pathlib", "PosixPath")
						p.Op('(')
						p.Str("/ckpt")
						p.Op('t', 'R')
					}, func() { p.Str("save_id") }, func() { p.Str("1234-abcd") },
						func() { p.Str("load_id") }, func() { p.None() },
						func() { p.Str("modules") }, func() { p.Op(']') })
				})
			}, func() { p.Str("version") }, func() { p.Str("1.0.0") })
		}
		if f.MCore15 {
			kv = append(kv, func() { p.Str("mcore_data") }, func() { p.Op('}') })
		}
		p.Dict(kv...)
	})
	p.Op('.')
	if err := os.WriteFile(filepath.Join(dir, metadataName), p.b, 0o644); err != nil {
		t.Fatal(err)
	}
	if !f.SkipMetaJSON {
		mj := f.MetadataJSON
		if mj == "" {
			b, _ := json.Marshal(map[string]any{"sharded_backend": "torch_dist", "sharded_backend_version": 1, "common_backend": "torch", "common_backend_version": 1})
			mj = string(b)
		}
		if err := os.WriteFile(filepath.Join(dir, configName), []byte(mj), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Grid chunks a tensor regularly: parts[d] pieces along axis d, chunk i goes
// to file files[i % len(files)].
func Grid(key string, dtype loader.DType, shape []int64, parts []int64, files ...string) Tensor {
	t := Tensor{Key: key, DType: dtype, Shape: shape}
	n := int64(1)
	for _, p := range parts {
		n *= p
	}
	for i := int64(0); i < n; i++ {
		rem := i
		off := make([]int64, len(shape))
		size := make([]int64, len(shape))
		for d := len(shape) - 1; d >= 0; d-- {
			k := rem % parts[d]
			rem /= parts[d]
			size[d] = shape[d] / parts[d]
			off[d] = k * size[d]
		}
		t.Chunks = append(t.Chunks, Chunk{Off: off, Size: size, File: files[int(i)%len(files)]})
	}
	return t
}

// TinyMoE is a 2-layer MoE saved with stacked layer and expert axes at TP=2,
// EP=2 (four ranks, one file each), as megatron-core writes it by default.
func TinyMoE() *Fixture {
	const L, E, H, F, V = 2, 4, 8, 6, 16
	files := []string{"__0_0.distcp", "__1_0.distcp", "__2_0.distcp", "__3_0.distcp"}
	bf := loader.BF16
	return &Fixture{
		Tensors: []Tensor{
			Grid("embedding.word_embeddings.weight", bf, []int64{V, H}, []int64{2, 1}, files[:2]...),
			Grid("decoder.layers.self_attention.linear_qkv.weight", bf, []int64{L, 3 * H, H}, []int64{L, 2, 1}, files...),
			Grid("decoder.layers.self_attention.linear_qkv.layer_norm_weight", bf, []int64{L, H}, []int64{L, 1}, files...),
			Grid("decoder.layers.self_attention.linear_proj.weight", bf, []int64{L, H, H}, []int64{L, 1, 2}, files...),
			// fc1 of the experts: [W_tp0, W_tp1, V_tp0, V_tp1] along the FFN axis.
			Grid("decoder.layers.mlp.experts.linear_fc1.weight", bf, []int64{L, E, 2 * F, H}, []int64{L, 2, 4, 1}, files...),
			Grid("decoder.layers.mlp.experts.linear_fc2.weight", bf, []int64{L, E, H, F}, []int64{L, 4, 1, 2}, files...),
			Grid("decoder.layers.mlp.router.weight", loader.F32, []int64{L, E, H}, []int64{L, 1, 1}, files...),
			Grid("decoder.final_layernorm.weight", bf, []int64{H}, []int64{1}, files[0]),
			Grid("output_layer.weight", bf, []int64{V, H}, []int64{2, 1}, files[:2]...),
			Grid("optimizer.state.exp_avg.decoder.final_layernorm.weight", loader.F32, []int64{H}, []int64{1}, files[1]),
		},
		Objects: []Object{
			{"decoder.layers.self_attention.linear_qkv._extra_state/shard_0_2", files[0], []byte("te-extra")},
			{"rng_state/shard_0.0_1.4", files[0], []byte("rng")},
			{"common_state/shard_0_1", files[0], pt.EncodeArchive("archive", CommonPickle(L, E, true))},
		},
		NewTorch: true,
	}
}

// TinySingleton is a dense-first MoE (layer 0 dense, layer 1 MoE) saved with
// per-layer keys and SwiGLU halves as _w/_v (singleton_local_shards), at TP=2.
func TinySingleton() *Fixture {
	const H, F = 4, 6
	files := []string{"__0_0.distcp", "__1_0.distcp"}
	f32 := loader.F32
	var ts []Tensor
	for _, h := range []string{"_w", "_v"} {
		ts = append(ts, Grid("decoder.layers.0.mlp.linear_fc1.weight"+h, f32, []int64{F, H}, []int64{2, 1}, files...))
		for e := 0; e < 2; e++ {
			ts = append(ts, Grid(fmt.Sprintf("decoder.layers.1.mlp.experts.%d.linear_fc1.weight%s", e, h), f32, []int64{F, H}, []int64{2, 1}, files...))
		}
	}
	ts = append(ts, Grid("decoder.layers.0.mlp.linear_fc2.weight", f32, []int64{H, F}, []int64{1, 2}, files...))
	return &Fixture{Tensors: ts}
}

// CommonPickle is torch.save's data.pkl for {"args": Namespace(num_layers=L,
// num_experts=E), "iteration": 7}, wrapped in a list when inList (the
// common_state item of megatron-core 0.19+).
func CommonPickle(layers, experts int64, inList bool) []byte {
	p := &Pickler{}
	p.Op(0x80, 2)
	if inList {
		p.Op(']', '(')
	}
	p.Dict(func() { p.Str("args") }, func() {
		p.Obj("argparse", "Namespace", func() {
			p.Dict(func() { p.Str("num_layers") }, func() { p.Int(layers) },
				func() { p.Str("num_experts") }, func() { p.Int(experts) },
				func() { p.Str("params_dtype") }, func() { p.Global("torch", "bfloat16") })
		})
	}, func() { p.Str("iteration") }, func() { p.Int(7) })
	if inList {
		p.Op('e')
	}
	p.Op('.')
	return p.b
}
