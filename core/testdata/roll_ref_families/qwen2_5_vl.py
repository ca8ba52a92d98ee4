"""qwen2_5_vl for roll_ref.py: registered by ROLL exactly as qwen2_vl (its vision tower
differs only in tensors renamed wholesale)."""
from qwen2_vl import *  # noqa: F401,F403
