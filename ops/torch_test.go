package ops

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/omnitui/omnitui/loader"
)

// torchPython finds a Python interpreter that can import torch: $OMNITUI_PYTHON, then
// python3 on PATH, then /usr/bin/python3 (Debian's python3-torch installs there, which
// a pyenv python3 earlier on PATH does not see).
func torchPython(t *testing.T) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("OMNITUI_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, "python3", "/usr/bin/python3")
	for _, c := range cands {
		if exec.Command(c, "-c", "import torch").Run() == nil {
			return c
		}
	}
	if os.Getenv("OMNITUI_REQUIRE_TORCH") == "1" {
		t.Fatalf("OMNITUI_REQUIRE_TORCH=1 but no Python with torch among %v; install python3-torch (Debian) or set OMNITUI_PYTHON", cands)
	}
	t.Skipf("no Python with torch among %v (set OMNITUI_REQUIRE_TORCH=1 to make this a failure)", cands)
	return ""
}

const torchScript = `
import json, sys, torch
job = json.load(open(sys.argv[1]))
dt = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
word = {8: torch.int64, 4: torch.int32, 2: torch.int16}
for c in job["casts"]:
    raw = bytearray(open(c["in"], "rb").read())
    out = torch.frombuffer(raw, dtype=dt[c["src"]]).to(dt[c["dst"]]).contiguous()
    open(c["out"], "wb").write(out.view(word[out.element_size()]).numpy().tobytes())
chunks = [[int(x.shape[0]) for x in torch.chunk(torch.empty(n), p)] for n, p in job["chunks"]]
json.dump(chunks, open(job["chunk_out"], "w"))
`

type torchCast struct {
	In  string       `json:"in"`
	Src loader.DType `json:"src"`
	Dst loader.DType `json:"dst"`
	Out string       `json:"out"`
}

// isNaNBits reports whether element i of b (dtype t) is a NaN.
func isNaNBits(t loader.DType, b []byte, i int) bool {
	switch t {
	case loader.F64:
		return math.IsNaN(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
	case loader.F32:
		return math.IsNaN(float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))))
	case loader.BF16:
		return binary.LittleEndian.Uint16(b[2*i:])&0x7fff > 0x7f80
	default:
		return binary.LittleEndian.Uint16(b[2*i:])&0x7fff > 0x7c00
	}
}

