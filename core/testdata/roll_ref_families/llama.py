"""llama for roll_ref.py: ROLL's llama template and default dist config, restated.

Dense decoder: fused QKV without bias (omnitui refuses attention_bias: true, where ROLL
crashes), gate/up stacked for swiglu, post-attention norm fused into linear_fc1 (TE).
rotary_emb.inv_freq buffers are no weights and are left out."""


def text_config(cfg):
    return cfg


LAYER_PREFIX = "model.layers."
MOE_PREFIX = None
RENAME = {"model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = []
LAYER = {".input_layernorm.weight": ".self_attention.linear_qkv.layer_norm_weight",
         ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
         ".post_attention_layernorm.weight": ".mlp.linear_fc1.layer_norm_weight",
         ".mlp.down_proj.weight": ".mlp.linear_fc2.weight"}
QKV = (".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
       ".self_attention.linear_qkv.weight")
QKV_BIAS = None
STACK = [(".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.linear_fc1.weight")]
SKIP = [".self_attn.rotary_emb.inv_freq"]
# default dist config: duplicated norms/router, column-parallel embedding/head/qkv/fc1, row-parallel proj/fc2
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


def head_dim(tc):
    return tc.get("head_dim") or tc["hidden_size"] // tc["num_attention_heads"]


def CONFIG(tc):
    want = {"num_query_groups": tc["num_key_value_heads"], "add_qkv_bias": False,
            "position_embedding_type": "rope", "normalization": "RMSNorm", "add_bias_linear": False}
    if tc.get("head_dim"):
        want["kv_channels"] = tc["head_dim"]  # omnitui records head_dim (ROLL's mapping lacks it)
    return want
