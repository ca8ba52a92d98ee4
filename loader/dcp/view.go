package dcp

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader"
)

// ViewConfig is what the model config says about stacked axes. Zero values
// mean unknown: the stored lengths are then taken as they are.
type ViewConfig struct {
	Layers  int // num_layers of the decoder block ("decoder.layers.")
	Experts int // num_moe_experts
	// Source says where the numbers came from, for the plan.
	Source string
}

// ViewTensor is one Megatron tensor at TP = PP = EP = 1.
type ViewTensor struct {
	Name  string // e.g. decoder.layers.3.mlp.experts.local_experts.1.linear_fc1.weight
	DType loader.DType
	Shape []int64
	parts []viewPart // concatenated along the first local axis
}

// viewPart is a box of a stored tensor, with the leading (prepended) axes
// dropped.
type viewPart struct {
	t         *Tensor
	off, size []int64
}

// Skip is a stored item the view leaves out, and why.
type Skip struct {
	Key, Why string
}

// View is the checkpoint seen as Megatron tensors at TP = PP = EP = 1: layer
// and expert axes un-stacked, SwiGLU halves stored as _w/_v joined into
// linear_fc1, Transformer Engine extra state, optimizer and RNG items skipped.
// Its TensorData/Release/FileOf methods make it a tensor source for the
// converter.
type View struct {
	ck      *Checkpoint
	Tensors []ViewTensor
	Skipped []Skip
	byName  map[string]int
}

// layerSeg is the path segment after which layer indices (or a stacked layer
// axis) follow.
const layerSeg = "layers"

// View builds the global view. It fails when a stacked axis disagrees with
// cfg, a key cannot be mapped, or two items map to one name.
func (c *Checkpoint) View(cfg ViewConfig) (*View, error) {
	v := &View{ck: c, byName: map[string]int{}}
	mpath := filepath.Join(c.Dir, MetadataName)
	bad := func(key, format string, a ...any) error {
		return fileErr(mpath, key, loader.ErrCorrupt, "the checkpoint does not have the layout megatron-core writes for this model: check that the config (layers, experts) belongs to it", format, a...)
	}
	for _, o := range c.Objects {
		v.Skipped = append(v.Skipped, Skip{o.Key, objectWhy(o.Key)})
	}
	type halfPair struct{ w, v *Tensor }
	halves := map[string]*halfPair{}
	var halfOrder []string
	for _, t := range c.Tensors {
		if why := tensorSkip(t); why != "" {
			v.Skipped = append(v.Skipped, Skip{t.Key, why})
			continue
		}
		base, half := t.Key, ""
		if strings.HasSuffix(base, "_w") || strings.HasSuffix(base, "_v") {
			if i := strings.LastIndexByte(base, '.'); i >= 0 && (strings.HasPrefix(base[i+1:], "weight_") || strings.HasPrefix(base[i+1:], "bias_")) {
				base, half = base[:len(base)-2], base[len(base)-1:]
			}
		}
		if half == "" {
			if err := v.add(t, base, nil, cfg, bad); err != nil {
				return nil, err
			}
			continue
		}
		p := halves[base]
		if p == nil {
			p = &halfPair{}
			halves[base] = p
			halfOrder = append(halfOrder, base)
		}
		if half == "w" {
			p.w = t
		} else {
			p.v = t
		}
	}
	for _, base := range halfOrder {
		p := halves[base]
		if p.w == nil || p.v == nil {
			missing, have := base+"_w", base+"_v"
			if p.w != nil {
				missing, have = have, missing
			}
			return nil, bad(have, "the SwiGLU half %s is stored but %s is not", have, missing)
		}
		if p.w.DType != p.v.DType || !equalInts(p.w.Shape, p.v.Shape) {
			return nil, bad(base, "the SwiGLU halves differ: %s %v and %s %v", p.w.TName, p.w.Shape, p.v.TName, p.v.Shape)
		}
		if err := v.add(p.w, base, p.v, cfg, bad); err != nil {
			return nil, err
		}
	}
	sort.Slice(v.Tensors, func(i, j int) bool { return naturalLess(v.Tensors[i].Name, v.Tensors[j].Name) })
	for i, t := range v.Tensors {
		v.byName[t.Name] = i
	}
	sort.Slice(v.Skipped, func(i, j int) bool { return naturalLess(v.Skipped[i].Key, v.Skipped[j].Key) })
	return v, nil
}

