package families

// The qwen3_vl_moe template: Qwen3-VL's text/vision template (qwen3VLFamily) with MoE
// layers, as ROLL registers it: experts stored fused per layer (mlp.experts.gate_up_proj
// [E, H, 2I] and mlp.experts.down_proj [E, I, H]) fan out into one Megatron tensor per
// expert, each transposed, gate_up split into [gate; up] halves (ops experts_gate_up_t and
// experts_down_t); post_attention_layernorm becomes pre_mlp_layernorm, mlp.gate the router;
// dist rules add the shared-expert and Transformer-Engine grouped-GEMM names.

import "github.com/omnitui/omnitui/core/family"

func init() {
	family.Register(qwen3VLFamily(true))
}
