package dcp_test

import (
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/loader/dcp"
)

// The view is a tensor source for core's executor as it stands: wiring it
// into --to-hf / reshard needs a plan built from View.Tensors, not a new
// reading path.
var _ core.TensorSource = (*dcp.View)(nil)
