package core

import (
	"fmt"
	"slices"
	"strings"

	"github.com/omnitui/omnitui/core/family"
)

// Multi-token-prediction (MTP) layers. A family with Template.MTP stores them in the HF
// release as decoder layers num_hidden_layers + k (k < num_nextn_predict_layers): a full
// decoder layer plus MTP-only tensors (enorm, hnorm, eh_proj, shared_head.norm) and copies
// of global ones (embed_tokens, shared_head.head). Megatron-Core holds them on the last
// pipeline stage, named without the stage's renumbering:
//
//	mtp.layers.k.{enorm,hnorm,eh_proj,final_layernorm}.weight
//	mtp.layers.k.<inner>.<decoder-layer name>      inner = mtp_model_layer (core >= 0.17)
//	                                                or transformer_layer (core 0.15–0.16)
//
// with the decoder layer's TP and EP rules. The copies are left out (Megatron shares the
// embedding and output layer; the last stage gets its own embedding copy, as ROLL places it).

// MTPPrefix is the Megatron prefix of MTP layer k: its own tensors (inner "") or its inner
// decoder layer's.
func MTPPrefix(k int, inner string) string {
	if inner == "" {
		return fmt.Sprintf("mtp.layers.%d", k)
	}
	return fmt.Sprintf("mtp.layers.%d.%s", k, inner)
}

// mtpIndex checks that HF layer `layer` (>= num_layers) is an MTP layer the config declares;
// it records the error once per layer and reports false otherwise.
func (b *builder) mtpIndex(layer int, names []string) bool {
	d, t := b.p.Dims, b.t
	k := layer - d.Layers
	if k < d.MTPLayers {
		return true
	}
	if d.MTPLayers == 0 {
		flag := ""
		if o, ok := t.FindOptOut(t.MTP.OptOut); ok {
			flag = "--" + o.Flag
		}
		b.noteError("mtp-disabled", flag, names, fmt.Sprintf("the checkpoint has multi-token-prediction (MTP) layer tensors after the %d decoder layers, but config.json sets %s to 0 (or lacks it): set it to the number of MTP layers the checkpoint has, or pass %s to leave them out", d.Layers, b.mtpKey(), flag))
		return false
	}
	b.noteError("mtp-index", "", names, fmt.Sprintf("an MTP layer must be layer num_hidden_layers + k with k < %s (%d + k, k < %d), but the checkpoint has layer %d: the config does not match the weights", b.mtpKey(), d.Layers, d.MTPLayers, layer))
	return false
}

func (b *builder) mtpKey() string {
	if k := b.hfKey("mtp_num_layers"); k != "" {
		return k
	}
	return "mtp_num_layers"
}

func (b *builder) mtpDropped() bool {
	if _, ok := b.t.FindOptOut(family.OptDropMTP); !ok {
		return false
	}
	return b.p.Settings.OptOut(family.OptDropMTP)
}

// mtpOn: the Megatron model has MTP layers (declared and not dropped); they sit on the last
// stage, which then embeds tokens too.
func (b *builder) mtpOn() bool { return b.p.Dims.MTPLayers > 0 && !b.mtpDropped() }

// mtpCopy handles an MTP layer's copy of a global tensor (left out); true when name is one.
func (b *builder) mtpCopy(name, rest string, layer int) bool {
	t := b.t
	if t.MTP == nil || layer < b.p.Dims.Layers {
		return false
	}
	if _, ok := t.MTP.Copies[rest]; !ok {
		return false
	}
	switch {
	case b.p.Dims.MTPLayers == 0 && b.mtpDropped():
		b.noteDropped("mtp-dropped", []string{name}, "the multi-token-prediction (MTP) layers are left out and mtp_num_layers is 0 (--drop-mtp)")
	case !b.mtpIndex(layer, []string{name}):
	case b.mtpDropped():
		b.noteDropped("mtp-dropped", []string{name}, "the multi-token-prediction (MTP) layers are left out and mtp_num_layers is 0 (--drop-mtp)")
	default:
		b.noteDropped("mtp-shared-copy", []string{name}, "an MTP layer's copies of the embedding and output layer (embed_tokens, shared_head.head) are left out, as ROLL does: Megatron's MTP uses the model's own; converting back writes them as copies again")
	}
	return true
}

// mtpGroup names a group of an MTP layer; ok false when it is an error, drop when the
// MTP layers are left out.
func (b *builder) mtpGroup(g *Group, rel string, names []string) (ok, drop bool) {
	d, t := b.p.Dims, b.t
	if d.MTPLayers == 0 && b.mtpDropped() {
		return true, true
	}
	if !b.mtpIndex(g.Layer, names) {
		return false, false
	}
	if b.mtpDropped() {
		return true, true
	}
	k := g.Layer - d.Layers
	if slices.Contains(t.MTP.Own, rel) {
		g.MTP = MTPPrefix(k, "")
		g.Name = g.MTP + rel
		return true, false
	}
	g.MTP = MTPPrefix(k, b.p.Settings.MTPLayerName)
	if g.Expert >= 0 {
		g.Name = fmt.Sprintf("%s%s%d%s", g.MTP, MCAMoEPrefix, g.Expert, rel)
	} else {
		g.Name = g.MTP + rel
	}
	return true, false
}

// mtpCheck warns when the config declares MTP layers the weights do not have.
func (b *builder) mtpCheck() {
	p, t := b.p, b.t
	if t.MTP == nil || p.Dims.MTPLayers == 0 || b.mtpDropped() {
		return
	}
	for _, g := range p.Groups {
		if g.MTP != "" {
			return
		}
	}
	b.warnf("mtp-weights-missing", nil, "config.json declares %d MTP layer(s) (%s) but the checkpoint has no MTP weights: mtp_num_layers is written as %d, as ROLL does, so Megatron builds MTP layers and its loader will miss their weights; pass --drop-mtp to write 0 and build none", p.Dims.MTPLayers, b.mtpKey(), p.Dims.MTPLayers)
}

// MTPSummary says what the plan does with MTP layers ("" for a plan without any).
func (p *Plan) MTPSummary() string {
	n := 0
	inner := ""
	for _, g := range p.Groups {
		if g.MTP != "" {
			n++
			if i := strings.LastIndexByte(g.MTP, '.'); i >= 0 && strings.Count(g.MTP, ".") == 3 {
				inner = g.MTP[i+1:]
			}
		}
	}
	dropped := false
	for _, is := range p.Issues {
		if is.Code == "mtp-dropped" {
			dropped = true
		}
	}
	switch {
	case dropped:
		return "MTP layers left out (--drop-mtp): mtp_num_layers 0"
	case n == 0:
		return ""
	}
	version := "megatron-core >= 0.17, ROLL's naming"
	if inner == MTPInnerOld {
		version = "megatron-core 0.15-0.16 naming"
	}
	return fmt.Sprintf("%d MTP layer(s), %d ops, on the last pipeline stage as mtp.layers.k.* with the inner layer named %s (%s)", p.Dims.MTPLayers, n, inner, version)
}
