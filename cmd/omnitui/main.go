// Command omnitui previews and performs the conversion of Hugging Face checkpoints (the model
// families of core/families) into Megatron-Core (mcore_adapter) checkpoints, in a terminal UI or headless.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/omnitui/omnitui/core/families" // the model families omnitui converts
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go interrupts(sigs, cancel, os.Exit)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}

// interrupts turns the first SIGINT or SIGTERM into a cancellation (the running
// conversion stops and removes what it started) and the second into an immediate
// exit, whatever the program is doing: a second Ctrl-C always ends it.
func interrupts(sigs <-chan os.Signal, cancel func(), exit func(int)) {
	<-sigs
	cancel()
	s := <-sigs
	exit(signalExitCode(s))
}

// signalExitCode is the shell's status for a process ended by s: 128 + signal number.
func signalExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 130
}
