package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/omnitui/omnitui/core/family"
)

// SettingKind is how a setting is typed: a size, a switch, or text.
type SettingKind int

const (
	SettingInt SettingKind = iota
	SettingBool
	SettingText
	SettingChoice // text from Choices; the form steps through them
)

// MergeRule is how a reshard combines a setting of the source checkpoint with the flags.
type MergeRule int

const (
	// MergeKept: not given = the source's value kept.
	MergeKept MergeRule = iota
	// MergePipeline: part of the pipeline split; giving any pipeline setting replaces them
	// all (those not given are unset; PP is kept unless given).
	MergePipeline
	// MergeFromFlags: always the flag's value (dtype, opt-outs).
	MergeFromFlags
)

// SettingSpec declares one setting once: its flag, JSON key, help, form row and merge rule.
type SettingSpec struct {
	Name    string // JSON key in plan JSON settings (snake_case); also its identity
	Flag    string // CLI flag without dashes
	Arg     string // --help placeholder ("N", "STR", ...); "" for switches
	Help    string // --help text
	Section string // --help section: "parallel", "output", "opt-out"
	Kind    SettingKind
	Choices []string // SettingChoice values, first = default
	Min     int      // smallest int the form accepts (0 = unset allowed)
	Form    bool     // the Placement form shows it
	Label   string   // Placement form label
	Hint    string   // Placement form hint under the rows ("" = "space toggles" for switches)
	Unset   string   // Placement form text for an unset value ("– (not set)", "= TP", "uniform")
	Shown   []string // Placement form text of each of Choices ("" = the choice itself)
	// Sized: the form's ←/→ step through the sizes the model allows (AllowedSizes by Name).
	Sized bool
	Merge MergeRule
	// Codes are the plan issue codes about this setting (the Placement form shows them on its row).
	Codes []string
	// FixElsewhere sends error issues of a code to another setting's row (by Name).
	FixElsewhere map[string]string
	// OptOut is set for a model family's opt-out (stored in Settings.OptOuts).
	OptOut bool

	get func(Settings) string
	set func(*Settings, string) error
}

// Get renders the setting's value as flag text ("" for an unset VPP or ETP).
func (sp SettingSpec) Get(s Settings) string {
	if sp.OptOut {
		return strconv.FormatBool(s.OptOut(sp.Name))
	}
	return sp.get(s)
}

// Set parses flag text into the setting.
func (sp SettingSpec) Set(s *Settings, v string) error {
	if sp.OptOut {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--%s takes true or false, not %q", sp.Flag, v)
		}
		*s = s.WithOptOut(sp.Name, b)
		return nil
	}
	return sp.set(s, v)
}

// On reports a switch's value.
func (sp SettingSpec) On(s Settings) bool { return sp.Get(s) == "true" }

// IntValue reports an int setting's value (0 when unset).
func (sp SettingSpec) IntValue(s Settings) int { n, _ := strconv.Atoi(sp.Get(s)); return n }

func intSetting(name string, p func(*Settings) *int) accessor {
	return accessor{func(s Settings) string {
		v := *p(&s)
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}, func(s *Settings, v string) error {
		if v == "" {
			*p(s) = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("--%s takes a whole number, not %q", name, v)
		}
		*p(s) = n
		return nil
	}}
}

func boolSetting(name string, p func(*Settings) *bool) accessor {
	return accessor{func(s Settings) string { return strconv.FormatBool(*p(&s)) }, func(s *Settings, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--%s takes true or false, not %q", name, v)
		}
		*p(s) = b
		return nil
	}}
}

func textSetting(p func(*Settings) *string) accessor {
	return accessor{func(s Settings) string { return *p(&s) }, func(s *Settings, v string) error { *p(s) = v; return nil }}
}

type accessor struct {
	get func(Settings) string
	set func(*Settings, string) error
}

func spec(sp SettingSpec, a accessor) SettingSpec {
	sp.get, sp.set = a.get, a.set
	if sp.Label == "" {
		sp.Label = sp.Name
	}
	return sp
}

