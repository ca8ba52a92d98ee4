"""mixtral for roll_ref.py: experts block_sparse_moe.experts.E.{w1,w3 stacked; w2}, router
block_sparse_moe.gate, experts sized by intermediate_size."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = ".block_sparse_moe.experts."
LAYER = dict(ATTN, **QK_NORM, **{".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
                                 ".block_sparse_moe.gate.weight": ".mlp.router.weight",
                                 ".w2.weight": ".linear_fc2.weight"})
STACK = [(".w1.weight", ".w3.weight", ".linear_fc1.weight")]


def num_experts(tc):
    return tc["num_local_experts"]


def CONFIG(tc):
    c = base_config(tc, tc.get("attention_bias"), True)
    c.update(num_moe_experts=tc["num_local_experts"], ffn_hidden_size=tc["intermediate_size"],
             moe_router_pre_softmax=False)
    return c
