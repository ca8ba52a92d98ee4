package core

// Tied embeddings at PP > 1: the last pipeline stage holds output_layer.weight, a copy of the
// (TP-split) embedding. Reading a checkpoint back compares every such copy with the embedding
// instead of dropping it unchecked.

import (
	"bytes"
	"fmt"
)

// checkTied compares the last stage's tied output_layer copies with the embedding slices
// they copy: a copy that differs (ROLL writes the lm_head there when a tied checkpoint also
// ships one, chosen by hash order) is an error unless TakeRank0 keeps the embedding.
func (ga *gatherer) checkTied(g *Group, tied []Dest, slices map[int][]byte, from map[int]string, elem int, opt GatherOptions, st *GatherStats) error {
	for _, d := range tied {
		data, err := ga.read(d, g, elem)
		if err != nil {
			return err
		}
		st.Dropped++
		if bytes.Equal(data, slices[d.TPRank]) || opt.TakeRank0 {
			continue
		}
		where := ga.rp.Forward.Ranks[d.Rank].Path + " " + d.Name
		return fmt.Errorf("%s (TP slice %d) differs from the embedding %s it must copy (%s): with tied embeddings the last pipeline stage holds a copy of the embedding; ROLL's converter writes the lm_head there instead when a tied checkpoint also ships one (chosen by hash order). Pass --take-rank0 to keep the embedding and ignore the copy", where, d.TPRank, g.Name, from[d.TPRank])
	}
	return nil
}
