package core

// Reading the settings a checkpoint was written with from its tensor names.
//
// mca_config.json records the settings a converter was asked for, not always the names it
// wrote: ROLL's converter writes the legacy grouped-GEMM names (.mlp.experts.weight1/weight2)
// whenever Transformer Engine >= 1.9 cannot be imported, while its mca_config.json still says
// moe_grouped_gemm true, transformer_impl transformer_engine, moe_use_legacy_grouped_gemm
// false; and it stores one chunk under model0 when a virtual size of 1 is given. The reverse
// conversion (and so --to-hf, --verify, --plan and reshard) reads the names: every setting
// the names reveal is taken from them, and a disagreement with the config is a warning.
// Names that contradict each other (two expert namings, two norm namings) are an error.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
)

// expert and norm namings a rank file can use
const (
	namingPerExpert = "per-expert"  // .mlp.experts.local_experts.<e>.linear_fc1.weight (no grouped GEMM)
	namingTEGrouped = "te-grouped"  // .mlp.experts.linear_fc1.weight<e> (Transformer Engine grouped GEMM)
	namingLegacy    = "legacy"      // .mlp.experts.weight1/weight2 (legacy grouped GEMM, stacked)
	namingTENorm    = "te-norm"     // norms fused into TE linears (.self_attention.linear_qkv.layer_norm_weight)
	namingLocalNorm = "local-norm"  // local-implementation norms (.input_layernorm.weight)
	namingChunks    = "chunk-count" // model chunks per rank file
)

// namingWhat describes each naming for messages.
var namingWhat = map[string]string{
	namingPerExpert: "per-expert names (no grouped GEMM)",
	namingTEGrouped: "Transformer Engine grouped-GEMM names (one tensor per local expert)",
	namingLegacy:    "legacy grouped-GEMM names (local experts stacked in two tensors)",
	namingTENorm:    "Transformer Engine norm names (norms fused into the linear layers)",
	namingLocalNorm: "local-implementation norm names",
}

// namingEvidence is the first tensor seen of each naming.
type namingEvidence map[string]string

func (ev namingEvidence) see(kind, where string) {
	if _, ok := ev[kind]; !ok {
		ev[kind] = where
	}
}

// localToTENames maps each local-implementation norm name back to the TE name the template's
// rules produce (identity entries and names no rule produces lose to a rule's name).
func localToTENames(t *Template) map[string]string {
	out := map[string]string{}
	for te, loc := range t.Dist.TEToLocal {
		if te == loc || ruleMCA(t, te) {
			if cur, ok := out[loc]; !ok || !ruleMCA(t, cur) {
				out[loc] = te
			}
		}
	}
	return out
}

// collectNaming records which namings the layer tensors of the rank files use.
func collectNaming(t *Template, m *mca.Checkpoint) namingEvidence {
	ev := namingEvidence{}
	l2t := localToTENames(t)
	teNorm := map[string]bool{}
	for loc, te := range l2t {
		if te != loc {
			teNorm[te] = true
		}
	}
	for _, r := range m.Ranks {
		for _, ch := range r.Chunks {
			for _, ref := range ch.Tensors {
				rest, ok := strings.CutPrefix(ref.Name, MCALayerPrefix)
				if !ok {
					continue
				}
				j := digitRun(rest)
				if j == 0 || j == len(rest) {
					continue
				}
				rel := rest[j:]
				where := fmt.Sprintf("%s in %s[%s]", ref.Name, r.Path, ch.Key)
				if strings.HasPrefix(rel, MCAMoEPrefix) {
					ev.see(namingPerExpert, where)
					continue
				}
				for _, te := range t.Dist.GroupedTE {
					if num, ok := strings.CutPrefix(rel, te); ok && num != "" && digitRun(num) == len(num) {
						ev.see(namingTEGrouped, where)
					}
				}
				for _, leg := range t.Dist.GroupedLegacy {
					if rel == leg {
						ev.see(namingLegacy, where)
					}
				}
				if te, ok := l2t[rel]; ok && te != rel {
					ev.see(namingLocalNorm, where)
				} else if teNorm[rel] {
					ev.see(namingTENorm, where)
				}
			}
		}
	}
	return ev
}