// TestAgainstTorch runs the casts and torch.chunk through the PyTorch the checkpoints are
// for, on the same inputs, and requires identical bits for every non-NaN input. For a
// NaN input both results must be NaN; the bits are not compared because torch's own NaN
// patterns differ between its vectorised and scalar kernels (see cast.go).
func TestAgainstTorch(t *testing.T) {
	py := torchPython(t)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(15, 16))

	// Inputs: ~100k random + edge float32 patterns, ~30k float64, all 16-bit patterns.
	var f32 []uint32
	f32 = append(f32, randomF32(r, 33000)...)
	for _, e := range []uint32{0, 0x80000000, 0x3f808000, 0x3f818000, 0x7f7f8000, 0x7f7fffff, 0x477ff000, 0x477fe000,
		0x33000000, 0x33000001, 0x387fe000, 0x00008000, 0x00018000, 0x007fffff, 0x00000001, 0x7f800000, 0xff800000,
		0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff} {
		f32 = append(f32, e)
	}
	var f64 []uint64
	for range 30000 {
		d := r.Uint64()
		if r.IntN(2) == 0 {
			d = d&0x800fffffffffffff | uint64(1023-160+r.IntN(300))<<52
		}
		f64 = append(f64, d)
	}
	f64 = append(f64, 0x3ff0100000400000, 0x3ff0020000400000, 0x47effffff0000000, 0x3690000000000000,
		0x36a8000000000000, 0x7ff4000020000000, 0xfff8000000000123)
	files := map[loader.DType][]byte{loader.F32: nil, loader.F64: nil}
	for _, v := range f32 {
		files[loader.F32] = binary.LittleEndian.AppendUint32(files[loader.F32], v)
	}
	for _, v := range f64 {
		files[loader.F64] = binary.LittleEndian.AppendUint64(files[loader.F64], v)
	}
	files[loader.F16], files[loader.BF16] = all16(), all16()
	for dt, b := range files {
		if err := os.WriteFile(filepath.Join(dir, string(dt)+".in"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pairs := [][2]loader.DType{
		{loader.F32, loader.BF16}, {loader.F32, loader.F16}, {loader.F64, loader.F32}, {loader.F64, loader.BF16},
		{loader.F64, loader.F16}, {loader.F32, loader.F64}, {loader.BF16, loader.F32}, {loader.F16, loader.F32},
		{loader.BF16, loader.F16}, {loader.F16, loader.BF16}, {loader.BF16, loader.F64}, {loader.F16, loader.F64},
	}
	var job struct {
		Casts    []torchCast `json:"casts"`
		Chunks   [][2]int    `json:"chunks"`
		ChunkOut string      `json:"chunk_out"`
	}
	for _, p := range pairs {
		job.Casts = append(job.Casts, torchCast{
			In: filepath.Join(dir, string(p[0])+".in"), Src: p[0], Dst: p[1],
			Out: filepath.Join(dir, string(p[0])+"-"+string(p[1])+".out"),
		})
	}
	for n := 0; n <= 40; n++ {
		for parts := 1; parts <= 9; parts++ {
			job.Chunks = append(job.Chunks, [2]int{n, parts})
		}
	}
	job.ChunkOut = filepath.Join(dir, "chunks.json")
	jb, _ := json.Marshal(job)
	jobFile, script := filepath.Join(dir, "job.json"), filepath.Join(dir, "conv.py")
	if err := os.WriteFile(jobFile, jb, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(torchScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, script, jobFile).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", py, script, err, out)
	}

	for _, c := range job.Casts {
		src := files[c.Src]
		want, err := os.ReadFile(c.Out)
		if err != nil {
			t.Fatal(err)
		}
		got := castOK(t, c.Dst, src, c.Src)
		if len(got) != len(want) {
			t.Fatalf("%s -> %s: %d bytes, torch wrote %d", c.Src, c.Dst, len(got), len(want))
		}
		n, ds, ss := len(src)/c.Src.Size(), c.Dst.Size(), c.Src.Size()
		nanBits := 0
		for i := range n {
			g, w := got[i*ds:(i+1)*ds], want[i*ds:(i+1)*ds]
			if isNaNBits(c.Src, src, i) {
				if !isNaNBits(c.Dst, got, i) || !isNaNBits(c.Dst, want, i) {
					t.Fatalf("%s -> %s: NaN input %x gives %x, torch %x; both must be NaN", c.Src, c.Dst, src[i*ss:(i+1)*ss], g, w)
				}
				if string(g) != string(w) {
					nanBits++
				}
				continue
			}
			if string(g) != string(w) {
				t.Fatalf("%s -> %s: input %x (little-endian) gives %x, torch gives %x", c.Src, c.Dst, src[i*ss:(i+1)*ss], g, w)
			}
		}
		t.Logf("%s -> %s: %d elements match torch (%d NaN inputs with other NaN bits than torch's)", c.Src, c.Dst, n, nanBits)
	}

	var chunks [][]int
	cb, err := os.ReadFile(job.ChunkOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &chunks); err != nil {
		t.Fatal(err)
	}
	for i, np := range job.Chunks {
		var got []int
		for idx := 0; ; idx++ {
			_, size, ok := ChunkRange(np[0], np[1], idx)
			if !ok {
				break
			}
			got = append(got, size)
		}
		if !slices.Equal(got, chunks[i]) {
			t.Fatalf("torch.chunk(%d, %d) sizes %v, ChunkRange gives %v", np[0], np[1], chunks[i], got)
		}
	}
}
