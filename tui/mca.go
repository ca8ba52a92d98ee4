package tui

import (
	"github.com/omnitui/omnitui/loader/mca"
	"github.com/omnitui/omnitui/tui/common"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// WithHFConverter replaces core.ConvertToHF (Megatron -> Hugging Face).
func WithHFConverter(c common.HFConverter) Option {
	return func(o *options) { o.hfConverter = c }
}

// WithResharder replaces core.Reshard (Megatron -> Megatron).
func WithResharder(r common.Resharder) Option {
	return func(o *options) { o.resharder = r }
}

// WithReshardPlanner replaces core.BuildReshardPlan.
func WithReshardPlanner(p common.ReshardPlanner) Option {
	return func(o *options) { o.reshardPlanner = p }
}

// NewMCA builds the app over an opened mcore_adapter (Megatron) checkpoint: the
// same views, showing the rank files, how they map back to Hugging Face tensors,
// the recorded layout (read-only), and converting back to Hugging Face. path is
// what the user typed. The caller keeps m open while the app runs and closes it after.
func NewMCA(m *mca.Checkpoint, path string, opts ...Option) *Model {
	o := buildOptions(opts)
	st := styles.New(o.profile, o.dark)
	ctx := common.NewMCAContext(m, path, st, keymap.Default(), o.hfConverter, o.classify)
	ctx.MCA.ReshardPlanner, ctx.MCA.Resharder = o.reshardPlanner, o.resharder
	ctx.OutBase = o.outBase
	return newModel(ctx)
}

// RunMCA opens the app full-screen over an mcore_adapter checkpoint and blocks
// until the user quits. A conversion still running is canceled, and its cleanup
// awaited, before RunMCA returns.
func RunMCA(m *mca.Checkpoint, path string) error {
	return runProgram(NewMCA(m, path, WithColors(detectProfile(), true)))
}
