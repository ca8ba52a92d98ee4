package core

import (
	"fmt"
	"strings"
	"testing"
)

// rollLayerInfo restates ROLL's DistConverter._get_layer_info for the uniform split:
// shift by one with account_for_embedding, cut into chunks of n = N/(pp*vpp), chunk c is
// (c % pp, c / pp), and the first chunk's local index moves back by the embedding slot.
// account_for_loss only enters through N.
func rollLayerInfo(g, layers, pp, vpp int, accE, accL bool) (local, ppRank, vpRank int) {
	v := vpp
	if v == 0 {
		v = 1
	}
	total := layers
	shift := 0
	if accE {
		total++
		shift = 1
	}
	if accL {
		total++
	}
	n := total / (pp * v)
	local = (g + shift) % n
	chunk := (g + shift) / n
	ppRank, vpRank = chunk%pp, chunk/pp
	if accE && ppRank == 0 && vpRank == 0 {
		local--
	}
	return local, ppRank, vpRank
}

// megatronChunk restates Megatron-Core's get_num_layers_to_build and get_transformer_layer_offset
// for the uniform split (no layout, no uneven first/last stage).
func megatronChunk(layers, pp, vpp, ppRank, vpRank int, accE, accL bool) (count, offset int) {
	total := layers
	if accE {
		total++
	}
	if accL {
		total++
	}
	perRank := total / pp
	count = perRank
	if vpp > 0 && pp > 1 {
		count = perRank / vpp
	}
	v := max(vpp, 1)
	if ppRank == 0 && vpRank == 0 && accE {
		count--
	}
	if ppRank == pp-1 && vpRank == v-1 && accL {
		count--
	}
	if pp > 1 {
		if vpp > 0 {
			offset = vpRank*(total/vpp) + ppRank*(perRank/vpp)
		} else {
			offset = ppRank * perRank
		}
		if accE && !(ppRank == 0 && vpRank == 0) {
			offset--
		}
	}
	return count, offset
}

