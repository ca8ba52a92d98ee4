package tui

import (
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/loraview"
	"github.com/omnitui/omnitui/tui/styles"
)

// NewLoRA builds the app over a ROLL LoRA checkpoint's plan: Overview and Mapping show the
// adapters; the other views point to them and to the CLI export.
func NewLoRA(p *core.LoRAPlan, path string, opts ...Option) *Model {
	o := buildOptions(opts)
	st := styles.New(o.profile, o.dark)
	return newModel(common.NewLoRAContext(p, path, st, keymap.Default()))
}

// RunLoRA opens the app full-screen over a LoRA checkpoint and blocks until the user quits.
func RunLoRA(p *core.LoRAPlan, path string) error {
	return runProgram(NewLoRA(p, path, WithColors(detectProfile(), true)))
}

func loraViews(ctx *common.Context, conv common.Component) [common.NumViews]common.Component {
	_ = conv // the convert view is kept by the root for shutdown; LoRA exports run from the CLI
	return [common.NumViews]common.Component{
		loraview.NewOverview(ctx),
		loraview.NewUnavailable(ctx, "Config"),
		loraview.NewUnavailable(ctx, "Weights"),
		loraview.NewMapping(ctx),
		loraview.NewUnavailable(ctx, "Placement"),
		loraview.NewUnavailable(ctx, "Convert"),
	}
}
