package core_test

// Conversion cases of the vision-language families (qwen2_vl, qwen2_5_vl, qwen3_vl,
// qwen3_vl_moe) for TestFamilyConversions: every split setting, tied embeddings, both HF
// namings (each converts, the reverse writes the naming the input had), the deepstack
// first-stage rule, fused experts at every expert layout.

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
)

func init() {
	tp2pp2 := func(s *core.Settings) { s.TP, s.PP = 2, 2 }
	ignoreDeep := func(s *core.Settings) { *s = s.WithOptOut("ignore_deepstack", true) }
	vlSettings := func(deepstack bool) []famCase {
		vpp := func(s *core.Settings) { s.PP, s.VPP = 2, 2 }
		if deepstack { // 4 layers over PP2 VPP2: 1 layer on the first chunk, deepstack feeds 2
			vpp = func(s *core.Settings) { s.PP, s.VPP = 2, 2; ignoreDeep(s) }
		}
		return []famCase{
			{Name: "tp1"},
			{Name: "tp2", Settings: func(s *core.Settings) { s.TP = 2 }},
			{Name: "tp2-pp2", Settings: tp2pp2},
			{Name: "pp2-vpp2", Settings: vpp},
			{Name: "local-impl-tp2-pp2", Settings: func(s *core.Settings) { s.TP, s.PP = 2, 2; s.TransformerImpl = "local" }},
			{Name: "pp2-layout", Settings: func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|ttL" }},
			{Name: "f32-to-bf16-tp2", Options: func(o *fixture.ReleaseOptions) { o.DType = loader.F32 }, Settings: func(s *core.Settings) { s.TP = 2; s.DType = "bf16" }},
		}
	}
	for _, f := range []string{"qwen2_vl", "qwen2_5_vl", "qwen3_vl"} {
		deep := strings.HasPrefix(f, "qwen3")
		addFamCases(forFamily(f, nil, "", vlSettings(deep))...)
		addFamCases(forFamily(f, []string{"tied"}, "tied-", []famCase{{Name: "tp2-pp2", Settings: tp2pp2}})...)
		addFamCases(forFamily(f, []string{"tied_lm"}, "tied-lm-", []famCase{{Name: "tp1"}})...)
	}
	// the other naming of each family converts too; the reverse writes it back
	for _, f := range []string{"qwen2_vl", "qwen2_5_vl"} {
		addFamCases(forFamily(f, []string{"new"}, "new-names-", []famCase{
			{Name: "tp1"}, {Name: "tp2-pp2", Settings: tp2pp2},
		})...)
		addFamCases(forFamily(f, []string{"new", "tied"}, "new-names-tied-", []famCase{{Name: "tp2-pp2", Settings: tp2pp2}})...)
		addFamCases(forFamily(f, []string{"nested_config"}, "nested-config-", []famCase{{Name: "tp2", Settings: func(s *core.Settings) { s.TP = 2 }}})...)
	}
	addFamCases(forFamily("qwen3_vl", []string{"old"}, "old-names-", []famCase{{Name: "tp2-pp2", Settings: tp2pp2}})...)
	addFamCases(forFamily("qwen3_vl_moe", []string{"old"}, "old-names-", []famCase{{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }}})...)

	// fused experts at every expert layout
	moe := moeSettings()
	for i := range moe {
		if moe[i].Name == "pp2-vpp2-ep2" {
			moe[i].Settings = func(s *core.Settings) { s.PP, s.VPP, s.EP = 2, 2, 2; ignoreDeep(s) }
		}
	}
	addFamCases(forFamily("qwen3_vl_moe", nil, "", moe)...)
	addFamCases(forFamily("qwen3_vl_moe", []string{"tied"}, "tied-", []famCase{{Name: "tp2-pp2-ep2", Settings: func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }}})...)
	addFamCases(forFamily("qwen3_vl_moe", []string{"tied_lm"}, "tied-lm-", []famCase{{Name: "tp1"}})...)
	addFamCases(famCase{Family: "qwen3_vl_moe", Name: "reshard-grouped-legacy-to-te", Settings: func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 2 },
		ReshardTo: func(s *core.Settings) { s.GroupedGEMM = true; s.TP, s.EP = 2, 4 }})

	// the first pipeline chunk must hold the layers deepstack feeds (ROLL's model build asserts it)
	addFamCases(
		famCase{Family: "qwen3_vl", Name: "deepstack-first-stage-refused", PlanError: "deepstack-first-stage", Settings: func(s *core.Settings) { s.PP, s.VPP = 2, 2 }},
		famCase{Family: "qwen3_vl_moe", Variants: []string{"deep3"}, Name: "deepstack3-first-stage-refused", PlanError: "deepstack-first-stage", Settings: func(s *core.Settings) { s.PP = 2 }},
		famCase{Family: "qwen3_vl_moe", Variants: []string{"deep3"}, Name: "deepstack3-layout", Settings: func(s *core.Settings) { s.PP = 2; s.Layout = "Ettt|tL" }},
	)
}