// genericSettings is the one table of omnitui's own settings, in form and help order;
// family opt-outs are inserted after skip_unmapped (see Settings Specs).
var genericSettings = func() []SettingSpec {
	i := func(name string, p func(*Settings) *int) accessor {
		return intSetting(name, p)
	}
	b := boolSetting
	return []SettingSpec{
		spec(SettingSpec{Name: "tp", Flag: "tp", Arg: "N", Section: "parallel", Kind: SettingInt, Sized: true, Min: 1, Form: true, Label: "TP", Hint: "tensor parallel size",
			Help: "tensor parallel size (default 1)", Codes: []string{"tp-divisibility", "groups-lt-tp", "too-many-ranks"}},
			i("tp", func(s *Settings) *int { return &s.TP })),
		spec(SettingSpec{Name: "pp", Flag: "pp", Arg: "N", Section: "parallel", Kind: SettingInt, Sized: true, Min: 1, Form: true, Label: "PP", Hint: "pipeline parallel size", Merge: MergePipeline,
			Help: "pipeline parallel size (default 1)", Codes: []string{"pipeline-split"}},
			i("pp", func(s *Settings) *int { return &s.PP })),
		spec(SettingSpec{Name: "vpp", Flag: "vpp", Arg: "N", Section: "parallel", Kind: SettingInt, Sized: true, Min: 0, Form: true, Label: "VPP", Hint: "virtual pipeline size (– = not set)", Unset: "– (not set)", Merge: MergePipeline,
			Help: "virtual pipeline size (default unset)", Codes: []string{"vpp-without-pp", "vpp-at-pp1"}},
			i("vpp", func(s *Settings) *int { return &s.VPP })),
		spec(SettingSpec{Name: "ep", Flag: "ep", Arg: "N", Section: "parallel", Kind: SettingInt, Sized: true, Min: 1, Form: true, Label: "EP", Hint: "expert parallel size",
			Help: "expert parallel size (default 1)", Codes: []string{"ep-divisibility"}},
			i("ep", func(s *Settings) *int { return &s.EP })),
		spec(SettingSpec{Name: "etp", Flag: "etp", Arg: "N", Section: "parallel", Kind: SettingInt, Min: 0, Form: true, Label: "ETP", Hint: "expert tensor parallel: follows TP (ROLL splits experts by the TP rank)", Unset: "= TP",
			Help: "expert tensor parallel size (default: same as --tp; must equal it)", Codes: []string{"etp-not-tp"}},
			i("etp", func(s *Settings) *int { return &s.ETP })),
		spec(SettingSpec{Name: "layout", Flag: "layout", Arg: "STR", Section: "parallel", Kind: SettingText, Form: true, Hint: "e.g. Et*12|t*12|t*12|t*12L", Unset: "uniform", Merge: MergePipeline,
			Help:  "Megatron pipeline layout: E embedding, t decoder layer, L loss, | between stages, t*N and (...)*N repeat; k*PP stages mean VPP k",
			Codes: []string{"layout", "layout-with-account", "layout-canonical"}},
			textSetting(func(s *Settings) *string { return &s.Layout })),
		spec(SettingSpec{Name: "account_embedding", Flag: "account-embedding", Section: "parallel", Kind: SettingBool, Form: true, Label: "account embedding", Merge: MergePipeline,
			Help: "count the embedding as a layer in the uniform split"},
			b("account-embedding", func(s *Settings) *bool { return &s.AccountEmbedding })),
		spec(SettingSpec{Name: "account_loss", Flag: "account-loss", Section: "parallel", Kind: SettingBool, Form: true, Label: "account loss", Merge: MergePipeline,
			Help: "count the loss as a layer in the uniform split"},
			b("account-loss", func(s *Settings) *bool { return &s.AccountLoss })),
		spec(SettingSpec{Name: "moe_grouped_gemm", Flag: "moe-grouped-gemm", Section: "parallel", Kind: SettingBool, Form: true, Label: "grouped GEMM",
			Help: "grouped-GEMM expert naming (Transformer Engine: linear_fc1.weight<e>)"},
			b("moe-grouped-gemm", func(s *Settings) *bool { return &s.GroupedGEMM })),
		spec(SettingSpec{Name: "moe_legacy_grouped_gemm", Flag: "moe-legacy-grouped-gemm", Section: "parallel", Kind: SettingBool, Form: true, Label: "legacy GEMM",
			Help: "with --moe-grouped-gemm: legacy weight1/weight2 naming", Codes: []string{"legacy-without-grouped"}},
			b("moe-legacy-grouped-gemm", func(s *Settings) *bool { return &s.LegacyGroupedGEMM })),
		spec(SettingSpec{Name: "transformer_impl", Flag: "transformer-impl", Arg: "transformer_engine|local", Section: "parallel", Kind: SettingChoice,
			Choices: []string{"transformer_engine", "local"}, Form: true, Label: "impl", Hint: "TE = transformer_engine, or local", Shown: []string{"TE", "local"},
			Help: "norm naming (default transformer_engine)", Codes: []string{"bad-impl"}},
			textSetting(func(s *Settings) *string { return &s.TransformerImpl })),
		spec(SettingSpec{Name: "dtype", Flag: "dtype", Arg: "keep|bf16|fp16|fp32", Section: "output", Kind: SettingChoice,
			Choices: []string{"keep", "bf16", "fp16", "fp32"}, Merge: MergeFromFlags,
			Help: "cast floating tensors (default keep: bytes as in the input)"},
			textSetting(func(s *Settings) *string { return &s.DType })),
		spec(SettingSpec{Name: "hf_layout", Flag: "hf-layout", Arg: "NAME", Section: "output", Kind: SettingText, Merge: MergeFromFlags,
			Help: "with --to-hf: the Hugging Face naming to write, for families with several (e.g. old or new; default: the one converted from)"},
			textSetting(func(s *Settings) *string { return &s.HFLayout })),
		spec(SettingSpec{Name: "mtp_layer_name", Flag: "mtp-layer-name", Arg: "mtp_model_layer|transformer_layer", Section: "output", Kind: SettingChoice,
			Choices: []string{MTPInnerDefault, MTPInnerOld}, Label: "MTP naming", Hint: "MTP inner layer: mtp_model_layer (core ≥ 0.17) or transformer_layer (0.15–0.16)",
			Help: "name of an MTP layer's inner decoder layer: mtp_model_layer (megatron-core >= 0.17, ROLL's; default) or transformer_layer (0.15-0.16)", Codes: []string{"bad-mtp-layer-name"}},
			textSetting(func(s *Settings) *string { return &s.MTPLayerName })),
		spec(SettingSpec{Name: "keep_fp8", Flag: "keep-fp8", Section: "output", Kind: SettingBool, Merge: MergeFromFlags,
			Help: "keep FP8 weights as FP8 (refused: Megatron loads FP8 only in Transformer Engine's formats; FP8 is dequantized to bf16)", Codes: []string{"keep-fp8"}},
			b("keep-fp8", func(s *Settings) *bool { return &s.KeepFP8 })),
		spec(SettingSpec{Name: "skip_unmapped", Flag: "skip-unmapped", Section: "opt-out", Kind: SettingBool, Form: true, Label: "skip unmapped", Merge: MergeFromFlags,
			Help: "leave out HF tensors no rule covers", Codes: []string{"unmapped"}},
			b("skip-unmapped", func(s *Settings) *bool { return &s.SkipUnmapped })),
		spec(SettingSpec{Name: "allow_uneven", Flag: "allow-uneven", Section: "opt-out", Kind: SettingBool, Form: true, Label: "allow uneven", Merge: MergeFromFlags,
			Help: "allow sizes that TP does not divide (Megatron cannot load the result)"},
			b("allow-uneven", func(s *Settings) *bool { return &s.AllowUneven })),
	}
}()

