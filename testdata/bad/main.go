// Command bad regenerates the corpus of hostile inputs in this directory:
//
//	go run ./testdata/bad            (from the repository root)
//
// The cases, and what omnitui must say about each, are listed by
// loader/fixture.BadCases; loader/fixture's tests check that the committed
// corpus is what this command writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/omnitui/omnitui/loader/fixture"
)

func main() {
	dir := filepath.Join("testdata", "bad")
	if len(os.Args) > 2 || (len(os.Args) == 2 && (os.Args[1] == "-h" || os.Args[1] == "--help")) {
		fmt.Fprintln(os.Stderr, "usage: go run ./testdata/bad [DIR]   (DIR defaults to testdata/bad; run from the repository root)")
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		dir = os.Args[1]
	} else if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		fmt.Fprintln(os.Stderr, "bad: run from the repository root (testdata/bad/main.go not found), or pass the output directory")
		os.Exit(2)
	}
	if err := fixture.WriteBadCorpus(dir); err != nil {
		fmt.Fprintln(os.Stderr, "bad:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d cases to %s\n", len(fixture.BadCases()), dir)
}
