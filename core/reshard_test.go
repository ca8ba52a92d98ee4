package core_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/loader/pt"
)

// writeTinyHF writes a tiny HF checkpoint (three shards, tokenizer files) with options edited by o.
func writeTinyHF(t *testing.T, o func(*fixture.TinyOptions)) string {
	t.Helper()
	opt := fixture.DefaultTiny()
	opt.Shards = 3
	if o != nil {
		o(&opt)
	}
	hf := filepath.Join(t.TempDir(), "hf")
	if err := fixture.WriteTiny(hf, opt); err != nil {
		t.Fatal(err)
	}
	return hf
}

// settingsOf applies edit to the default settings.
func settingsOf(edit func(*core.Settings)) core.Settings {
	s := core.DefaultSettings()
	if edit != nil {
		edit(&s)
	}
	return s
}

// convertHF converts an HF checkpoint with settings s and returns the output dir.
func convertHF(t *testing.T, hf string, s core.Settings) string {
	t.Helper()
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	p, err := core.BuildPlan(ck, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasErrors() {
		t.Fatalf("HF plan errors: %+v", p.Errors())
	}
	out := filepath.Join(t.TempDir(), "mca")
	if _, err := core.Convert(context.Background(), ck, p, core.ConvertOptions{Out: out, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return out
}

// reshard reshards the mca checkpoint src to settings s with the given worker count.
func reshard(t *testing.T, src string, s core.Settings, workers int, gopt core.GatherOptions) (string, error) {
	t.Helper()
	m, err := mca.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rs, err := core.BuildReshardPlan(m, s)
	if err != nil {
		t.Fatal(err)
	}
	if rs.HasErrors() {
		t.Fatalf("reshard plan errors: %+v", rs.Errors())
	}
	out := filepath.Join(t.TempDir(), "resharded")
	_, err = core.Reshard(context.Background(), rs, gopt, core.ConvertOptions{Out: out, Workers: workers})
	return out, err
}

// sameMCA asserts two mca checkpoints are the same: mca_config.json and the tracker byte
// for byte, the same rank files, in each the same state dict keys and tensor names, and
// every tensor with the same dtype, shape and bytes; tokenizer files equal.
func sameMCA(t *testing.T, want, got string) {
	t.Helper()
	for _, f := range []string{"mca_config.json", "latest_checkpointed_iteration.txt"} {
		a, errA := os.ReadFile(filepath.Join(want, f))
		b, errB := os.ReadFile(filepath.Join(got, f))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v / %v", f, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs:\nwant %s\ngot  %s", f, a, b)
		}
	}
	mw, err := mca.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer mw.Close()
	mg, err := mca.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer mg.Close()
	if !reflect.DeepEqual(mw.ExtraFiles, mg.ExtraFiles) {
		t.Errorf("tokenizer files %v, want %v", mg.ExtraFiles, mw.ExtraFiles)
	}
	for _, f := range mw.ExtraFiles {
		a, _ := os.ReadFile(filepath.Join(want, f))
		b, _ := os.ReadFile(filepath.Join(got, f))
		if !bytes.Equal(a, b) {
			t.Errorf("tokenizer file %s differs", f)
		}
	}
	paths := func(m *mca.Checkpoint) []string {
		var out []string
		for _, r := range m.Ranks {
			out = append(out, r.Path)
		}
		sort.Strings(out)
		return out
	}
	if pw, pg := paths(mw), paths(mg); !reflect.DeepEqual(pw, pg) {
		t.Fatalf("rank files %v, want %v", pg, pw)
	}
	compared := 0
	for _, rw := range mw.Ranks {
		rg := mg.Rank(rw.TP, rw.PP, rw.EP)
		if len(rw.Chunks) != len(rg.Chunks) {
			t.Errorf("%s: %d state dicts, want %d", rw.Path, len(rg.Chunks), len(rw.Chunks))
			continue
		}
		for ci, cw := range rw.Chunks {
			cg := rg.Chunks[ci]
			if cw.Key != cg.Key {
				t.Errorf("%s: state dict %s, want %s", rw.Path, cg.Key, cw.Key)
				continue
			}
			byName := map[string]pt.TensorRef{}
			var gotNames, wantNames []string
			for _, ref := range cg.Tensors {
				byName[ref.Name] = ref
				gotNames = append(gotNames, ref.Name)
			}
			for _, ref := range cw.Tensors {
				wantNames = append(wantNames, ref.Name)
			}
			sort.Strings(gotNames)
			sort.Strings(wantNames)
			if !reflect.DeepEqual(gotNames, wantNames) {
				t.Errorf("%s[%s]: keys differ:\n got %v\nwant %v", rw.Path, cw.Key, gotNames, wantNames)
				continue
			}
			for _, a := range cw.Tensors {
				b := byName[a.Name]
				if a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) {
					t.Errorf("%s[%s] %s: %s %v, want %s %v", rw.Path, cw.Key, a.Name, b.DType, b.Shape, a.DType, a.Shape)
					continue
				}
				da, err := rw.File.ReadTensor(a)
				if err != nil {
					t.Fatal(err)
				}
				db, err := rg.File.ReadTensor(b)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(da, db) {
					t.Errorf("%s[%s] %s: bytes differ", rw.Path, cw.Key, a.Name)
				}
				compared++
			}
		}
	}
	if compared == 0 || compared != mw.NumTensors() {
		t.Errorf("compared %d tensors of %d", compared, mw.NumTensors())
	}
}

