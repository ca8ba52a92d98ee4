package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/mca"
)

// toHF converts an mca checkpoint back to HF and returns the output dir.
func toHF(t *testing.T, mcaDir string, opt core.ToHFOptions) string {
	t.Helper()
	m, err := mca.Open(mcaDir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rp, err := core.BuildReversePlan(m)
	if err != nil {
		t.Fatal(err)
	}
	if rp.HasErrors() {
		t.Fatalf("reverse plan errors:\n  - %s", rp.ErrorText())
	}
	if opt.Out == "" {
		opt.Out = filepath.Join(t.TempDir(), "hf-back")
	}
	if _, err := core.ConvertToHF(context.Background(), rp, opt); err != nil {
		t.Fatal(err)
	}
	return opt.Out
}

// sameHF asserts two HF checkpoints hold the same tensors byte for byte and equal configs.
func sameHF(t *testing.T, a, b string) {
	t.Helper()
	ca, err := loader.OpenHF(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := loader.OpenHF(b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	var ja, jb any
	if err := json.Unmarshal(ca.ConfigBytes, &ja); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb.ConfigBytes, &jb); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ja, jb) {
		t.Errorf("config.json differs after the round trip")
	}
	if len(ca.Tensors) != len(cb.Tensors) {
		t.Errorf("%d tensors in %s, %d in %s", len(ca.Tensors), a, len(cb.Tensors), b)
	}
	for i, ta := range ca.Tensors {
		j, ok := cb.ByName[ta.Name]
		if !ok {
			t.Errorf("%s missing after the round trip", ta.Name)
			continue
		}
		tb := cb.Tensors[j]
		if ta.DType != tb.DType || !reflect.DeepEqual(ta.Shape, tb.Shape) {
			t.Errorf("%s: %s %v became %s %v", ta.Name, ta.DType, ta.Shape, tb.DType, tb.Shape)
			continue
		}
		da, err := ca.TensorData(i)
		if err != nil {
			t.Fatal(err)
		}
		db, err := cb.TensorData(j)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s: bytes differ after the round trip", ta.Name)
		}
	}
	if !reflect.DeepEqual(ca.ExtraFiles, cb.ExtraFiles) {
		t.Errorf("tokenizer files %v became %v", ca.ExtraFiles, cb.ExtraFiles)
	}
}

// TestRoundTripLossless: HF -> mca (Convert) -> HF (ConvertToHF) is byte-identical under many settings.
func TestRoundTripLossless(t *testing.T) {
	for _, c := range convCases() {
		t.Run(c.name, func(t *testing.T) {
			s := core.DefaultSettings()
			if c.s != nil {
				c.s(&s)
			}
			if s.DType != "keep" && s.DType != "" || s.OptOut("drop_audio_output") {
				t.Skip("the forward conversion changes the checkpoint on purpose (cast or dropped weights)")
			}
			hf, out, _ := convertTiny(t, c)
			back := toHF(t, out, core.ToHFOptions{})
			sameHF(t, hf, back)
		})
	}
}

// TestToHFShards: a small --max-shard-size gives several files and an index that OpenHF accepts.
func TestToHFShards(t *testing.T) {
	hf, out, _ := convertTiny(t, convCase{name: "tp2-pp2", s: func(s *core.Settings) { s.TP, s.PP = 2, 2 }})
	back := toHF(t, out, core.ToHFOptions{MaxShardSize: 40_000})
	sameHF(t, hf, back)
	ck, err := loader.OpenHF(back)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if len(ck.Shards) < 2 || ck.IndexPath == "" {
		t.Fatalf("expected several shards with an index, got %d shards, index %q", len(ck.Shards), ck.IndexPath)
	}
	var total int64
	for _, s := range ck.Shards {
		var n int64
		for _, ti := range ck.Tensors {
			if ck.Shards[ti.Shard].Name == s.Name {
				n += ti.Size
			}
		}
		total += n
		if n > 40_000 && len(ck.Tensors) > 1 {
			// a shard may exceed the limit only when it holds a single larger tensor
			cnt := 0
			for _, ti := range ck.Tensors {
				if ck.Shards[ti.Shard].Name == s.Name {
					cnt++
				}
			}
			if cnt > 1 {
				t.Errorf("%s holds %d bytes in %d tensors, above the 40000 limit", s.Name, n, cnt)
			}
		}
	}
	if got, ok := ck.IndexMeta["total_size"]; !ok || fmt.Sprint(got) != fmt.Sprint(total) {
		t.Errorf("index total_size = %v, tensors hold %d bytes", got, total)
	}
	// single file when it fits
	back1 := toHF(t, out, core.ToHFOptions{})
	if _, err := os.Stat(filepath.Join(back1, "model.safetensors")); err != nil {
		t.Errorf("default shard size should give one model.safetensors: %v", err)
	}
}
