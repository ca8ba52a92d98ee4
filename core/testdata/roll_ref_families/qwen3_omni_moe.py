"""qwen3_omni_moe for roll_ref.py: the thinker text model under thinker_config.text_config,
encoders and audio output renamed wholesale; talker/code2wav left out only with
drop_audio_output when enable_audio_output is false."""


def text_config(cfg):
    return cfg["thinker_config"]["text_config"]


LAYER_PREFIX = "thinker.model.layers."
MOE_PREFIX = ".mlp.experts."
RENAME = {"thinker.model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "thinker.model.norm.weight": "decoder.final_layernorm.weight",
          "thinker.lm_head.weight": "output_layer.weight"}
PREFIX_RENAME = [("thinker.visual.", "vision_model."), ("thinker.audio_tower.", "audio_model."),
                 ("talker.", "talker."), ("code2wav.", "code2wav.")]
LAYER = {".input_layernorm.weight": ".self_attention.linear_qkv.layer_norm_weight",
         ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
         ".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
         ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight",
         ".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
         ".mlp.gate.weight": ".mlp.router.weight",
         ".down_proj.weight": ".linear_fc2.weight"}
QKV = (".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
       ".self_attention.linear_qkv.weight")
QKV_BIAS = (".self_attn.q_proj.bias", ".self_attn.k_proj.bias", ".self_attn.v_proj.bias",
            ".self_attention.linear_qkv.bias")
STACK = [(".gate_proj.weight", ".up_proj.weight", ".linear_fc1.weight")]
SKIP = []
DUP = [".self_attention.linear_qkv.layer_norm_weight", "decoder.final_layernorm.weight", ".mlp.router.weight",
       ".pre_mlp_layernorm.weight", ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
       "vision_model.*", "audio_model.*", "talker.*", "code2wav.*"]
COL = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_qkv.weight"]
ROW = [".self_attention.linear_proj.weight", ".linear_fc2.weight"]
PRE = ["vision_model.*", "audio_model.*"]
POST = ["output_layer.weight", "decoder.final_layernorm.weight", "talker.*", "code2wav.*"]
TE_TO_LOCAL = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight"}


def CONFIG(tc):
    return {"num_query_groups": tc["num_key_value_heads"], "kv_channels": tc["head_dim"]}


def drop(name, cfg, settings):
    if name.startswith(("talker.", "code2wav.")) and not cfg.get("enable_audio_output", True):
        assert settings.get("drop_audio_output", False), name
        return True
    return False
