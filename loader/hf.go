package loader

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// IsExtraFile reports whether a file next to config.json belongs to the
// model's tokenizer, processor, chat template or generation settings, i.e.
// must travel with the converted weights. The list is explicit:
//
//	tokenizer.json tokenizer_config.json vocab.json merges.txt
//	special_tokens_map.json added_tokens.json
//	preprocessor_config.json video_preprocessor_config.json processor_config.json
//	chat_template.json chat_template.jinja generation_config.json
//	*.model (sentencepiece) *.tiktoken
//
// config.json, weights and the index are not extra files, nor are README,
// licence or git files.
func IsExtraFile(name string) bool {
	switch name {
	case "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
		"special_tokens_map.json", "added_tokens.json",
		"preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json",
		"chat_template.json", "chat_template.jinja", "generation_config.json":
		return true
	}
	return len(name) > len(".model") && (strings.HasSuffix(name, ".model") || strings.HasSuffix(name, ".tiktoken"))
}

// OpenHF opens a Hugging Face safetensors checkpoint and reads its headers.
//
// path is a directory holding config.json and either model.safetensors or
// model.safetensors.index.json plus the shards it names; or a single
// .safetensors file or an index file, config.json being read from the same
// directory. Every file is validated (see ParseSafetensorsHeader and
// ParseSafetensorsIndex) and the index is cross-checked against the shard
// headers. Model semantics (model_type, shapes) are not checked here.
//
// Errors are *FileError values wrapping one of ErrNotCheckpoint,
// ErrMissingFile, ErrCorrupt, ErrTruncated or ErrUnreadable; index/shard
// disagreements are all reported at once (errors.Join).
func OpenHF(path string) (*Checkpoint, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &FileError{File: path, Kind: ErrUnreadable, Detail: err.Error(), Fix: "give an absolute path", Err: err}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		ferr := openError(path, err).(*FileError)
		if ferr.Kind == ErrMissingFile {
			ferr.Detail = "no such file or directory"
			ferr.Fix = "give the directory of a Hugging Face checkpoint (config.json plus *.safetensors)"
		}
		return nil, ferr
	}

	c := &Checkpoint{}
	var single, index string
	switch {
	case fi.IsDir():
		c.Dir = abs
		single, index, err = findWeights(c)
		if err != nil {
			return nil, err
		}
	case fi.Mode().IsRegular():
		c.Dir = filepath.Dir(abs)
		base := filepath.Base(abs)
		switch {
		case strings.HasSuffix(base, indexFileSuffix):
			index = abs
		case strings.HasSuffix(base, ".safetensors"):
			single = abs
			if other := filepath.Join(c.Dir, IndexFileName); isRegular(other) {
				c.Warnings = append(c.Warnings, fmt.Sprintf(
					"opened only %s; %s lists the shards of the whole model: pass the directory %s to open all of it",
					base, IndexFileName, c.Dir))
			}
		case base == ConfigFileName:
			return OpenHF(c.Dir)
		default:
			return nil, &FileError{File: path, Kind: ErrNotCheckpoint,
				Detail: "not a checkpoint: expected a directory, a .safetensors file or a " + IndexFileName,
				Fix:    "give the directory of a Hugging Face checkpoint"}
		}
	default:
		return nil, &FileError{File: path, Kind: ErrNotCheckpoint,
			Detail: fmt.Sprintf("not a checkpoint: the path is %s", fileKind(fi.Mode())),
			Fix:    "give the directory of a Hugging Face checkpoint"}
	}

	if err := readConfig(c); err != nil {
		return nil, err
	}
	if single != "" {
		err = openSingle(c, single)
	} else {
		err = openIndexed(c, index)
	}
	if err != nil {
		return nil, err
	}
	c.ByName = make(map[string]int, len(c.Tensors))
	for i := range c.Tensors {
		c.ByName[c.Tensors[i].Name] = i
	}
	if err := findExtraFiles(c); err != nil {
		return nil, err
	}
	return c, nil
}

