package tui

import (
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/common"
)

// The core functions the app uses unless an Option replaces them.
var (
	defaultPlanner    common.Planner      = core.BuildPlan
	defaultConverter  common.Converter    = core.Convert
	defaultClassifier func(string) string // nil: the model family's (core.ComponentFor)
)

var defaultHFConverter common.HFConverter = core.ConvertToHF

var (
	defaultReshardPlanner common.ReshardPlanner = core.BuildReshardPlan
	defaultResharder      common.Resharder      = core.Reshard
)