func TestPipelineStagesAgreesWithROLLAndMegatron(t *testing.T) {
	checked := 0
	for layers := 1; layers <= 50; layers++ {
		for pp := 1; pp <= 8; pp++ {
			for _, vpp := range []int{0, 1, 2, 3, 4} {
				for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					accE, accL := fl[0], fl[1]
					name := fmt.Sprintf("L%d/pp%d/vpp%d/emb%v/loss%v", layers, pp, vpp, accE, accL)
					stages, err := PipelineStages(layers, pp, vpp, accE, accL, nil)
					v := max(vpp, 1)
					total := layers
					if accE {
						total++
					}
					if accL {
						total++
					}
					wantErr := total%(pp*v) != 0 || (pp == 1 && v > 1)
					if wantErr {
						if err == nil {
							t.Errorf("%s: no error; want one", name)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					checked++
					if len(stages) != pp*v {
						t.Fatalf("%s: %d stages; want %d", name, len(stages), pp*v)
					}
					// Every layer lands where ROLL's formula puts it.
					for g := range layers {
						pr, vr, loc, ok := LayerPlace(stages, g)
						wl, wp, wv := rollLayerInfo(g, layers, pp, vpp, accE, accL)
						if !ok || pr != wp || vr != wv || loc != wl {
							t.Fatalf("%s: layer %d at (pp %d, vp %d, local %d, ok %v); ROLL says (%d, %d, %d)", name, g, pr, vr, loc, ok, wp, wv, wl)
						}
					}
					if _, _, _, ok := LayerPlace(stages, layers); ok {
						t.Fatalf("%s: layer %d (one past the end) was placed", name, layers)
					}
					// Every chunk has Megatron's size and offset, in chunk order.
					for c, s := range stages {
						if s.PP != c%pp || s.VP != c/pp {
							t.Fatalf("%s: stage %d is (%d, %d); want (%d, %d)", name, c, s.PP, s.VP, c%pp, c/pp)
						}
						cnt, off := megatronChunk(layers, pp, vpp, s.PP, s.VP, accE, accL)
						if s.Count != cnt || s.First != off {
							t.Fatalf("%s: chunk (%d, %d) holds %d from %d; Megatron builds %d from %d", name, s.PP, s.VP, s.Count, s.First, cnt, off)
						}
					}
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d valid combinations checked", checked)
	}
}

func TestPipelineStagesExamples(t *testing.T) {
	type chunk struct{ pp, vp, first, count int }
	tests := []struct {
		name       string
		layers     int
		pp, vpp    int
		accE, accL bool
		want       []chunk
	}{
		// Megatron's docstring: 8 layers, 2 stages, 2 virtual stages: rank 0 holds [0 1] [4 5], rank 1 [2 3] [6 7].
		{"megatron doc vpp 2", 8, 2, 2, false, false, []chunk{{0, 0, 0, 2}, {1, 0, 2, 2}, {0, 1, 4, 2}, {1, 1, 6, 2}}},
		// ... and with 4 virtual stages: rank 0 holds [0] [2] [4] [6], rank 1 [1] [3] [5] [7].
		{"megatron doc vpp 4", 8, 2, 4, false, false, []chunk{{0, 0, 0, 1}, {1, 0, 1, 1}, {0, 1, 2, 1}, {1, 1, 3, 1}, {0, 2, 4, 1}, {1, 2, 5, 1}, {0, 3, 6, 1}, {1, 3, 7, 1}}},
		{"pp 1", 48, 1, 0, false, false, []chunk{{0, 0, 0, 48}}},
		{"pp 1 vpp 1 given", 48, 1, 1, false, false, []chunk{{0, 0, 0, 48}}},
		{"pp 1 both flags", 48, 1, 0, true, true, []chunk{{0, 0, 0, 48}}},
		{"48 on pp 4", 48, 4, 0, false, false, []chunk{{0, 0, 0, 12}, {1, 0, 12, 12}, {2, 0, 24, 12}, {3, 0, 36, 12}}},
		{"48 + embedding on pp 7", 48, 7, 0, true, false, []chunk{{0, 0, 0, 6}, {1, 0, 6, 7}, {2, 0, 13, 7}, {3, 0, 20, 7}, {4, 0, 27, 7}, {5, 0, 34, 7}, {6, 0, 41, 7}}},
		{"48 + loss on pp 7", 48, 7, 0, false, true, []chunk{{0, 0, 0, 7}, {1, 0, 7, 7}, {2, 0, 14, 7}, {3, 0, 21, 7}, {4, 0, 28, 7}, {5, 0, 35, 7}, {6, 0, 42, 6}}},
		{"48 + both on pp 5", 48, 5, 0, true, true, []chunk{{0, 0, 0, 9}, {1, 0, 9, 10}, {2, 0, 19, 10}, {3, 0, 29, 10}, {4, 0, 39, 9}}},
		{"6 + both on pp 2 vpp 2", 6, 2, 2, true, true, []chunk{{0, 0, 0, 1}, {1, 0, 1, 2}, {0, 1, 3, 2}, {1, 1, 5, 1}}},
		{"2 + both on pp 4: empty ends", 2, 4, 0, true, true, []chunk{{0, 0, 0, 0}, {1, 0, 0, 1}, {2, 0, 1, 1}, {3, 0, 2, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PipelineStages(tc.layers, tc.pp, tc.vpp, tc.accE, tc.accL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d stages %v; want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				if g := got[i]; g.PP != w.pp || g.VP != w.vp || g.First != w.first || g.Count != w.count {
					t.Errorf("stage %d = %+v; want %+v", i, g, w)
				}
			}
		})
	}
}

func TestPipelineStagesErrors(t *testing.T) {
	mustLayout := func(s string, pp int) *Layout {
		l, err := ParseLayout(s, pp)
		if err != nil {
			t.Fatalf("ParseLayout(%q, %d): %v", s, pp, err)
		}
		return l
	}
	tests := []struct {
		name       string
		layers     int
		pp, vpp    int
		accE, accL bool
		layout     *Layout
		want       []string
	}{
		{"48 on pp 5", 48, 5, 0, false, false, nil, []string{
			"48 decoder layers do not split evenly into 5 pipeline ranks",
			"--pp 1, 2, 3, 4, 6, 8, 12, 16",
			"--account-embedding and --account-loss (50 = 5 × 10)",
			"custom --layout",
		}},
		{"48 on pp 4 vpp 5", 48, 4, 5, false, false, nil, []string{
			"into 4 pipeline ranks × 5 virtual chunks = 20 chunks",
			"--vpp unset, 2, 3, 4, 6, 12 (with --pp 4)",
		}},
		{"48 + embedding on pp 4", 48, 4, 0, true, false, nil, []string{
			"48 decoder layers (+1 for --account-embedding = 49)",
			"neither --account-embedding nor --account-loss (48 = 4 × 12)",
			"--pp 1, 7, 49",
		}},
		{"48 + both on pp 4", 48, 4, 0, true, true, nil, []string{
			"(+1 for --account-embedding, +1 for --account-loss = 50)",
			"neither --account-embedding nor --account-loss (48 = 4 × 12)",
		}},
		{"48 + both on pp 7 suggests one flag", 48, 7, 0, true, true, nil, []string{
			"only --account-embedding (49 = 7 × 7)",
			"only --account-loss (49 = 7 × 7)",
		}},
		{"vpp without pp", 48, 1, 2, false, false, nil, []string{"--vpp 2 needs --pp > 1"}},
		{"zero layers", 0, 2, 0, false, false, nil, []string{"num_layers 0 is out of range"}},
		{"zero pp", 48, 0, 0, false, false, nil, []string{"--pp 0 is out of range"}},
		{"negative vpp", 48, 2, -1, false, false, nil, []string{"--vpp -1 is out of range"}},
		{"layout with account embedding", 4, 2, 0, true, false, mustLayout("Ett|ttL", 2), []string{"cannot be combined with --account-embedding"}},
		{"layout with account loss", 4, 2, 0, false, true, mustLayout("Ett|ttL", 2), []string{"cannot be combined"}},
		{"layout decoder count", 6, 2, 0, false, false, mustLayout("Ett|ttL", 2), []string{"has 4 decoder layers (t) but the model has 6"}},
		{"layout vpp conflict", 14, 4, 3, false, false, mustLayout("Ett|(tt|)*6L", 4), []string{"--vpp 3 conflicts", "8 stages are 2 virtual round(s) of --pp 4", "set it to 2"}},
		{"layout pp conflict", 4, 4, 0, false, false, mustLayout("Ett|ttL", 2), []string{"parsed for --pp 2 but --pp is 4"}},
		{"layout vpp on pp 1", 4, 1, 0, false, false, mustLayout("Ett|ttL", 1), []string{"2 stages for --pp 1", "requires --pp > 1"}},
		{"layout with mtp", 4, 2, 0, false, false, mustLayout("Ett|ttmL", 2), []string{"1 MTP layers (m) but the model has 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PipelineStages(tc.layers, tc.pp, tc.vpp, tc.accE, tc.accL, tc.layout)
			if err == nil {
				t.Fatalf("no error; got stages %v", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestPipelineStagesLayout(t *testing.T) {
	type chunk struct{ pp, vp, first, count int }
	tests := []struct {
		layout string
		pp     int
		vpp    int
		layers int
		want   []chunk
	}{
		{"Ett|(tt|)*6L", 4, 0, 14, []chunk{{0, 0, 0, 2}, {1, 0, 2, 2}, {2, 0, 4, 2}, {3, 0, 6, 2}, {0, 1, 8, 2}, {1, 1, 10, 2}, {2, 1, 12, 2}, {3, 1, 14, 0}}},
		{"Ett|(tt|)*6L", 4, 2, 14, []chunk{{0, 0, 0, 2}, {1, 0, 2, 2}, {2, 0, 4, 2}, {3, 0, 6, 2}, {0, 1, 8, 2}, {1, 1, 10, 2}, {2, 1, 12, 2}, {3, 1, 14, 0}}},
		{"E|t*3|t*4|tL", 4, 1, 8, []chunk{{0, 0, 0, 0}, {1, 0, 0, 3}, {2, 0, 3, 4}, {3, 0, 7, 1}}},
		{"Et*5L", 1, 0, 5, []chunk{{0, 0, 0, 5}}},
	}
	for _, tc := range tests {
		l, err := ParseLayout(tc.layout, tc.pp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := PipelineStages(tc.layers, tc.pp, tc.vpp, false, false, l)
		if err != nil {
			t.Fatalf("%s: %v", tc.layout, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %d stages; want %d", tc.layout, len(got), len(tc.want))
		}
		for i, w := range tc.want {
			if g := got[i]; g.PP != w.pp || g.VP != w.vp || g.First != w.first || g.Count != w.count {
				t.Errorf("%s: stage %d = %+v; want %+v", tc.layout, i, g, w)
			}
			if off := l.Offset(w.pp, w.vp); off != w.first {
				t.Errorf("%s: Offset(%d, %d) = %d; want %d", tc.layout, w.pp, w.vp, off, w.first)
			}
		}
		// ROLL's layout branch of _get_layer_info: walk chunks in order, counting t's.
		for g := range tc.layers {
			pr, vr, loc, ok := LayerPlace(got, g)
			if !ok {
				t.Fatalf("%s: layer %d not placed", tc.layout, g)
			}
			seen := 0
		walk:
			for vp := range l.VP {
				for pp := range tc.pp {
					n := l.Decoders(pp, vp)
					if seen+n > g {
						if pp != pr || vp != vr || g-seen != loc {
							t.Errorf("%s: layer %d at (%d, %d, %d); ROLL walk says (%d, %d, %d)", tc.layout, g, pr, vr, loc, pp, vp, g-seen)
						}
						break walk
					}
					seen += n
				}
			}
		}
	}
}

func TestLayerPlaceMisses(t *testing.T) {
	stages := []Stage{{PP: 0, VP: 0, First: 0, Count: 0}, {PP: 1, VP: 0, First: 0, Count: 3}}
	for _, g := range []int{-1, 3, 100} {
		if _, _, _, ok := LayerPlace(stages, g); ok {
			t.Errorf("LayerPlace(%d) found a stage; want none", g)
		}
	}
	if pp, vp, local, ok := LayerPlace(stages, 2); !ok || pp != 1 || vp != 0 || local != 2 {
		t.Errorf("LayerPlace(2) = %d, %d, %d, %v; want 1, 0, 2, true (the empty stage holds nothing)", pp, vp, local, ok)
	}
	if _, _, _, ok := LayerPlace(nil, 0); ok {
		t.Error("LayerPlace on no stages found one")
	}
}
