"""Shared data of the llama-style decoder families for roll_ref.py (family files import it).

Restates mcore_adapter's default dist config (TP split and stage placement by Megatron name)
and the renames every decoder family of ROLL shares."""

LAYER_PREFIX = "model.layers."
RENAME = {"model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = []
ATTN = {".input_layernorm.weight": ".self_attention.linear_qkv.layer_norm_weight",
        ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight"}
QK_NORM = {".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
           ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight"}
DENSE_MLP = {".post_attention_layernorm.weight": ".mlp.linear_fc1.layer_norm_weight",
             ".mlp.down_proj.weight": ".mlp.linear_fc2.weight"}
DENSE_STACK = (".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.linear_fc1.weight")
QKV = (".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
       ".self_attention.linear_qkv.weight")
QKV_BIAS = (".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias",
            ".self_attention.linear_qkv.bias")
SKIP = [".self_attn.rotary_emb.inv_freq"]
DUP = [".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
       "decoder.final_layernorm.weight", ".mlp.router.weight", ".pre_mlp_layernorm.weight",
       ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight"]
COL = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_qkv.weight",
       ".mlp.linear_fc1.weight", ".linear_fc1.weight"]
ROW = [".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight"]
PRE = []
POST = ["output_layer.weight", "decoder.final_layernorm.weight"]
TE_TO_LOCAL = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
               ".mlp.linear_fc1.layer_norm_weight": ".pre_mlp_layernorm.weight"}
# shared experts (qwen2_moe)
SHARED_DUP = [".mlp.shared_experts.gate_weight"]
SHARED_ROW = [".mlp.shared_experts.linear_fc2.weight"]
SHARED_COL = [".mlp.shared_experts.linear_fc1.weight"]  # swiglu pairs are split by the stack rule


def text_config(cfg):
    return cfg


def base_config(tc, bias, head_dim_key):
    want = {"num_query_groups": tc["num_key_value_heads"], "add_qkv_bias": bias,
            "position_embedding_type": "rope", "normalization": "RMSNorm", "add_bias_linear": False,
            "num_attention_heads": tc["num_attention_heads"]}
    if head_dim_key and tc.get("head_dim"):
        want["kv_channels"] = tc["head_dim"]
    return want
