"""qwen3_next for roll_ref.py: ROLL's qwen3_next template and its dist config (default +
shared MoE + gated delta net), restated with torch operations.

Hybrid decoder: layer_types (or every full_attention_interval-th layer) chooses gated full
attention or a gated delta net per layer. Gated attention's q_proj holds per head [query;
gate]; Megatron's linear_qkv wants per query group [queries; gates; k; v]. The delta net's
in_proj_qkvz holds per key head [q; k; v; z] and in_proj_ba per key head [b; a]; Megatron's
in_proj is [q; k; v; z; b; a] over all heads, and TP splits each of those six sections on its
own (conv1d likewise with q, k, v). The delta net's output norm is stored zero-centered
(w - 1 in the tensor's dtype). A linear layer's input norm is in_proj's layer_norm_weight.
The release's mtp.* tensors are left out (ROLL drops them)."""
import torch


def text_config(cfg):
    return cfg


LAYER_PREFIX = "model.layers."
MOE_PREFIX = ".mlp.experts."
RENAME = {"model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = []
LAYER = {".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
         ".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
         ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight",
         ".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
         ".mlp.gate.weight": ".mlp.router.weight",
         ".down_proj.weight": ".linear_fc2.weight",
         ".mlp.shared_expert.down_proj.weight": ".mlp.shared_experts.linear_fc2.weight",
         ".mlp.shared_expert_gate.weight": ".mlp.shared_experts.gate_weight",
         ".linear_attn.dt_bias": ".self_attention.dt_bias",
         ".linear_attn.A_log": ".self_attention.A_log",
         ".linear_attn.out_proj.weight": ".self_attention.out_proj.weight"}
QKV = None
QKV_BIAS = None
STACK = [(".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight"),
         (".mlp.shared_expert.gate_proj.weight", ".mlp.shared_expert.up_proj.weight",
          ".mlp.shared_experts.linear_fc1.weight")]
SKIP = [".self_attn.rotary_emb.inv_freq"]
DUP = [".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
       "decoder.final_layernorm.weight", ".mlp.router.weight", ".pre_mlp_layernorm.weight",
       ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
       ".mlp.shared_experts.gate_weight",
       ".self_attention.out_norm.weight", ".self_attention.in_proj.layer_norm_weight"]
COL = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_qkv.weight",
       ".mlp.linear_fc1.weight", ".linear_fc1.weight", ".self_attention.dt_bias", ".self_attention.A_log"]
ROW = [".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight",
       ".mlp.shared_experts.linear_fc2.weight", ".self_attention.out_proj.weight"]
PRE = []
POST = ["output_layer.weight", "decoder.final_layernorm.weight"]
TE_TO_LOCAL = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
               ".mlp.linear_fc1.layer_norm_weight": ".pre_mlp_layernorm.weight"}


def layer_types(tc):
    if tc.get("layer_types"):
        return tc["layer_types"]
    k = tc.get("full_attention_interval", 4)
    return ["full_attention" if (i + 1) % k == 0 else "linear_attention" for i in range(tc["num_hidden_layers"])]


def drop(name, cfg, settings):
    return name.startswith("mtp.")


def gated_qkv(q, k, v, tc):
    nh, ng, d, h = tc["num_attention_heads"], tc["num_key_value_heads"], tc["head_dim"], tc["hidden_size"]
    per = q.reshape(ng, nh // ng, 2, d, h)
    queries = per[:, :, 0].reshape(ng, nh // ng * d, h)
    gates = per[:, :, 1].reshape(ng, nh // ng * d, h)
    return torch.cat([queries, gates, k.reshape(ng, d, h), v.reshape(ng, d, h)], dim=1).reshape(-1, h)


def gdn_sizes(tc):
    hk, hv = tc["linear_num_key_heads"], tc["linear_num_value_heads"]
    return hk, hv, tc["linear_key_head_dim"], tc["linear_value_head_dim"]


def conv1d(w, tc):
    hk, hv, dk, dv = gdn_sizes(tc)
    return ("sections", list(torch.split(w, [hk * dk, hk * dk, hv * dv], dim=0)))


def zero_centered(w):
    return w.clone() - 1


def common(rest, base, hf, tc, layer):
    """Rules both hybrid families share; None when rest is not one of them."""
    if rest == ".input_layernorm.weight":
        linear = layer_types(tc)[layer] == "linear_attention"
        return [(".self_attention.in_proj.layer_norm_weight" if linear
                 else ".self_attention.linear_qkv.layer_norm_weight", hf[base + rest])]
    if rest == ".self_attn.q_proj.weight":
        return [(".self_attention.linear_qkv.weight", gated_qkv(hf[base + rest], hf[base + ".self_attn.k_proj.weight"],
                                                                 hf[base + ".self_attn.v_proj.weight"], tc))]
    if rest in (".self_attn.k_proj.weight", ".self_attn.v_proj.weight"):
        return []
    if rest == ".linear_attn.conv1d.weight":
        return [(".self_attention.conv1d.weight", conv1d(hf[base + rest], tc))]
    if rest == ".linear_attn.norm.weight":
        return [(".self_attention.out_norm.weight", zero_centered(hf[base + rest]))]
    return None


def custom(rest, base, hf, tc, layer):
    res = common(rest, base, hf, tc, layer)
    if res is not None:
        return res
    if rest == ".linear_attn.in_proj_qkvz.weight":
        hk, hv, dk, dv = gdn_sizes(tc)
        h = tc["hidden_size"]
        vpg = hv // hk
        qkvz = hf[base + rest].reshape(hk, 2 * dk + 2 * vpg * dv, h)
        ba = hf[base + ".linear_attn.in_proj_ba.weight"].reshape(hk, 2 * vpg, h)
        q, k, v, z = torch.split(qkvz, [dk, dk, vpg * dv, vpg * dv], dim=1)
        b, a = torch.split(ba, [vpg, vpg], dim=1)
        return [(".self_attention.in_proj.weight", ("sections", [t.reshape(-1, h) for t in (q, k, v, z, b, a)]))]
    if rest == ".linear_attn.in_proj_ba.weight":
        return []
    return None


def CONFIG(tc):
    return {"num_query_groups": tc["num_key_value_heads"], "add_qkv_bias": False, "kv_channels": tc["head_dim"],
            "position_embedding_type": "rope", "normalization": "RMSNorm", "add_bias_linear": False,
            "num_moe_experts": tc["num_experts"], "moe_ffn_hidden_size": tc["moe_intermediate_size"],
            "moe_shared_expert_intermediate_size": tc["shared_expert_intermediate_size"],
            "moe_shared_expert_gate": True, "qk_layernorm": True, "layernorm_zero_centered_gamma": True,
            "attention_output_gate": True, "experimental_attention_variant": "gated_delta_net",
            "linear_num_key_heads": tc["linear_num_key_heads"], "linear_num_value_heads": tc["linear_num_value_heads"],
            "linear_key_head_dim": tc["linear_key_head_dim"], "linear_value_head_dim": tc["linear_value_head_dim"],
            "linear_conv_kernel_dim": tc["linear_conv_kernel_dim"], "layer_types": layer_types(tc)}