// TestVLNamingChoice: a checkpoint converted from one HF naming goes back to the other when
// --hf-layout asks for it, and that output converts to the same Megatron tensors; a
// checkpoint mixing namings is refused; an unknown naming is an error naming the choices.
func TestVLNamingChoice(t *testing.T) {
	for _, tc := range []struct {
		family  string
		variant []string // input naming
		other   string   // the --hf-layout to ask for
		prefix  string   // a name the other naming must have
	}{
		{"qwen2_vl", nil, "new", "model.language_model.layers.0."},
		{"qwen2_5_vl", []string{"new"}, "old", "visual.blocks.0."},
		{"qwen3_vl_moe", nil, "old", "model.layers.0.mlp.experts.gate_up_proj"},
	} {
		t.Run(tc.family+"-to-"+tc.other, func(t *testing.T) {
			hf := writeRelease(t, t.TempDir(), tc.family, tc.variant, nil)
			s := settingsOf(func(s *core.Settings) { s.TP, s.PP = 2, 2 })
			direct := convertHF(t, hf, s)
			back := toHF(t, direct, core.ToHFOptions{}) // the input's naming
			sameHF(t, hf, back)
			other := toHFLayout(t, direct, tc.other)
			ck, err := loader.OpenHF(other)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			found := false
			for _, ti := range ck.Tensors {
				found = found || strings.HasPrefix(ti.Name, tc.prefix)
			}
			if !found {
				t.Fatalf("--hf-layout %s wrote no %s* tensor", tc.other, tc.prefix)
			}
			again := convertHF(t, other, s)
			sameMCATensors(t, direct, again)
		})
	}
	t.Run("unknown-naming", func(t *testing.T) {
		hf := writeRelease(t, t.TempDir(), "qwen2_vl", nil, nil)
		m := openMCA(t, convertHF(t, hf, core.DefaultSettings()))
		_, err := core.BuildReversePlanWith(m, core.ReverseOptions{HFLayout: "newest"})
		if err == nil || !strings.Contains(err.Error(), "old, new") {
			t.Fatalf("unknown --hf-layout: error %v, want one listing old, new", err)
		}
	})
	t.Run("mixed-namings-refused", func(t *testing.T) {
		hf := writeRelease(t, t.TempDir(), "qwen2_vl", nil, nil)
		mixed := rewriteHF(t, hf, func(w *loader.WriteTensor) bool {
			if strings.HasPrefix(w.Name, "visual.") {
				w.Name = "model." + w.Name
			}
			return true
		})
		_, p := planHF(t, mixed, core.DefaultSettings())
		if codes := issueCodes(p); !strings.Contains(strings.Join(codes, ","), "mixed-layout") {
			t.Fatalf("plan error codes %v, want mixed-layout", codes)
		}
	})
}

// toHFLayout converts an mca checkpoint back to HF in the named HF naming.
func toHFLayout(t *testing.T, mcaDir, layout string) string {
	t.Helper()
	m := openMCA(t, mcaDir)
	rp, err := core.BuildReversePlanWith(m, core.ReverseOptions{HFLayout: layout})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "hf-"+layout)
	if _, err := core.ConvertToHF(context.Background(), rp, core.ToHFOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// openMCA opens an mca checkpoint for the test's duration.
func openMCA(t *testing.T, dir string) *mca.Checkpoint {
	t.Helper()
	m, err := mca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// sameMCATensors asserts two mca checkpoints hold the same rank files, chunks and tensors
// (names, dtypes, shapes, bytes; in any order); their mca_config.json may differ
// (name_or_path, the recorded naming).
func sameMCATensors(t *testing.T, want, got string) {
	t.Helper()
	a, b := openMCA(t, want), openMCA(t, got)
	if len(a.Ranks) != len(b.Ranks) {
		t.Fatalf("%d rank files, want %d", len(b.Ranks), len(a.Ranks))
	}
	n := 0
	for i, ra := range a.Ranks {
		rb := b.Ranks[i]
		if ra.Path != rb.Path || len(ra.Chunks) != len(rb.Chunks) {
			t.Fatalf("rank %s (%d chunks) vs %s (%d chunks)", rb.Path, len(rb.Chunks), ra.Path, len(ra.Chunks))
		}
		for c, ca := range ra.Chunks {
			cb := rb.Chunks[c]
			if len(ca.Tensors) != len(cb.Tensors) {
				t.Fatalf("%s[%s]: %d tensors, want %d", rb.Path, cb.Key, len(cb.Tensors), len(ca.Tensors))
			}
			byName := map[string]int{}
			for k, tb := range cb.Tensors {
				byName[tb.Name] = k
			}
			for _, ta := range ca.Tensors { // a state dict is keyed by name: order is not compared
				k, ok := byName[ta.Name]
				if !ok {
					t.Fatalf("%s[%s]: no %s", rb.Path, cb.Key, ta.Name)
				}
				tb := cb.Tensors[k]
				if ta.DType != tb.DType || !slices.Equal(ta.Shape, tb.Shape) {
					t.Fatalf("%s[%s]: %s %s %v, want %s %s %v", rb.Path, cb.Key, tb.Name, tb.DType, tb.Shape, ta.Name, ta.DType, ta.Shape)
				}
				x, err := ra.File.ReadTensor(ta)
				if err != nil {
					t.Fatal(err)
				}
				y, err := rb.File.ReadTensor(tb)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(x, y) {
					t.Fatalf("%s[%s] %s differs", rb.Path, cb.Key, ta.Name)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no tensors compared")
	}
}
