package tui_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range sharedTemp {
		os.RemoveAll(d)
	}
	os.Exit(code)
}
