package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopiedRankFileWarns: a rank file copied over another (mp_rank_01 a copy of
// mp_rank_00 at TP2) is named, with its original, by --plan, --to-hf, --verify and
// reshard; a checkpoint as written (TP2 PP2 EP2) gets no such warning.
func TestCopiedRankFileWarns(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "good")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--pp", "2", "--ep", "2", "--out", good, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	for _, args := range [][]string{{"--batch", "--plan", good}, {"--batch", "--verify", good, example}} {
		_, out, e := runCLI(t, args...)
		if strings.Contains(out+e, "rank-copy") || strings.Contains(out+e, "byte-identical") {
			t.Errorf("%v warns about an untouched checkpoint:\n%s%s", args, out, e)
		}
	}

	ck := filepath.Join(base, "copied")
	if code, _, e := runCLI(t, "--batch", "--tp", "2", "--out", ck, example); code != exitOK {
		t.Fatalf("forward: exit %d\n%s", code, e)
	}
	r0 := filepath.Join("iter_0000001", "mp_rank_00", "model_optim_rng.pt")
	r1 := filepath.Join("iter_0000001", "mp_rank_01", "model_optim_rng.pt")
	b, err := os.ReadFile(filepath.Join(ck, r0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ck, r1), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--batch", "--plan", ck},
		{"--batch", "--to-hf", "--out", filepath.Join(base, "hf"), ck},
		{"--batch", "--verify", ck, example},
		{"--batch", "--tp", "1", "--out", filepath.Join(base, "tp1"), ck},
	} {
		_, out, e := runCLI(t, args...)
		msg := out + e
		if strings.Count(msg, "byte-identical") != 1 || !strings.Contains(msg, r0) || !strings.Contains(msg, r1) || !strings.Contains(msg, "restore it from the original checkpoint") {
			t.Errorf("%v: want one warning naming %s and %s:\n%s", args, r0, r1, msg)
		}
	}
}