// maxConfigBytes bounds config.json and the index: real ones are kilobytes to a few megabytes.
const maxConfigBytes = 1 << 30

func isRegular(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// statRegular stats path (following symlinks) and requires a regular file.
func statRegular(path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, openError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	return fi, nil
}

// findWeights decides how the weights of directory c.Dir are stored, the
// way transformers does: model.safetensors first, then the index.
func findWeights(c *Checkpoint) (single, index string, err error) {
	sp := filepath.Join(c.Dir, SingleFileName)
	ip := filepath.Join(c.Dir, IndexFileName)
	_, serr := os.Lstat(sp)
	_, ierr := os.Lstat(ip)
	switch {
	case serr == nil:
		if ierr == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf(
				"%s and %s are both present; like transformers, omnitui uses %s and ignores the index: delete the stale one",
				SingleFileName, IndexFileName, SingleFileName))
		}
		return sp, "", nil
	case ierr == nil:
		return "", ip, nil
	}
	return "", "", noWeightsError(c.Dir)
}

// noWeightsError explains why a directory is not (or not yet) a checkpoint.
func noWeightsError(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return openError(dir, err)
	}
	var st, pickles []string
	hasConfig, megatron, hfCache := false, false, false
	for _, e := range entries {
		n := e.Name()
		switch {
		case n == ConfigFileName:
			hasConfig = true
		case strings.HasSuffix(n, ".safetensors"):
			st = append(st, n)
		case strings.HasSuffix(n, ".bin") || strings.HasSuffix(n, ".pt") || strings.HasSuffix(n, ".pth") || n == "pytorch_model.bin.index.json":
			pickles = append(pickles, n)
		case n == "latest_checkpointed_iteration.txt" || strings.HasPrefix(n, "iter_") || strings.HasPrefix(n, "mp_rank_"):
			megatron = true
		case n == "snapshots" && e.IsDir():
			hfCache = true
		}
	}
	looked := fmt.Sprintf("looked for %s and %s", SingleFileName, IndexFileName)
	switch {
	case len(st) > 0:
		return &FileError{File: dir, Kind: ErrMissingFile,
			Detail: fmt.Sprintf("found %s but no %s that lists them (%s)", listNames(st, 3), IndexFileName, looked),
			Fix:    "download " + IndexFileName + " from the model repository (same revision as the shards)"}
	case len(pickles) > 0:
		return &FileError{File: dir, Kind: ErrNotCheckpoint,
			Detail: fmt.Sprintf("the weights are PyTorch pickles (%s), not safetensors (%s)", listNames(pickles, 3), looked),
			Fix:    "re-save the model with save_pretrained(..., safe_serialization=True) or download its safetensors revision"}
	case megatron:
		return &FileError{File: dir, Kind: ErrNotCheckpoint,
			Detail: "this looks like a Megatron checkpoint (iter_*/mp_rank_* files), not a Hugging Face one",
			Fix:    "give the directory of the Hugging Face checkpoint to convert from"}
	case hfCache:
		return &FileError{File: dir, Kind: ErrNotCheckpoint,
			Detail: "this is a Hugging Face cache folder, not a checkpoint (" + looked + ")",
			Fix:    "give its snapshots/<revision> subdirectory"}
	case !hasConfig:
		return &FileError{File: dir, Kind: ErrNotCheckpoint,
			Detail: fmt.Sprintf("not a Hugging Face checkpoint: no %s and no weights (%s)", ConfigFileName, looked),
			Fix:    "give the directory that holds config.json and the *.safetensors files"}
	}
	return &FileError{File: dir, Kind: ErrMissingFile,
		Detail: "no weights next to config.json (" + looked + ")",
		Fix:    "download the *.safetensors files and " + IndexFileName + " of the model"}
}

