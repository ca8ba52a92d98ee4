package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSecondInterruptExits: the first signal cancels (and does not exit), the
// second exits at once with 128 + the signal number.
func TestSecondInterruptExits(t *testing.T) {
	for _, c := range []struct {
		second os.Signal
		code   int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		sigs := make(chan os.Signal, 2)
		cancelled := make(chan struct{})
		exited := make(chan int, 1)
		go interrupts(sigs, func() { close(cancelled) }, func(code int) { exited <- code })
		sigs <- os.Interrupt
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the first signal did not cancel")
		}
		select {
		case code := <-exited:
			t.Fatalf("exited (%d) on the first signal", code)
		case <-time.After(50 * time.Millisecond):
		}
		sigs <- c.second
		select {
		case code := <-exited:
			if code != c.code {
				t.Errorf("exit %d after %v, want %d", code, c.second, c.code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the second signal did not exit")
		}
	}
}
