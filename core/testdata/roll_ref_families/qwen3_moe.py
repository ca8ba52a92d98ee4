"""qwen3_moe for roll_ref.py: routed experts, q/k norm, head_dim. Dense layers among the MoE
ones (mlp_only_layers, decoder_sparse_step; ROLL crashes on them) get a dense MLP's names:
.mlp.linear_fc1/.mlp.linear_fc2 and the norm fused as .mlp.linear_fc1.layer_norm_weight,
with moe_layer_freq written as the per-layer list."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = ".mlp.experts."
LAYER = dict(ATTN, **QK_NORM, **{".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
                                 ".mlp.gate.weight": ".mlp.router.weight",
                                 ".down_proj.weight": ".linear_fc2.weight",
                                 ".mlp.down_proj.weight": ".mlp.linear_fc2.weight"})
STACK = [(".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight"), DENSE_STACK]
DUP = DUP + SHARED_DUP
ROW = ROW + SHARED_ROW


def dense_layers(tc):
    step = tc.get("decoder_sparse_step") or 1
    only = set(tc.get("mlp_only_layers") or [])
    return [i for i in range(tc["num_hidden_layers"]) if i in only or (i + 1) % step != 0]


def rename(rel, layer, expert, tc):
    if rel == ".pre_mlp_layernorm.weight" and expert < 0 and layer in dense_layers(tc):
        return ".mlp.linear_fc1.layer_norm_weight"
    return rel


def CONFIG(tc):
    c = base_config(tc, tc.get("attention_bias", False), True)
    dense = dense_layers(tc)
    freq = [0 if i in dense else 1 for i in range(tc["num_hidden_layers"])] if dense else tc.get("decoder_sparse_step")
    c.update(num_moe_experts=tc["num_experts"], moe_ffn_hidden_size=tc["moe_intermediate_size"],
             ffn_hidden_size=tc["intermediate_size"], moe_router_pre_softmax=False, qk_layernorm=True,
             moe_layer_freq=freq)
    return c