type reshardCase struct {
	name string
	o    func(*fixture.TinyOptions)
	a, b func(*core.Settings)
}

func reshardCases() []reshardCase {
	six := func(o *fixture.TinyOptions) { o.Layers = 6 }
	return []reshardCase{
		{"same-settings", nil, func(s *core.Settings) { s.TP = 2 }, func(s *core.Settings) { s.TP = 2 }},
		{"tp2-to-tp4", nil, func(s *core.Settings) { s.TP = 2 }, func(s *core.Settings) { s.TP = 4 }},
		{"tp4-to-tp1", nil, func(s *core.Settings) { s.TP = 4 }, nil},
		{"bias-tp2-to-tp4", func(o *fixture.TinyOptions) { o.Groups = 4; o.AttentionBias = true },
			func(s *core.Settings) { s.TP = 2 }, func(s *core.Settings) { s.TP = 4 }},
		{"pp2-vpp2-to-pp1", nil, func(s *core.Settings) { s.PP, s.VPP = 2, 2; *s = s.WithOptOut("ignore_deepstack", true) }, nil},
		{"pp1-to-pp2-vpp2-tp2", nil, nil, func(s *core.Settings) { s.PP, s.VPP, s.TP = 2, 2, 2; *s = s.WithOptOut("ignore_deepstack", true) }},
		{"ep2-to-ep8", nil, func(s *core.Settings) { s.EP = 2 }, func(s *core.Settings) { s.EP = 8 }},
		{"tp2-pp2-ep2-to-tp1-pp1-ep4", nil, func(s *core.Settings) { s.TP, s.PP, s.EP = 2, 2, 2 }, func(s *core.Settings) { s.EP = 4 }},
		{"grouped-legacy-to-te", nil,
			func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 },
			func(s *core.Settings) { s.GroupedGEMM = true; s.EP = 2 }},
		{"grouped-legacy-ep2-to-legacy-ep4-tp2", nil,
			func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 2 },
			func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 4, 2 }},
		{"te-to-legacy", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.TP = 2 },
			func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP = 8 }},
		{"te-to-local-impl", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.TP = 2 },
			func(s *core.Settings) { s.TransformerImpl = "local"; s.PP = 2 }},
		{"local-grouped-to-te", nil, func(s *core.Settings) { s.GroupedGEMM = true; s.TransformerImpl = "local"; s.TP = 2 },
			func(s *core.Settings) { s.PP = 2; s.EP = 2 }},
		{"tied-pp1-to-pp2-tp2", func(o *fixture.TinyOptions) { o.Tied = true }, nil, func(s *core.Settings) { s.PP, s.TP = 2, 2 }},
		{"tied-pp2-to-pp1", func(o *fixture.TinyOptions) { o.Tied = true }, func(s *core.Settings) { s.PP, s.TP = 2, 2 }, nil},
		{"layout-to-account", func(o *fixture.TinyOptions) { o.Layers = 6; o.Deepstack = []int{0} },
			func(s *core.Settings) { s.PP = 2; s.Layout = "Ettt|tttL" },
			func(s *core.Settings) { s.PP = 2; s.AccountEmbedding, s.AccountLoss = true, true }},
		{"layout-to-layout-vpp", six, func(s *core.Settings) { s.PP = 2; s.Layout = "Ettt|tttL" },
			func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|t|t|ttL" }},
		{"layout-vpp-to-uniform-pp3", six, func(s *core.Settings) { s.PP = 2; s.Layout = "Ett|t|t|ttL" },
			func(s *core.Settings) { s.PP = 3; *s = s.WithOptOut("ignore_deepstack", true) }},
		{"f32-keep-to-bf16-tp2", func(o *fixture.TinyOptions) { o.DType = loader.F32 }, nil,
			func(s *core.Settings) { s.DType = "bf16"; s.TP = 2 }},
		{"audio-dropped-pp2-to-tp2", func(o *fixture.TinyOptions) { o.EnableAudioOutput = false },
			func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true); s.PP = 2 },
			func(s *core.Settings) { *s = s.WithOptOut("drop_audio_output", true); s.TP = 2 }},
	}
}

