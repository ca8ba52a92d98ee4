package core

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
	"github.com/omnitui/omnitui/loader/mca"
)

// lora30BSpec is a Qwen3-30B-A3B-shaped (Qwen3-Omni thinker) LoRA adapter: every linear
// layer, r 64, TP2 EP8, grouped-GEMM experts (rank 64/8 = 8), bf16.
func lora30BSpec() fixture.LoRASpec {
	return fixture.LoRASpec{
		HFConfig: map[string]any{"model_type": "qwen3_omni_moe"},
		Hidden:   2048, Heads: 32, Groups: 4, HeadDim: 128, MoEFFN: 768, Experts: 128, TopK: 8,
		Layers: 48, Vocab: 151936, TP: 2, PP: 1, EP: 8, Grouped: true, DType: loader.BF16, Seed: 1,
		Adapters: []fixture.LoRAAdapterSpec{{Name: "default", R: 64, Alpha: 128,
			Targets: []string{"linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"}}},
	}
}

// BenchmarkLoRAExport30B exports the 30B-A3B-shaped adapter (written once, about 1 GB of rank
// files; OMNITUI_LORA_BENCH_DIR keeps it between runs) and reports the time of `cp -r` of the
// same input beside it (cp_s), the export time relative to it (x_cp) and the process's peak
// RSS (maxrss_MiB, which includes writing the fixture on the first run).
func BenchmarkLoRAExport30B(b *testing.B) {
	dir := os.Getenv("OMNITUI_LORA_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	src := filepath.Join(dir, "roll")
	if !mca.IsAdapterSet(src) {
		if err := fixture.WriteLoRA(src, lora30BSpec()); err != nil {
			b.Fatal(err)
		}
	}
	set, err := mca.OpenAdapters(src)
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	p, err := BuildLoRAPlan(set, LoRAOptions{})
	if err != nil || p.HasErrors() {
		b.Fatalf("%v %s", err, p.ErrorText())
	}
	cpStart := time.Now()
	if out, err := exec.Command("cp", "-r", src, filepath.Join(dir, "cp")).CombinedOutput(); err != nil {
		b.Fatalf("cp -r: %v %s", err, out)
	}
	cp := time.Since(cpStart)
	os.RemoveAll(filepath.Join(dir, "cp"))
	b.SetBytes(p.Adapters[0].Bytes)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "peft")
		start := time.Now()
		if _, err := ExportLoRA(context.Background(), p, LoRAExportOptions{Out: out, Force: true}); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.StopTimer()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(cp.Seconds(), "cp_s")
	b.ReportMetric(total.Seconds()/float64(b.N)/cp.Seconds(), "x_cp")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss_MiB")
}
