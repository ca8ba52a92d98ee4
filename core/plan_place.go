package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/ops"
)

// stages computes the pipeline split; false when it cannot be done.
func (b *builder) stages() bool {
	p, s := b.p, b.p.Settings
	if s.Layout != "" {
		l, err := ParseLayout(s.Layout, s.PP)
		if err != nil {
			b.errorf("layout", "", nil, "--layout: %v", err)
			return false
		}
		b.layout = l
	}
	st, err := PipelineStages(p.Dims.Layers, s.PP, s.VPP, s.AccountEmbedding, s.AccountLoss, b.layout)
	if err != nil {
		b.errorf("pipeline-split", "", nil, "%v", err)
		return false
	}
	p.Stages = st
	if h := b.t.Hooks.CheckStages; h != nil {
		p.Issues = append(p.Issues, h(p.Dims, st, s.OptOut)...)
	}
	return true
}

// divisibility reports sizes that do not split evenly (torch.chunk would split them unevenly
// and Megatron could not load the result).
func (b *builder) divisibility() {
	s, d := b.p.Settings, b.p.Dims
	tp := s.TP
	var bad []string
	if d.Vocab%tp != 0 {
		bad = append(bad, fmt.Sprintf("vocab_size %d", d.Vocab))
	}
	if d.Heads%tp != 0 {
		bad = append(bad, fmt.Sprintf("num_attention_heads %d", d.Heads))
	}
	if d.Groups >= tp && d.Groups%tp != 0 {
		bad = append(bad, fmt.Sprintf("num_key_value_heads %d", d.Groups))
	}
	if d.Experts > 0 && d.MoEFFN%s.ETP != 0 {
		bad = append(bad, fmt.Sprintf("moe_intermediate_size %d (by ETP %d)", d.MoEFFN, s.ETP))
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("TP %d does not divide %s: torch.chunk would split unevenly and Megatron cannot load that. Choose a TP that divides them", tp, strings.Join(bad, ", "))
		if s.AllowUneven {
			b.warnf("tp-divisibility", nil, "%s (converting anyway: --allow-uneven)", msg)
		} else {
			b.errorf("tp-divisibility", "--allow-uneven", nil, "%s", msg)
		}
	}
	if d.Groups < tp && d.Heads%tp == 0 {
		b.warnf("groups-lt-tp", nil, "num_key_value_heads %d is smaller than TP %d: the fused QKV rows are split contiguously, exactly as ROLL's converter does, so a rank can hold q rows of one group beside k/v of another. Recent Megatron-Core versions require num_query_groups to be a multiple of TP and refuse to build such a model: prefer a TP that divides %d unless your Megatron replicates KV heads", d.Groups, tp, d.Groups)
	}
	if d.Experts > 0 && d.Experts%s.EP != 0 {
		b.errorf("ep-divisibility", "", nil, "EP %d does not divide num_experts %d: every expert-parallel rank must hold the same number of experts; choose an EP that divides %d", s.EP, d.Experts, d.Experts)
	}
	if d.Experts == 0 && s.EP > 1 {
		b.errorf("ep-divisibility", "", nil, "EP %d needs a model with experts, but num_experts is 0: use --ep 1", s.EP)
	}
}

type stageKey struct{ pp, vp int }

