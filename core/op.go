package core

import (
	"fmt"

	"github.com/omnitui/omnitui/loader"
)

// Op is the behaviour of one converter op kind. Each kind is one file (op_<kind>.go) that
// registers itself with registerOp; generic code never switches over op kinds.
//
// An op turns its HF inputs (in the rule's order) into one Megatron tensor, which the plan
// then splits over TP ranks by the group's SplitKind. For ops whose one HF tensor becomes
// several Megatron tensors see Fanout.
type Op interface {
	// Shape validates the inputs against the model dims and returns the Megatron tensor's shape.
	Shape(ins []*loader.TensorInfo, d Dims) ([]int64, error)
	// CanSplit reports whether the op's tensor can be distributed over TP that way; err says why not.
	CanSplit(s SplitKind) error
	// Slice returns the bytes of destination d (output dtype) from the op's whole inputs
	// (already cast; elem is the output element size); buf hands out scratch memory.
	Slice(g *Group, d Dest, ins [][]byte, elem int, dims Dims, buf func(n int) []byte) ([]byte, error)
	// Spans describes destination d as contiguous ranges of the (uncast) inputs when it is a
	// plain copy, so that it can stream piece by piece; ok is false otherwise. inLen are the
	// inputs' byte lengths, inElem their element size, outElem the output's.
	Spans(g *Group, d Dest, inLen []int64, inElem, outElem int64) (spans []span, ok bool)
	// StreamRows reports whether a row-parallel destination of g can stream by blocks of rows
	// (the output is one input's columns).
	StreamRows(g *Group) bool
	// HFShapes inverts Shape for the reverse: the inputs' shapes from the Megatron tensor's.
	HFShapes(name string, shape []int64, d Dims) ([][]int64, error)
	// Inverse splits the gathered whole Megatron tensor back into the op's inputs (inSize:
	// each input's byte size).
	Inverse(g *Group, whole []byte, inSize []int64, elem int, d Dims) ([][]byte, error)
	// Explain is what the Mapping view shows about the op at TP size tp in about width
	// columns (nil when there is nothing to draw).
	Explain(g *Group, d Dims, tp, width int) []ExplainLine
}

// Fanout is implemented by ops whose one HF tensor yields several Megatron tensors (experts
// stored fused [E, ...] that ROLL splits per expert). The plan makes Parts groups over the
// same inputs, consecutive, each with its piece index (Group.Piece, Group.Pieces) and named
// with that expert's prefix. Piece p of an n-byte input is bytes [p·n/P, (p+1)·n/P): the
// pieces run along the inputs' first dim. The executor hands the op only its piece of each
// input (Shape sees whole inputs, Slice/Spans/Inverse see the piece), and the reverse
// gathers the pieces back into the whole input (gatherTensors).
type Fanout interface {
	// Parts is the number of pieces the inputs fan out into; err says why they cannot.
	Parts(ins []*loader.TensorInfo, d Dims) (int, error)
}

// pieceRange is the byte range of group g's piece of an n-byte input (the whole input
// when g is no piece).
func pieceRange(g *Group, n int64) (off, size int64) {
	if g.Pieces <= 0 {
		return 0, n
	}
	size = n / int64(g.Pieces)
	return int64(g.Piece) * size, size
}

// ExplainLine is one line of an op's explanation: a label column and styled text parts.
type ExplainLine struct {
	Label string
	Parts []ExplainPart
}

// ExplainPart is a piece of explanation text; Muted parts are drawn dimmed.
type ExplainPart struct {
	Text  string
	Muted bool
}

// Explain is a line of plain text.
func explainText(label, text string) ExplainLine {
	return ExplainLine{Label: label, Parts: []ExplainPart{{Text: text}}}
}

// explainMuted is a line of dimmed text.
func explainMuted(label, text string) ExplainLine {
	return ExplainLine{Label: label, Parts: []ExplainPart{{Text: text, Muted: true}}}
}

// ops is the op-kind registry, filled at init time by the op_*.go files.
var opRegistry = map[OpKind]Op{}

func registerOp(k OpKind, o Op) {
	if _, dup := opRegistry[k]; dup {
		panic("core: op kind registered twice: " + string(k))
	}
	opRegistry[k] = o
}

// LookupOp returns the behaviour of an op kind.
func LookupOp(k OpKind) (Op, error) {
	if o, ok := opRegistry[k]; ok {
		return o, nil
	}
	return nil, fmt.Errorf("op %q has no implementation in omnitui: the template names an op kind no op_*.go file registers (this is a bug in the template)", k)
}

// ExplainOp is what the Mapping view shows about a group's op.
func ExplainOp(g *Group, d Dims, tp, width int) []ExplainLine {
	o, err := LookupOp(g.Op)
	if err != nil {
		return nil
	}
	lines := o.Explain(g, d, tp, width)
	if g.Scales != nil {
		f8 := numel(g.Shape) // one FP8 byte per element of the op's inputs
		bf := 2 * f8
		lines = append([]ExplainLine{explainText("FP8", fmt.Sprintf("%s: %s F8 + block scales -> %s bf16, bf16(f32(w) × scale_inv[i/128, j/128])", DequantLabel, HumanBytes(f8), HumanBytes(bf)))}, lines...)
	}
	return lines
}

// chunkRows is torch.chunk's piece r of n rows in t chunks, as [a, e).
func chunkRows(n int64, t, r int) (int64, int64) {
	size := (n + int64(t) - 1) / int64(t)
	a := min(int64(r)*size, n)
	return a, min(a+size, n)
}

func noSlice(g *Group) error {
	return fmt.Errorf("no byte transform for a %s op split as %s (this is a bug in omnitui; please report it)", g.Op, g.Split)
}
