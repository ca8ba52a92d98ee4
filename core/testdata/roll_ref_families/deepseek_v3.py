"""deepseek_v3 for roll_ref.py: ROLL's deepseek_v3 template and mla dist config, restated.

Multi-latent attention projections renamed one to one (q_a/q_b or q_proj, kv_a_proj_with_mqa,
kv_b and their norms), dense first layers (first_k_dense_replace; their post-attention norm
becomes mlp.linear_fc1.layer_norm_weight), routed and shared experts stacked for swiglu, the
router's expert bias (F32). With MTP layers declared, the last pipeline stage also holds the
embedding (Megatron's MTP embeds tokens there)."""


def text_config(cfg):
    return cfg


def num_experts(tc):
    return tc.get("n_routed_experts") or 0


def embedding_on_last(tc):
    return (tc.get("num_nextn_predict_layers") or 0) > 0


LAYER_PREFIX = "model.layers."
MOE_PREFIX = ".mlp.experts."
RENAME = {"model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = []
LAYER = {
    ".input_layernorm.weight": ".input_layernorm.weight",
    ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
    ".self_attn.q_a_proj.weight": ".self_attention.linear_q_down_proj.weight",
    ".self_attn.q_a_layernorm.weight": ".self_attention.linear_q_up_proj.layer_norm_weight",
    ".self_attn.q_b_proj.weight": ".self_attention.linear_q_up_proj.weight",
    ".self_attn.q_proj.weight": ".self_attention.linear_q_proj.weight",
    ".self_attn.kv_a_proj_with_mqa.weight": ".self_attention.linear_kv_down_proj.weight",
    ".self_attn.kv_a_layernorm.weight": ".self_attention.linear_kv_up_proj.layer_norm_weight",
    ".self_attn.kv_b_proj.weight": ".self_attention.linear_kv_up_proj.weight",
    ".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
    ".mlp.down_proj.weight": ".mlp.linear_fc2.weight",
    ".mlp.gate.weight": ".mlp.router.weight",
    ".mlp.gate.e_score_correction_bias": ".mlp.router.expert_bias",
    ".down_proj.weight": ".linear_fc2.weight",
    ".mlp.shared_experts.down_proj.weight": ".mlp.shared_experts.linear_fc2.weight",
}
QKV = None
QKV_BIAS = None
STACK = [(".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.linear_fc1.weight"),
         (".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight"),
         (".mlp.shared_experts.gate_proj.weight", ".mlp.shared_experts.up_proj.weight",
          ".mlp.shared_experts.linear_fc1.weight")]
SKIP = [".self_attn.rotary_emb.inv_freq"]
# mla dist config: norms, router and expert bias duplicated; embedding, head and MLA projections
# column-parallel; output projection and fc2 row-parallel
DUP = [".self_attention.q_layernorm.weight", ".input_layernorm.weight", "decoder.final_layernorm.weight",
       ".pre_mlp_layernorm.weight", ".self_attention.kv_layernorm.weight", ".mlp.router.weight",
       ".mlp.router.expert_bias", ".mlp.linear_fc1.layer_norm_weight",
       ".self_attention.linear_q_up_proj.layer_norm_weight", ".self_attention.linear_kv_up_proj.layer_norm_weight"]
COL = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_q_down_proj.weight",
       ".self_attention.linear_q_up_proj.weight", ".self_attention.linear_q_proj.weight",
       ".self_attention.linear_kv_down_proj.weight", ".self_attention.linear_kv_up_proj.weight"]
ROW = [".self_attention.linear_proj.weight", ".mlp.shared_experts.linear_fc2.weight", ".linear_fc2.weight",
       ".mlp.linear_fc2.weight"]
PRE = []
POST = ["output_layer.weight", "decoder.final_layernorm.weight"]
TE_TO_LOCAL = {}


def dense_layers(tc):
    return tc.get("first_k_dense_replace") or 0


def rename(rel, layer, expert, tc):
    if layer < dense_layers(tc) and rel == ".pre_mlp_layernorm.weight":
        return ".mlp.linear_fc1.layer_norm_weight"
    return rel


def moe_config(tc):
    want = {"num_moe_experts": tc["n_routed_experts"], "moe_ffn_hidden_size": tc["moe_intermediate_size"],
            "moe_router_enable_expert_bias": True, "mtp_num_layers": tc.get("num_nextn_predict_layers"),
            "moe_shared_expert_intermediate_size": tc["n_shared_experts"] * tc["moe_intermediate_size"]}
    k = dense_layers(tc)
    if k:
        want["moe_layer_freq"] = [0] * k + [1] * (tc["num_hidden_layers"] - k)
    return want


def CONFIG(tc):
    want = moe_config(tc)
    want.update({"multi_latent_attention": True, "q_lora_rank": tc["q_lora_rank"], "kv_lora_rank": tc["kv_lora_rank"],
                 "qk_head_dim": tc["qk_nope_head_dim"], "qk_pos_emb_head_dim": tc["qk_rope_head_dim"],
                 "v_head_dim": tc["v_head_dim"], "moe_router_pre_softmax": True})
    rs = tc.get("rope_scaling")
    if rs:
        want.update({"rope_type": rs["type"], "rotary_scaling_factor": rs["factor"],
                     "original_max_position_embeddings": rs["original_max_position_embeddings"],
                     "beta_fast": rs["beta_fast"], "beta_slow": rs["beta_slow"]})
    else:
        want.update({"rope_type": "rope", "rotary_scaling_factor": 1.0})
    return want
