package dcp

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/pt"
)

// Classes a torch_dist .metadata may name, across PyTorch 2.1-2.11 and
// megatron-core 0.12-0.20 (see FORMAT.md). Everything else is refused by name.
var metadataClasses = map[string]bool{
	classMetadata:      true,
	classTensorStorage: true,
	classBytesStorage:  true,
	classChunk:         true,
	classIndex:         true,
	"torch.distributed.checkpoint.metadata.TensorProperties":               true,
	"torch.distributed.checkpoint.metadata.StorageMeta":                    true,
	"torch.distributed.checkpoint.metadata._MEM_FORMAT_ENCODING":           true,
	"torch.distributed._shard.sharded_tensor.metadata.TensorProperties":    true,
	"torch.distributed._shard.sharded_tensor.metadata.MEM_FORMAT_ENCODING": true,
	classStorageInfo:                 true,
	classMCoreMetadata:               true,
	"torch.Size":                     true,
	"torch.strided":                  true,
	"collections.OrderedDict":        true,
	"builtins.set":                   true,
	"builtins.frozenset":             true,
	"copyreg._reconstructor":         true,
	"builtins.object":                true,
	"_codecs.encode":                 true,
	"pathlib.PosixPath":              true,
	"pathlib.PurePosixPath":          true,
	"pathlib.WindowsPath":            true,
	"pathlib.PureWindowsPath":        true,
	"pathlib._local.PosixPath":       true, // Python 3.13+
	"pathlib._local.PurePosixPath":   true,
	"pathlib._local.WindowsPath":     true,
	"pathlib._local.PureWindowsPath": true,
}

const (
	classMetadata      = "torch.distributed.checkpoint.metadata.Metadata"
	classMCoreMetadata = "megatron.core.dist_checkpointing.strategies.torch.MCoreMetadata"
	classTensorStorage = "torch.distributed.checkpoint.metadata.TensorStorageMetadata"
	classBytesStorage  = "torch.distributed.checkpoint.metadata.BytesStorageMetadata"
	classChunk         = "torch.distributed.checkpoint.metadata.ChunkStorageMetadata"
	classIndex         = "torch.distributed.checkpoint.metadata.MetadataIndex"
	classStorageInfo   = "torch.distributed.checkpoint.filesystem._StorageInfo"
)

// refusedWhy explains classes we know and refuse on purpose.
var refusedWhy = map[string]string{
	"torch.distributed.checkpoint._hf_utils._HFStorageInfo":       "it marks a checkpoint saved with safetensors serialisation, which omnitui does not read",
	"torch.distributed.checkpoint.filesystem.SerializationFormat": "it marks a checkpoint saved with a non-default serialisation, which omnitui does not read",
}

// allowMetadata is the allow-list check for .metadata pickles.
func allowMetadata(module, name string) error {
	full := module + "." + name
	if metadataClasses[full] {
		return nil
	}
	if module == "torch" && pt.TorchDType(name) != "" {
		return nil // dtype globals: torch.bfloat16, ...
	}
	if why, ok := refusedWhy[full]; ok {
		return fmt.Errorf("the pickle names %s: %s: %w", full, why, pt.ErrNotAllowed)
	}
	return fmt.Errorf("the pickle names %.200s, which a torch_dist .metadata never holds; refusing it (%w)", full, pt.ErrNotAllowed)
}

// Metadata is a decoded torch.distributed.checkpoint Metadata.
type Metadata struct {
	Class    string // the pickled class: torch's Metadata or megatron-core 0.15's MCoreMetadata
	Version  string // Metadata.version (newer PyTorch), "" before
	SaveID   string // StorageMeta.save_id (newer PyTorch), "" when absent
	Tensors  map[string]*TensorMeta
	Bytes    []string // keys of BytesStorageMetadata items, in file order
	Keys     []string // every key of state_dict_metadata, in file order
	Storage  map[chunkKey]StorageInfo
	MCore    map[string]bool // keys with megatron-core 0.15 mcore_data (flattened-range reformulation)
	Features []string        // what the pickle reveals about its writer, for the plan
}

// TensorMeta is one TensorStorageMetadata.
type TensorMeta struct {
	Key    string
	DType  loader.DType // "" when omnitui has no dtype for TName
	TName  string       // torch dtype name as pickled ("bfloat16")
	Shape  []int64
	Chunks []ChunkMeta
}

