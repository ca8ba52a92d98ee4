package common

// ViewID names a top-level view.
type ViewID int

// The views, in tab order.
const (
	ViewOverview ViewID = iota
	ViewConfig
	ViewWeights
	ViewMapping
	ViewPlacement
	ViewConvert
	NumViews
)

// Name is the view's tab title.
func (v ViewID) Name() string {
	switch v {
	case ViewOverview:
		return "Overview"
	case ViewConfig:
		return "Config"
	case ViewWeights:
		return "Weights"
	case ViewMapping:
		return "Mapping"
	case ViewPlacement:
		return "Placement"
	case ViewConvert:
		return "Convert"
	}
	return "?"
}

// PlanChangedMsg says the settings changed and Context.Plan was rebuilt.
type PlanChangedMsg struct{ Gen int }

// SelectionMsg says Context.Selected changed.
type SelectionMsg struct{ Tensor int }

// SwitchViewMsg asks the root to show a view.
type SwitchViewMsg struct{ View ViewID }

// ClickMsg is a left click in the active view's body, in cells from its top-left
// corner (the root translates the terminal's mouse report).
type ClickMsg struct{ X, Y int }

// BackMsg asks the root to return to the previously shown view.
type BackMsg struct{}