// TestReshardEqualsDirect: HF -> mca(A) -> reshard -> mca(B) equals HF -> mca(B), and
// converting the resharded checkpoint back to HF gives the original (when nothing was
// cast or dropped on purpose).
func TestReshardEqualsDirect(t *testing.T) {
	for _, c := range reshardCases() {
		t.Run(c.name, func(t *testing.T) {
			hf := writeTinyHF(t, c.o)
			sa, sb := settingsOf(c.a), settingsOf(c.b)
			a := convertHF(t, hf, sa)
			direct := convertHF(t, hf, sb)
			got, err := reshard(t, a, sb, 3, core.GatherOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sameMCA(t, direct, got)
			if sb.DType == "keep" && !sa.OptOut("drop_audio_output") {
				sameHF(t, hf, toHF(t, got, core.ToHFOptions{}))
			}
		})
	}
}

// TestReshardPlanErrors: targets the rules reject fail in the plan, Reshard writes
// nothing, and the issue names what to change.
func TestReshardPlanErrors(t *testing.T) {
	hf := writeTinyHF(t, nil)
	src := convertHF(t, hf, settingsOf(func(s *core.Settings) { s.TP = 2 }))
	m, err := mca.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range []struct {
		name string
		s    func(*core.Settings)
		code string
	}{
		{"tp3", func(s *core.Settings) { s.TP = 3 }, "tp-divisibility"},
		{"ep3", func(s *core.Settings) { s.EP = 3 }, "ep-divisibility"},
		{"etp-not-tp", func(s *core.Settings) { s.TP, s.ETP = 2, 1 }, "etp-not-tp"},
		{"vpp-without-pp", func(s *core.Settings) { s.VPP = 2 }, "vpp-without-pp"},
		{"deepstack", func(s *core.Settings) { s.PP = 4 }, "deepstack-first-stage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := core.BuildReshardPlan(m, settingsOf(c.s))
			if err != nil {
				t.Fatal(err)
			}
			if !rs.HasErrors() {
				t.Fatal("the plan accepts an impossible target")
			}
			codes := []string{}
			for _, is := range rs.Errors() {
				codes = append(codes, is.Code)
			}
			if !slices.Contains(codes, c.code) {
				t.Errorf("errors %v lack %s", codes, c.code)
			}
			parent := t.TempDir()
			_, err = core.Reshard(context.Background(), rs, core.GatherOptions{}, core.ConvertOptions{Out: filepath.Join(parent, "out")})
			if err == nil || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("Reshard: %v", err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("a refused reshard left %d entries in %s", len(ents), parent)
			}
		})
	}
}