// detectNaming returns the settings the rank files were written with: s (read from
// mca_config.json) with every setting the tensor names reveal replaced by what the names
// say, and issues: a warning per disagreement with mca_config.json, an error when the names
// contradict each other.
func detectNaming(t *Template, m *mca.Checkpoint, s Settings, layers int) (Settings, []Issue) {
	var issues []Issue
	ev := collectNaming(t, m)
	conflict := func(a, b string) {
		issues = append(issues, Issue{Severity: SevError, Code: "naming-conflict", Tensors: []string{ev[a], ev[b]},
			Message: fmt.Sprintf("the rank files mix %s (%s) with %s (%s): one checkpoint is written with one naming, so these files do not belong together; convert the model again from its Hugging Face checkpoint",
				namingWhat[a], ev[a], namingWhat[b], ev[b])})
	}
	orig := s
	var seen []string // namings that decide something, for the message

	// norms: Transformer Engine or local implementation
	_, te := ev[namingTENorm]
	_, loc := ev[namingLocalNorm]
	switch {
	case te && loc:
		conflict(namingTENorm, namingLocalNorm)
	case loc:
		s.TransformerImpl = "local"
		seen = append(seen, namingLocalNorm)
	case te:
		s.TransformerImpl = "transformer_engine"
		seen = append(seen, namingTENorm)
	}

	// experts: per expert, TE grouped, legacy stacked
	var kinds []string
	for _, k := range []string{namingPerExpert, namingTEGrouped, namingLegacy} {
		if _, ok := ev[k]; ok {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) > 1:
		conflict(kinds[0], kinds[1])
	case len(kinds) == 1:
		seen = append(seen, kinds[0])
		switch kinds[0] {
		case namingPerExpert:
			s.GroupedGEMM = false
		case namingTEGrouped:
			if loc {
				conflict(namingTEGrouped, namingLocalNorm) // TE grouped GEMM exists only with the TE implementation
				break
			}
			s.GroupedGEMM, s.LegacyGroupedGEMM, s.TransformerImpl = true, false, "transformer_engine"
		case namingLegacy:
			s.GroupedGEMM = true
			if s.TransformerImpl == "transformer_engine" {
				s.LegacyGroupedGEMM = true
			}
		}
	}

	// model chunks per rank file: "model" or "model0..N"
	if is, ok := detectChunks(m, &s); ok {
		seen = append(seen, namingChunks)
	} else {
		issues = append(issues, is...)
	}
	if hasErrors(issues) {
		return orig, issues
	}
	// decoder layers per chunk: the pipeline split
	if split, ok := detectSplit(m, s, layers); ok {
		issues = append(issues, Issue{Severity: SevWarning, Code: "naming-config-mismatch",
			Message: fmt.Sprintf("mca_config.json's pipeline split (%s) does not place the decoder layers where the rank files hold them (%s per chunk): omnitui reads the placement from the files, as pipeline_model_parallel_layout %q", splitText(s), split.counts, split.layout)})
		s.Layout, s.AccountEmbedding, s.AccountLoss = split.layout, false, false
	}
	if d := settingDiffs(orig, s); d.len() > 0 {
		var what, tensors []string
		for _, k := range seen {
			if !namingDiffers(k, orig) {
				continue
			}
			if k == namingChunks {
				what = append(what, fmt.Sprintf("%d model chunk(s) per rank file (%s)", chunkCount(m), chunkKeys(m)))
				continue
			}
			what = append(what, fmt.Sprintf("%s, e.g. %s", namingWhat[k], ev[k]))
			tensors = append(tensors, ev[k])
		}
		msg := fmt.Sprintf("mca_config.json says %s, but the rank files hold %s, which those settings do not produce: omnitui reads the files as written (%s)",
			strings.Join(namingRecorded(orig, d), ", "), strings.Join(what, "; and "), strings.Join(d.read, ", "))
		if _, legacy := ev[namingLegacy]; legacy && orig.TEGrouped() {
			msg += ". ROLL's converter writes legacy names when Transformer Engine >= 1.9 cannot be imported; a training run with the recorded settings builds Transformer Engine grouped experts and would not load these names"
		}
		if flags := settingFlags(orig, d.keys); flags != "" {
			msg += ". A reshard keeps the naming of the files unless given the flags of the recorded one (" + flags + ")"
		}
		issues = append(issues, Issue{Severity: SevWarning, Code: "naming-config-mismatch", Message: msg, Tensors: tensors})
	}
	return s, issues
}

// chunkCount is the largest number of model chunks a rank file holds.
func chunkCount(m *mca.Checkpoint) int {
	n := 0
	for _, r := range m.Ranks {
		n = max(n, len(r.Chunks))
	}
	return n
}

