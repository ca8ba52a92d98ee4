"""qwen3_vl for roll_ref.py: nested text_config, q/k norms, head_dim, the vision tower (with its
deepstack mergers) renamed wholesale model.visual.* -> vision_model.*. Pre-4.52 names
(model.layers.*, visual.*) are read as the release names."""
from _decoder import *  # noqa: F401,F403

LAYER_PREFIX = "model.language_model.layers."
RENAME = {"model.language_model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "model.language_model.norm.weight": "decoder.final_layernorm.weight",
          "lm_head.weight": "output_layer.weight"}
MOE_PREFIX = None
PREFIX_RENAME = [("model.visual.", "vision_model.")]
LAYER = dict(ATTN, **QK_NORM, **DENSE_MLP)
STACK = [DENSE_STACK]
DUP = DUP + ["vision_model.*"]
PRE = ["vision_model.*"]
OLD_TO_NEW = [("model.layers.", "model.language_model.layers."),
              ("model.embed_tokens.", "model.language_model.embed_tokens."),
              ("model.norm.", "model.language_model.norm."), ("visual.", "model.visual.")]


def canonical(name):
    for old, new in OLD_TO_NEW:
        if name.startswith(old):
            return new + name[len(old):]
    return name


def text_config(cfg):
    return cfg["text_config"]


def CONFIG(tc):
    c = base_config(tc, tc.get("attention_bias", False), True)
    c.update(position_embedding_type="mrope", qk_layernorm=True, ffn_hidden_size=tc["intermediate_size"])
    return c