// ChunkMeta is one ChunkStorageMetadata.
type ChunkMeta struct {
	Offsets, Sizes []int64
}

// StorageInfo is one _StorageInfo: where an item's bytes lie.
type StorageInfo struct {
	Path       string // relative to the checkpoint directory
	Offset     int64
	Length     int64
	Transforms []string // transform_descriptors (newer PyTorch); refused when non-empty
}

type chunkKey struct {
	fqn     string
	offsets string // offsets joined with ","; "-" for bytes items (no offset)
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

// decodeMetadata decodes the pickled Metadata of a .metadata file (path is
// used in errors).
func decodeMetadata(path string, data []byte) (*Metadata, error) {
	v, err := pt.DecodePickle(data, pt.PickleOptions{Allow: allowMetadata, NoPersistent: true, Name: "pickle"})
	if err != nil {
		return nil, &loader.FileError{File: path, Kind: loader.ErrCorrupt, Detail: err.Error(),
			Fix: "omnitui reads only the .metadata PyTorch's distributed checkpoint writes; restore it from the original save", Err: err}
	}
	errf := func(key, format string, a ...any) error {
		return &loader.FileError{File: path, Tensor: key, Kind: loader.ErrCorrupt, Detail: fmt.Sprintf(format, a...),
			Fix: "the .metadata does not have the structure PyTorch's distributed checkpoint writes; restore it from the original save"}
	}
	root, ok := v.(*pt.Object)
	if !ok || (root.ClassName() != classMetadata && root.ClassName() != classMCoreMetadata) {
		return nil, errf("", "the pickle holds a %s, not a torch.distributed.checkpoint Metadata", describe(v))
	}
	fields, err := objectFields(root, []string{"state_dict_metadata", "planner_data", "storage_data", "storage_meta", "version", "mcore_data"})
	if err != nil {
		return nil, errf("", "Metadata: %v", err)
	}
	m := &Metadata{Class: root.ClassName(), Tensors: map[string]*TensorMeta{}, Storage: map[chunkKey]StorageInfo{}, MCore: map[string]bool{}}
	if m.Class == classMCoreMetadata {
		m.Features = append(m.Features, "megatron-core 0.15 MCoreMetadata")
	}
	if s, ok := fields["version"].(string); ok {
		m.Version = s
		m.Features = append(m.Features, "DCP metadata version "+s)
	}
	if sm, ok := fields["storage_meta"].(*pt.Object); ok {
		smf, err := objectFields(sm, []string{"checkpoint_id", "save_id", "load_id", "modules"})
		if err != nil {
			return nil, errf("", "storage_meta: %v", err)
		}
		m.SaveID, _ = smf["save_id"].(string)
		m.Features = append(m.Features, "StorageMeta")
	}
	sdm, ok := fields["state_dict_metadata"].(*pt.Dict)
	if !ok {
		return nil, errf("", "state_dict_metadata is a %s, not a dict", describe(fields["state_dict_metadata"]))
	}
	seen := map[string]bool{}
	for i, k := range sdm.Keys {
		key, ok := k.(string)
		if !ok {
			return nil, errf("", "state_dict_metadata has a %s key, not a string", describe(k))
		}
		if seen[key] {
			return nil, errf(key, "the key appears twice in state_dict_metadata")
		}
		seen[key] = true
		m.Keys = append(m.Keys, key)
		o, ok := sdm.Vals[i].(*pt.Object)
		if !ok {
			return nil, errf(key, "its storage metadata is a %s", describe(sdm.Vals[i]))
		}
		switch o.ClassName() {
		case classBytesStorage:
			m.Bytes = append(m.Bytes, key)
		case classTensorStorage:
			t, err := decodeTensorMeta(key, o)
			if err != nil {
				return nil, errf(key, "%v", err)
			}
			m.Tensors[key] = t
		default:
			return nil, errf(key, "its storage metadata is a %s", describe(o))
		}
	}
	sd, ok := fields["storage_data"].(*pt.Dict)
	if !ok {
		return nil, errf("", "storage_data is a %s, not a dict mapping MetadataIndex to _StorageInfo", describe(fields["storage_data"]))
	}
	for i, k := range sd.Keys {
		idx, ok := k.(*pt.Object)
		if !ok || idx.ClassName() != classIndex {
			return nil, errf("", "storage_data key %d is a %s, not a MetadataIndex", i, describe(k))
		}
		f, err := objectFields(idx, []string{"fqn", "offset", "index"})
		if err != nil {
			return nil, errf("", "storage_data key %d: %v", i, err)
		}
		fqn, ok := f["fqn"].(string)
		if !ok {
			return nil, errf("", "storage_data key %d has no fqn string", i)
		}
		ck := chunkKey{fqn: fqn, offsets: "-"}
		if off := f["offset"]; off != nil {
			o, err := intList(off)
			if err != nil {
				return nil, errf(fqn, "MetadataIndex offset: %v", err)
			}
			ck.offsets = offsetsKey(o)
		}
		info, err := decodeStorageInfo(sd.Vals[i])
		if err != nil {
			return nil, errf(fqn, "storage_data at offsets [%s]: %v", ck.offsets, err)
		}
		if _, dup := m.Storage[ck]; dup {
			return nil, errf(fqn, "storage_data names the item at offsets [%s] twice", ck.offsets)
		}
		m.Storage[ck] = info
	}
	if md, ok := fields["mcore_data"].(*pt.Dict); ok {
		for i, k := range md.Keys {
			ks, _ := k.(string)
			if d, ok := md.Vals[i].(*pt.Dict); ok {
				if _, ok := d.Get("nd_reformulated_orig_global_shape"); ok {
					m.MCore[ks] = true
				}
			}
		}
	}
	return m, nil
}

func decodeTensorMeta(key string, o *pt.Object) (*TensorMeta, error) {
	f, err := objectFields(o, []string{"properties", "size", "chunks"})
	if err != nil {
		return nil, err
	}
	t := &TensorMeta{Key: key}
	if t.Shape, err = intList(f["size"]); err != nil {
		return nil, fmt.Errorf("size: %v", err)
	}
	props, ok := f["properties"].(*pt.Object)
	if !ok {
		return nil, fmt.Errorf("properties is a %s, not TensorProperties", describe(f["properties"]))
	}
	if t.TName, err = propertiesDType(props); err != nil {
		return nil, err
	}
	t.DType = pt.TorchDType(t.TName)
	chunks, ok := f["chunks"].(*pt.List)
	if !ok {
		return nil, fmt.Errorf("chunks is a %s, not a list", describe(f["chunks"]))
	}
	for i, c := range chunks.Items {
		co, ok := c.(*pt.Object)
		if !ok || co.ClassName() != classChunk {
			return nil, fmt.Errorf("chunk %d is a %s, not ChunkStorageMetadata", i, describe(c))
		}
		cf, err := objectFields(co, []string{"offsets", "sizes"})
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %v", i, err)
		}
		var cm ChunkMeta
		if cm.Offsets, err = intList(cf["offsets"]); err != nil {
			return nil, fmt.Errorf("chunk %d offsets: %v", i, err)
		}
		if cm.Sizes, err = intList(cf["sizes"]); err != nil {
			return nil, fmt.Errorf("chunk %d sizes: %v", i, err)
		}
		t.Chunks = append(t.Chunks, cm)
	}
	return t, nil
}

