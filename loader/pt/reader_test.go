package pt

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// pyRepr renders unpickled values for comparisons (depth-limited, so cyclic
// structures terminate).
func pyRepr(v any, depth int) string {
	if depth > 20 {
		return "..."
	}
	join := func(items []any) string {
		s := make([]string, len(items))
		for i, it := range items {
			s[i] = pyRepr(it, depth+1)
		}
		return strings.Join(s, ", ")
	}
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		if o {
			return "True"
		}
		return "False"
	case int64:
		return fmt.Sprint(o)
	case *big.Int:
		return o.String()
	case float64:
		return fmt.Sprint(o)
	case string:
		return fmt.Sprintf("%q", o)
	case pyBytes:
		return fmt.Sprintf("b%q", string(o))
	case *pyList:
		return "[" + join(o.items) + "]"
	case *pyTuple:
		return "(" + join(o.items) + ")"
	case *pySet:
		if o.frozen {
			return "frozenset(" + join(o.items) + ")"
		}
		return "set(" + join(o.items) + ")"
	case *pyDict:
		s := make([]string, len(o.keys))
		for i := range o.keys {
			s[i] = pyRepr(o.keys[i], depth+1) + ": " + pyRepr(o.vals[i], depth+1)
		}
		if o.ordered {
			return "OrderedDict(" + strings.Join(s, ", ") + ")"
		}
		return "{" + strings.Join(s, ", ") + "}"
	case *pyGlobal:
		return "<" + o.String() + ">"
	case *pyObject:
		return "<object " + pyRepr(o.class, depth+1) + " args=" + pyRepr(o.args, depth+1) + " state=" + pyRepr(o.state, depth+1) + ">"
	case *pyTensor:
		return fmt.Sprintf("tensor(%s %s off=%d %v %v)", o.storage.key, o.dtype, o.offset, o.shape, o.stride)
	}
	return fmt.Sprintf("?%T", v)
}