func readConfig(c *Checkpoint) error {
	p := filepath.Join(c.Dir, ConfigFileName)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return &FileError{File: p, Kind: ErrMissingFile, Detail: "no " + ConfigFileName + " next to the weights",
			Fix: "copy config.json from the model repository; the architecture is read from it", Err: err}
	}
	data, err := ReadRegular(p, maxConfigBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &FileError{File: p, Kind: ErrCorrupt, Detail: "file is empty", Fix: "re-download config.json from the model repository"}
	}
	root, err := parseJSONTreeShared(data) // data is kept, unmodified, as ConfigBytes
	if err != nil {
		return &FileError{File: p, Kind: ErrCorrupt, Detail: err.Error(),
			Fix: "fix the JSON or re-download config.json from the model repository", Err: err}
	}
	if root.Kind != JSONObject {
		return &FileError{File: p, Kind: ErrCorrupt,
			Detail: fmt.Sprintf("top-level value is a JSON %s, expected an object", root.KindName()),
			Fix:    "re-download config.json from the model repository"}
	}
	c.Config, c.ConfigBytes = root, data
	return nil
}

func openSingle(c *Checkpoint, path string) error {
	if _, err := statRegular(path); err != nil {
		return err
	}
	h, err := ReadSafetensorsHeader(path)
	if err != nil {
		return err
	}
	c.Shards = []Shard{{Name: filepath.Base(path), Path: path, Size: h.FileSize, HeaderLen: h.HeaderLen, Metadata: h.Metadata}}
	c.Tensors = h.Tensors
	return nil
}

func openIndexed(c *Checkpoint, indexPath string) error {
	data, err := ReadRegular(indexPath, maxConfigBytes)
	if err != nil {
		return err
	}
	idx, err := ParseSafetensorsIndex(indexPath, data)
	if err != nil {
		return err
	}
	c.IndexPath = indexPath
	c.IndexMeta = idx.Metadata
	base := filepath.Base(indexPath)

	// Shard files: all present and regular before any header is read.
	count := make(map[string]int, len(idx.Shards))
	example := make(map[string]string, len(idx.Shards))
	for _, e := range idx.Entries {
		if count[e.Shard] == 0 {
			example[e.Shard] = e.Tensor
		}
		count[e.Shard]++
	}
	c.Shards = make([]Shard, len(idx.Shards))
	var problems []error
	for i, name := range idx.Shards {
		p := filepath.Join(c.Dir, name)
		c.Shards[i] = Shard{Name: name, Path: p}
		if _, err := statRegular(p); err != nil {
			ferr := err.(*FileError)
			ferr.Detail = fmt.Sprintf("shard listed in %s for %d tensors (e.g. %s): %s", base, count[name], quote(example[name]), ferr.Detail)
			if ferr.Kind == ErrMissingFile {
				ferr.Fix = "download the missing shard from the model repository"
			}
			problems = append(problems, ferr)
		}
	}
	if len(problems) > 0 {
		return joinProblems(problems)
	}

	headers, err := readHeaders(c.Shards)
	if err != nil {
		return err
	}
	total := 0
	for i, h := range headers {
		c.Shards[i].Size, c.Shards[i].HeaderLen, c.Shards[i].Metadata = h.FileSize, h.HeaderLen, h.Metadata
		total += len(h.Tensors)
	}
	if err := crossCheck(c, idx, headers, total); err != nil {
		return err
	}
	c.Tensors = make([]TensorInfo, 0, total)
	for s, h := range headers {
		for _, t := range h.Tensors {
			t.Shard = s
			c.Tensors = append(c.Tensors, t)
		}
	}
	if idx.TotalSize >= 0 {
		var sum int64
		for i := range c.Tensors {
			sum += c.Tensors[i].Size
		}
		if sum != idx.TotalSize {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: metadata.total_size is %d but the shards hold %d bytes of tensor data; the index was written by another tool or edited",
				base, idx.TotalSize, sum))
		}
	}
	// Shards next to the index that it does not mention are ignored.
	if entries, err := os.ReadDir(c.Dir); err == nil {
		var stray []string
		for _, e := range entries {
			if n := e.Name(); strings.HasSuffix(n, ".safetensors") {
				if _, ok := slices.BinarySearch(idx.Shards, n); !ok {
					stray = append(stray, n)
				}
			}
		}
		if len(stray) > 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s does not list %s; these files are ignored", base, listNames(stray, 5)))
		}
	}
	return nil
}

