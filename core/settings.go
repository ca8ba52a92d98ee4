package core

import (
	"fmt"
	"strings"

	"github.com/omnitui/omnitui/loader"
)

// Limits that keep a plan's size sane on hostile settings.
const (
	MaxParallel  = 1 << 16 // any single parallel size
	MaxRankFiles = 1 << 14 // TP*PP*EP rank files
)

// DefaultSettings is TP=PP=EP=1, Transformer Engine naming, source dtype kept.
func DefaultSettings() Settings {
	return Settings{TP: 1, PP: 1, EP: 1, TransformerImpl: "transformer_engine", DType: "keep"}
}

// Normalized fills defaults: sizes of 0 become 1, ETP 0 becomes TP, empty impl and dtype get their defaults.
func (s Settings) Normalized() Settings {
	if s.TP == 0 {
		s.TP = 1
	}
	if s.PP == 0 {
		s.PP = 1
	}
	if s.EP == 0 {
		s.EP = 1
	}
	if s.ETP == 0 {
		s.ETP = s.TP
	}
	if s.TransformerImpl == "" {
		s.TransformerImpl = "transformer_engine"
	}
	if s.DType == "" {
		s.DType = "keep"
	}
	if s.MTPLayerName == "" {
		s.MTPLayerName = MTPInnerDefault
	}
	s.Layout = strings.TrimSpace(s.Layout)
	return s
}

// The Megatron-Core names of an MTP layer's inner decoder layer.
const (
	MTPInnerDefault = "mtp_model_layer"   // megatron-core >= 0.17 (what ROLL writes)
	MTPInnerOld     = "transformer_layer" // megatron-core 0.15–0.16
)

// VirtualChunks is the number of model chunks per pipeline rank implied by the settings
// (layout stages / PP when a layout is given, else VPP, else 1).
func (s Settings) VirtualChunks(layout *Layout) int {
	if layout != nil && layout.VP > 0 {
		return layout.VP
	}
	if s.VPP > 0 {
		return s.VPP
	}
	return 1
}

// TEGrouped reports whether experts use the Transformer-Engine grouped-GEMM naming
// (one tensor per local expert: .mlp.experts.linear_fc1.weight<e>).
func (s Settings) TEGrouped() bool {
	return s.GroupedGEMM && !s.LegacyGroupedGEMM && s.TransformerImpl == "transformer_engine"
}

// LegacyGrouped reports whether experts use the legacy grouped-GEMM naming (.mlp.experts.weight1/2).
func (s Settings) LegacyGrouped() bool {
	return s.GroupedGEMM && !s.TEGrouped()
}

// OutDType resolves the output dtype of a tensor whose source dtype is src.
// Non-float tensors are never cast.
func (s Settings) OutDType(src loader.DType) (loader.DType, error) {
	switch s.DType {
	case "", "keep":
		return src, nil
	}
	var dst loader.DType
	switch s.DType {
	case "bf16":
		dst = loader.BF16
	case "fp16":
		dst = loader.F16
	case "fp32":
		dst = loader.F32
	default:
		return "", fmt.Errorf("--dtype %q is not one of keep, bf16, fp16, fp32", s.DType)
	}
	switch src {
	case loader.BF16, loader.F16, loader.F32, loader.F64:
		return dst, nil
	case loader.F8E4M3, loader.F8E5M2:
		return "", fmt.Errorf("casting %s to %s is not supported: FP8 tensors come with scale tensors that a plain cast would ignore; convert a bf16 release instead", src, dst)
	}
	return src, nil // integers and bools stay as they are
}

