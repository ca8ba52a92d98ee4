"""qwen2_vl for roll_ref.py: a Qwen2 decoder (QKV bias always) and the vision tower renamed
wholesale visual.* -> vision_model.* (first stage, whole on every TP rank). The text keys are
read from text_config when config.json has one, else from the flat release config. Names saved
by transformers >= 4.52 (model.language_model.*, model.visual.*) are read as the release names."""
from _decoder import *  # noqa: F401,F403

MOE_PREFIX = None
PREFIX_RENAME = [("visual.", "vision_model.")]
LAYER = dict(ATTN, **DENSE_MLP)
STACK = [DENSE_STACK]
DUP = DUP + ["vision_model.*"]
PRE = ["vision_model.*"]
NEW_TO_OLD = [("model.language_model.", "model."), ("model.visual.", "visual.")]


def canonical(name):
    for new, old in NEW_TO_OLD:
        if name.startswith(new):
            return old + name[len(new):]
    return name


def text_config(cfg):
    return cfg.get("text_config", cfg)


def CONFIG(tc):
    c = base_config(tc, True, False)
    c.update(position_embedding_type="mrope", ffn_hidden_size=tc["intermediate_size"],
             padded_vocab_size=tc["vocab_size"], rotary_base=tc["rope_theta"])
    return c