// TestUnpickleProtocols decodes one object pickled by CPython 3.11 with
// protocols 0 to 5.
func TestUnpickleProtocols(t *testing.T) {
	const want = `{"a": [1, -2, 3.5, None, True, False, "héllo", b"by", (1, 2), 1180591620717411303424, -1180591620717411303424, 70000, -70000], "o": OrderedDict("x": 1, "y": (2)), "s": set(7), "f": frozenset(8), "e": (), "t4": (1, 2, 3, 4)}`
	pickles := []string{
		"286470300a56610a70310a286c70320a49310a61492d320a6146332e350a614e614930310a614930300a615668e96c6c6f0a70330a61635f636f646563730a656e636f64650a70340a285662790a70350a566c6174696e310a70360a7470370a5270380a612849310a49320a7470390a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a614937303030300a61492d37303030300a6173566f0a7031300a63636f6c6c656374696f6e730a4f726465726564446963740a7031310a2874527031320a56780a7031330a49310a7356790a7031340a2849320a747031350a737356730a7031360a635f5f6275696c74696e5f5f0a7365740a7031370a28286c7031380a49370a61747031390a527032300a7356660a7032310a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7032320a28286c7032330a49380a61747032340a527032350a7356650a7032360a2874735674340a7032370a2849310a49320a49330a49340a747032380a732e",
		"7d71002858010000006171015d7102284b014afeffffff47400c0000000000004e4930310a4930300a580600000068c3a96c6c6f7103635f636f646563730a656e636f64650a71042858020000006279710558060000006c6174696e317106747107527108284b014b027471094c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a4a701101004a90eefeff6558010000006f710a63636f6c6c656374696f6e730a4f726465726564446963740a710b2952710c28580100000078710d4b01580100000079710e284b0274710f755801000000737110635f5f6275696c74696e5f5f0a7365740a7111285d71124b07617471135271145801000000667115635f5f6275696c74696e5f5f0a66726f7a656e7365740a7116285d71174b0861747118527119580100000065711a2958020000007434711b284b014b024b034b0474711c752e",
		"80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e8889580600000068c3a96c6c6f7103635f636f646563730a656e636f64650a710458020000006279710558060000006c6174696e3171068671075271084b014b028671098a090000000000000000408a090000000000000000c04a701101004a90eefeff6558010000006f710a63636f6c6c656374696f6e730a4f726465726564446963740a710b2952710c28580100000078710d4b01580100000079710e4b0285710f755801000000737110635f5f6275696c74696e5f5f0a7365740a71115d71124b07618571135271145801000000667115635f5f6275696c74696e5f5f0a66726f7a656e7365740a71165d71174b0861857118527119580100000065711a2958020000007434711b284b014b024b034b0474711c752e",
		"80037d71002858010000006171015d7102284b014afeffffff47400c0000000000004e8889580600000068c3a96c6c6f71034302627971044b014b028671058a090000000000000000408a090000000000000000c04a701101004a90eefeff6558010000006f710663636f6c6c656374696f6e730a4f726465726564446963740a7107295271082858010000007871094b01580100000079710a4b0285710b75580100000073710c636275696c74696e730a7365740a710d5d710e4b076185710f5271105801000000667111636275696c74696e730a66726f7a656e7365740a71125d71134b0861857114527115580100000065711629580200000074347117284b014b024b034b04747118752e",
		"800495b1000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e88898c0668c3a96c6c6f9443026279944b014b0286948a090000000000000000408a090000000000000000c04a701101004a90eefeff658c016f948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179944b028594758c0173948f94284b07908c016694284b0891948c016594298c02743494284b014b024b034b047494752e",
		"800595b1000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e88898c0668c3a96c6c6f9443026279944b014b0286948a090000000000000000408a090000000000000000c04a701101004a90eefeff658c016f948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179944b028594758c0173948f94284b07908c016694284b0891948c016594298c02743494284b014b024b034b047494752e",
	}
	for proto, h := range pickles {
		t.Run(fmt.Sprintf("protocol %d", proto), func(t *testing.T) {
			data, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			v, err := unpickle(data)
			if err != nil {
				t.Fatalf("unpickle: %v", err)
			}
			if got := pyRepr(v, 0); got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// makePT writes a zip with the given records (name -> content, in order)
// under folder "archive", as torch.save lays them out.
func makePT(t testing.TB, dir string, records ...[2]string) string {
	t.Helper()
	path := filepath.Join(dir, "archive.pt")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + r[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(r[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// global emits GLOBAL module name; str a BINUNICODE.
func pGlobal(module, name string) string { return "c" + module + "\n" + name + "\n" }
func pStr(s string) string {
	return "X" + string([]byte{byte(len(s)), byte(len(s) >> 8), 0, 0}) + s
}

func TestMaliciousPickles(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	cmd := "touch " + marker
	tests := []struct {
		name   string
		pickle string
		want   string
	}{
		{"os.system", "\x80\x02" + pGlobal("os", "system") + pStr(cmd) + "\x85R.", "os.system"},
		{"posix.system", "\x80\x02" + pGlobal("posix", "system") + pStr(cmd) + "\x85R.", "posix.system"},
		{"builtins.eval", "\x80\x02" + pGlobal("__builtin__", "eval") + pStr("__import__('os').system('"+cmd+"')") + "\x85R.", "builtins.eval"},
		{"builtins.exec protocol 3", "\x80\x03" + pGlobal("builtins", "exec") + pStr("import os") + "\x85R.", "builtins.exec"},
		{"builtins.getattr", "\x80\x02" + pGlobal("__builtin__", "getattr") + ".", "builtins.getattr"},
		{"subprocess via STACK_GLOBAL", "\x80\x04\x8c\x0asubprocess\x94\x8c\x05Popen\x94\x93" + pStr("ls") + "\x85R.", "subprocess.Popen"},
		{"torch _load_from_bytes", "\x80\x02" + pGlobal("torch.storage", "_load_from_bytes") + "C\x01x\x85R.", "unrestricted torch.load"},
		{"nested in a dict branch", "\x80\x02}(" + pStr("model") + "}" + pStr("x") + pGlobal("subprocess", "check_output") + "\x85Ru.", "subprocess.check_output"},
		{"numpy runstring", "\x80\x02" + pGlobal("numpy.testing._private.utils", "runstring") + ".", "runstring"},
		{"pickle.loads", "\x80\x02" + pGlobal("pickle", "loads") + ".", "pickle.loads"},
		{"operator.attrgetter", "\x80\x02" + pGlobal("operator", "attrgetter") + ".", "operator.attrgetter"},
		{"types.FunctionType", "\x80\x02" + pGlobal("types", "FunctionType") + ".", "types.FunctionType"},
		{"INST os.system protocol 0", "(S'" + cmd + "'\nios\nsystem\n.", "os.system"},
		{"io.open", "\x80\x02" + pGlobal("io", "open") + ".", "io.open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := makePT(t, t.TempDir(), [2]string{"data.pkl", tc.pickle}, [2]string{"version", "3\n"})
			f, err := Open(path)
			if err == nil {
				f.Close()
				t.Fatal("Open accepted a pickle that runs code")
			}
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("error %v is not ErrUnsafe", err)
			}
			msg := err.Error()
			for _, s := range []string{tc.want, "code we refuse to run", path} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the payload ran")
			}
		})
	}
	// The os.system payload is real: CPython's own unpickler runs it.
	if py, err := exec.LookPath("python3"); err == nil {
		payload := "\x80\x02" + pGlobal("os", "system") + pStr(cmd) + "\x85R."
		c := exec.Command(py, "-c", "import pickle,sys; pickle.loads(bytes.fromhex(sys.argv[1]))", hex.EncodeToString([]byte(payload)))
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("python: %v: %s", err, out)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("the test payload does not run under CPython's pickle, so the test proves nothing: %v", err)
		}
	}
}

// TestOpaqueGlobals: unknown classes in ignored branches are kept as data, and
// the model state dict is still found.
func TestOpaqueGlobals(t *testing.T) {
	p := newPickleWriter()
	p.op(opEmptyDict)
	p.put()
	p.op(opMark)
	p.str("model")
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.put()
	p.str("w")
	p.tensor("FloatStorage", "0", []int64{2})
	p.op(opSetItem)
	// args: argparse.Namespace via NEWOBJ + BUILD
	p.str("args")
	p.global("argparse", "Namespace")
	p.op(opEmptyTuple)
	p.op(opNewObj)
	p.op(opEmptyDict)
	p.str("lr")
	p.buf = append(p.buf, opBinFloat, 0x3f, 0x1a, 0x36, 0xe2, 0xeb, 0x1c, 0x43, 0x2d)
	p.op(opSetItem)
	p.op(opBuild)
	// an unknown class called with arguments
	p.str("sched")
	p.global("megatron.core.optimizer_param_scheduler", "OptimizerParamScheduler")
	p.int(3)
	p.op(opTuple1)
	p.op(opReduce)
	p.op(opSetItems)
	p.op(opStop)
	data := make([]byte, 8)
	path := makePT(t, t.TempDir(), [2]string{"data.pkl", string(p.buf)}, [2]string{"data/0", string(data)})
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Dicts(); !equalStrings(got, []string{"model"}) {
		t.Fatalf("Dicts() = %q", got)
	}
	if got := f.Kind("args"); got != "argparse.Namespace object" {
		t.Errorf("Kind(args) = %q", got)
	}
	if got := f.Kind("sched"); got != "megatron.core.optimizer_param_scheduler.OptimizerParamScheduler object" {
		t.Errorf("Kind(sched) = %q", got)
	}
	b, err := f.ReadTensor(f.Tensors("model")[0])
	if err != nil || len(b) != 8 {
		t.Fatalf("ReadTensor = %d bytes, %v", len(b), err)
	}
}

// viewFile writes a storage of 24 float32 values 0..23 and tensors that view
// it with the given offsets and strides.
func TestReadViews(t *testing.T) {
	storage := make([]byte, 24*4)
	for i := 0; i < 24; i++ {
		putF32(storage[4*i:], float32(i))
	}
	tests := []struct {
		name   string
		offset int64
		shape  []int64
		stride []int64
		want   []float32
	}{
		{"contiguous whole", 0, []int64{4, 6}, []int64{6, 1}, seq(0, 24, 1)},
		{"row slice", 6, []int64{2, 6}, []int64{6, 1}, seq(6, 18, 1)},
		{"column slice", 2, []int64{4, 2}, []int64{6, 1}, []float32{2, 3, 8, 9, 14, 15, 20, 21}},
		{"transpose", 0, []int64{3, 2}, []int64{1, 6}, []float32{0, 6, 1, 7, 2, 8}},
		{"stepped", 1, []int64{2, 3}, []int64{12, 2}, []float32{1, 3, 5, 13, 15, 17}},
		{"broadcast", 4, []int64{3, 2}, []int64{0, 1}, []float32{4, 5, 4, 5, 4, 5}},
		{"scalar view", 23, []int64{}, []int64{}, []float32{23}},
		{"size-1 dims", 5, []int64{1, 2, 1}, []int64{100, 6, 100}, []float32{5, 11}},
		{"empty view", 0, []int64{0, 6}, []int64{6, 1}, nil},
		{"3d tp slice", 1, []int64{2, 2, 2}, []int64{12, 6, 2}, []float32{1, 3, 7, 9, 13, 15, 19, 21}},
	}
	p := newPickleWriter()
	p.op(opEmptyDict)
	p.put()
	p.str("model")
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
	p.put()
	p.op(opMark)
	for _, tc := range tests {
		p.str(tc.name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		p.op(opMark)
		p.internedStr("storage")
		p.global("torch", "FloatStorage")
		p.str("0")
		p.internedStr("cpu")
		p.int(24)
		p.op(opTuple)
		p.op(opBinPersID)
		p.int(tc.offset)
		p.intTuple(tc.shape)
		p.intTuple(tc.stride)
		p.op(opNewFalse)
		p.emptyOrderedDict()
		p.op(opTuple)
		p.op(opReduce)
	}
	p.op(opSetItems)
	p.op(opSetItem)
	p.op(opStop)
	path := makePT(t, t.TempDir(), [2]string{"data.pkl", string(p.buf)}, [2]string{"data/0", string(storage)})
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refs := f.Tensors("model")
	if len(refs) != len(tests) {
		t.Fatalf("%d tensors, want %d", len(refs), len(tests))
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := refs[i]
			if r.Name != tc.name || r.DType != loader.F32 || r.StorageOffset != tc.offset || !equalInts(r.Stride, tc.stride) {
				t.Fatalf("ref %+v", r)
			}
			b, err := f.ReadTensor(r)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 4*len(tc.want))
			for j, v := range tc.want {
				putF32(want[4*j:], v)
			}
			if !bytes.Equal(b, want) {
				t.Fatalf("got % x\nwant % x", b, want)
			}
		})
	}
}

func TestReadViewErrors(t *testing.T) {
	base := TensorRef{Name: "x", DType: loader.F32, Storage: "0", StorageNumel: 24, storageElem: 4}
	tests := []struct {
		name   string
		mutate func(*TensorRef)
		want   string
	}{
		{"past storage", func(r *TensorRef) { r.Shape, r.Stride, r.StorageOffset = []int64{5, 6}, []int64{6, 1}, 0 }, "past its storage"},
		{"offset past storage", func(r *TensorRef) { r.Shape, r.Stride, r.StorageOffset = []int64{1}, []int64{1}, 24 }, "past its storage"},
		{"overflowing stride", func(r *TensorRef) { r.Shape, r.Stride = []int64{3}, []int64{1 << 62} }, "overflow"},
		{"numel beyond record", func(r *TensorRef) { r.Shape, r.Stride, r.StorageNumel = []int64{2}, []int64{1}, 1000 }, "expects 4000"},
		{"missing storage", func(r *TensorRef) { r.Shape, r.Stride, r.Storage = []int64{2}, []int64{1}, "7" }, "missing"},
		{"unknown dtype", func(r *TensorRef) {
			r.Shape, r.Stride, r.DType, r.TypeName = []int64{2}, []int64{1}, "", "torch.ComplexFloatStorage"
		}, "ComplexFloat"},
		{"rank mismatch", func(r *TensorRef) { r.Shape, r.Stride = []int64{2, 2}, []int64{1} }, "rank"},
		{"huge broadcast", func(r *TensorRef) { r.Shape, r.Stride = []int64{1 << 40}, []int64{0} }, "expands"},
	}
	storage := make([]byte, 96)
	p := newPickleWriter()
	p.op(opEmptyDict)
	p.op(opStop)
	path := makePT(t, t.TempDir(), [2]string{"data.pkl", string(p.buf)}, [2]string{"data/0", string(storage)})
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.mutate(&r)
			_, err := f.ReadTensor(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadTensor = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := writeTestFile(t, dir, "good.pt", testDicts(), Options{})
	goodBytes, err := os.ReadFile(good.path)
	if err != nil {
		t.Fatal(err)
	}
	corruptCRC := bytes.Clone(goodBytes)
	corruptCRC[64] ^= 0xff // first byte of data.pkl
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "nope.pt"), "no such file"},
		{"directory", t.TempDir(), "is a directory, not a regular file; replace it with the real file"},
		{"empty", write("empty.pt", nil), "not a zip"},
		{"text", write("text.pt", []byte("hello, this is not a checkpoint at all........")), "not a zip"},
		{"legacy torch format", write("legacy.pt", append([]byte{0x80, 0x02, 0x8a, 0x0a}, make([]byte, 64)...)), "not a zip"},
		{"truncated", write("trunc.pt", goodBytes[:len(goodBytes)/2]), "truncated"},
		{"no data.pkl", makePT(t, t.TempDir(), [2]string{"version", "3\n"}), "no archive/data.pkl"},
		{"crc mismatch", write("crc.pt", corruptCRC), "CRC-32 mismatch"},
		{"bad pickle", makePT(t, t.TempDir(), [2]string{"data.pkl", "\x80\x02}q\x00(X\x05\x00\x00"}), "truncated"},
		{"big endian", makePT(t, t.TempDir(), [2]string{"data.pkl", "\x80\x02}."}, [2]string{"byteorder", "big"}), "only little-endian"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open(tc.path)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("error %q should contain %q and the path", err, tc.want)
			}
		})
	}
}

