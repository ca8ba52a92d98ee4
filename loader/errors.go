package loader

import (
	"errors"
	"strconv"
	"strings"
)

// Error kinds. Every error returned while opening or reading a checkpoint wraps
// one of these, so callers can classify a failure with errors.Is without
// parsing messages.
var (
	// ErrNotCheckpoint: the path is not a Hugging Face checkpoint at all
	// (no config.json, no weights, a Megatron directory, a stray file, ...).
	ErrNotCheckpoint = errors.New("not a Hugging Face safetensors checkpoint")
	// ErrCorrupt: a file is present but its content is invalid
	// (bad JSON, bad safetensors header, index and shards disagree, ...).
	ErrCorrupt = errors.New("corrupt checkpoint file")
	// ErrTruncated: a file is shorter than its own header says it must be.
	ErrTruncated = errors.New("truncated checkpoint file")
	// ErrMissingFile: a file the checkpoint needs is absent.
	ErrMissingFile = errors.New("missing checkpoint file")
	// ErrUnreadable: a file exists but cannot be read (permissions, symlink
	// loop, not a regular file, I/O error).
	ErrUnreadable = errors.New("unreadable checkpoint file")
	// ErrClosed: the checkpoint was closed before the call.
	ErrClosed = errors.New("checkpoint is closed")
	// ErrInvalidWrite: a safetensors writer was given inconsistent input.
	ErrInvalidWrite = errors.New("invalid safetensors write")
)

// FileError is the error type of the loader: which file (and tensor, if any)
// is affected, what is wrong, and what the user should do about it.
//
// Its message reads
//
//	<file>: tensor "<name>": <detail>; <fix>
//
// with the tensor part left out when no single tensor is concerned.
type FileError struct {
	File   string // path of the file concerned, as given to the loader
	Tensor string // tensor concerned, if any
	Kind   error  // one of the Err* kinds above
	Detail string // what is wrong
	Fix    string // what the user should do
	Err    error  // underlying cause (I/O or syntax error), may be nil
}

func (e *FileError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		// A JSON syntax error starts with "line:col:", which reads best
		// glued to the file name like a compiler message.
		if e.Tensor != "" || !startsWithPos(e.Detail) {
			b.WriteString(": ")
		} else {
			b.WriteString(":")
		}
	}
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Detail)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Unwrap exposes both the kind and the underlying cause to errors.Is/As.
func (e *FileError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// startsWithPos reports whether s starts with "<digits>:<digits>:".
func startsWithPos(s string) bool {
	i := 0
	for field := 0; field < 2; field++ {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j >= len(s) || s[j] != ':' {
			return false
		}
		i = j + 1
	}
	return true
}

// quote renders a name for a message: Go-quoted, and shortened when absurdly long
// (a fuzzed or corrupt header can hold megabyte-long keys).
func quote(s string) string {
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !startsRune(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func startsRune(b byte) bool { return b&0xC0 != 0x80 }

// withArticle prefixes a JSON kind name for a sentence: "an array", "a number", "null".
func withArticle(kind string) string {
	switch kind {
	case "null", "missing":
		return kind
	case "array", "object":
		return "an " + kind
	}
	return "a " + kind
}