// propertiesDType reads the dtype of a TensorProperties: its pickled state is
// the tuple (dtype, layout, requires_grad, memory-format enum, pin_memory)
// from __getstate__, or a plain field dict from a writer without it.
func propertiesDType(o *pt.Object) (string, error) {
	switch o.ClassName() {
	case "torch.distributed.checkpoint.metadata.TensorProperties", "torch.distributed._shard.sharded_tensor.metadata.TensorProperties":
	default:
		return "", fmt.Errorf("properties is a %s, not TensorProperties", describe(o))
	}
	var dt any
	switch st := o.State.(type) {
	case *pt.Tuple:
		if len(st.Items) == 0 {
			return "", fmt.Errorf("TensorProperties state is an empty tuple")
		}
		dt = st.Items[0]
	case *pt.Dict:
		dt, _ = st.Get("dtype")
	default:
		return "", fmt.Errorf("TensorProperties state is a %s", describe(o.State))
	}
	g, ok := dt.(*pt.Global)
	if !ok || g.Module != "torch" {
		return "", fmt.Errorf("TensorProperties dtype is a %s, not a torch dtype", describe(dt))
	}
	return g.Name, nil
}

func decodeStorageInfo(v any) (StorageInfo, error) {
	o, ok := v.(*pt.Object)
	if !ok || o.ClassName() != classStorageInfo {
		return StorageInfo{}, fmt.Errorf("the value is a %s, not a _StorageInfo", describe(v))
	}
	f, err := objectFields(o, []string{"relative_path", "offset", "length", "transform_descriptors"})
	if err != nil {
		return StorageInfo{}, err
	}
	var si StorageInfo
	if si.Path, ok = f["relative_path"].(string); !ok {
		return si, fmt.Errorf("relative_path is a %s", describe(f["relative_path"]))
	}
	if si.Offset, ok = f["offset"].(int64); !ok || si.Offset < 0 {
		return si, fmt.Errorf("offset (%s) is not a non-negative int", describe(f["offset"]))
	}
	if si.Length, ok = f["length"].(int64); !ok || si.Length < 0 {
		return si, fmt.Errorf("length (%s) is not a non-negative int", describe(f["length"]))
	}
	if td := f["transform_descriptors"]; td != nil {
		var list []any
		switch s := td.(type) {
		case *pt.List:
			list = s.Items
		case *pt.Tuple:
			list = s.Items
		default:
			return si, fmt.Errorf("transform_descriptors is a %s", describe(td))
		}
		for _, it := range list {
			s, _ := it.(string)
			si.Transforms = append(si.Transforms, s)
		}
	}
	return si, nil
}

