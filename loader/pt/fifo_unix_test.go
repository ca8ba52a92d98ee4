//go:build unix

package pt

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnitui/omnitui/loader"
)

// TestOpenFIFO: a rank file that is a named pipe with no writer is refused at
// once (opening it would block forever), with the path and what to do.
func TestOpenFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "model_optim_rng.pt")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := Open(p)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, loader.ErrUnreadable) {
			t.Fatalf("Open(fifo) = %v, want an ErrUnreadable error", err)
		}
		for _, w := range []string{p, "is a named pipe, not a regular file", "replace it with the real file"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open blocked on a named pipe")
	}
}
