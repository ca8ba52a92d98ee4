// Package core is omnitui's domain: model templates, parallel rules and the Plan,
// a pure function of (config, tensor headers, parallel settings) that says what
// every byte of a Hugging Face checkpoint becomes in a Megatron-Core checkpoint.
package core

import "github.com/omnitui/omnitui/loader"

// Settings are the parallel and output choices of a conversion.
type Settings struct {
	TP  int // tensor parallel size (>= 1)
	PP  int // pipeline parallel size (>= 1)
	VPP int // virtual pipeline size; 0 = not given (recorded as null)
	EP  int // expert parallel size (>= 1)
	ETP int // expert tensor parallel size; 0 = same as TP

	Layout           string // Megatron pipeline layout string; "" = uniform split
	AccountEmbedding bool   // account_for_embedding_in_pipeline_split
	AccountLoss      bool   // account_for_loss_in_pipeline_split

	GroupedGEMM       bool   // moe_grouped_gemm
	LegacyGroupedGEMM bool   // moe_use_legacy_grouped_gemm
	TransformerImpl   string // "transformer_engine" (default) or "local"

	DType string // "keep" (default), "bf16", "fp16", "fp32"
	// MTPLayerName is the Megatron-Core name of an MTP layer's inner decoder layer:
	// "mtp_model_layer" (core >= 0.17, ROLL's; the default) or "transformer_layer" (core 0.15–0.16).
	MTPLayerName string
	// KeepFP8 asks for FP8 weights to stay FP8; it is refused (see plan_fp8.go).
	KeepFP8 bool

	// HFLayout is the Hugging Face naming a reverse conversion writes, for families with
	// several (family.Template.Layouts); "" = the one recorded in mca_config.json.
	HFLayout string

	// Opt-outs of plan errors.
	SkipUnmapped bool // convert anyway, leaving out HF tensors no rule covers
	AllowUneven  bool // convert even if sizes do not divide by TP (Megatron will not load it)
	// OptOuts holds the model family's own opt-outs that are on, by family.OptOut.Name.
	OptOuts map[string]bool
}

// SplitKind is how a Megatron tensor is distributed over tensor-parallel ranks.
type SplitKind string

const (
	SplitDuplicated SplitKind = "duplicated" // every TP rank holds the whole tensor
	SplitColumn     SplitKind = "column"     // torch.chunk along dim 0
	SplitRow        SplitKind = "row"        // torch.chunk along dim 1
	SplitSwiGLU     SplitKind = "swiglu"     // cat(chunk(gate)[r], chunk(up)[r]) along dim 0
	// SplitSections: the tensor is a stack of row sections (the op's Sectioned.Sections);
	// rank r holds cat(chunk(section_0)[r], chunk(section_1)[r], ...) along dim 0 (ROLL's
	// gdn_weights split: q, k, v, z, b, a of a gated delta net in_proj, q, k, v of its conv1d).
	SplitSections SplitKind = "sections"
)

// Group is one converter op applied to a set of HF tensors, producing one Megatron tensor
// (before distribution) and its destinations on rank files.
type Group struct {
	Op      OpKind       `json:"op"`
	Rule    string       `json:"rule"`  // the template rule that matched, e.g. ".self_attn.{q,k,v}_proj.weight"
	Inputs  []int        `json:"-"`     // indices into Plan.Tensors, in op order (q,k,v / gate,up)
	HFNames []string     `json:"hf"`    // names of Inputs
	Name    string       `json:"mca"`   // global Megatron name (global layer and expert numbers)
	Shape   []int64      `json:"shape"` // shape of the whole Megatron tensor (stack: [2*rows, cols])
	DType   loader.DType `json:"dtype"` // output dtype
	Split   SplitKind    `json:"split"`
	Layer   int          `json:"layer"`  // global decoder layer, -1 if none (MTP layers: num_layers + k)
	Expert  int          `json:"expert"` // global expert, -1 if none
	// Pieces > 0: the op fans its inputs out (see Fanout); this group is piece Piece of
	// Pieces, made of bytes [Piece·n/Pieces, (Piece+1)·n/Pieces) of each n-byte input.
	// The pieces of one input are consecutive groups, piece 0 first.
	Piece  int `json:"piece,omitempty"`
	Pieces int `json:"pieces,omitempty"`
	// MTP is the Megatron prefix of an MTP layer's tensor ("mtp.layers.k" or
	// "mtp.layers.k.mtp_model_layer"); its names are not renumbered by the pipeline stage.
	MTP string `json:"mtp,omitempty"`
	// Scales are, per input, the index into Plan.Tensors of its FP8 block scale
	// (weight_scale_inv), or -1; nil when no input is FP8. Such inputs are dequantized to
	// bf16 before the op (see ops.DequantFP8Block).
	Scales []int  `json:"-"`
	Dests  []Dest `json:"dests"`
}

