//go:build unix

package loader_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/omnitui/omnitui/loader"
	"github.com/omnitui/omnitui/loader/fixture"
)

// badCorpus is the committed corpus of hostile inputs (go run ./testdata/bad).
const badCorpus = "../testdata/bad"

// TestHostileCorpusTypedErrors: for every corpus case the loader must catch,
// OpenHF returns a *FileError of the case's kind whose File is exactly the
// file concerned and whose Tensor is exactly the tensor concerned, with a fix;
// the cases that only the plan can judge (config semantics) open fine, so the
// loader does not reject what it cannot judge; Megatron checkpoints (good or
// bad inside) are recognised as such.
func TestHostileCorpusTypedErrors(t *testing.T) {
	for _, c := range fixture.BadCases() {
		if c.Caught == fixture.CaughtByPT && !c.MCA {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			caseDir := filepath.Join(badCorpus, c.Name)
			arg := caseDir
			if c.Arg != "" {
				arg = filepath.Join(caseDir, c.Arg)
			}
			ck, err := openWithin(t, arg, 10*time.Second)
			if c.MCA {
				// A Megatron checkpoint is no Hugging Face one, whatever is wrong inside it.
				if !errors.Is(err, loader.ErrNotCheckpoint) || !strings.Contains(err.Error(), "Megatron checkpoint") {
					t.Fatalf("OpenHF: %v, want ErrNotCheckpoint recognising a Megatron checkpoint", err)
				}
				return
			}
			if c.Caught == fixture.CaughtByPlan {
				if err != nil {
					t.Fatalf("OpenHF refused a checkpoint whose problem is for the plan to judge: %v", err)
				}
				ck.Close()
				return
			}
			if err == nil {
				ck.Close()
				t.Fatal("OpenHF accepted it")
			}
			var fe *loader.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *loader.FileError", err, err)
			}
			if !errors.Is(err, c.Kind) {
				t.Errorf("error %v: kind %v, want %v", err, fe.Kind, c.Kind)
			}
			want := filepath.Join(caseDir, c.File)
			if c.Arg == "" || c.File != c.Arg {
				// the loader names files below the directory by absolute path
				if want, err = filepath.Abs(want); err != nil {
					t.Fatal(err)
				}
			}
			if fe.File != want {
				t.Errorf("FileError.File = %q, want %q", fe.File, want)
			}
			if fe.Tensor != c.Tensor {
				t.Errorf("FileError.Tensor = %q, want %q", fe.Tensor, c.Tensor)
			}
			if fe.Fix == "" || fe.Detail == "" {
				t.Errorf("FileError %+v lacks a detail or a fix", fe)
			}
		})
	}
}

// TestHostileNonRegularFiles: named pipes, devices and directories where a
// file is expected are refused at once (opening a FIFO would block forever,
// reading /dev/zero would never end), with a message naming the file.
func TestHostileNonRegularFiles(t *testing.T) {
	base := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "ckpt")
		if err := fixture.WriteTiny(dir, fixture.BadBaseOptions()); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	replace := func(t *testing.T, path string, mk func(string) error) {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := mk(path); err != nil {
			t.Skipf("cannot create the special file here: %v", err)
		}
	}
	fifo := func(p string) error { return syscall.Mkfifo(p, 0o644) }
	devZero := func(p string) error { return os.Symlink("/dev/zero", p) }
	dir := func(p string) error { return os.Mkdir(p, 0o755) }
	shard := fixture.ShardName(1, 2)
	cases := []struct {
		name, file string
		mk         func(string) error
		want       string
	}{
		{"config.json is a FIFO", "config.json", fifo, "a named pipe"},
		{"shard is a FIFO", shard, fifo, "a named pipe"},
		{"index is a FIFO", loader.IndexFileName, fifo, "a named pipe"},
		{"shard is /dev/zero", shard, devZero, "a device"},
		{"config.json is /dev/zero", "config.json", devZero, "a device"},
		{"shard is a directory", shard, dir, "a directory"},
		{"config.json is a directory", "config.json", dir, "a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base(t)
			p := filepath.Join(d, tc.file)
			replace(t, p, tc.mk)
			ck, err := openWithin(t, d, 10*time.Second)
			if err == nil {
				ck.Close()
				t.Fatal("OpenHF accepted it")
			}
			var fe *loader.FileError
			if !errors.As(err, &fe) || !errors.Is(err, loader.ErrUnreadable) {
				t.Fatalf("error %v: want a *FileError of kind ErrUnreadable", err)
			}
			if fe.File != p || !strings.Contains(err.Error(), tc.want) || fe.Fix == "" {
				t.Errorf("error %q: want file %s, %q and a fix", err, p, tc.want)
			}
		})
	}
	t.Run("the checkpoint path is /dev/zero", func(t *testing.T) {
		_, err := openWithin(t, "/dev/zero", 10*time.Second)
		if !errors.Is(err, loader.ErrNotCheckpoint) || !strings.Contains(err.Error(), "/dev/zero") {
			t.Fatalf("error %v: want ErrNotCheckpoint naming /dev/zero", err)
		}
	})
}

// openWithin runs OpenHF and fails the test if it does not return in time
// (a hang on a FIFO or an endless device read).
func openWithin(t *testing.T, path string, d time.Duration) (*loader.Checkpoint, error) {
	t.Helper()
	type res struct {
		ck  *loader.Checkpoint
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ck, err := loader.OpenHF(path)
		ch <- res{ck, err}
	}()
	select {
	case r := <-ch:
		return r.ck, r.err
	case <-time.After(d):
		t.Fatalf("OpenHF(%s) did not return within %s", path, d)
		return nil, nil
	}
}