// optOutSpec is the setting a family opt-out becomes.
func optOutSpec(o family.OptOut) SettingSpec {
	label := o.Label
	if label == "" {
		label = o.Name
	}
	return SettingSpec{Name: o.Name, Flag: o.Flag, Help: o.Help, Section: "opt-out", Kind: SettingBool, Form: true,
		Label: label, Merge: MergeFromFlags, Codes: o.Codes, FixElsewhere: o.FixElsewhere, OptOut: true}
}

// SettingSpecs lists the settings of a model family in form order: omnitui's own, with the
// family's opt-outs after skip_unmapped. A nil template gives the settings of every
// registered family (the CLI's flags exist before a checkpoint is read).
func SettingSpecs(t *Template) []SettingSpec {
	var fam []family.OptOut
	if t != nil {
		fam = t.OptOuts
	} else {
		fam = family.AllOptOuts()
	}
	out := make([]SettingSpec, 0, len(genericSettings)+len(fam))
	for _, sp := range genericSettings {
		out = append(out, sp)
		if sp.Name == "skip_unmapped" {
			for _, o := range fam {
				out = append(out, optOutSpec(o))
			}
		}
	}
	return out
}

// MarshalJSON writes the settings under their table names (snake_case); vpp is left out
// when unset and only the family opt-outs that are on appear.
func (s Settings) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	field := func(k string, v any) error {
		if !first {
			b.WriteByte(',')
		}
		first = false
		kj, _ := json.Marshal(k)
		vj, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
		return nil
	}
	for _, sp := range genericSettings {
		v := sp.get(s)
		var val any = v
		switch sp.Kind {
		case SettingText:
			if v == "" && sp.Name == "hf_layout" {
				continue // a reverse choice: not part of a forward plan unless given
			}
		case SettingInt:
			if v == "" {
				if sp.Name == "vpp" {
					continue
				}
				val = 0
			} else {
				val, _ = strconv.Atoi(v)
			}
		case SettingBool:
			val = v == "true"
			if sp.Name == "keep_fp8" && v != "true" {
				continue // left out unless asked for
			}
		case SettingChoice:
			if sp.Name == "mtp_layer_name" && (v == "" || v == sp.Choices[0]) {
				continue // the default is left out, as an unset vpp is
			}
		}
		if err := field(sp.Name, val); err != nil {
			return nil, err
		}
	}
	var on []string
	for k, v := range s.OptOuts {
		if v {
			on = append(on, k)
		}
	}
	sort.Strings(on)
	for _, k := range on {
		if err := field(k, true); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown true switches are family opt-outs.
func (s *Settings) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*s = Settings{}
	known := map[string]SettingSpec{}
	for _, sp := range genericSettings {
		known[sp.Name] = sp
	}
	for k, raw := range m {
		sp, ok := known[k]
		if !ok {
			var on bool
			if err := json.Unmarshal(raw, &on); err != nil {
				return fmt.Errorf("settings %q: %w", k, err)
			}
			*s = s.WithOptOut(k, on)
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("settings %q: %w", k, err)
		}
		text := fmt.Sprint(v)
		if v == nil {
			text = ""
		}
		if err := sp.set(s, text); err != nil {
			return err
		}
	}
	return nil
}

// MergeSettings is a reshard's target: the source checkpoint's settings with the given
// flags applied by each setting's MergeRule. --tp without --etp makes ETP follow the new TP.
func MergeSettings(src, flags Settings, given func(flag string) bool) Settings {
	s := src
	specs := SettingSpecs(nil)
	pipeline := false
	for _, sp := range specs {
		if sp.Merge == MergePipeline && given(sp.Flag) {
			pipeline = true
		}
	}
	for _, sp := range specs {
		take := false
		switch sp.Merge {
		case MergeKept:
			take = given(sp.Flag)
		case MergeFromFlags:
			take = true
		case MergePipeline:
			take = pipeline && (sp.Name != "pp" || given(sp.Flag))
		}
		if take {
			_ = sp.Set(&s, sp.Get(flags)) // Get's text always parses back
		}
	}
	if given("tp") && !given("etp") {
		s.ETP = 0
	}
	return s.Normalized()
}
