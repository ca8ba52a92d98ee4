package families

// The qwen3_5_moe template: ROLL's mcore_adapter qwen3_5_moe converter restated (see
// docs/families/qwen3_5.md). Qwen3.5's layout (text_config nesting, hybrid gated
// attention / gated delta net layers, vision tower, MTP block) with a routed MoE: the
// release stores each layer's experts fused, gate_up_proj [E, 2I, H] (gate rows then up
// rows) and down_proj [E, H, I], which fan out into one Megatron expert each (ROLL's
// SplitStackConverOp / SplitConverOp); per-expert names (…experts.N.gate_proj.weight) are
// accepted too, as ROLL's template has both. A shared expert with its sigmoid gate.

import "github.com/omnitui/omnitui/core/family"

func init() { family.Register(qwen3_5Moe()) }

func qwen3_5Moe() *family.Template {
	t := qwen3_5Template("qwen3_5_moe", true)
	t.MoEPrefix = ".mlp.experts."
	experts := []family.Rule{
		{Op: family.OpExpertsGateUp, HF: []string{".mlp.experts.gate_up_proj"}, MCA: mcaExpFC1},
		{Op: family.OpExpertsDown, HF: []string{".mlp.experts.down_proj"}, MCA: mcaExpFC2},
		{Op: family.OpStack, HF: []string{".gate_proj.weight", ".up_proj.weight"}, MCA: mcaExpFC1},
		{Op: family.OpRename, HF: []string{".down_proj.weight"}, MCA: mcaExpFC2},
	}
	t.Rules = append(t.Rules, experts...)
	t.Shapes = gdnShapes(moeShapes)
	t.Required.MoE = []string{".mlp.gate.weight", ".mlp.shared_expert_gate.weight", ".mlp.shared_expert.gate_proj.weight",
		".mlp.shared_expert.up_proj.weight", ".mlp.shared_expert.down_proj.weight"}
	t.UnmappedHints = append(t.UnmappedHints, family.UnmappedHint{
		Contains: "mtp.layers.0.mlp.experts.",
		Hint:     "the MTP block's MoE layer has routed experts (mtp.layers.0.mlp.experts.*): omnitui converts the MTP block's attention, norms, router and shared expert, but does not yet place MTP experts over expert-parallel ranks. Pass --skip-unmapped to leave the MTP experts out (the MTP block is then incomplete), or convert a checkpoint without mtp.* weights",
	})
	return t
}
