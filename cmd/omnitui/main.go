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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
