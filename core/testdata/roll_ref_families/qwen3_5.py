"""qwen3_5 for roll_ref.py: ROLL's qwen3_5 template and its dist config (default + gated
delta net + MTP + vision), restated with torch operations.

The text keys sit under text_config. Layers (model.language_model.layers.*) are gated
attention or gated delta net as in qwen3_next (helpers shared from qwen3_next.py), but the
delta net's projections come apart (in_proj_qkv = [q; k; v], in_proj_z, in_proj_b,
in_proj_a) and Megatron's in_proj is their concatenation [q; k; v; z; b; a], split over TP
section by section; the MLP is dense with its norm fused into linear_fc1. model.visual.* is
renamed to vision_model.* (first stage, whole on every TP rank). The MTP block: mtp.fc,
mtp.norm, mtp.pre_fc_norm_{embedding,hidden} become mtp.layers.0.{eh_proj,final_layernorm,
enorm,hnorm}; the layer under mtp.layers.0 becomes mtp.layers.0.mtp_model_layer.*, all on
the last stage, which then holds the embedding too."""
import importlib.util
import os

import torch

_spec = importlib.util.spec_from_file_location("qwen3_next_ref", os.path.join(os.path.dirname(os.path.abspath(__file__)), "qwen3_next.py"))
nxt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nxt)

MOE = False


def text_config(cfg):
    return cfg["text_config"]


LAYER_PREFIX = "model.language_model.layers."
MOE_PREFIX = None
RENAME = {"model.language_model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.language_model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = [("model.visual.", "vision_model.")]
LAYER = {".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
         ".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
         ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight",
         ".post_attention_layernorm.weight": ".mlp.linear_fc1.layer_norm_weight",
         ".mlp.down_proj.weight": ".mlp.linear_fc2.weight",
         ".linear_attn.dt_bias": ".self_attention.dt_bias",
         ".linear_attn.A_log": ".self_attention.A_log",
         ".linear_attn.out_proj.weight": ".self_attention.out_proj.weight"}
QKV = None
QKV_BIAS = None
STACK = [(".mlp.gate_proj.weight", ".mlp.up_proj.weight", ".mlp.linear_fc1.weight")]
SKIP = [".self_attn.rotary_emb.inv_freq"]
_LAYER_DUP = [".self_attention.linear_qkv.layer_norm_weight", ".mlp.linear_fc1.layer_norm_weight",
              ".mlp.router.weight", ".pre_mlp_layernorm.weight",
              ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
              ".self_attention.out_norm.weight", ".self_attention.in_proj.layer_norm_weight"]
_LAYER_COL = [".self_attention.linear_qkv.weight", ".mlp.linear_fc1.weight", ".linear_fc1.weight",
              ".self_attention.dt_bias", ".self_attention.A_log"]
_LAYER_ROW = [".self_attention.linear_proj.weight", ".mlp.linear_fc2.weight", ".linear_fc2.weight",
              ".self_attention.out_proj.weight"]
_INNER = "mtp.layers.0.mtp_model_layer"
DUP = _LAYER_DUP + ["decoder.final_layernorm.weight", "vision_model.*"] + [_INNER + p for p in _LAYER_DUP] + \
    ["mtp.layers.0.enorm.weight", "mtp.layers.0.hnorm.weight", "mtp.layers.0.final_layernorm.weight"]
COL = _LAYER_COL + ["embedding.word_embeddings.weight", "output_layer.weight", "mtp.layers.0.eh_proj.weight"] + \
    [_INNER + p for p in _LAYER_COL]
ROW = _LAYER_ROW + [_INNER + p for p in _LAYER_ROW]
PRE = ["vision_model.*"]
POST = ["output_layer.weight", "decoder.final_layernorm.weight", "mtp.*"]
TE_TO_LOCAL = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight",
               ".mlp.linear_fc1.layer_norm_weight": ".pre_mlp_layernorm.weight"}