// place computes every destination and the rank files.
func (b *builder) place() {
	p, s, d, t := b.p, b.p.Settings, b.p.Dims, b.t
	// Placement is useful to look at even with tensor-level errors; skip it only when
	// the parallel setup itself is broken.
	for _, is := range p.Issues {
		if is.Severity == SevError && (is.Code == "ep-divisibility" || is.Code == "pipeline-split" || is.Code == "layout") {
			return
		}
	}
	V := s.VirtualChunks(b.layout)
	if s.VPP > 0 && b.layout != nil && s.VPP != b.layout.VP {
		b.errorf("layout", "", nil, "--layout has %d virtual rounds but --vpp is %d: drop --vpp or make them agree", b.layout.VP, s.VPP)
		return
	}
	stageOf := map[stageKey]Stage{}
	for _, st := range p.Stages {
		stageOf[stageKey{st.PP, st.VP}] = st
	}
	eLocal := 1
	if d.Experts > 0 {
		eLocal = d.Experts / s.EP
	}
	// rank files
	p.Ranks = make([]RankFile, 0, s.TP*s.PP*s.EP)
	for tp := 0; tp < s.TP; tp++ {
		for pp := 0; pp < s.PP; pp++ {
			for ep := 0; ep < s.EP; ep++ {
				rf := RankFile{TP: tp, PP: pp, EP: ep, Path: rankPath(tp, pp, ep, s.PP > 1, s.EP > 1)}
				for vp := 0; vp < V; vp++ {
					key := "model"
					if V > 1 {
						key = fmt.Sprintf("model%d", vp)
					}
					st := stageOf[stageKey{pp, vp}]
					rf.Chunks = append(rf.Chunks, Chunk{VP: vp, Key: key, Layers: [2]int{st.First, st.First + st.Count}})
				}
				p.Ranks = append(p.Ranks, rf)
			}
		}
	}
	rankIdx := func(tp, pp, ep int) int { return (tp*s.PP+pp)*s.EP + ep }

	// Only legacy grouped-GEMM entries are filled by several groups (one part per local
	// expert); every other destination is its own entry, so only those need a lookup.
	type entryKey struct {
		rank, chunk int
		name        string
	}
	stacked := map[entryKey]int{}
	// completion order of every entry (group index of its last part), per rank and chunk
	seqs := make([][][]int, len(p.Ranks))
	for ri := range seqs {
		seqs[ri] = make([][]int, V)
	}
	lastPP, lastVP := s.PP-1, V-1
	// With MTP layers in the model (mtp_num_layers > 0, weights or not) Megatron's last
	// stage embeds tokens itself, so it gets the embedding too, as ROLL places it.
	mtp := b.mtpOn()
	var splitErr []string

	for gi := range p.Groups {
		g := &p.Groups[gi]
		pure := b.groupPure[gi]
		// pipeline targets
		type target struct {
			pp, vp, local int
			name          string // global-level name to use (tied output layer)
		}
		var targets []target
		switch {
		case g.MTP != "":
			// MTP layers live on the last stage; their names are not renumbered
			targets = append(targets, target{lastPP, lastVP, 0, g.Name})
		case g.Layer >= 0:
			pp, vp, local, ok := LayerPlace(p.Stages, g.Layer)
			if !ok {
				b.errorf("layer-range", "", g.HFNames, "layer %d of %s is on no pipeline stage", g.Layer, g.Name)
				continue
			}
			targets = append(targets, target{pp, vp, local, g.Name})
		case fnmatchAny(g.Name, t.Dist.PreProcess):
			targets = append(targets, target{0, 0, -1, g.Name})
			// the last stage needs the embedding too when it is the output layer (tied) or
			// when multi-token-prediction layers there embed their input (ROLL's placement)
			if g.Name == MCAEmbedding && (d.Tied || mtp) && !(lastPP == 0 && lastVP == 0) {
				name := g.Name
				if d.Tied && s.PP > 1 {
					name = MCAOutputLayer
				}
				targets = append(targets, target{lastPP, lastVP, -1, name})
			}
		case fnmatchAny(g.Name, t.Dist.PostProcess):
			targets = append(targets, target{lastPP, lastVP, -1, g.Name})
		default:
			for _, st := range p.Stages {
				targets = append(targets, target{st.PP, st.VP, -1, g.Name})
			}
		}
		// expert-parallel targets
		eps := make([]int, 0, s.EP)
		le := -1
		if g.Expert >= 0 {
			eps = append(eps, g.Expert/eLocal)
			le = g.Expert % eLocal
		} else {
			for ep := 0; ep < s.EP; ep++ {
				eps = append(eps, ep)
			}
		}
		// TP split kind
		match := pure
		if strings.HasSuffix(match, ".bias") {
			match = strings.TrimSuffix(match, ".bias") + ".weight"
		}
		grouped := s.GroupedGEMM && g.Expert >= 0 && t.Dist.GroupedLegacy[match] != ""
		switch {
		case fnmatchAny(match, t.Dist.SwiGLU):
			g.Split = SplitSwiGLU
		case fnmatchAny(match, t.Dist.Sections):
			g.Split = SplitSections
		case fnmatchAny(match, t.Dist.Duplicated):
			g.Split = SplitDuplicated
		case fnmatchAny(match, t.Dist.Column):
			g.Split = SplitColumn
		case fnmatchAny(match, t.Dist.Row):
			g.Split = SplitRow
		default:
			b.errorf("no-tp-rule", "", g.HFNames, "%s has no tensor-parallel rule in the %s template", g.Name, t.ModelType)
			continue
		}
		if op, err := LookupOp(g.Op); err != nil {
			b.errorf("no-tp-rule", "", g.HFNames, "%s: %v", g.Name, err)
			continue
		} else if err := op.CanSplit(g.Split); err != nil {
			b.errorf("no-tp-rule", "", g.HFNames, "%s is split as %s but comes from a %s op: %v", g.Name, g.Split, g.Op, err)
			continue
		}
		tpSize := s.TP
		if g.Expert >= 0 {
			tpSize = s.ETP
		}
		if g.Split == SplitDuplicated {
			tpSize = 1
		}
		sections := sectionsOf(g, p.Dims)
		if g.Split == SplitSections {
			if sections == nil {
				b.errorf("no-tp-rule", "", g.HFNames, "%s is split by sections but its %s op has none (this is a bug in the %s template)", g.Name, g.Op, t.ModelType)
				continue
			}
			if heads := sectionsIndivisible(sections, sectionUnitsOf(g, p.Dims), tpSize); heads >= 0 {
				msg := fmt.Sprintf("%s is split over TP section by section (q, k, v, ... of the gated delta net), and a section of %d heads does not divide by TP %d: torch.chunk would cut a head apart and Megatron's gated delta net cannot load that (it needs linear_num_key_heads and linear_num_value_heads divisible by TP). Choose a TP that divides both", g.Name, heads, tpSize)
				if !s.AllowUneven {
					b.noteError("tp-divisibility", "--allow-uneven", g.HFNames, msg)
					continue
				}
				b.note(SevWarning, "tp-divisibility", "", g.HFNames, msg+" (converting anyway: --allow-uneven)")
			}
		}
		if (g.Split == SplitRow && len(g.Shape) != 2) || (g.Split != SplitDuplicated && len(g.Shape) == 0) {
			b.errorf("shape", "", g.HFNames, "%s has shape %s, which cannot be split by %s", g.Name, shapeStr(g.Shape), g.Split)
			continue
		}
		elem := int64(g.DType.Size())
		g.Dests = make([]Dest, 0, len(targets)*len(eps)*s.TP)
		// Destinations of one slice share its shape and those of one target its local
		// name (they are equal): at DeepSeek-V3 scale a group has up to TP*EP of them.
		shapes := make([][]int64, tpSize)
		shapeOK := make([]bool, tpSize)
		for sl := range shapes {
			shapes[sl], shapeOK[sl] = sliceShape(g.Shape, g.Split, sections, tpSize, sl)
		}
		for _, tg := range targets {
			var names []string // per slice, once made
			for _, ep := range eps {
				for tr := 0; tr < s.TP; tr++ {
					slice := tr
					if tpSize == 1 {
						slice = 0
					}
					shape, ok := shapes[slice], shapeOK[slice]
					if !ok {
						splitErr = append(splitErr, g.Name)
						continue
					}
					dst := Dest{Rank: rankIdx(tr, tg.pp, ep), Chunk: tg.vp, TPRank: slice, TPSize: tpSize, Shape: shape}
					entryShape := shape
					// local name
					name := tg.name
					if tg.local >= 0 {
						rel := pure
						if s.TransformerImpl == "local" {
							if m, ok := t.Dist.TEToLocal[rel]; ok {
								rel = m
							}
						}
						lp := fmt.Sprintf("%s%d", MCALayerPrefix, tg.local)
						if g.MTP != "" {
							lp = g.MTP
						}
						switch {
						case grouped && s.TEGrouped():
							name = fmt.Sprintf("%s%s%d", lp, t.Dist.GroupedTE[match], le)
						case grouped:
							name = lp + t.Dist.GroupedLegacy[match]
							dst.Part = le
							dst.Transpose = true
							// stack of local experts' transposes viewed as [hidden, -1] (fc1) or [-1, hidden] (fc2)
							rows, cols := shape[0], shape[1]
							if strings.Contains(match, "fc1") {
								entryShape = []int64{cols, rows * int64(eLocal)}
							} else {
								entryShape = []int64{cols * int64(eLocal), rows}
							}
						case le >= 0:
							name = fmt.Sprintf("%s%s%d%s", lp, MCAMoEPrefix, le, rel)
						default:
							name = lp + rel
						}
					}
					if tg.local < 0 && s.TransformerImpl == "local" {
						if m, ok := t.Dist.TEToLocal[name]; ok {
							name = m // a full-name rule's local-impl name (e.g. an MTP layer's norms)
						}
					}
					if names == nil {
						names = make([]string, tpSize)
					}
					if names[slice] == "" {
						names[slice] = name
					}
					dst.Name = names[slice]
					ch := &p.Ranks[dst.Rank].Chunks[dst.Chunk]
					seq := &seqs[dst.Rank][dst.Chunk]
					ei, exists := -1, false
					if dst.Transpose {
						ek := entryKey{dst.Rank, dst.Chunk, dst.Name}
						ei, exists = stacked[ek]
						if !exists {
							stacked[ek] = len(ch.Entries)
						}
					}
					if !exists {
						ei = len(ch.Entries)
						ch.Entries = append(ch.Entries, Entry{Name: dst.Name, DType: g.DType, Shape: entryShape, Bytes: numel(entryShape) * elem})
						*seq = append(*seq, 0)
					}
					ch.Entries[ei].Parts++
					(*seq)[ei] = gi
					dst.Entry = ei
					g.Dests = append(g.Dests, dst)
				}
			}
		}
	}
	if len(splitErr) > 0 {
		b.noteError("tp-uneven", "", splitErr, "torch.chunk yields fewer slices than the TP size for these tensors, so some ranks would get nothing: choose a TP that divides their sizes")
	}
	// order entries by completion (ROLL emits a stacked grouped-GEMM tensor when its last expert arrives)
	remaps := make([][][]int, len(p.Ranks))
	for ri := range p.Ranks {
		rf := &p.Ranks[ri]
		for ci := range rf.Chunks {
			ch := &rf.Chunks[ci]
			order := make([]int, len(ch.Entries))
			for i := range order {
				order[i] = i
			}
			seq := seqs[ri][ci]
			sort.SliceStable(order, func(a, c int) bool { return seq[order[a]] < seq[order[c]] })
			remap := make([]int, len(order))
			sorted := make([]Entry, len(order))
			for newI, oldI := range order {
				remap[oldI] = newI
				sorted[newI] = ch.Entries[oldI]
			}
			ch.Entries = sorted
			ch.Extras = chunkExtras(t, ch.Entries, d.Tied)
			for _, e := range ch.Entries {
				rf.Bytes += e.Bytes
				rf.Tensors++
			}
			remaps[ri] = append(remaps[ri], remap)
		}
	}
	for gi := range p.Groups {
		for k := range p.Groups[gi].Dests {
			dst := &p.Groups[gi].Dests[k]
			dst.Entry = remaps[dst.Rank][dst.Chunk][dst.Entry]
		}
	}
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, v := range shape {
		n *= v
	}
	return n
}