// TestCorruptNeverPanics truncates and damages a valid file at every byte
// position; Open and ReadTensor may fail but must not panic or hang.
func TestCorruptNeverPanics(t *testing.T) {
	dir := t.TempDir()
	wf := writeTestFile(t, dir, "good.pt", testDicts(), Options{zip64Limit: 3000})
	good, err := os.ReadFile(wf.path)
	if err != nil {
		t.Fatal(err)
	}
	try := func(data []byte) { exerciseBytes(data) }
	for n := 0; n < len(good); n += 7 {
		try(good[:n])
	}
	for i := 0; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x5a
		try(bad)
	}
}

// exerciseBytes opens a file held in memory and reads every tensor, ignoring
// errors.
func exerciseBytes(data []byte) {
	f, err := openReader("fuzz.pt", bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return
	}
	for _, k := range f.Keys() {
		_ = f.Kind(k)
	}
	for _, k := range f.Dicts() {
		for _, r := range f.Tensors(k) {
			f.ReadTensor(r)
		}
	}
	f.VerifyRecords()
}

func FuzzOpen(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzOpen (torch.save output, our files, malicious
	// and protocol-0 pickles; regenerate with OMNITUI_WRITE_FUZZ_SEEDS=1) plus
	// fresh files from the writer.
	dir := f.TempDir()
	for i, opt := range []Options{{}, {zip64Limit: 1}} {
		wf := writeTestFile(f, dir, fmt.Sprintf("s%d.pt", i), []StateDict{{Key: "model", Tensors: testDicts()[0].Tensors[:3]}}, opt)
		if b, err := os.ReadFile(wf.path); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { exerciseBytes(data) })
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}

func seq(from, to, step int) []float32 {
	var out []float32
	for i := from; i < to; i += step {
		out = append(out, float32(i))
	}
	return out
}

// TestWriteFuzzSeeds regenerates the FuzzOpen seed corpus when
// OMNITUI_WRITE_FUZZ_SEEDS=1 (the torch seed needs python3-torch).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("OMNITUI_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set OMNITUI_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzOpen")
	}
	out := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{}
	dir := t.TempDir()
	small := []StateDict{{Key: "model0", Tensors: testDicts()[0].Tensors[:2]}, {Key: "model1", Tensors: testDicts()[1].Tensors[:4]}}
	for name, opt := range map[string]Options{"writer_plain": {}, "writer_zip64": {zip64Limit: 1}} {
		wf := writeTestFile(t, dir, name+".pt", small, opt)
		b, err := os.ReadFile(wf.path)
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	seeds["malicious_os_system"] = read(makePT(t, t.TempDir(), [2]string{"data.pkl", "\x80\x02" + pGlobal("os", "system") + pStr("true") + "\x85R."}))
	seeds["protocol0"] = read(makePT(t, t.TempDir(), [2]string{"data.pkl", "(dp0\nVa\np1\n(lp2\nI1\naF2.5\naS'x\\n'\np3\nas."}))
	py := torchPython(t)
	tp := filepath.Join(dir, "torch.pt")
	runPython(t, py, `
import argparse, collections, sys, torch
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
m = collections.OrderedDict(a=base[:, 1:3], b=base[1:], c=torch.tensor(1, dtype=torch.bfloat16))
torch.save({"model": m, "args": argparse.Namespace(x=1), "opt": {"state": {}}}, sys.argv[1])
`, tp)
	seeds["torch_views"] = read(tp)
	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(out, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUnpickleOpcodes(t *testing.T) {
	tests := []struct {
		name, pickle, want string
	}{
		{"STRING escapes", "S'a\\n\\x41\\'b'\n.", `"a\nA'b"`},
		{"STRING double quotes", "S\"q\"\n.", `"q"`},
		{"INT bool and big", "(I01\nI00\nI-12\nI123456789012345678901234567890\nt.", "(True, False, -12, 123456789012345678901234567890)"},
		{"LONG text", "L-99L\n.", "-99"},
		{"FLOAT text", "F-1.5\n.", "-1.5"},
		{"PUT GET DUP POP", "S'x'\np7\n0g7\n2\x86.", `("x", "x")`},
		{"POP at mark pops the mark", "(K\x01(0t.", "(1)"},
		{"POP_MARK", "K\x07(K\x01K\x021.", "7"},
		{"DICT LIST TUPLE", "(K\x01(K\x02lK\x03(K\x04td.", "{1: [2], 3: (4)}"},
		{"duplicate dict keys keep the last", "(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00aK\x02d.", `{"a": 2}`},
		{"FRAME MEMOIZE BINGET", "\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01z\x94h\x00\x86.", `("z", "z")`},
		{"SHORT_BINSTRING is latin-1", "U\x02\xe9a.", `"éa"`},
		{"BINBYTES SHORT_BINBYTES BINBYTES8", "B\x01\x00\x00\x00aC\x01b\x8e\x01\x00\x00\x00\x00\x00\x00\x00c\x87.", `(b"a", b"b", b"c")`},
		{"BINUNICODE8 BYTEARRAY8", "\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi\x96\x01\x00\x00\x00\x00\x00\x00\x00x\x86.", `("hi", b"x")`},
		{"EMPTY_SET ADDITEMS FROZENSET", "\x8f(K\x01K\x02\x90(K\x03\x91\x86.", "(set(1, 2), frozenset(3))"},
		{"LONG4", "\x8b\x02\x00\x00\x00\x00\x80.", "-32768"},
		{"LONG1 zero", "\x8a\x00.", "0"},
		{"NEWOBJ_EX", "\x80\x04cx\nC\n)}\x92.", "<object <x.C> args=((), {}) state=None>"},
		{"OBJ", "(cx\nC\nK\x01o.", "<object <x.C> args=(1) state=None>"},
		{"INST", "(K\x01ix\nC\n.", "<object <x.C> args=(1) state=None>"},
		{"copyreg._reconstructor", "ccopy_reg\n_reconstructor\n(cx\nC\nc__builtin__\nobject\nNtR}b.", "<object <x.C> args=(<x.C>, <builtins.object>, None) state={}>"},
		{"OrderedDict from pairs", "ccollections\nOrderedDict\nX\x01\x00\x00\x00aK\x01\x86\x85\x85R.", `OrderedDict("a": 1)`},
		{"BUILD on OrderedDict is ignored", "ccollections\nOrderedDict\n)R}b.", "OrderedDict()"},
		{"tensor with a torch.Size shape", "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nHalfStorage\nX\x01\x00\x00\x007X\x03\x00\x00\x00cpuK\x06tQK\x01ctorch\nSize\nK\x02K\x02\x86\x85RK\x02K\x01\x86\x89ccollections\nOrderedDict\n)RtR.", "tensor(7 F16 off=1 [2 2] [2 1])"},
		{"cyclic list", "]q\x00h\x00a.", "[[[[[[[[[[[[[[[[[[[[[...]]]]]]]]]]]]]]]]]]]]]"},
		{"STRING inside MARK TUPLE", "(S'x'\nt.", `("x")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := unpickle([]byte(tc.pickle))
			if err != nil {
				t.Fatalf("unpickle: %v", err)
			}
			if got := pyRepr(v, 0); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestUnpickleErrors(t *testing.T) {
	tests := []struct {
		name, pickle, want string
	}{
		{"empty", "", "truncated"},
		{"no STOP", "K\x01", "truncated"},
		{"underflow", "R.", "underflow"},
		{"mark protects stack", "K\x01(R.", "underflow"},
		{"unknown opcode", "\xff.", "unknown pickle opcode 0xff"},
		{"EXT1", "\x82\x01.", "extension registry"},
		{"NEXT_BUFFER", "\x97.", "out-of-band"},
		{"protocol 6", "\x80\x06N.", "protocol 6"},
		{"memo miss", "h\x05.", "memo entry 5"},
		{"huge BINUNICODE8", "\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.", "truncated"},
		{"huge LONG4", "\x8b\xff\xff\xff\x7f.", "out of range"},
		{"long INT text", "I" + strings.Repeat("9", 5000) + "\n.", "too long"},
		{"REDUCE args not tuple", "cx\ny\nK\x01R.", "not a tuple"},
		{"APPEND to int", "K\x01K\x02a.", "APPEND to a int"},
		{"SETITEM on list", "]K\x01K\x02s.", "SETITEM on a list"},
		{"BUILD on str", "X\x00\x00\x00\x00}b.", "BUILD on a str"},
		{"bad persistent id", "X\x01\x00\x00\x00xQ.", "not a torch storage tuple"},
		{"persistent id of another kind", "(X\x06\x00\x00\x00moduletQ.", "only torch storages"},
		{"tensor without storage", "ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))tR.", "not a storage"},
		{"negative numel", "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\xff\xff\xff\xfftQ.", "invalid element count"},
		{"odd SETITEMS", "}(K\x01u.", "odd number"},
		{"STACK_GLOBAL non-string", "K\x01K\x02\x93.", "two strings"},
		{"global with empty name", "cx\n\n.", "malformed global"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unpickle([]byte(tc.pickle))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unpickle = %v, want error containing %q", err, tc.want)
			}
		})
	}
}