// validate reports settings that can never work, independent of the model.
func (s Settings) validate() []Issue {
	var out []Issue
	bad := func(code, msg string) { out = append(out, Issue{Severity: SevError, Code: code, Message: msg}) }
	for _, f := range []struct {
		name string
		v    int
	}{{"--tp", s.TP}, {"--pp", s.PP}, {"--ep", s.EP}, {"--etp", s.ETP}} {
		if f.name == "--etp" && s.ETP == s.TP {
			continue // unset ETP follows TP: a bad --tp is reported once, not again as --etp
		}
		if f.v < 1 || f.v > MaxParallel {
			bad("bad-size", fmt.Sprintf("%s %d is out of range: use a size from 1 to %d", f.name, f.v, MaxParallel))
		}
	}
	if s.VPP < 0 || s.VPP > MaxParallel {
		bad("bad-size", fmt.Sprintf("--vpp %d is out of range: leave it unset or use 1 to %d", s.VPP, MaxParallel))
	}
	if len(out) > 0 {
		return out
	}
	if n := int64(s.TP) * int64(s.PP) * int64(s.EP); n > MaxRankFiles {
		bad("too-many-ranks", fmt.Sprintf("TP×PP×EP = %d rank files is more than omnitui writes (%d): choose smaller sizes", n, MaxRankFiles))
	}
	if s.ETP != s.TP {
		bad("etp-not-tp", fmt.Sprintf("--etp %d differs from --tp %d: ROLL's offline converter splits expert weights by the TP rank, so ETP < TP crashes it and ETP > TP drops shards; set --etp %d (or leave it unset)", s.ETP, s.TP, s.TP))
	}
	if s.VPP > 1 && s.PP == 1 {
		bad("vpp-without-pp", fmt.Sprintf("--vpp %d needs --pp > 1: Megatron's interleaved schedule requires pipeline parallelism; drop --vpp or raise --pp", s.VPP))
	}
	if s.Layout != "" && (s.AccountEmbedding || s.AccountLoss) {
		bad("layout-with-account", "--layout cannot be combined with --account-embedding/--account-loss: put E and L into the layout string instead")
	}
	switch s.TransformerImpl {
	case "transformer_engine", "local":
	default:
		bad("bad-impl", fmt.Sprintf("--transformer-impl %q is not transformer_engine or local", s.TransformerImpl))
	}
	switch s.MTPLayerName {
	case MTPInnerDefault, MTPInnerOld:
	default:
		bad("bad-mtp-layer-name", fmt.Sprintf("--mtp-layer-name %q is not %s or %s", s.MTPLayerName, MTPInnerDefault, MTPInnerOld))
	}
	switch s.DType {
	case "keep", "bf16", "fp16", "fp32":
	default:
		bad("bad-dtype", fmt.Sprintf("--dtype %q is not one of keep, bf16, fp16, fp32", s.DType))
	}
	if s.VPP == 1 && s.PP == 1 {
		out = append(out, Issue{Severity: SevWarning, Code: "vpp-at-pp1", Message: "--vpp 1 at --pp 1 is recorded as given, but Megatron's parallel setup rejects any explicit virtual pipeline size at pipeline size 1: leave --vpp out unless your training run sets it"})
	}
	if s.LegacyGroupedGEMM && !s.GroupedGEMM {
		out = append(out, Issue{Severity: SevWarning, Code: "legacy-without-grouped", Message: "--moe-legacy-grouped-gemm has no effect without --moe-grouped-gemm"})
	}
	return out
}

// OptOut reports whether the family opt-out of that name is on.
func (s Settings) OptOut(name string) bool { return s.OptOuts[name] }

// WithOptOut returns s with the family opt-out set (the map is copied, never shared).
func (s Settings) WithOptOut(name string, on bool) Settings {
	m := make(map[string]bool, len(s.OptOuts)+1)
	for k, v := range s.OptOuts {
		if v {
			m[k] = true
		}
	}
	if on {
		m[name] = true
	} else {
		delete(m, name)
	}
	if len(m) == 0 {
		m = nil
	}
	s.OptOuts = m
	return s
}

// Equal reports whether two settings are the same (Settings holds a map, so == does not compile).
func (s Settings) Equal(o Settings) bool {
	for _, sp := range genericSettings {
		if sp.get(s) != sp.get(o) {
			return false
		}
	}
	for k, v := range s.OptOuts {
		if v != o.OptOuts[k] {
			return false
		}
	}
	for k, v := range o.OptOuts {
		if v != s.OptOuts[k] {
			return false
		}
	}
	return true
}
