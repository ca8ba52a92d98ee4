package core

// Pipeline placement of decoder layers: which (pp, vp) model chunk holds which global layers.
//
// Chunk index c = vp*pp_size + pp; chunks hold consecutive global layers in chunk order.
//
// Uniform split (Megatron-Core get_num_layers_to_build / get_transformer_layer_offset, and ROLL's
// DistConverter._get_layer_info, which agree): N = L (+1 with account_for_embedding, +1 with
// account_for_loss) must divide by pp*vpp; every chunk holds n = N/(pp*vpp) layers, except that the
// first chunk (pp 0, vp 0) holds one fewer with account_for_embedding and the last chunk
// (pp-1, vpp-1) one fewer with account_for_loss. ROLL never subtracts for the loss explicitly: its
// formula (g + [embedding]) / n simply runs out of layers one slot early in the last chunk, which is
// the same placement.
//
// One place where ROLL's formula and Megatron disagree: with pp = 1 and vpp > 1 ROLL divides the
// layers over the vpp chunks, while Megatron divides by vpp only when pp > 1 (each chunk would
// build all L layers at offset 0) and parallel_state refuses an interleaved schedule with pp = 1
// anyway. omnitui rejects vpp > 1 with pp = 1, for the uniform split and for layouts alike.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxPipelineLayers bounds num_layers so that the arithmetic and the suggestions stay cheap.
const maxPipelineLayers = 1 << 20

// PipelineStages places numLayers decoder layers on pp pipeline ranks with vpp virtual chunks each
// (vpp 0 = not given, i.e. 1, or the layout's). It returns one Stage per chunk in chunk order
// (c = vp*pp + pp), each with the first global layer it holds and how many.
func PipelineStages(numLayers, pp, vpp int, accountEmbedding, accountLoss bool, layout *Layout) ([]Stage, error) {
	if numLayers < 1 || numLayers > maxPipelineLayers {
		return nil, fmt.Errorf("num_layers %d is out of range 1..%d: check num_hidden_layers in config.json", numLayers, maxPipelineLayers)
	}
	if pp < 1 || pp > MaxParallel {
		return nil, fmt.Errorf("--pp %d is out of range: use a size from 1 to %d", pp, MaxParallel)
	}
	if vpp < 0 || vpp > MaxParallel {
		return nil, fmt.Errorf("--vpp %d is out of range: leave it unset or use 1 to %d", vpp, MaxParallel)
	}
	if layout != nil {
		return layoutStages(numLayers, pp, vpp, accountEmbedding, accountLoss, layout)
	}

	v := max(vpp, 1)
	if v > 1 && pp == 1 {
		return nil, fmt.Errorf("--vpp %d needs --pp > 1: Megatron's interleaved schedule requires pipeline parallelism (with pp 1 every virtual chunk would build all %d layers); drop --vpp or raise --pp", v, numLayers)
	}
	total := numLayers
	if accountEmbedding {
		total++
	}
	if accountLoss {
		total++
	}
	chunks := pp * v
	if total%chunks != 0 {
		return nil, splitError(numLayers, pp, vpp, accountEmbedding, accountLoss)
	}
	n := total / chunks
	stages := make([]Stage, chunks)
	first := 0
	for c := range chunks {
		cnt := n
		if c == 0 && accountEmbedding {
			cnt--
		}
		if c == chunks-1 && accountLoss {
			cnt--
		}
		stages[c] = Stage{PP: c % pp, VP: c / pp, First: first, Count: cnt}
		first += cnt
	}
	return stages, nil
}

