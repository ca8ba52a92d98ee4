//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copyTree copies the regular files and folders below src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runWithin runs the CLI in-process and fails the test if it does not return in time
// (a blocked open of a named pipe would never return).
func runWithin(t *testing.T, d time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type res struct {
		code           int
		stdout, stderr string
	}
	ch := make(chan res, 1)
	go func() {
		c, o, e := runCLI(t, args...)
		ch <- res{c, o, e}
	}()
	select {
	case r := <-ch:
		return r.code, r.stdout, r.stderr
	case <-time.After(d):
		t.Fatalf("%v did not return within %s (blocked on a file that is not a regular file?)", args, d)
	}
	return
}

// TestInputsThatAreNotRegularFiles: every input file omnitui opens (config.json,
// index, shard, mca_config.json, tracker, rank file) refuses a named pipe and a
// directory at once, exit 2, naming the file, its type and the remedy, for every
// mode that reads it.
func TestInputsThatAreNotRegularFiles(t *testing.T) {
	base := t.TempDir()
	mcaSrc := filepath.Join(base, "mca")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--out", mcaSrc, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	fifo := func(p string) error { os.Remove(p); return syscall.Mkfifo(p, 0o644) }
	dir := func(p string) error { os.Remove(p); return os.Mkdir(p, 0o755) }
	rank := filepath.Join("iter_0000001", "mp_rank_01", "model_optim_rng.pt")
	cases := []struct {
		name, file string
		mca        bool
		make       func(string) error
		kind       string
	}{
		{"hf-config-fifo", "config.json", false, fifo, "a named pipe"},
		{"hf-index-fifo", "model.safetensors.index.json", false, fifo, "a named pipe"},
		{"hf-shard-fifo", "model-00002-of-00002.safetensors", false, fifo, "a named pipe"},
		{"hf-shard-dir", "model-00002-of-00002.safetensors", false, dir, "a directory"},
		{"mca-config-fifo", "mca_config.json", true, fifo, "a named pipe"},
		{"mca-tracker-fifo", "latest_checkpointed_iteration.txt", true, fifo, "a named pipe"},
		{"mca-rank-fifo", rank, true, fifo, "a named pipe"},
		{"mca-rank-dir", rank, true, dir, "a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck := filepath.Join(t.TempDir(), "ck")
			if c.mca {
				copyTree(t, mcaSrc, ck)
			} else {
				copyTree(t, example, ck)
			}
			if err := c.make(filepath.Join(ck, c.file)); err != nil {
				t.Skipf("cannot make %s: %v", c.kind, err)
			}
			out := filepath.Join(t.TempDir(), "out")
			modes := [][]string{{"--batch", "--plan", ck}, {"--batch", "--out", out, ck}}
			if c.mca {
				modes = [][]string{{"--batch", "--plan", ck}, {"--batch", "--to-hf", "--out", out, ck}, {"--batch", "--verify", ck, ck}, {"--batch", "--tp", "1", "--out", out, ck}}
			}
			for _, mode := range modes {
				code, stdout, stderr := runWithin(t, 20*time.Second, mode...)
				msg := stdout + stderr
				if code != exitBadUsage {
					t.Errorf("%v: exit %d, want %d\n%s", mode, code, exitBadUsage, msg)
				}
				for _, w := range []string{c.file, "is " + c.kind + ", not a regular file", "replace it with the real file"} {
					if !strings.Contains(msg, w) {
						t.Errorf("%v: message lacks %q:\n%s", mode, w, msg)
					}
				}
				assertNoTrace(t, msg)
				if _, err := os.Lstat(out); err == nil {
					t.Errorf("%v: created %s", mode, out)
				}
			}
		})
	}
}
