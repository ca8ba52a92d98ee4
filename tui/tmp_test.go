package tui_test

import "os"

// osMkdirTemp makes a directory for fixtures shared by benchmarks; it lives in
// the system temp dir and is removed by TestMain.
func osMkdirTemp() (string, error) {
	d, err := os.MkdirTemp("", "omnitui-tui-bench-")
	if err == nil {
		sharedTemp = append(sharedTemp, d)
	}
	return d, err
}

var sharedTemp []string
