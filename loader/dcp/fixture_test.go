package dcp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// A hand-made torch_dist writer for tests. It follows FORMAT.md: a pickled
// Metadata in .metadata, each tensor chunk a torch.save archive of a bare
// tensor (written by loader/pt), bytes items raw, items back to back in
// __R_I.distcp files, metadata.json last. It shows the reader is robust and
// self-consistent; conformance with the real writers needs the fixtures
// testdata/torch_dist/gen.py makes.

// pk emits protocol-2 pickle opcodes.
type pk struct{ b []byte }

func (p *pk) op(c ...byte) { p.b = append(p.b, c...) }
func (p *pk) global(m, n string) {
	p.op('c')
	p.b = append(p.b, m+"\n"+n+"\n"...)
}
func (p *pk) str(s string) {
	p.op('X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}
func (p *pk) int(v int64) {
	p.op('J')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
}
func (p *pk) none() { p.op('N') }

// obj emits cls.__new__(cls) with BUILD state written by state.
func (p *pk) obj(module, name string, state func()) {
	p.global(module, name)
	p.op(')', 0x81) // EMPTY_TUPLE NEWOBJ
	state()
	p.op('b')
}

// dict emits a dict from alternating key/value writers.
func (p *pk) dict(kv ...func()) {
	p.op('}', '(')
	for _, f := range kv {
		f()
	}
	p.op('u')
}

func (p *pk) size(v []int64) {
	p.global("torch", "Size")
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	p.op('t', 0x85, 'R') // TUPLE, TUPLE1, REDUCE
}

// fxTensor is a global tensor and how it is chunked.
type fxTensor struct {
	key    string
	dtype  loader.DType
	shape  []int64
	chunks []fxChunk
}

type fxChunk struct {
	off, size []int64
	file      string
}

type fxObject struct {
	key, file string
	data      []byte
}

// fixture describes a torch_dist directory; hooks let hostile tests break it.
type fixture struct {
	tensors []fxTensor
	objects []fxObject
	// torchProps uses the PyTorch >= 2.3 TensorProperties module path.
	newTorch bool
	mcore15  bool // pickle megatron-core 0.15's MCoreMetadata
	// hooks
	editPickle   func(p *pk, where string) bool // emits a replacement at where, or false
	editChunk    func(key string, off []int64, arc []byte) []byte
	editMeta     func(key string, ch *fxChunk)
	metadataJSON string
	skipMetaJSON bool
}

// value is the deterministic content of element i of tensor key.
func value(key string, i int64, esize int) []byte {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", key, i)
	v := h.Sum64()
	out := make([]byte, esize)
	for j := range out {
		out[j] = byte(v >> (8 * (j % 8)))
	}
	return out
}

// globalBytes is the row-major content of a whole tensor.
func globalBytes(t fxTensor) []byte {
	n, _ := volume(t.shape)
	es := t.dtype.Size()
	out := make([]byte, 0, n*int64(es))
	for i := int64(0); i < n; i++ {
		out = append(out, value(t.key, i, es)...)
	}
	return out
}

// boxBytes extracts a box of a tensor element by element (independently of
// the reader's run-copying).
func boxBytes(t fxTensor, off, size []int64) []byte {
	es := int64(t.dtype.Size())
	g := globalBytes(t)
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
			inside = inside && off[d]+idx[d] < t.shape[d]
			flat = flat*t.shape[d] + off[d] + idx[d]
		}
		if !inside { // hostile chunks past the shape hold zeros
			out = append(out, make([]byte, es)...)
			continue
		}
		out = append(out, g[flat*es:(flat+1)*es]...)
	}
	return out
}

type fxItem struct {
	key     string
	offsets []int64 // nil for bytes
	data    []byte
	bytes   bool
}