GLOBAL_TE_TO_LOCAL = {_INNER + k: _INNER + v for k, v in TE_TO_LOCAL.items()}
MTP_OUTER = {"mtp.fc.weight": "mtp.layers.0.eh_proj.weight", "mtp.norm.weight": "mtp.layers.0.final_layernorm.weight",
             "mtp.pre_fc_norm_embedding.weight": "mtp.layers.0.enorm.weight",
             "mtp.pre_fc_norm_hidden.weight": "mtp.layers.0.hnorm.weight"}


def mtp_layers(tc):
    return tc.get("mtp_num_hidden_layers") or 0


def embedding_on_last(tc):
    return mtp_layers(tc) > 0


def drop(name, cfg, settings):
    if name.startswith("mtp.") and mtp_layers(text_config(cfg)) == 0:
        opts = settings.get("opt_outs") or {}
        assert settings.get("drop_mtp") or opts.get("drop_mtp"), "MTP weights without an MTP layer must be refused"
        return True
    return False


def layer_types(tc):
    return nxt.layer_types(tc)


def custom(rest, base, hf, tc, layer):
    res = nxt.common(rest, base, hf, tc, layer if layer >= 0 else None)
    if res is not None:
        return res
    if rest == ".linear_attn.in_proj_qkv.weight":
        hk, hv, dk, dv = nxt.gdn_sizes(tc)
        q, k, v = torch.split(hf[base + rest], [hk * dk, hk * dk, hv * dv], dim=0)
        parts = [q, k, v] + [hf[base + ".linear_attn.in_proj_" + x + ".weight"] for x in "zba"]
        return [(".self_attention.in_proj.weight", ("sections", parts))]
    if rest in (".linear_attn.in_proj_z.weight", ".linear_attn.in_proj_b.weight", ".linear_attn.in_proj_a.weight"):
        return []
    return None


def mtp_layer(rel_name, hf, tc):
    """The MTP block's decoder layer (full attention), as (Megatron names, values)."""
    base, rest = "mtp.layers.0", rel_name
    if rest == ".input_layernorm.weight":
        return [(_INNER + ".self_attention.linear_qkv.layer_norm_weight", hf[base + rest])]
    res = custom(rest, base, hf, tc, -1)
    if res is None:
        for g, u, m in STACK:
            if rest == g:
                return [(_INNER + m, ("stack", hf[base + g], hf[base + u]))]
            if rest == u:
                return []
        if MOE:
            res = moe_rule(rest, base, hf, tc)
            if res is not None:
                return [(_INNER + r, v) for r, v in res]
        return [(_INNER + LAYER[rest], hf[base + rest])]
    return [(_INNER + r, v) for r, v in res]


def moe_rule(rest, base, hf, tc):
    return None


def custom_global(name, hf, tc):
    if name in MTP_OUTER:
        return [(MTP_OUTER[name], hf[name])]
    if name.startswith("mtp.layers.0."):
        return mtp_layer(name[len("mtp.layers.0"):], hf, tc)
    return None


def CONFIG(tc):
    want = {"num_query_groups": tc["num_key_value_heads"], "add_qkv_bias": False, "kv_channels": tc["head_dim"],
            "position_embedding_type": "mrope", "normalization": "RMSNorm", "add_bias_linear": False,
            "qk_layernorm": True, "layernorm_zero_centered_gamma": True, "attention_output_gate": True,
            "experimental_attention_variant": "gated_delta_net", "mtp_loss_scaling_factor": 0.3,
            "linear_num_key_heads": tc["linear_num_key_heads"], "linear_num_value_heads": tc["linear_num_value_heads"],
            "linear_key_head_dim": tc["linear_key_head_dim"], "linear_value_head_dim": tc["linear_value_head_dim"],
            "linear_conv_kernel_dim": tc["linear_conv_kernel_dim"], "layer_types": layer_types(tc)}
    if "mtp_num_hidden_layers" in tc:
        want["mtp_num_layers"] = tc["mtp_num_hidden_layers"]
    return want