// Dest is where (a slice of) a group's tensor lands.
type Dest struct {
	Rank      int     `json:"rank"`      // index into Plan.Ranks
	Chunk     int     `json:"chunk"`     // virtual pipeline chunk index within the rank file
	Entry     int     `json:"entry"`     // index into Ranks[Rank].Chunks[Chunk].Entries
	Name      string  `json:"name"`      // local name (local layer and expert numbers)
	Shape     []int64 `json:"shape"`     // shape of this slice
	TPRank    int     `json:"tp_slice"`  // which TP slice (0 for duplicated)
	TPSize    int     `json:"tp_of"`     // slices in all (1 for duplicated)
	Part      int     `json:"part"`      // legacy grouped GEMM: local expert index inside the stacked entry; else 0
	Transpose bool    `json:"transpose"` // legacy grouped GEMM: the slice is stored transposed
}

// Entry is one tensor of a rank file's state dict.
type Entry struct {
	Name  string       `json:"name"`
	DType loader.DType `json:"dtype"`
	Shape []int64      `json:"shape"`
	Bytes int64        `json:"bytes"`
	Parts int          `json:"parts"` // number of Dests that fill it (1, or local experts for legacy grouped GEMM)
}

// Chunk is one virtual-pipeline model chunk inside a rank file ("model" or "modelN").
type Chunk struct {
	VP      int      `json:"vp"`
	Key     string   `json:"key"`
	Layers  [2]int   `json:"layers"` // global decoder layers [first, last+1)
	Extras  []string `json:"extras"` // non-layer modules held, labels from the template's Extras, e.g. "embedding", "output_layer"
	Entries []Entry  `json:"entries"`
}

// RankFile is one model_optim_rng.pt of the output.
type RankFile struct {
	TP      int     `json:"tp"`
	PP      int     `json:"pp"`
	EP      int     `json:"ep"`
	Path    string  `json:"path"` // relative to the output dir
	Chunks  []Chunk `json:"chunks"`
	Bytes   int64   `json:"bytes"`
	Tensors int     `json:"tensors"`
}

// ConfigMapping is one HF config key and the Megatron key it becomes.
type ConfigMapping struct {
	HFKey   string `json:"hf_key"` // dotted path in config.json
	MCAKey  string `json:"mca_key"`
	Value   string `json:"value"` // JSON text as written in config.json; "" if missing
	Missing bool   `json:"missing"`
}

// Plan says what every byte of the input becomes. It is cheap to build and never touches tensor data.
type Plan struct {
	ModelType   string              `json:"model_type"`           // config.json's model_type
	HFLayout    string              `json:"hf_layout,omitempty"`  // the input's HF naming, for families with several
	Template    string              `json:"template"`             // the template used (= ModelType unless matched by architecture)
	MatchedBy   string              `json:"matched_by,omitempty"` // how a template of another model_type was matched
	Settings    Settings            `json:"settings"`             // normalized (ETP filled in, impl defaulted)
	Dims        Dims                `json:"dims"`
	Tensors     []loader.TensorInfo `json:"-"` // the checkpoint's tensors (same order)
	Config      []ConfigMapping     `json:"config"`
	MCAConfig   []KV                `json:"-"` // mca_config.json fields in output order
	Stages      []Stage             `json:"stages"`
	Groups      []Group             `json:"groups"`
	TensorGroup []int               `json:"-"` // per tensor: index into Groups, -1 if left out
	Ranks       []RankFile          `json:"ranks"`
	Issues      []Issue             `json:"issues"`
}