// sliceShape is the shape of TP slice r of size tp under a split kind (torch.chunk semantics).
func sliceShape(shape []int64, split SplitKind, sections []int64, tp, r int) ([]int64, bool) {
	out := append([]int64(nil), shape...)
	switch split {
	case SplitSections:
		rows := int64(0)
		for _, n := range sections {
			_, size, ok := ops.ChunkRange(int(n), tp, r)
			if !ok {
				return nil, false
			}
			rows += int64(size)
		}
		out[0] = rows
		return out, true
	case SplitDuplicated:
		return out, true
	case SplitColumn, SplitRow:
		dim := 0
		if split == SplitRow {
			dim = 1
		}
		_, size, ok := ops.ChunkRange(int(shape[dim]), tp, r)
		out[dim] = int64(size)
		return out, ok
	case SplitSwiGLU:
		half := shape[0] / 2
		_, size, ok := ops.ChunkRange(int(half), tp, r)
		out[0] = 2 * int64(size)
		return out, ok
	}
	return nil, false
}

// rankPath is Megatron's legacy checkpoint file name for a rank.
func rankPath(tp, pp, ep int, pipeline, expert bool) string {
	return "iter_0000001/" + mca.RankDir(tp, pp, ep, pipeline, expert) + "/model_optim_rng.pt"
}

