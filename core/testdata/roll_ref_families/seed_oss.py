"""seed_oss for roll_ref.py: dense decoder with QKV biases, no o_proj bias, head_dim."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = None
LAYER = dict(ATTN, **DENSE_MLP)
STACK = [DENSE_STACK]


def CONFIG(tc):
    c = base_config(tc, tc.get("attention_bias", False), True)
    c["qk_layernorm"] = False
    return c
