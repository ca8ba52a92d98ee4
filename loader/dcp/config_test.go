package dcp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/pt"
)

// commonPickle is torch.save's data.pkl for {"args": Namespace(num_layers=L,
// num_experts=E), "iteration": 7}, wrapped in a list when inList (the
// common_state item of megatron-core 0.19+).
func commonPickle(layers, experts int64, inList bool) []byte {
	p := &pk{}
	p.op(0x80, 2)
	if inList {
		p.op(']', '(')
	}
	p.dict(func() { p.str("args") }, func() {
		p.obj("argparse", "Namespace", func() {
			p.dict(func() { p.str("num_layers") }, func() { p.int(layers) },
				func() { p.str("num_experts") }, func() { p.int(experts) },
				func() { p.str("params_dtype") }, func() { p.global("torch", "bfloat16") })
		})
	}, func() { p.str("iteration") }, func() { p.int(7) })
	if inList {
		p.op('e')
	}
	p.op('.')
	return p.b
}

func TestDiscoverConfig(t *testing.T) {
	t.Run("common_state item", func(t *testing.T) {
		f := tinyMoE()
		for i := range f.objects {
			if f.objects[i].key == "common_state/shard_0_1" {
				f.objects[i].data = pt.EncodeArchive("archive", commonPickle(2, 4, true))
			}
		}
		c := openFixture(t, f)
		vc, err := c.DiscoverConfig()
		if err != nil || vc.Layers != 2 || vc.Experts != 4 || !strings.Contains(vc.Source, "common_state") {
			t.Fatalf("%+v, %v", vc, err)
		}
		if _, err := c.View(vc); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("common.pt disagreeing", func(t *testing.T) {
		dir := tinyMoE().write(t, filepath.Join(t.TempDir(), "iter_0000001"))
		if err := os.WriteFile(filepath.Join(dir, CommonName), pt.EncodeArchive("common", commonPickle(3, 4, false)), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		vc, err := c.DiscoverConfig()
		if err != nil || vc.Layers != 3 || !strings.Contains(vc.Source, "common.pt args") {
			t.Fatalf("%+v, %v", vc, err)
		}
		if _, err := c.View(vc); err == nil || !strings.Contains(err.Error(), "common.pt args) has 3 layers") {
			t.Fatalf("View = %v, want a layer-count error", err)
		}
	})
	t.Run("mca_config.json two levels up", func(t *testing.T) {
		root := t.TempDir()
		dir := tinyMoE().write(t, filepath.Join(root, "iter_0000005", "dist_model"))
		if err := os.WriteFile(filepath.Join(root, mcaConfigName), []byte(`{"num_layers": 2, "num_moe_experts": 4}`), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		vc, err := c.DiscoverConfig()
		if err != nil || vc.Layers != 2 || vc.Experts != 4 || vc.Source != filepath.Join(root, mcaConfigName) {
			t.Fatalf("%+v, %v", vc, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		c := openFixture(t, tinySingleton())
		vc, err := c.DiscoverConfig()
		if err != nil || vc.Layers != 0 || !strings.Contains(vc.Source, "none found") {
			t.Fatalf("%+v, %v", vc, err)
		}
	})
}

func TestIntegrityManifest(t *testing.T) {
	write := func(t *testing.T, drop string, damage bool) string {
		dir := tinyMoE().write(t, t.TempDir())
		files := map[string]string{}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			if e.Name() != drop {
				files[e.Name()] = sha256Hex(b)
			}
		}
		m, _ := json.Marshal(manifest{Algorithm: "sha256", Files: files})
		if err := os.WriteFile(filepath.Join(dir, IntegrityName), m, 0o644); err != nil {
			t.Fatal(err)
		}
		if damage {
			// A change Open cannot see: whitespace in metadata.json.
			path := filepath.Join(dir, ConfigName)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, append(b, ' '), 0o644)
		}
		return dir
	}
	c, err := Open(write(t, "", false))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.VerifyIntegrity(); !ok || err != nil {
		t.Fatalf("VerifyIntegrity = %v, %v", ok, err)
	}
	c.Close()
	c, err = Open(write(t, "", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.VerifyIntegrity(); err == nil || !strings.Contains(err.Error(), ConfigName) {
		t.Fatalf("damaged file passed: %v", err)
	}
	c.Close()
	if _, err := Open(write(t, "__2_0.distcp", false)); err == nil || !strings.Contains(err.Error(), `"__2_0.distcp"`) || !strings.Contains(err.Error(), "two saves") {
		t.Fatalf("a file the manifest does not list passed: %v", err)
	}
}