// objectWhy says why a bytes item is skipped.
func objectWhy(key string) string {
	switch {
	case strings.Contains(key, "_extra_state"):
		return "Transformer Engine extra state (FP8 scaling), not a weight"
	case strings.HasPrefix(key, "rng_state"):
		return "RNG state"
	case strings.HasPrefix(key, "common_state"):
		return "common state (args, iteration), read for the config only"
	case strings.HasPrefix(key, "optimizer"):
		return "optimizer state"
	}
	return "pickled object, not a weight"
}

// tensorSkip says why a tensor item is not a model weight ("" when it is).
func tensorSkip(t *Tensor) string {
	switch {
	case strings.HasPrefix(t.Key, "optimizer.") || strings.Contains(t.Key, ".optimizer."):
		return "optimizer state (optimizer export is not supported)"
	case strings.Contains(t.Key, "_extra_state"):
		return "Transformer Engine extra state, not a weight"
	case strings.HasPrefix(t.Key, "rng_state"):
		return "RNG state"
	case t.Reformulated:
		return "flattened distributed-optimizer layout (megatron-core 0.15 mcore_data), not a weight"
	}
	return ""
}

// add maps stored tensor t (and its SwiGLU second half v, if any) under
// Megatron key base.
func (vw *View) add(t *Tensor, base string, second *Tensor, cfg ViewConfig, bad func(string, string, ...any) error) error {
	if t.DType == "" {
		return bad(t.Key, "dtype %s is not one omnitui converts", quote(t.TName))
	}
	// Split base into <prefix>layers.<rest>; a numeric first segment of rest is
	// an explicit layer, otherwise axis 0 stacks the layers.
	segs := strings.Split(base, ".")
	li := -1
	for i, s := range segs {
		if s == layerSeg && i+1 < len(segs) {
			li = i
			break
		}
	}
	prepend := 0
	layerStacked, expertStacked := false, false
	explicitLayer := -1
	var prefix, rest []string
	if li >= 0 {
		prefix = segs[:li+1]
		rest = segs[li+1:]
		if n, ok := index(rest[0]); ok {
			explicitLayer = n
			rest = rest[1:]
		} else {
			layerStacked = true
			prepend++
		}
	} else {
		rest = segs
	}
	ei := -1
	explicitExpert := -1
	for i, s := range rest {
		if s == "experts" && i+1 < len(rest) {
			ei = i
			break
		}
	}
	var before, tail []string
	if ei >= 0 {
		before = rest[:ei]
		tail = rest[ei+1:]
		if tail[0] == "local_experts" && len(tail) > 1 {
			tail = tail[1:]
		}
		if n, ok := index(tail[0]); ok {
			explicitExpert = n
			tail = tail[1:]
		} else {
			expertStacked = true
			prepend++
		}
		if len(tail) == 0 {
			return bad(t.Key, "the key names an expert but no parameter")
		}
	}
	if len(t.Shape) < prepend {
		return bad(t.Key, "the key implies %d stacked axes but the tensor has shape %v", prepend, t.Shape)
	}
	isDecoder := strings.Join(prefix, ".") == "decoder.layers"
	nLayers, nExperts := 1, 1
	axis := 0
	if layerStacked {
		nLayers = int(t.Shape[axis])
		if isDecoder && cfg.Layers > 0 && nLayers != cfg.Layers {
			return bad(t.Key, "the stacked layer axis has length %d but the config (%s) has %d layers", nLayers, cfg.Source, cfg.Layers)
		}
		axis++
	} else if explicitLayer >= 0 && isDecoder && cfg.Layers > 0 && explicitLayer >= cfg.Layers {
		return bad(t.Key, "layer %d is stored but the config (%s) has %d layers", explicitLayer, cfg.Source, cfg.Layers)
	}
	if expertStacked {
		nExperts = int(t.Shape[axis])
		if cfg.Experts > 0 && nExperts != cfg.Experts {
			return bad(t.Key, "the stacked expert axis has length %d but the config (%s) has %d experts", nExperts, cfg.Source, cfg.Experts)
		}
	} else if explicitExpert >= 0 && cfg.Experts > 0 && explicitExpert >= cfg.Experts {
		return bad(t.Key, "expert %d is stored but the config (%s) has %d experts", explicitExpert, cfg.Source, cfg.Experts)
	}
	// Megatron stores one chunk per stacked (layer, expert) slot at least
	// (prepended axes have chunk size 1), so more slots than chunks is no
	// Megatron layout; the check also bounds the loop below by the file.
	if prepend > 0 && int64(nLayers)*int64(nExperts) > int64(len(t.Chunks)) {
		return bad(t.Key, "the stacked axes of shape %v have %d slots but only %d chunks are stored", t.Shape[:prepend], int64(nLayers)*int64(nExperts), len(t.Chunks))
	}
	local := t.Shape[prepend:]
	if second != nil && len(local) == 0 {
		return bad(t.Key, "a SwiGLU half is a scalar")
	}
	for l := 0; l < nLayers; l++ {
		for e := 0; e < nExperts; e++ {
			layer, expert := explicitLayer, explicitExpert
			off := make([]int64, len(t.Shape))
			size := append(make([]int64, prepend), local...)
			ax := 0
			if layerStacked {
				layer = l
				off[ax], size[ax] = int64(l), 1
				ax++
			}
			if expertStacked {
				expert = e
				off[ax], size[ax] = int64(e), 1
			}
			var name []string
			if li >= 0 {
				name = append(append(name, prefix...), strconv.Itoa(layer))
			}
			if ei >= 0 {
				name = append(append(name, before...), "experts", "local_experts", strconv.Itoa(expert))
				name = append(name, tail...)
			} else {
				name = append(name, rest...)
			}
			vt := ViewTensor{Name: strings.Join(name, "."), DType: t.DType, Shape: append([]int64(nil), local...)}
			vt.parts = append(vt.parts, viewPart{t, off, size})
			if second != nil {
				vt.parts = append(vt.parts, viewPart{second, off, size})
				vt.Shape[0] *= 2
			}
			if _, dup := vw.byName[vt.Name]; dup {
				return bad(t.Key, "two stored items map to %s", quote(vt.Name))
			}
			vw.byName[vt.Name] = len(vw.Tensors)
			vw.Tensors = append(vw.Tensors, vt)
		}
	}
	return nil
}

