package pt

import (
	"archive/zip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeflateBombIsRefusedCheaply: a .pt whose data.pkl is a small deflate stream that
// inflates to 100 MiB must be refused before it is inflated (torch.save never compresses).
func TestDeflateBombIsRefusedCheaply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bomb.pt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for i := 0; i < 100; i++ {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, _ := os.Stat(path)
	if st.Size() > 1<<20 {
		t.Fatalf("bomb is %d bytes; expected a small file", st.Size())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = Open(path)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open: %v; want a refusal naming the file and the limit", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("refusing the bomb allocated %d MiB", grew>>20)
	}
}
