package loader

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Well-known file names of a Hugging Face checkpoint.
const (
	ConfigFileName  = "config.json"
	SingleFileName  = "model.safetensors"
	IndexFileName   = "model.safetensors.index.json"
	indexFileSuffix = ".safetensors.index.json"
)

// SafetensorsIndex is a parsed model.safetensors.index.json.
type SafetensorsIndex struct {
	Path      string
	Entries   []IndexEntry   // weight_map in file order
	Shards    []string       // distinct shard file names, sorted
	Metadata  map[string]any // "metadata" (numbers as json.Number), nil when absent
	TotalSize int64          // metadata.total_size, -1 when absent or not an integer
}

// IndexEntry is one weight_map member.
type IndexEntry struct {
	Tensor string
	Shard  string // file name relative to the index's directory
	Line   int    // line of the member in the index file
}

const fixIndex = "re-download model.safetensors.index.json from the model repository (the same revision as the shards)"

// ParseSafetensorsIndex parses and checks the text of a sharded checkpoint's
// index; name is used in messages. It checks the JSON itself and that every
// weight_map value is a local file name; whether the shards exist and agree
// is checked by OpenHF.
func ParseSafetensorsIndex(name string, data []byte) (*SafetensorsIndex, error) {
	bad := func(format string, args ...any) error {
		return &FileError{File: name, Kind: ErrCorrupt, Detail: fmt.Sprintf(format, args...), Fix: fixIndex}
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, bad("file is empty")
	}
	root, err := ParseJSONTree(data)
	if err != nil {
		return nil, &FileError{File: name, Kind: ErrCorrupt, Detail: err.Error(), Fix: fixIndex, Err: err}
	}
	if root.Kind != JSONObject {
		return nil, bad("top-level value is a JSON %s, expected an object with \"weight_map\"", root.KindName())
	}
	idx := &SafetensorsIndex{Path: name, TotalSize: -1}
	if md, ok := root.Member("metadata"); ok {
		switch md.Kind {
		case JSONObject:
			idx.Metadata = jsonToAny(md).(map[string]any)
			if ts, ok := md.Member("total_size"); ok {
				if v, err := ts.Int(); err == nil && v >= 0 {
					idx.TotalSize = v
				} else if f, err := ts.Float(); err == nil && f >= 0 && f < 1<<62 && f == float64(int64(f)) {
					idx.TotalSize = int64(f) // some tools write 1.23e10
				}
			}
		case JSONNull:
		default:
			return nil, bad("%s: \"metadata\" is %s, expected an object", md.Pos(), withArticle(md.KindName()))
		}
	}
	wm, ok := root.Member("weight_map")
	if !ok {
		return nil, bad("no \"weight_map\" member: this is not a safetensors index")
	}
	if wm.Kind != JSONObject {
		return nil, bad("%s: \"weight_map\" is %s, expected an object mapping tensor names to shard files", wm.Pos(), withArticle(wm.KindName()))
	}
	if len(wm.Children) == 0 {
		return nil, bad("%s: \"weight_map\" is empty", wm.Pos())
	}
	idx.Entries = make([]IndexEntry, len(wm.Children))
	shards := make(map[string]bool)
	for i, c := range wm.Children {
		shard, err := c.Str()
		if err != nil {
			return nil, &FileError{File: name, Tensor: c.Key, Kind: ErrCorrupt,
				Detail: "weight_map value must be a shard file name: " + err.Error(), Fix: fixIndex, Err: err}
		}
		if !filepath.IsLocal(shard) || strings.ContainsRune(shard, '\\') {
			return nil, &FileError{File: name, Tensor: c.Key, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("%s: shard %q is not a file name inside the checkpoint directory", c.Pos(), shard), Fix: fixIndex}
		}
		idx.Entries[i] = IndexEntry{Tensor: c.Key, Shard: shard, Line: c.Line}
		if !shards[shard] {
			shards[shard] = true
			idx.Shards = append(idx.Shards, shard)
		}
	}
	slices.Sort(idx.Shards)
	return idx, nil
}

// jsonToAny converts a tree to encoding/json-like values; numbers become
// json.Number so that no digit is lost.
func jsonToAny(n *JSONNode) any {
	switch n.Kind {
	case JSONObject:
		m := make(map[string]any, len(n.Children))
		for _, c := range n.Children {
			m[c.Key] = jsonToAny(c)
		}
		return m
	case JSONArray:
		a := make([]any, len(n.Children))
		for i, c := range n.Children {
			a[i] = jsonToAny(c)
		}
		return a
	case JSONNumber:
		return json.Number(n.Raw)
	case JSONString:
		s, _ := n.Str()
		return s
	case JSONBool:
		return n.Raw == "true"
	}
	return nil
}