// rewriteRank re-creates one rank file with edit applied to the bytes of the named tensor.
func rewriteRank(t *testing.T, path, tensor string, edit func([]byte)) {
	t.Helper()
	f, err := pt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var dicts []pt.StateDict
	var data [][]byte
	found := false
	for _, key := range f.Dicts() {
		sd := pt.StateDict{Key: key}
		for _, ref := range f.Tensors(key) {
			b, err := f.ReadTensor(ref)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Name == tensor {
				edit(b)
				found = true
			}
			sd.Tensors = append(sd.Tensors, pt.TensorSpec{Name: ref.Name, DType: ref.DType, Shape: ref.Shape})
			data = append(data, b)
		}
		dicts = append(dicts, sd)
	}
	f.Close()
	if !found {
		t.Fatalf("%s holds no %s", path, tensor)
	}
	w, err := pt.Create(path, dicts)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range data {
		if err := w.WriteAt(i, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReshardDisagreeingCopies: duplicated copies that differ stop a reshard with an
// error naming the tensor and both rank files, and nothing is written; with TakeRank0
// rank 0's copy wins and the result equals the direct conversion.
func TestReshardDisagreeingCopies(t *testing.T) {
	hf := writeTinyHF(t, nil)
	sa := settingsOf(func(s *core.Settings) { s.TP = 2 })
	sb := settingsOf(func(s *core.Settings) { s.TP = 4 })
	src := convertHF(t, hf, sa)
	rewriteRank(t, filepath.Join(src, "iter_0000001", "mp_rank_01", "model_optim_rng.pt"), "decoder.final_layernorm.weight",
		func(b []byte) { b[0] ^= 0x40 })
	_, err := reshard(t, src, sb, 2, core.GatherOptions{})
	if err == nil {
		t.Fatal("disagreeing copies were accepted")
	}
	for _, want := range []string{"decoder.final_layernorm.weight", "mp_rank_00", "mp_rank_01", "--take-rank0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	got, err := reshard(t, src, sb, 2, core.GatherOptions{TakeRank0: true})
	if err != nil {
		t.Fatalf("with TakeRank0: %v", err)
	}
	sameMCA(t, convertHF(t, hf, sb), got)
}

// TestReshardSourceConcurrent: many goroutines read every virtual tensor at once (the
// siblings of a group from different goroutines): each gets the original HF bytes, and
// reading a tensor again after its release still works.
func TestReshardSourceConcurrent(t *testing.T) {
	hf := writeTinyHF(t, func(o *fixture.TinyOptions) { o.AttentionBias = true })
	src := convertHF(t, hf, settingsOf(func(s *core.Settings) {
		s.TP, s.EP = 2, 2
		s.GroupedGEMM, s.LegacyGroupedGEMM = true, true
	}))
	m, err := mca.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rs, err := core.BuildReshardPlan(m, settingsOf(nil))
	if err != nil || rs.HasErrors() {
		t.Fatalf("%v %+v", err, rs)
	}
	ck, err := loader.OpenHF(hf)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	tensors := rs.Plan.Tensors
	if len(tensors) != len(ck.Tensors) {
		t.Fatalf("%d virtual tensors, the HF checkpoint has %d", len(tensors), len(ck.Tensors))
	}
	want := func(name string) []byte {
		b, err := ck.TensorData(ck.ByName[name])
		if err != nil {
			t.Error(err)
		}
		return b
	}
	in := core.ReshardInput(rs, core.GatherOptions{})
	if in.Dir != src || !reflect.DeepEqual(in.ExtraFiles, m.ExtraFiles) || len(in.ExtraFiles) == 0 {
		t.Errorf("input dir %s files %v, want %s %v", in.Dir, in.ExtraFiles, src, m.ExtraFiles)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tensors)*2)
	for round := 0; round < 2; round++ {
		// each tensor read by one goroutine; q, k and v of a layer race for one gather
		for i := range tensors {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				b, err := in.Source.TensorData(i)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(b, want(tensors[i].Name)) {
					errs <- fmt.Errorf("round %d: %s: bytes differ from the HF original", round, tensors[i].Name)
				}
				if in.Source.FileOf(i) == "" || !strings.Contains(in.Source.FileOf(i), "model_optim_rng.pt") {
					errs <- fmt.Errorf("%s: FileOf = %q", tensors[i].Name, in.Source.FileOf(i))
				}
				in.Source.Release(i)
			}(i)
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := in.Source.TensorData(len(tensors)); err == nil {
		t.Error("an index past the end gave no error")
	}
}

// TestReshardTorchSaved: rank files re-saved by real PyTorch as training checkpoints
// (non-contiguous and offset views, optimizer state) reshard to the same result as the
// direct conversion, including legacy grouped-GEMM stacks stored as transposed views.
func TestReshardTorchSaved(t *testing.T) {
	py := torchPython(t)
	script, err := filepath.Abs("testdata/resave_training.py")
	if err != nil {
		t.Fatal(err)
	}
	hf := writeTinyHF(t, nil)
	sa := settingsOf(func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.TP = 2, 2 })
	sb := settingsOf(func(s *core.Settings) { s.GroupedGEMM, s.LegacyGroupedGEMM = true, true; s.EP, s.PP = 4, 2 })
	src := convertHF(t, hf, sa)
	files, _ := filepath.Glob(filepath.Join(src, "iter_0000001", "mp_rank_*", "model_optim_rng.pt"))
	if len(files) != 4 {
		t.Fatalf("%d rank files, want 4", len(files))
	}
	if b, err := exec.Command(py, append([]string{script}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("torch re-save: %v\n%s", err, b)
	}
	got, err := reshard(t, src, sb, 2, core.GatherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameMCA(t, convertHF(t, hf, sb), got)
}
