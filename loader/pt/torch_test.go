package pt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// torchPython returns a Python interpreter that can import torch. Without one
// the calling test is skipped, unless OMNITUI_REQUIRE_TORCH is set, in which
// case it fails. OMNITUI_PYTHON names an interpreter to try first; Debian's
// python3-torch lives in /usr/bin/python3, which may not be the python3 on
// PATH.
func torchPython(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("OMNITUI_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, "python3", "/usr/bin/python3")
	var tried []string
	for _, c := range cands {
		out, err := exec.Command(c, "-c", "import torch; print(torch.__version__)").CombinedOutput()
		if err == nil {
			t.Logf("using %s with torch %s", c, strings.TrimSpace(string(out)))
			return c
		}
		tried = append(tried, c)
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") != "" {
		t.Fatalf("OMNITUI_REQUIRE_TORCH is set but none of %q can import torch (install python3-torch)", tried)
	}
	t.Skipf("torch is not importable from %q; set OMNITUI_REQUIRE_TORCH=1 to make this a failure", tried)
	return ""
}

func runPython(t *testing.T, py, script string, args ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{path}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	return string(out)
}

type expectTensor struct {
	Key   string  `json:"key"`
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Hex   string  `json:"hex"`
}

// torchLoadScript loads our file with torch.load (plain and weights_only),
// compares every tensor with the expectations, checks the zip with Python's
// zipfile (CRCs), and re-saves what it loaded with torch.save to compare
// data.pkl byte for byte with ours.
const torchLoadScript = `
import collections, json, sys, zipfile, torch
path, expect_path, resave, testzip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
expect = json.load(open(expect_path))
dtypes = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
          "U8": torch.uint8, "BOOL": torch.bool}
for weights_only in (False, True):
    obj = torch.load(path, weights_only=weights_only)
    assert type(obj) is dict, type(obj)
    keys = []
    for e in expect:
        if e["key"] not in keys:
            keys.append(e["key"])
    if expect:
        assert list(obj.keys()) == keys, (list(obj.keys()), keys)
    else:
        assert list(obj.keys()) == ["model"] and len(obj["model"]) == 0, obj
    for k in keys:
        assert type(obj[k]) is collections.OrderedDict, type(obj[k])
        names = [e["name"] for e in expect if e["key"] == k]
        assert list(obj[k].keys()) == names, (list(obj[k].keys()), names)
    for e in expect:
        t = obj[e["key"]][e["name"]]
        assert t.dtype == dtypes[e["dtype"]], (e["name"], t.dtype, e["dtype"])
        assert list(t.shape) == e["shape"], (e["name"], list(t.shape), e["shape"])
        assert t.is_contiguous() and t.storage_offset() == 0 and not t.requires_grad
        got = bytes(t.reshape(-1).view(torch.uint8).tolist())
        assert got == bytes.fromhex(e["hex"]), (e["name"], got[:16].hex(), e["hex"][:32])
z = zipfile.ZipFile(path)
if testzip:
    bad = z.testzip()
    assert bad is None, "python zipfile: bad CRC in " + str(bad)
pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
torch.save(obj, resave)
z2 = zipfile.ZipFile(resave)
same = z.read(pkl[0]) == z2.read([n for n in z2.namelist() if n.endswith("/data.pkl")][0])
print("pickle-identical" if same else "pickle-differs")
print("OK", len(expect))
`

func writeExpect(t *testing.T, wf writtenFile) string {
	t.Helper()
	exp := []expectTensor{}
	n := 0
	for _, d := range wf.dicts {
		for _, s := range d.Tensors {
			shape := s.Shape
			if shape == nil {
				shape = []int64{}
			}
			exp = append(exp, expectTensor{d.Key, s.Name, string(s.DType), shape, hex.EncodeToString(wf.data[n])})
			n++
		}
	}
	b, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	path := wf.path + ".expect.json"
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTorchLoadsOurFiles(t *testing.T) {
	py := torchPython(t)
	single := []StateDict{{Key: "model", Tensors: testDicts()[0].Tensors}}
	tests := []struct {
		name  string
		dicts []StateDict
		opt   Options
	}{
		{"virtual pipeline model0 model1", testDicts(), Options{}},
		{"single model", single, Options{}},
		// Every size and offset in ZIP64 fields. (Not with empty tensors:
		// miniz rejects an entry whose offset alone is saturated when the
		// archive is smaller than 4 GiB, which real files never are.)
		{"zip64 everything", single, Options{zip64Limit: 1}},
		// Real ZIP64 at scale: a sparse 5 GiB record no tensor refers to puts
		// every tensor record, including zero-byte ones, past 4 GiB.
		{"real zip64 sparse", testDicts(), Options{gap: 5 << 30}},
		{"empty model", []StateDict{{Key: "model"}}, Options{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			wf := writeTestFile(t, dir, "model_optim_rng.pt", tc.dicts, tc.opt)
			testzip := "1"
			if tc.opt.gap > 0 {
				testzip = "0" // would read the 5 GiB hole
			}
			out := runPython(t, py, torchLoadScript, wf.path, writeExpect(t, wf), filepath.Join(dir, "resaved.pt"), testzip)
			if !strings.Contains(out, "OK ") {
				t.Fatalf("python did not confirm: %s", out)
			}
			if !strings.Contains(out, "pickle-identical") {
				t.Errorf("torch.save of the loaded checkpoint pickles differently from us: %s", out)
			}
		})
	}
}

// TestTorchLoadsBigZip64 writes a real >4 GiB file (a 4 GiB + 4 KiB tensor,
// then small tensors whose records start beyond 4 GiB) and loads it with
// torch. It needs ~5 GB of disk and ~9 GB of memory, so it only runs with
// OMNITUI_PT_BIG=1.
func TestTorchLoadsBigZip64(t *testing.T) {
	if os.Getenv("OMNITUI_PT_BIG") == "" {
		t.Skip("set OMNITUI_PT_BIG=1 to write and torch.load a real >4 GiB file")
	}
	py := torchPython(t)
	const big = 4<<30 + 4096
	dicts := []StateDict{{Key: "model", Tensors: []TensorSpec{
		{Name: "big", DType: loader.U8, Shape: []int64{big}},
		{Name: "after.f32", DType: loader.F32, Shape: []int64{3, 5}},
		{Name: "after.scalar", DType: loader.I64, Shape: []int64{}},
	}}}
	dir := t.TempDir()
	path := filepath.Join(dir, "model_optim_rng.pt")
	w, err := Create(path, dicts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	chunk := make([]byte, 64<<20)
	for i := range chunk {
		chunk[i] = byte(i % 251)
	}
	for off := int64(0); off < big; off += int64(len(chunk)) {
		n := min(int64(len(chunk)), big-off)
		// The pattern restarts per chunk; python checks the same way.
		if err := w.WriteAt(0, off, chunk[:n]); err != nil {
			t.Fatal(err)
		}
	}
	small := [][]byte{testTensorData(dicts[0].Tensors[1], 1), testTensorData(dicts[0].Tensors[2], 2)}
	for i, b := range small {
		if err := w.WriteAt(i+1, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	refs := f.Tensors("model")
	got, err := f.ReadTensor(refs[1])
	f.Close()
	if err != nil || !bytes.Equal(got, small[0]) {
		t.Fatalf("our reader: %v (equal=%v)", err, bytes.Equal(got, small[0]))
	}
	script := `
import sys, torch
obj = torch.load(sys.argv[1])
m = obj["model"]
b = m["big"]
assert b.numel() == ` + "4*2**30+4096" + `
chunk = bytes(i % 251 for i in range(64 << 20))
assert bytes(b[:1 << 20].tolist()) == chunk[:1 << 20]
tail_off = (4 << 30) // (64 << 20) * (64 << 20)
assert bytes(b[tail_off:].tolist()) == chunk[:4096]
assert bytes(m["after.f32"].reshape(-1).view(torch.uint8).tolist()) == bytes.fromhex(sys.argv[2])
assert bytes(m["after.scalar"].reshape(-1).view(torch.uint8).tolist()) == bytes.fromhex(sys.argv[3])
print("OK")
`
	out := runPython(t, py, script, path, hex.EncodeToString(small[0]), hex.EncodeToString(small[1]))
	if !strings.Contains(out, "OK") {
		t.Fatalf("python: %s", out)
	}
}

// torchSaveScript writes a training-style checkpoint with views, optimizer
// state, rng state and argparse args, plus the expected contiguous bytes of
// every model tensor.
const torchSaveScript = `
import argparse, collections, functools, json, pathlib, random, sys, torch
path, expect_path = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
base = torch.arange(48, dtype=torch.float32).reshape(6, 8)
shared = torch.randn(4, 10).to(torch.bfloat16)
m = collections.OrderedDict()
m["col_slice"] = base[:, 2:5]          # non-contiguous view, offset 2
m["row_slice"] = base[2:4]             # contiguous view with storage offset
m["transposed"] = base.t()             # strides (1, 8)
m["stepped"] = base[::2, 1::3]         # strides (16, 3), offset 1
m["whole"] = base
m["tp0"] = shared[:, :5]               # TP-style halves of one storage
m["tp1"] = shared[:, 5:]
m["scalar"] = torch.tensor(2.5, dtype=torch.float64)
m["elem"] = base[3, 4]                 # 0-dim view with offset
m["empty"] = torch.zeros(0, 3, dtype=torch.int64)
m["mask"] = torch.tensor([True, False, True])
m["i8"] = torch.tensor([-1, 2, -3], dtype=torch.int8)
m["half"] = torch.randn(3, 2).half()
m["expanded"] = torch.tensor([1, 2, 3], dtype=torch.int32).unsqueeze(0).expand(2, 3)  # stride 0
m["layer._extra_state"] = None
opt = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 2)}},
       "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.95), "params": [0]}]}
args = argparse.Namespace(lr=1e-4, name="qwen", path=pathlib.PurePosixPath("/tmp/x"),
                          params_dtype=torch.bfloat16, act=torch.nn.functional.gelu, tags={"a", "b"},
                          data=b"\x00\xffbytes", big=2**70, neg=-5, f=float("inf"))
rng = {"random_rng_state": random.getstate(), "torch_rng_state": torch.get_rng_state(), "cuda_rng_state": None}
torch.save({"model": m, "optimizer": opt, "rng_state": [rng], "args": args, "iteration": 10,
            "checkpoint_version": 3.0}, path)
exp = []
for k, t in m.items():
    if t is None:
        continue
    c = t.contiguous()
    exp.append({"key": "model", "name": k, "dtype": str(t.dtype), "shape": list(t.shape),
                "hex": bytes(c.reshape(-1).view(torch.uint8).tolist()).hex()})
json.dump(exp, open(expect_path, "w"))
print("OK")
`

func TestReadTorchSaved(t *testing.T) {
	py := torchPython(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model_optim_rng.pt")
	expPath := filepath.Join(dir, "expect.json")
	runPython(t, py, torchSaveScript, path, expPath)
	var exp []expectTensor
	b, err := os.ReadFile(expPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatalf("Open(torch.save output): %v", err)
	}
	defer f.Close()
	if got := f.Dicts(); !equalStrings(got, []string{"model"}) {
		t.Fatalf("Dicts() = %q, want [model]", got)
	}
	wantKeys := []string{"model", "optimizer", "rng_state", "args", "iteration", "checkpoint_version"}
	if got := f.Keys(); !equalStrings(got, wantKeys) {
		t.Fatalf("Keys() = %q, want %q", got, wantKeys)
	}
	if k := f.Kind("args"); k != "argparse.Namespace object" {
		t.Errorf("Kind(args) = %q", k)
	}
	if got := f.Extras("model"); !equalStrings(got, []string{"layer._extra_state"}) {
		t.Errorf("Extras(model) = %q", got)
	}
	torchNames := map[string]loader.DType{"torch.float32": loader.F32, "torch.bfloat16": loader.BF16,
		"torch.float64": loader.F64, "torch.int64": loader.I64, "torch.bool": loader.BOOL,
		"torch.int8": loader.I8, "torch.float16": loader.F16, "torch.int32": loader.I32}
	refs := f.Tensors("model")
	if len(refs) != len(exp) {
		t.Fatalf("%d tensors, want %d", len(refs), len(exp))
	}
	sawView := false
	for i, e := range exp {
		r := refs[i]
		if r.Name != e.Name || r.DType != torchNames[e.DType] || !equalInts(r.Shape, e.Shape) {
			t.Errorf("tensor %d = %s %s %v, want %s %s %v", i, r.Name, r.DType, r.Shape, e.Name, e.DType, e.Shape)
			continue
		}
		if r.StorageOffset != 0 || !equalInts(r.Stride, contiguousStrides(r.Shape)) {
			sawView = true
		}
		got, err := f.ReadTensor(r)
		if err != nil {
			t.Errorf("ReadTensor(%s): %v", r.Name, err)
			continue
		}
		if hex.EncodeToString(got) != e.Hex {
			t.Errorf("%s (offset %d stride %v): bytes differ\n got %x\nwant %s", r.Name, r.StorageOffset, r.Stride, got, e.Hex)
		}
	}
	if !sawView {
		t.Fatal("no tensor was a view; the test lost its point")
	}
	if err := f.VerifyRecords(); err != nil {
		t.Fatal(err)
	}
}
