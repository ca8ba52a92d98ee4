"""llama for roll_ref.py: ROLL's llama template and default dist config, restated.

Dense decoder: fused QKV without bias (omnitui refuses attention_bias: true, where ROLL
crashes), gate/up stacked for swiglu, post-attention norm fused into linear_fc1 (TE).
rotary_emb.inv_freq buffers are no weights and are left out. head_dim, when present, is
recorded as kv_channels (omnitui's deliberate addition)."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = None
LAYER = dict(ATTN, **DENSE_MLP)
STACK = [DENSE_STACK]
QKV_BIAS = None


def CONFIG(tc):
    return base_config(tc, tc.get("attention_bias"), True)
