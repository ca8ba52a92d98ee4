"""qwen2 for roll_ref.py: dense decoder with QKV biases always (a constant, not a config key)."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = None
LAYER = dict(ATTN, **DENSE_MLP)
STACK = [DENSE_STACK]


def CONFIG(tc):
    return base_config(tc, True, False)
