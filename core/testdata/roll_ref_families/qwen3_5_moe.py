"""qwen3_5_moe for roll_ref.py: ROLL's qwen3_5_moe template (qwen3_5's layout with a routed
MoE and a shared expert) and its dist config (default + shared MoE + gated delta net + MTP +
vision), restated with torch operations.

Each layer's experts come fused: gate_up_proj [E, 2I, H] (gate rows, then up rows) and
down_proj [E, H, I]; expert e's linear_fc1 is the swiglu pair (gate_up_proj[e][:I],
gate_up_proj[e][I:]) and its linear_fc2 is down_proj[e], untransposed. Per-expert names
(experts.N.gate_proj.weight ...) are accepted too."""
import importlib.util
import os

import torch

_spec = importlib.util.spec_from_file_location("qwen3_5_ref", os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen3_5.py"))
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)
nxt = base.nxt

text_config = base.text_config
LAYER_PREFIX = base.LAYER_PREFIX
MOE_PREFIX = ".mlp.experts."
RENAME = base.RENAME
PREFIX_RENAME = base.PREFIX_RENAME
LAYER = {k: v for k, v in base.LAYER.items() if not k.startswith((".mlp.", ".post_attention"))}
LAYER.update({".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
              ".mlp.gate.weight": ".mlp.router.weight",
              ".down_proj.weight": ".linear_fc2.weight",
              ".mlp.shared_expert.down_proj.weight": ".mlp.shared_experts.linear_fc2.weight",
              ".mlp.shared_expert_gate.weight": ".mlp.shared_experts.gate_weight"})
QKV = None
QKV_BIAS = None
STACK = [(".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight"),
         (".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight",
          ".mlp.shared_experts.linear_fc1.weight")]
SKIP = base.SKIP
_SH_DUP = [".mlp.shared_experts.gate_weight"]
_SH_ROW = [".mlp.shared_experts.linear_fc2.weight"]
DUP = base.DUP + _SH_DUP + [base._INNER + p for p in _SH_DUP]
COL = base.COL
ROW = base.ROW + _SH_ROW + [base._INNER + p for p in _SH_ROW]
PRE = base.PRE
POST = base.POST
TE_TO_LOCAL = base.TE_TO_LOCAL
GLOBAL_TE_TO_LOCAL = base.GLOBAL_TE_TO_LOCAL
embedding_on_last = base.embedding_on_last
drop = base.drop
layer_types = base.layer_types


def num_experts(tc):
    return tc["num_experts"]


def custom(rest, b, hf, tc, layer):
    res = base.custom(rest, b, hf, tc, layer)
    if res is not None:
        return res
    if rest == ".mlp.experts.gate_up_proj":
        w = hf[b + rest]
        inter = w.shape[1] // 2
        return [(".mlp.experts.local_experts.%d.linear_fc1.weight" % e, ("stack", w[e][:inter], w[e][inter:]))
                for e in range(w.shape[0])]
    if rest == ".mlp.experts.down_proj":
        w = hf[b + rest]
        return [(".mlp.experts.local_experts.%d.linear_fc2.weight" % e, w[e]) for e in range(w.shape[0])]
    return None


# the MTP block's layer uses this family's MLP rules
base.LAYER.update({k: v for k, v in LAYER.items() if k.startswith((".mlp.", ".post_attention"))})
base.STACK[:] = STACK


def custom_global(name, hf, tc):
    return base.custom_global(name, hf, tc)


def CONFIG(tc):
    want = base.CONFIG(tc)
    want.update({"num_moe_experts": tc["num_experts"], "moe_ffn_hidden_size": tc["moe_intermediate_size"],
                 "moe_shared_expert_intermediate_size": tc["shared_expert_intermediate_size"],
                 "moe_shared_expert_gate": True})
    return want
