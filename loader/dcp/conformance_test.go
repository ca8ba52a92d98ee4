package dcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/omnitui/omnitui/loader/dcp/dcptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/pt"
)

// fixtureInfo is testdata/torch_dist/<tag>/<fixture>/fixture.json, written by gen.py.
type fixtureInfo struct {
	Fixture      string `json:"fixture"`
	MegatronCore string `json:"megatron_core"`
	Torch        string `json:"torch"`
	Parallel     struct {
		TP, EP, ETP, World int
	} `json:"parallel"`
	Model struct {
		Layers  int `json:"layers"`
		Experts int `json:"experts"`
	} `json:"model"`
}

// TestConformance checks the reader against files the real writers made
// (testdata/torch_dist/gen.py): the view equals the legacy save of the same
// weights, merged to TP = EP = 1, byte for byte.
func TestConformance(t *testing.T) {
	infos, _ := filepath.Glob("../../testdata/torch_dist/*/*/dcptest.Fixture.json")
	if len(infos) == 0 {
		if os.Getenv("OMNITUI_REQUIRE_TORCH_DIST") != "" {
			t.Fatal("no torch_dist fixtures in testdata/torch_dist")
		}
		t.Skip("no real torch_dist fixtures yet: see testdata/torch_dist/README.md")
	}
	for _, p := range infos {
		root := filepath.Dir(p)
		t.Run(strings.TrimPrefix(root, "../../testdata/torch_dist/"), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var fi fixtureInfo
			if err := json.Unmarshal(b, &fi); err != nil {
				t.Fatal(err)
			}
			c, err := Open(filepath.Join(root, "torch_dist"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			vc, err := c.DiscoverConfig()
			if err != nil {
				t.Fatal(err)
			}
			if vc.Layers != fi.Model.Layers || vc.Experts != fi.Model.Experts {
				t.Errorf("config from %s: %d layers %d experts, dcptest.Fixture.json says %d and %d", vc.Source, vc.Layers, vc.Experts, fi.Model.Layers, fi.Model.Experts)
			}
			v, err := c.View(vc)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range v.Skipped {
				if !strings.Contains(s.Why, "extra state") && !strings.Contains(s.Why, "RNG") && !strings.Contains(s.Why, "common state") && !strings.Contains(s.Why, "optimizer") {
					t.Errorf("skipped %s: %s", s.Key, s.Why)
				}
			}
			if err := compareWithLegacy(v, filepath.Join(root, "legacy", "iter_0000001"), fi.Parallel.EP, fi.Model.Experts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

var rankDir = regexp.MustCompile(`^mp_rank_(\d\d)(?:_(\d\d\d))?$`)
var localExpert = regexp.MustCompile(`\.experts\.local_experts\.(\d+)\.`)

// legacyRanks opens every legacy rank file of iter: [tp][ep] -> name -> tensor.
type legacyTensor struct {
	f   *pt.File
	ref pt.TensorRef
}

func legacyRanks(iter string) (map[[2]int]map[string]legacyTensor, func(), error) {
	var files []*pt.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	ents, err := os.ReadDir(iter)
	if err != nil {
		return nil, closeAll, err
	}
	out := map[[2]int]map[string]legacyTensor{}
	for _, e := range ents {
		m := rankDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		tp, _ := strconv.Atoi(m[1])
		ep := 0
		if m[2] != "" {
			ep, _ = strconv.Atoi(m[2])
		}
		f, err := pt.Open(filepath.Join(iter, e.Name(), "model_optim_rng.pt"))
		if err != nil {
			return nil, closeAll, err
		}
		files = append(files, f)
		ts := map[string]legacyTensor{}
		for _, r := range f.Tensors("model") {
			ts[r.Name] = legacyTensor{f, r}
		}
		out[[2]int{tp, ep}] = ts
	}
	if len(out) == 0 {
		return nil, closeAll, fmt.Errorf("no legacy rank folders in %s", iter)
	}
	return out, closeAll, nil
}

// compareWithLegacy merges the legacy shards of every view tensor to TP = EP
// = 1 (concatenating along the one axis that differs; SwiGLU fc1 shards as
// [all gate; all up]) and compares bytes.
func compareWithLegacy(v *View, iter string, ep, experts int) error {
	ranks, closeAll, err := legacyRanks(iter)
	defer closeAll()
	if err != nil {
		return err
	}
	tps := 0
	for k := range ranks {
		tps = max(tps, k[0]+1)
	}
	perRank := 1
	if experts > 0 && ep > 0 {
		perRank = experts / ep
	}
	seen := 0
	for i, vt := range v.Tensors {
		name, epRank := vt.Name, 0
		if m := localExpert.FindStringSubmatchIndex(name); m != nil {
			e, _ := strconv.Atoi(name[m[2]:m[3]])
			epRank = e / perRank
			name = name[:m[2]] + strconv.Itoa(e%perRank) + name[m[3]:]
		}
		var shards [][]byte
		var shapes [][]int64
		for tp := 0; tp < tps; tp++ {
			lt, ok := ranks[[2]int{tp, epRank}][name]
			if !ok {
				return fmt.Errorf("%s (legacy %s) is not in rank tp=%d ep=%d", vt.Name, name, tp, epRank)
			}
			b, err := lt.f.ReadTensor(lt.ref)
			if err != nil {
				return err
			}
			shards = append(shards, b)
			shapes = append(shapes, lt.ref.Shape)
		}
		want, err := mergeShards(vt.Name, vt.Shape, shards, shapes)
		if err != nil {
			return err
		}
		got, err := v.TensorData(i)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s differs from the merged legacy shards", vt.Name)
		}
		seen++
	}
	var legacyCount int
	for k, ts := range ranks {
		if k[0] == 0 && k[1] == 0 {
			legacyCount = len(ts)
		}
	}
	if seen == 0 || legacyCount == 0 {
		return fmt.Errorf("nothing compared (%d view tensors, %d legacy tensors in rank 0)", seen, legacyCount)
	}
	return nil
}

// mergeShards joins TP shards into the TP=1 tensor of the given shape.
func mergeShards(name string, shape []int64, shards [][]byte, shapes [][]int64) ([]byte, error) {
	axis := -1
	for d := range shape {
		if shapes[0][d] != shape[d] {
			axis = d
			break
		}
	}
	if axis < 0 { // replicated: every copy must be equal
		for i := 1; i < len(shards); i++ {
			if !bytes.Equal(shards[i], shards[0]) {
				return nil, fmt.Errorf("%s: replicated copies differ between TP ranks", name)
			}
		}
		return shards[0], nil
	}
	if shapes[0][axis]*int64(len(shards)) != shape[axis] {
		return nil, fmt.Errorf("%s: %d shards of %v do not make %v", name, len(shards), shapes[0], shape)
	}
	gated := axis == 0 && (strings.HasSuffix(name, "linear_fc1.weight") || strings.HasSuffix(name, "linear_fc1.bias"))
	if gated { // each shard is [W_r; V_r]: gather all W, then all V
		var w, u [][]byte
		for _, s := range shards {
			w = append(w, s[:len(s)/2])
			u = append(u, s[len(s)/2:])
		}
		return append(bytes.Join(w, nil), bytes.Join(u, nil)...), nil
	}
	// Concatenate along axis: outer blocks of shard rows.
	outer := int64(1)
	for d := 0; d < axis; d++ {
		outer *= shape[d]
	}
	var out []byte
	for o := int64(0); o < outer; o++ {
		for _, s := range shards {
			block := int64(len(s)) / outer
			out = append(out, s[o*block:(o+1)*block]...)
		}
	}
	return out, nil
}

// The checker above is itself checked on hand-made files: a legacy TP=2
// EP=2 save written with loader/pt from the same global tensors as dcptest.TinyMoE.
func TestConformanceCheckerOnHandMadeFiles(t *testing.T) {
	f := dcptest.TinyMoE()
	c := openFixture(t, f)
	v, err := c.View(ViewConfig{Layers: 2, Experts: 4})
	if err != nil {
		t.Fatal(err)
	}
	iter := filepath.Join(t.TempDir(), "iter_0000001")
	const tp, ep, experts = 2, 2, 4
	for r := 0; r < tp; r++ {
		for e := 0; e < ep; e++ {
			var specs []pt.TensorSpec
			var datas [][]byte
			for i, vt := range v.Tensors {
				name := vt.Name
				if m := localExpert.FindStringSubmatchIndex(name); m != nil {
					g, _ := strconv.Atoi(name[m[2]:m[3]])
					if g/(experts/ep) != e {
						continue
					}
					name = name[:m[2]] + strconv.Itoa(g%(experts/ep)) + name[m[3]:]
				}
				full, err := v.TensorData(i)
				if err != nil {
					t.Fatal(err)
				}
				shape, data := legacyShard(vt, full, r, tp)
				specs = append(specs, pt.TensorSpec{Name: name, DType: vt.DType, Shape: shape})
				datas = append(datas, data)
			}
			dir := filepath.Join(iter, fmt.Sprintf("mp_rank_%02d_%03d", r, e))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			w, err := pt.Create(filepath.Join(dir, "model_optim_rng.pt"), []pt.StateDict{{Key: "model", Tensors: specs}})
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range datas {
				if err := w.WriteAt(i, 0, d); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := compareWithLegacy(v, iter, ep, experts); err != nil {
		t.Fatal(err)
	}
	// The checker must notice a wrong tensor.
	tampered := *v
	tampered.Tensors = append([]ViewTensor(nil), v.Tensors...)
	i, _ := v.Index("decoder.layers.0.self_attention.linear_qkv.weight")
	j, _ := v.Index("decoder.layers.1.self_attention.linear_qkv.weight")
	tampered.Tensors[i], tampered.Tensors[j] = tampered.Tensors[j], tampered.Tensors[i]
	tampered.Tensors[i].Name, tampered.Tensors[j].Name = tampered.Tensors[j].Name, tampered.Tensors[i].Name
	if err := compareWithLegacy(&tampered, iter, ep, experts); err == nil || !strings.Contains(err.Error(), "linear_qkv.weight differs") {
		t.Fatalf("the checker accepted swapped layers: %v", err)
	}
}

// legacyShard cuts TP rank r's piece of a TP=1 tensor the way Megatron
// shards it (column-parallel: axis 0, SwiGLU fc1 as [W_r; V_r]; row-parallel:
// axis 1; norms and the router replicated), for the hand-made legacy save.
func legacyShard(vt ViewTensor, full []byte, r, tp int) ([]int64, []byte) {
	n := vt.Name
	es := int64(vt.DType.Size())
	shape := append([]int64(nil), vt.Shape...)
	switch {
	case strings.HasSuffix(n, "linear_fc1.weight"):
		half := int64(len(full)) / 2
		w, u := full[:half], full[half:]
		part := half / int64(tp)
		shape[0] /= int64(tp)
		return shape, append(append([]byte(nil), w[int64(r)*part:int64(r+1)*part]...), u[int64(r)*part:int64(r+1)*part]...)
	case strings.HasSuffix(n, "linear_qkv.weight") || strings.HasSuffix(n, "word_embeddings.weight") || strings.HasSuffix(n, "output_layer.weight"):
		part := int64(len(full)) / int64(tp)
		shape[0] /= int64(tp)
		return shape, full[int64(r)*part : int64(r+1)*part]
	case strings.HasSuffix(n, "linear_proj.weight") || strings.HasSuffix(n, "linear_fc2.weight"):
		rows, cols := shape[0], shape[1]
		c := cols / int64(tp)
		var out []byte
		for i := int64(0); i < rows; i++ {
			out = append(out, full[(i*cols+int64(r)*c)*es:(i*cols+int64(r+1)*c)*es]...)
		}
		shape[1] = c
		return shape, out
	}
	return shape, full
}
