"""qwen3 for roll_ref.py: dense decoder with q/k RMSNorm and head_dim; QKV biases when
attention_bias is true."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = None
LAYER = dict(ATTN, **QK_NORM, **DENSE_MLP)
STACK = [DENSE_STACK]


def CONFIG(tc):
    c = base_config(tc, tc.get("attention_bias", False), True)
    c["qk_layernorm"] = True
    return c
