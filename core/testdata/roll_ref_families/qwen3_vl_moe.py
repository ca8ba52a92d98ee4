"""qwen3_vl_moe for roll_ref.py: qwen3_vl's text/vision data with MoE layers. Each layer's
experts are stored fused: mlp.experts.gate_up_proj [E, H, 2I] becomes, per expert, its
transpose [2I, H] whose halves are gate and up; mlp.experts.down_proj [E, I, H] becomes per
expert its transpose [H, I]. post_attention_layernorm is pre_mlp_layernorm, mlp.gate the router."""
from qwen3_vl import *  # noqa: F401,F403
from qwen3_vl import CONFIG as _VL_CONFIG

MOE_PREFIX = ".mlp.experts."
LAYER = dict(ATTN, **QK_NORM, **{".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
                                 ".mlp.gate.weight": ".mlp.router.weight"})
STACK = []
FANOUT = {".mlp.experts.gate_up_proj": (".linear_fc1.weight", "stack_t"),
          ".mlp.experts.down_proj": (".linear_fc2.weight", "t")}
DUP = DUP + SHARED_DUP
ROW = ROW + SHARED_ROW


def CONFIG(tc):
    c = _VL_CONFIG(tc)
    c.update(num_moe_experts=tc["num_experts"], moe_ffn_hidden_size=tc["moe_intermediate_size"],
             moe_router_topk=tc["num_experts_per_tok"])
    return c