// objectFields returns the attributes of a pickled dataclass instance: the
// dict BUILD set (with or without a slots part), checked against the names the
// class may have. An unknown attribute is an error: it would mean a writer this
// reader was not made for.
func objectFields(o *pt.Object, known []string) (map[string]any, error) {
	var dicts []*pt.Dict
	switch st := o.State.(type) {
	case nil:
	case *pt.Dict:
		dicts = append(dicts, st)
	case *pt.Tuple:
		// (state, slotstate)
		if len(st.Items) != 2 {
			return nil, fmt.Errorf("%s state is a tuple of %d items", o.ClassName(), len(st.Items))
		}
		for _, it := range st.Items {
			if it == nil {
				continue
			}
			d, ok := it.(*pt.Dict)
			if !ok {
				return nil, fmt.Errorf("%s state holds a %s", o.ClassName(), describe(it))
			}
			dicts = append(dicts, d)
		}
	default:
		return nil, fmt.Errorf("%s state is a %s, not a dict", o.ClassName(), describe(o.State))
	}
	if len(o.Items) > 0 || len(o.KVs) > 0 {
		return nil, fmt.Errorf("%s has items appended, which a dataclass never has", o.ClassName())
	}
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	out := map[string]any{}
	for _, d := range dicts {
		for i, k := range d.Keys {
			ks, isStr := k.(string)
			if !isStr || !ok[ks] {
				return nil, fmt.Errorf("%s has an unexpected attribute (%s)", o.ClassName(), describeKey(k))
			}
			out[ks] = d.Vals[i]
		}
	}
	return out, nil
}

func describeKey(k any) string {
	if s, ok := k.(string); ok {
		return strconv.QuoteToASCII(truncate(s, 80))
	}
	return describe(k)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// intList reads a torch.Size or a tuple/list of non-negative ints.
func intList(v any) ([]int64, error) {
	if o, ok := v.(*pt.Object); ok && o.ClassName() == "torch.Size" && len(o.Args.Items) == 1 {
		v = o.Args.Items[0]
	}
	var items []any
	switch s := v.(type) {
	case *pt.Tuple:
		items = s.Items
	case *pt.List:
		items = s.Items
	default:
		return nil, fmt.Errorf("a %s is not a tuple of ints", describe(v))
	}
	if len(items) > maxRank {
		return nil, fmt.Errorf("%d dimensions is more than %d", len(items), maxRank)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("a %s is not a non-negative int", describe(it))
		}
		out[i] = n
	}
	return out, nil
}

// maxRank bounds tensor dimensions.
const maxRank = 16

// describe names a plain value's type for messages, never its content.
func describe(v any) string {
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pt.Bytes:
		return "bytes"
	case *pt.Tuple:
		return "tuple"
	case *pt.List:
		return "list"
	case *pt.Set:
		return "set"
	case *pt.Dict:
		return "dict"
	case *pt.Global:
		return "reference to " + truncate(o.String(), 120)
	case *pt.Object:
		if n := o.ClassName(); n != "" {
			return truncate(n, 120) + " object"
		}
		return "object"
	case *pt.Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