// Sectioned is implemented by ops whose Megatron tensor is a stack of row sections that the
// SplitSections kind distributes over TP one by one.
type Sectioned interface {
	// Sections are the row counts of the sections, in order; they sum to the tensor's rows.
	Sections(d Dims) []int64
	// SectionUnits are the rows of one head in each section: a TP split must not cut one.
	SectionUnits(d Dims) []int64
}

// sectionsOf is the row sections of a group's op (nil when it has none).
func sectionsOf(g *Group, d Dims) []int64 {
	op, err := LookupOp(g.Op)
	if err != nil {
		return nil
	}
	if s, ok := op.(Sectioned); ok {
		return s.Sections(d)
	}
	return nil
}

// sectionUnitsOf is the head size of each section of a group's op (nil when it has none).
func sectionUnitsOf(g *Group, d Dims) []int64 {
	op, err := LookupOp(g.Op)
	if err != nil {
		return nil
	}
	if s, ok := op.(Sectioned); ok {
		return s.SectionUnits(d)
	}
	return nil
}

// sectionsIndivisible is the head count of the first section whose heads tp does not
// divide, or -1.
func sectionsIndivisible(sections, units []int64, tp int) int64 {
	for i, n := range sections {
		u := int64(1)
		if i < len(units) && units[i] > 0 {
			u = units[i]
		}
		if n%u != 0 || (n/u)%int64(tp) != 0 {
			return n / u
		}
	}
	return -1
}
