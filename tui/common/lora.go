package common

import (
	"github.com/omnitui/omnitui/core"
	"github.com/omnitui/omnitui/tui/keymap"
	"github.com/omnitui/omnitui/tui/styles"
)

// NewLoRAContext builds the shared state for a ROLL LoRA checkpoint: the LoRA plan; no
// Hugging Face checkpoint and no conversion plan.
func NewLoRAContext(p *core.LoRAPlan, path string, st *styles.Styles, km *keymap.KeyMap) *Context {
	return &Context{Path: path, Styles: st, Keys: km, Selected: -1, LoRA: p, Stats: ComputeStats(nil, func(string) string { return "other" })}
}

// IsLoRA reports whether the app shows a LoRA checkpoint.
func (c *Context) IsLoRA() bool { return c.LoRA != nil }
