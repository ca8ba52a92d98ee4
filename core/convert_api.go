package core

import (
	"context"
	"time"

	"github.com/omnitui/omnitui/loader"
)

// ProgressKind says what a Progress event reports.
type ProgressKind string

const (
	ProgStart  ProgressKind = "start"  // conversion begins; totals are set
	ProgTensor ProgressKind = "tensor" // a group was written to all its destinations
	ProgDone   ProgressKind = "done"   // output renamed into place
	ProgError  ProgressKind = "error"  // conversion failed; Err is set; nothing left under the output name
)

// Progress is one event of a running conversion. Events are sent from the converter's goroutine.
type Progress struct {
	Kind         ProgressKind  `json:"event"`
	BytesDone    int64         `json:"bytes_done"`  // output bytes written so far
	BytesTotal   int64         `json:"bytes_total"` // output bytes in all
	TensorsDone  int           `json:"tensors_done"`
	TensorsTotal int           `json:"tensors_total"`
	Tensor       string        `json:"tensor,omitempty"`     // HF name of the group just written (first input)
	RankBytes    []int64       `json:"rank_bytes,omitempty"` // per Plan.Ranks index: bytes written so far
	Elapsed      time.Duration `json:"elapsed_ns"`
	Err          error         `json:"-"`
	Message      string        `json:"message,omitempty"`
}

// ConvertOptions control where and how a plan is executed.
type ConvertOptions struct {
	Out      string         // output directory; built as a temporary sibling and renamed into place
	Force    bool           // replace an existing output
	Progress func(Progress) // called synchronously from the converter; keep it cheap
	Workers  int            // 0 = runtime.NumCPU()
	NoSync   bool           // skip fsync of the rank files before the rename (faster; not durable across a power loss)

	// Select, when not nil, writes only the rank files it marks (by Plan.Ranks index),
	// straight into Out, which must exist: no global files, no temporary sibling, no
	// rename. One task of a split conversion uses it and publishes the files itself.
	Select []bool

	// beforeWrite is a test seam (set only by this package's tests): when set, it is
	// called with the size of every tensor write into a rank file, from the writing
	// goroutine, and an error it returns fails that write (e.g. ENOSPC after N bytes
	// to simulate a full disk).
	beforeWrite func(n int) error

	// pieceBytes overrides the streaming piece size (tests only; 0 = the default), so
	// tiny checkpoints exercise the piecewise paths that large tensors take.
	pieceBytes int64
}

// Result summarises a finished conversion.
type Result struct {
	Out     string
	Files   []string // rank files written, relative to Out
	Bytes   int64
	Tensors int
	Elapsed time.Duration
}

var _ = context.Background
var _ loader.DType
