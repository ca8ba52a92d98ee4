"""glm4_moe for roll_ref.py: ROLL's glm4_moe template and dist config, restated, plus GLM-4.5's
q/k norms (use_qk_norm), which ROLL's template lacks: fused QKV with bias (head_dim * heads !=
hidden), dense first layers, routed and shared experts, the router's expert bias. With MTP
layers declared, the last pipeline stage also holds the embedding."""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location("fam_ds_for_glm", os.path.join(os.path.dirname(os.path.abspath(__file__)), "deepseek_v3.py"))
_ds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ds)

text_config = _ds.text_config
num_experts = _ds.num_experts
embedding_on_last = _ds.embedding_on_last
rename = _ds.rename


def head_dim(tc):
    return tc["head_dim"]


LAYER_PREFIX = "model.layers."
MOE_PREFIX = ".mlp.experts."
RENAME = dict(_ds.RENAME)
PREFIX_RENAME = []
LAYER = {
    ".input_layernorm.weight": ".self_attention.linear_qkv.layer_norm_weight",
    ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
    ".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
    ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight",
    ".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
    ".mlp.down_proj.weight": ".mlp.linear_fc2.weight",
    ".mlp.gate.weight": ".mlp.router.weight",
    ".mlp.gate.e_score_correction_bias": ".mlp.router.expert_bias",
    ".down_proj.weight": ".linear_fc2.weight",
    ".mlp.shared_experts.down_proj.weight": ".mlp.shared_experts.linear_fc2.weight",
}
QKV = (".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
       ".self_attention.linear_qkv.weight")
QKV_BIAS = (".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias",
            ".self_attention.linear_qkv.bias")
STACK = list(_ds.STACK)
SKIP = [".self_attn.rotary_emb.inv_freq"]
# default dist config + mtp + expert bias duplicated, shared experts row/swiglu
DUP = [".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
       "decoder.final_layernorm.weight", ".mlp.router.weight", ".pre_mlp_layernorm.weight",
       ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight", ".mlp.router.expert_bias"]
COL = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_qkv.weight",
       ".mlp.linear_fc1.weight", ".linear_fc1.weight"]
ROW = [".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight",
       ".mlp.shared_experts.linear_fc2.weight"]
PRE = []
POST = ["output_layer.weight", "decoder.final_layernorm.weight"]
TE_TO_LOCAL = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
               ".mlp.linear_fc1.layer_norm_weight": ".pre_mlp_layernorm.weight"}


def CONFIG(tc):
    want = _ds.moe_config(tc)
    want.update({"kv_channels": tc["head_dim"], "add_qkv_bias": True, "rotary_percent": tc["partial_rotary_factor"],
                 "qk_layernorm": bool(tc.get("use_qk_norm")), "moe_router_score_function": "sigmoid",
                 "moe_router_topk_scaling_factor": tc["routed_scaling_factor"]})
    return want
