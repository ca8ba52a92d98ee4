package dcp

import (
	"encoding/json"
	"github.com/omnitui/omnitui/loader/dcp/dcptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader/pt"
)

func TestDiscoverConfig(t *testing.T) {
	t.Run("common_state item", func(t *testing.T) {
		f := dcptest.TinyMoE()
		for i := range f.Objects {
			if f.Objects[i].Key == "common_state/shard_0_1" {
				f.Objects[i].Data = pt.EncodeArchive("archive", dcptest.CommonPickle(2, 4, true))
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
		dir := dcptest.TinyMoE().Write(t, filepath.Join(t.TempDir(), "iter_0000001"))
		if err := os.WriteFile(filepath.Join(dir, CommonName), pt.EncodeArchive("common", dcptest.CommonPickle(3, 4, false)), 0o644); err != nil {
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
		dir := dcptest.TinyMoE().Write(t, filepath.Join(root, "iter_0000005", "dist_model"))
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
		c := openFixture(t, dcptest.TinySingleton())
		vc, err := c.DiscoverConfig()
		if err != nil || vc.Layers != 0 || !strings.Contains(vc.Source, "none found") {
			t.Fatalf("%+v, %v", vc, err)
		}
	})
}

func TestIntegrityManifest(t *testing.T) {
	write := func(t *testing.T, drop string, damage bool) string {
		dir := dcptest.TinyMoE().Write(t, t.TempDir())
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