// index parses a non-negative decimal path segment.
func index(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, _ := strconv.Atoi(s)
	return n, true
}

// Index returns the position of name in Tensors.
func (vw *View) Index(name string) (int, bool) {
	i, ok := vw.byName[name]
	return i, ok
}

// TensorData returns tensor i's row-major bytes, assembled from its chunks.
func (vw *View) TensorData(i int) ([]byte, error) {
	if i < 0 || i >= len(vw.Tensors) {
		return nil, fmt.Errorf("dcp: tensor index %d out of range", i)
	}
	t := &vw.Tensors[i]
	if len(t.parts) == 1 {
		p := t.parts[0]
		return vw.ck.readBox(p.t, p.off, p.size)
	}
	var out []byte
	for _, p := range t.parts {
		b, err := vw.ck.readBox(p.t, p.off, p.size)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = make([]byte, 0, len(b)*len(t.parts))
		}
		out = append(out, b...)
	}
	return out, nil
}

// Release is a no-op: TensorData returns memory the caller owns.
func (vw *View) Release(int) {}

// FileOf names the .distcp file holding the first chunk of tensor i.
func (vw *View) FileOf(i int) string {
	if i < 0 || i >= len(vw.Tensors) {
		return ""
	}
	p := vw.Tensors[i].parts[0]
	for _, ch := range p.t.Chunks {
		if intersectsBox(ch, p.off, p.size) {
			return filepath.Join(vw.ck.Dir, ch.File.Name)
		}
	}
	return ""
}

// Sources lists the stored keys tensor i is read from.
func (vw *View) Sources(i int) []string {
	var out []string
	for _, p := range vw.Tensors[i].parts {
		out = append(out, p.t.Key)
	}
	return out
}

func intersectsBox(ch *Chunk, off, size []int64) bool {
	for d := range off {
		if ch.Offsets[d] >= off[d]+size[d] || off[d] >= ch.Offsets[d]+ch.Sizes[d] {
			return false
		}
	}
	return true
}

// naturalLess orders names with embedded numbers numerically.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:min(da, 18)], 10, 64)
			nb, _ := strconv.ParseUint(b[:min(db, 18)], 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
