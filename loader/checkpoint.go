package loader

import (
	"errors"
	"sync"
)

// Shard is one safetensors file of a checkpoint.
type Shard struct {
	Name      string            // file name relative to Checkpoint.Dir, e.g. "model-00001-of-00015.safetensors"
	Path      string            // absolute path
	Size      int64             // file size in bytes
	HeaderLen int64             // length of the JSON header (the 8-byte prefix excluded)
	Metadata  map[string]string // the header's __metadata__, if any
}

// Checkpoint is an opened Hugging Face checkpoint: config plus tensor headers.
// Opening reads headers only; tensor bytes are reached through TensorData.
type Checkpoint struct {
	Dir         string       // directory holding config.json
	Config      *JSONNode    // config.json as an ordered tree, numbers as written
	ConfigBytes []byte       // config.json exactly as on disk; read-only: Config shares its memory
	Shards      []Shard      // sorted by Name
	Tensors     []TensorInfo // shards in order, tensors within a shard sorted by name
	ByName      map[string]int
	ExtraFiles  []string       // tokenizer/processor/generation files next to config.json (names relative to Dir)
	IndexMeta   map[string]any // "metadata" of model.safetensors.index.json, if any

	// IndexPath is the absolute path of model.safetensors.index.json, empty
	// for a single-file checkpoint.
	IndexPath string
	// Warnings are findings that do not stop a conversion but that the user
	// should see (a stale index next to model.safetensors, a total_size that
	// disagrees with the shards, shards the index does not list, ...).
	Warnings []string

	closers []func() error

	mu     sync.Mutex  // guards maps and closed
	maps   []*shardMap // lazily created read-only mappings, one per shard
	closed bool
}

// ErrNotImplemented marks loader functions still to be written.
var ErrNotImplemented = errors.New("not implemented")
