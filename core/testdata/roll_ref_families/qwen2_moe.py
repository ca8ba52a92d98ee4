"""qwen2_moe for roll_ref.py: every layer MoE; routed experts + one shared expert with a
[1, hidden] sigmoid gate; QKV biases always; the post-attention norm is the MoE layer's
pre_mlp_layernorm."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = ".mlp.experts."
LAYER = dict(ATTN, **{".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
                      ".mlp.gate.weight": ".mlp.router.weight",
                      ".down_proj.weight": ".linear_fc2.weight",
                      ".mlp.shared_expert.down_proj.weight": ".mlp.shared_experts.linear_fc2.weight",
                      ".mlp.shared_expert_gate.weight": ".mlp.shared_experts.gate_weight"})
STACK = [(".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight"),
         (".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight",
          ".mlp.shared_experts.linear_fc1.weight")]
DUP = DUP + SHARED_DUP
ROW = ROW + SHARED_ROW


def CONFIG(tc):
    c = base_config(tc, True, False)
    c.update(num_moe_experts=tc["num_experts"], ffn_hidden_size=tc["moe_intermediate_size"],
             moe_shared_expert_intermediate_size=tc["shared_expert_intermediate_size"],
             moe_router_pre_softmax=True, moe_use_shared_expert_gate=True)
    return c