func layoutStages(numLayers, pp, vpp int, accountEmbedding, accountLoss bool, layout *Layout) ([]Stage, error) {
	if accountEmbedding || accountLoss {
		return nil, errors.New("a pipeline layout cannot be combined with --account-embedding/--account-loss (Megatron rejects it): put E and L into the layout string instead, or drop --layout")
	}
	if layout.PP != pp || len(layout.Stages) != pp {
		return nil, fmt.Errorf("the layout %q was parsed for --pp %d but --pp is %d: parse it again with the pipeline size in use", layout.Source, layout.PP, pp)
	}
	if vpp > 0 && vpp != layout.VP {
		return nil, fmt.Errorf("--vpp %d conflicts with the layout %q, whose %d stages are %d virtual round(s) of --pp %d: drop --vpp or set it to %d",
			vpp, layout.Source, pp*layout.VP, layout.VP, pp, layout.VP)
	}
	if layout.VP > 1 && pp == 1 {
		return nil, fmt.Errorf("the layout %q has %d stages for --pp 1, i.e. %d virtual chunks, but Megatron's interleaved schedule requires --pp > 1: use one stage per pipeline rank or raise --pp", layout.Source, layout.VP, layout.VP)
	}
	for r := range layout.Stages {
		if len(layout.Stages[r]) != layout.VP {
			return nil, fmt.Errorf("the layout %q is malformed (pipeline rank %d has %d virtual stages, expected %d): build it with ParseLayout", layout.Source, r, len(layout.Stages[r]), layout.VP)
		}
	}
	if err := layout.Validate(numLayers, 0); err != nil {
		return nil, fmt.Errorf("the layout does not fit the model: %w", err)
	}
	chunks := pp * layout.VP
	stages := make([]Stage, chunks)
	first := 0
	for c := range chunks {
		cnt := layout.Decoders(c%pp, c/pp)
		stages[c] = Stage{PP: c % pp, VP: c / pp, First: first, Count: cnt}
		first += cnt
	}
	return stages, nil
}

// splitError explains why the uniform split fails and which settings would work.
func splitError(numLayers, pp, vpp int, accE, accL bool) error {
	v := max(vpp, 1)
	total := numLayers
	var extra []string
	if accE {
		total++
		extra = append(extra, "+1 for --account-embedding")
	}
	if accL {
		total++
		extra = append(extra, "+1 for --account-loss")
	}
	what := fmt.Sprintf("%d decoder layers", numLayers)
	if len(extra) > 0 {
		what = fmt.Sprintf("%d decoder layers (%s = %d)", numLayers, strings.Join(extra, ", "), total)
	}
	into := fmt.Sprintf("%d pipeline ranks", pp)
	if vpp > 0 {
		into = fmt.Sprintf("%d pipeline ranks × %d virtual chunks = %d chunks", pp, v, pp*v)
	}
	var tips []string

	// Other --pp with the same --vpp.
	if total%v == 0 {
		var ps []string
		for _, p := range divisors(total/v, 1<<30) {
			if p == pp || (v > 1 && p == 1) {
				continue
			}
			ps = append(ps, strconv.Itoa(p))
			if len(ps) == 8 {
				break
			}
		}
		if len(ps) > 0 {
			flag := "--pp"
			if vpp > 0 {
				flag = fmt.Sprintf("--pp (with --vpp %d)", v)
			}
			tips = append(tips, fmt.Sprintf("%s %s", flag, strings.Join(ps, ", ")))
		}
	}
	// Other --vpp with the same --pp.
	if pp > 1 && total%pp == 0 {
		var vs []string
		for _, x := range divisors(total/pp, 1<<30) {
			if x == v {
				continue
			}
			if x == 1 {
				vs = append(vs, "unset")
			} else {
				vs = append(vs, strconv.Itoa(x))
			}
			if len(vs) == 8 {
				break
			}
		}
		if len(vs) > 0 {
			tips = append(tips, fmt.Sprintf("--vpp %s (with --pp %d)", strings.Join(vs, ", "), pp))
		}
	}
	// Toggling the account flags.
	for _, f := range []struct{ e, l bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		if f.e == accE && f.l == accL {
			continue
		}
		t := numLayers
		var on []string
		if f.e {
			t++
			on = append(on, "--account-embedding")
		}
		if f.l {
			t++
			on = append(on, "--account-loss")
		}
		if t%(pp*v) != 0 {
			continue
		}
		desc := "neither --account-embedding nor --account-loss"
		if len(on) > 0 {
			desc = strings.Join(on, " and ")
			if len(on) == 1 && (accE || accL) {
				desc = "only " + desc
			}
		}
		tips = append(tips, fmt.Sprintf("%s (%d = %d × %d)", desc, t, pp*v, t/(pp*v)))
	}
	tips = append(tips, "or a custom --layout")
	return fmt.Errorf("%s do not split evenly into %s: choose %s", what, into, strings.Join(tips, "; "))
}

// LayerPlace finds the chunk holding global decoder layer global: its pipeline rank, virtual
// rank and the layer's local index in the chunk. ok is false when no stage holds it.
func LayerPlace(stages []Stage, global int) (pp, vp, local int, ok bool) {
	for _, s := range stages {
		if global >= s.First && global < s.First+s.Count {
			return s.PP, s.VP, global - s.First, true
		}
	}
	return 0, 0, 0, false
}