// detectChunks reads the virtual pipeline size from the chunk keys when mca_config.json has
// no layout and disagrees with them; ok is false (with issues) when the keys are unusable.
func detectChunks(m *mca.Checkpoint, s *Settings) (issues []Issue, ok bool) {
	n := -1
	for _, r := range m.Ranks {
		vps := map[int]string{}
		for _, ch := range r.Chunks {
			if prev, dup := vps[ch.VP]; dup {
				issues = append(issues, Issue{Severity: SevError, Code: "chunk-keys", Message: fmt.Sprintf("%s holds both %q and %q, two model chunks for virtual stage %d: the file is not one mcore_adapter rank; restore it from the original checkpoint", r.Path, prev, ch.Key, ch.VP)})
				return issues, false
			}
			vps[ch.VP] = ch.Key
		}
		for vp := range len(r.Chunks) {
			if _, ok := vps[vp]; !ok {
				issues = append(issues, Issue{Severity: SevError, Code: "chunk-keys", Message: fmt.Sprintf("%s holds %d model chunk(s) but no model%d: chunks are numbered model0, model1, ... without gaps; restore the file from the original checkpoint", r.Path, len(r.Chunks), vp)})
				return issues, false
			}
		}
		if n >= 0 && len(r.Chunks) != n {
			return nil, false // ranks disagree: the stage check names them
		}
		n = len(r.Chunks)
	}
	if n <= 0 || s.Layout != "" {
		return nil, false // a layout decides the chunks: the stage check reports a mismatch
	}
	if s.VirtualChunks(nil) == n {
		return nil, false
	}
	if n == 1 {
		s.VPP = 0
		if m.Ranks[0].Chunks[0].Key != "model" {
			s.VPP = 1
		}
	} else {
		s.VPP = n
	}
	return nil, true
}

type settingDiff struct{ keys, recorded, read []string }

func (d settingDiff) len() int { return len(d.read) }

// namingKeys are the mca_config.json keys the names can reveal, with their settings-table names.
var namingKeys = []struct{ mca, setting string }{
	{"virtual_pipeline_model_parallel_size", "vpp"},
	{"moe_grouped_gemm", "moe_grouped_gemm"},
	{"moe_use_legacy_grouped_gemm", "moe_legacy_grouped_gemm"},
	{"transformer_impl", "transformer_impl"},
}

func namingValue(s Settings, setting string) string {
	switch setting {
	case "vpp":
		if s.VPP == 0 {
			return "null"
		}
		return fmt.Sprint(s.VPP)
	case "moe_grouped_gemm":
		return fmt.Sprint(s.GroupedGEMM)
	case "moe_legacy_grouped_gemm":
		return fmt.Sprint(s.LegacyGroupedGEMM)
	}
	q, _ := jsonString(s.TransformerImpl)
	return q
}

// settingDiffs lists the settings the names decide that differ, as mca_config.json keys.
func settingDiffs(a, b Settings) (d settingDiff) {
	for _, k := range namingKeys {
		x, y := namingValue(a, k.setting), namingValue(b, k.setting)
		if x != y {
			d.keys = append(d.keys, k.setting)
			d.recorded = append(d.recorded, k.mca+" "+x)
			d.read = append(d.read, k.mca+" "+y)
		}
	}
	return d
}

// namingRecorded is what mca_config.json says about the namings that differ: the expert
// naming settings together when one of them differs.
func namingRecorded(s Settings, d settingDiff) []string {
	var out []string
	experts := false
	for _, k := range d.keys {
		if k != "vpp" {
			experts = true
		}
	}
	for _, k := range namingKeys {
		if (k.setting == "vpp" && slices.Contains(d.keys, "vpp")) || (k.setting != "vpp" && experts) {
			out = append(out, k.mca+" "+namingValue(s, k.setting))
		}
	}
	return out
}

// namingDiffers reports whether a naming seen in the files is not what settings s produce.
func namingDiffers(kind string, s Settings) bool {
	switch kind {
	case namingPerExpert:
		return s.GroupedGEMM
	case namingTEGrouped:
		return !s.TEGrouped()
	case namingLegacy:
		return !s.LegacyGrouped()
	case namingLocalNorm:
		return s.TransformerImpl != "local"
	case namingTENorm:
		return s.TransformerImpl != "transformer_engine"
	}
	return true
}

// settingFlags renders the flags that select settings s for the given table settings.
func settingFlags(s Settings, names []string) string {
	var out []string
	for _, sp := range SettingSpecs(nil) {
		if !slices.Contains(names, sp.Name) || sp.Name == "vpp" {
			continue
		}
		v := sp.Get(s)
		switch {
		case sp.Kind == SettingBool && v == "true":
			out = append(out, "--"+sp.Flag)
		case sp.Kind == SettingBool:
			out = append(out, "--"+sp.Flag+"=false")
		default:
			out = append(out, "--"+sp.Flag+" "+v)
		}
	}
	return strings.Join(out, " ")
}