// write creates the directory and returns it.
func (f *fixture) write(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]fxItem{}
	var order []string
	add := func(file string, it fxItem) {
		if _, ok := files[file]; !ok {
			order = append(order, file)
		}
		files[file] = append(files[file], it)
	}
	for _, o := range f.objects {
		add(o.file, fxItem{key: o.key, data: o.data, bytes: true})
	}
	for _, tt := range f.tensors {
		for _, ch := range tt.chunks {
			arc, err := pt.EncodeTensorArchive("archive", tt.dtype, ch.size, boxBytes(tt, ch.off, ch.size))
			if err != nil {
				t.Fatal(err)
			}
			if f.editChunk != nil {
				arc = f.editChunk(tt.key, ch.off, arc)
			}
			add(ch.file, fxItem{key: tt.key, offsets: ch.off, data: arc})
		}
	}
	type loc struct {
		file     string
		off, len int64
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
			locs[lk(it.key, it.offsets)] = loc{name, int64(len(buf)), int64(len(it.data))}
			buf = append(buf, it.data...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// .metadata
	p := &pk{}
	p.op(0x80, 2)
	cls := "torch.distributed.checkpoint.metadata"
	rootMod, rootName := cls, "Metadata"
	if f.mcore15 {
		rootMod, rootName = "megatron.core.dist_checkpointing.strategies.torch", "MCoreMetadata"
	}
	propsMod, propsEnum := "torch.distributed._shard.sharded_tensor.metadata", "MEM_FORMAT_ENCODING"
	if f.newTorch {
		propsMod, propsEnum = cls, "_MEM_FORMAT_ENCODING"
	}
	tname := map[loader.DType]string{loader.BF16: "bfloat16", loader.F32: "float32", loader.F16: "float16", loader.I64: "int64"}
	edited := func(where string) bool { return f.editPickle != nil && f.editPickle(p, where) }
	p.obj(rootMod, rootName, func() {
		if edited("root-state") {
			return
		}
		var kv []func()
		kv = append(kv, func() { p.str("state_dict_metadata") }, func() {
			var items []func()
			for _, tt := range f.tensors {
				tt := tt
				items = append(items, func() { p.str(tt.key) }, func() {
					if edited("tensor:" + tt.key) {
						return
					}
					p.obj(cls, "TensorStorageMetadata", func() {
						p.dict(
							func() { p.str("properties") }, func() {
								p.obj(propsMod, "TensorProperties", func() {
									p.op('(')
									p.global("torch", tname[tt.dtype])
									p.global("torch", "strided")
									p.op(0x89) // False
									p.global(propsMod, propsEnum)
									p.int(0)
									p.op(0x85, 'R')
									p.op(0x89)
									p.op('t')
								})
							},
							func() { p.str("size") }, func() { p.size(tt.shape) },
							func() { p.str("chunks") }, func() {
								p.op(']', '(')
								for _, ch := range tt.chunks {
									ch := ch
									if f.editMeta != nil {
										f.editMeta(tt.key, &ch)
									}
									p.obj(cls, "ChunkStorageMetadata", func() {
										p.dict(func() { p.str("offsets") }, func() { p.size(ch.off) },
											func() { p.str("sizes") }, func() { p.size(ch.size) })
									})
								}
								p.op('e')
							},
						)
					})
				})
			}
			for _, o := range f.objects {
				o := o
				items = append(items, func() { p.str(o.key) }, func() {
					p.obj(cls, "BytesStorageMetadata", func() { p.none() })
				})
			}
			p.dict(items...)
		})
		kv = append(kv, func() { p.str("planner_data") }, func() { p.none() })
		kv = append(kv, func() { p.str("storage_data") }, func() {
			var items []func()
			emit := func(key string, off []int64) {
				l := locs[lk(key, off)]
				items = append(items, func() {
					p.obj(cls, "MetadataIndex", func() {
						p.dict(func() { p.str("fqn") }, func() { p.str(key) },
							func() { p.str("offset") }, func() {
								if off == nil {
									p.none()
								} else {
									p.size(off)
								}
							},
							func() { p.str("index") }, func() { p.none() })
					})
				}, func() {
					if edited("storage:" + key) {
						return
					}
					p.obj("torch.distributed.checkpoint.filesystem", "_StorageInfo", func() {
						p.dict(func() { p.str("relative_path") }, func() { p.str(l.file) },
							func() { p.str("offset") }, func() { p.int(l.off) },
							func() { p.str("length") }, func() { p.int(l.len) })
					})
				})
			}
			for _, tt := range f.tensors {
				for _, ch := range tt.chunks {
					emit(tt.key, ch.off)
				}
			}
			for _, o := range f.objects {
				emit(o.key, nil)
			}
			p.dict(items...)
		})
		if f.newTorch {
			kv = append(kv, func() { p.str("storage_meta") }, func() {
				p.obj(cls, "StorageMeta", func() {
					p.dict(func() { p.str("checkpoint_id") }, func() {
						p.global("pathlib", "PosixPath")
						p.op('(')
						p.str("/ckpt")
						p.op('t', 'R')
					}, func() { p.str("save_id") }, func() { p.str("1234-abcd") },
						func() { p.str("load_id") }, func() { p.none() },
						func() { p.str("modules") }, func() { p.op(']') })
				})
			}, func() { p.str("version") }, func() { p.str("1.0.0") })
		}
		if f.mcore15 {
			kv = append(kv, func() { p.str("mcore_data") }, func() { p.op('}') })
		}
		p.dict(kv...)
	})
	p.op('.')
	if err := os.WriteFile(filepath.Join(dir, MetadataName), p.b, 0o644); err != nil {
		t.Fatal(err)
	}
	if !f.skipMetaJSON {
		mj := f.metadataJSON
		if mj == "" {
			b, _ := json.Marshal(map[string]any{"sharded_backend": "torch_dist", "sharded_backend_version": 1, "common_backend": "torch", "common_backend_version": 1})
			mj = string(b)
		}
		if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(mj), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// grid chunks a tensor regularly: parts[d] pieces along axis d, chunk i goes
// to file files[i % len(files)].
func grid(key string, dtype loader.DType, shape []int64, parts []int64, files ...string) fxTensor {
	t := fxTensor{key: key, dtype: dtype, shape: shape}
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
		t.chunks = append(t.chunks, fxChunk{off: off, size: size, file: files[int(i)%len(files)]})
	}
	return t
}

// tinyMoE is a 2-layer MoE saved with stacked layer and expert axes at TP=2,
// EP=2 (four ranks, one file each), as megatron-core writes it by default.
func tinyMoE() *fixture {
	const L, E, H, F, V = 2, 4, 8, 6, 16
	files := []string{"__0_0.distcp", "__1_0.distcp", "__2_0.distcp", "__3_0.distcp"}
	bf := loader.BF16
	return &fixture{
		tensors: []fxTensor{
			grid("embedding.word_embeddings.weight", bf, []int64{V, H}, []int64{2, 1}, files[:2]...),
			grid("decoder.layers.self_attention.linear_qkv.weight", bf, []int64{L, 3 * H, H}, []int64{L, 2, 1}, files...),
			grid("decoder.layers.self_attention.linear_qkv.layer_norm_weight", bf, []int64{L, H}, []int64{L, 1}, files...),
			grid("decoder.layers.self_attention.linear_proj.weight", bf, []int64{L, H, H}, []int64{L, 1, 2}, files...),
			// fc1 of the experts: [W_tp0, W_tp1, V_tp0, V_tp1] along the FFN axis.
			grid("decoder.layers.mlp.experts.linear_fc1.weight", bf, []int64{L, E, 2 * F, H}, []int64{L, 2, 4, 1}, files...),
			grid("decoder.layers.mlp.experts.linear_fc2.weight", bf, []int64{L, E, H, F}, []int64{L, 4, 1, 2}, files...),
			grid("decoder.layers.mlp.router.weight", loader.F32, []int64{L, E, H}, []int64{L, 1, 1}, files...),
			grid("decoder.final_layernorm.weight", bf, []int64{H}, []int64{1}, files[0]),
			grid("output_layer.weight", bf, []int64{V, H}, []int64{2, 1}, files[:2]...),
			grid("optimizer.state.exp_avg.decoder.final_layernorm.weight", loader.F32, []int64{H}, []int64{1}, files[1]),
		},
		objects: []fxObject{
			{"decoder.layers.self_attention.linear_qkv._extra_state/shard_0_2", files[0], []byte("te-extra")},
			{"rng_state/shard_0.0_1.4", files[0], []byte("rng")},
			{"common_state/shard_0_1", files[0], []byte("common")},
		},
		newTorch: true,
	}
}

// tinySingleton is a dense-first MoE (layer 0 dense, layer 1 MoE) saved with
// per-layer keys and SwiGLU halves as _w/_v (singleton_local_shards), at TP=2.
func tinySingleton() *fixture {
	const H, F = 4, 6
	files := []string{"__0_0.distcp", "__1_0.distcp"}
	f32 := loader.F32
	var ts []fxTensor
	for _, h := range []string{"_w", "_v"} {
		ts = append(ts, grid("decoder.layers.0.mlp.linear_fc1.weight"+h, f32, []int64{F, H}, []int64{2, 1}, files...))
		for e := 0; e < 2; e++ {
			ts = append(ts, grid(fmt.Sprintf("decoder.layers.1.mlp.experts.%d.linear_fc1.weight%s", e, h), f32, []int64{F, H}, []int64{2, 1}, files...))
		}
	}
	ts = append(ts, grid("decoder.layers.0.mlp.linear_fc2.weight", f32, []int64{H, F}, []int64{1, 2}, files...))
	return &fixture{tensors: ts}
}