// readHeaders reads the shard headers in parallel; errors come back in shard order.
func readHeaders(shards []Shard) ([]*SafetensorsHeader, error) {
	headers := make([]*SafetensorsHeader, len(shards))
	errs := make([]error, len(shards))
	workers := min(runtime.GOMAXPROCS(0), len(shards), 8)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				headers[i], errs[i] = ReadSafetensorsHeader(shards[i].Path)
			}
		}()
	}
	for i := range shards {
		next <- i
	}
	close(next)
	wg.Wait()
	var problems []error
	for _, err := range errs {
		if err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	return headers, nil
}

const fixMismatch = "the index and the shards come from different revisions or a broken download; re-download the checkpoint (index and all shards from one revision)"

// crossCheck verifies that the index and the shard headers list the same
// tensors in the same places.
func crossCheck(c *Checkpoint, idx *SafetensorsIndex, headers []*SafetensorsHeader, total int) error {
	want := make(map[string]string, len(idx.Entries))
	for _, e := range idx.Entries {
		want[e.Tensor] = e.Shard
	}
	owner := make(map[string]int, total)
	var problems []error
	for s, h := range headers {
		for _, t := range h.Tensors {
			if prev, dup := owner[t.Name]; dup {
				problems = append(problems, &FileError{File: c.Shards[s].Path, Tensor: t.Name, Kind: ErrCorrupt,
					Detail: fmt.Sprintf("also stored in shard %s; a tensor must be in exactly one shard", c.Shards[prev].Name),
					Fix:    fixMismatch})
				continue
			}
			owner[t.Name] = s
			w, listed := want[t.Name]
			switch {
			case !listed:
				problems = append(problems, &FileError{File: idx.Path, Tensor: t.Name, Kind: ErrCorrupt,
					Detail: fmt.Sprintf("stored in shard %s but missing from the index's weight_map", c.Shards[s].Name),
					Fix:    fixMismatch})
			case w != c.Shards[s].Name && !headers[shardIndex(c.Shards, w)].has(t.Name):
				problems = append(problems, &FileError{File: idx.Path, Tensor: t.Name, Kind: ErrCorrupt,
					Detail: fmt.Sprintf("the index puts it in shard %s but it is stored in shard %s", w, c.Shards[s].Name),
					Fix:    fixMismatch})
			}
		}
	}
	for _, e := range idx.Entries {
		if _, ok := owner[e.Tensor]; !ok {
			problems = append(problems, &FileError{File: idx.Path, Tensor: e.Tensor, Kind: ErrCorrupt,
				Detail: fmt.Sprintf("listed at line %d for shard %s, but that shard (like every other) does not contain it", e.Line, e.Shard),
				Fix:    fixMismatch})
		}
	}
	if len(problems) > 0 {
		return joinProblems(problems)
	}
	return nil
}

func shardIndex(shards []Shard, name string) int {
	i, _ := slices.BinarySearchFunc(shards, name, func(s Shard, n string) int { return strings.Compare(s.Name, n) })
	return i
}

// joinProblems reports at most 10 problems, plus how many more there are.
func joinProblems(problems []error) error {
	const max = 10
	if len(problems) == 1 {
		return problems[0]
	}
	if len(problems) > max {
		more := len(problems) - max
		problems = append(problems[:max:max], fmt.Errorf("... and %d more problems of the same kind", more))
	}
	return errors.Join(problems...)
}

func findExtraFiles(c *Checkpoint) error {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return openError(c.Dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); IsExtraFile(n) && isRegular(filepath.Join(c.Dir, n)) {
			c.ExtraFiles = append(c.ExtraFiles, n)
		}
	}
	return nil
}