// chunkKeys lists the chunk keys of the first rank file.
func chunkKeys(m *mca.Checkpoint) string {
	if len(m.Ranks) == 0 {
		return ""
	}
	var keys []string
	for _, ch := range m.Ranks[0].Chunks {
		keys = append(keys, ch.Key)
	}
	return strings.Join(keys, ", ")
}

func jsonText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		q, _ := jsonString(x)
		return q
	}
	return fmt.Sprint(v)
}

type fileSplit struct {
	counts string // e.g. "3, 1"
	layout string // the layout placing them so
}

// detectSplit reads the number of decoder layers each chunk holds (highest local layer
// index + 1) and, when the settings' pipeline split places them otherwise but the counts add
// up to the model's layers, returns the layout string that places them as the files do.
func detectSplit(m *mca.Checkpoint, s Settings, layers int) (fileSplit, bool) {
	n := chunkCount(m)
	if n < 1 || s.PP < 1 || layers < 1 {
		return fileSplit{}, false
	}
	counts := make([]int, s.PP*n) // chunk order: vp*PP + pp
	for _, r := range m.Ranks {
		if r.PP < 0 || r.PP >= s.PP || len(r.Chunks) != n {
			return fileSplit{}, false
		}
		for _, ch := range r.Chunks {
			c := ch.VP*s.PP + r.PP
			for _, ref := range ch.Tensors {
				rest, ok := strings.CutPrefix(ref.Name, MCALayerPrefix)
				if !ok {
					continue
				}
				j := digitRun(rest)
				if j == 0 || j > 9 {
					continue
				}
				counts[c] = max(counts[c], atoi(rest[:j])+1)
			}
		}
	}
	total := 0
	for _, k := range counts {
		total += k
	}
	if total != layers {
		return fileSplit{}, false // tensors missing or extra: the stage checks say which
	}
	var layout *Layout
	if s.Layout != "" {
		l, err := ParseLayout(s.Layout, s.PP)
		if err != nil {
			return fileSplit{}, false
		}
		layout = l
	}
	if st, err := PipelineStages(layers, s.PP, s.VPP, s.AccountEmbedding, s.AccountLoss, layout); err == nil && len(st) == len(counts) {
		same := true
		for _, x := range st {
			if c := x.VP*s.PP + x.PP; c >= len(counts) || counts[c] != x.Count {
				same = false
			}
		}
		if same {
			return fileSplit{}, false
		}
	}
	stages := make([]string, len(counts))
	text := make([]string, len(counts))
	for c, k := range counts {
		stages[c] = strings.Repeat("t", k)
		text[c] = fmt.Sprint(k)
	}
	stages[0] = "E" + stages[0]
	stages[len(stages)-1] += "L"
	l, err := ParseLayout(strings.Join(stages, "|"), s.PP)
	if err != nil {
		return fileSplit{}, false
	}
	return fileSplit{counts: strings.Join(text, ", "), layout: l.String()}, true
}

// splitText describes the pipeline split settings.
func splitText(s Settings) string {
	switch {
	case s.Layout != "":
		return fmt.Sprintf("layout %q", s.Layout)
	case s.AccountEmbedding || s.AccountLoss:
		return fmt.Sprintf("uniform, account_for_embedding %v, account_for_loss %v", s.AccountEmbedding, s.AccountLoss)
	}
	return "uniform"
}

// CheckpointSettings are the settings an opened checkpoint's rank files were written with:
// mca_config.json's, with every setting the tensor names reveal read from the names (the
// reverse plan's Settings; a reshard keeps them unless flags change them).
func CheckpointSettings(m *mca.Checkpoint) (Settings, error) {
	s, err := SettingsFromMCAConfig(m.Config)
	if err != nil {
		return s, err
	}
	hfBytes, err := m.HFConfigJSON()
	if err != nil {
		return s, err
	}
	hf, err := loader.ParseJSONTree(hfBytes)
	if err != nil {
		return s, nil // BuildReversePlan says why
	}
	mt, ok := hf.Get("model_type")
	if !ok {
		return s, nil
	}
	name, err := mt.Str()
	if err != nil {
		return s, nil
	}
	t, err := LookupTemplate(name)
	if err != nil {
		return s, nil
	}
	dims, err := DimsFromMCAConfig(m.Config)
	if err != nil {
		return s, nil
	}
	d, _ := detectNaming(t, m, s, dims.Layers)
	return d, nil
}
