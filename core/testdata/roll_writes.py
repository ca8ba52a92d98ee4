#!/usr/bin/env python3
"""Rewrite an mcore_adapter checkpoint (written by omnitui) in place, with PyTorch, into the
shapes ROLL's converter writes in situations omnitui's own forward conversion never produces,
so the reverse conversion is tested on real torch.save() rank files of those shapes. Written
from the contract (shared/docs/mcore-conversion.md §4-§7), not from ROLL's code.

usage:
  roll_writes.py legacy DIR [--local-norms] [--only RANKDIR]
      DIR holds Transformer Engine grouped-GEMM expert names (.mlp.experts.linear_fc1.weight<e>):
      replace them by the legacy stacked names ROLL writes when Transformer Engine >= 1.9 is not
      importable (.mlp.experts.weight1 = stack([fc1_e^T]).view(hidden, -1), weight2 =
      stack([fc2_e^T]).view(-1, hidden)); mca_config.json keeps saying TE grouped GEMM.
      --local-norms also renames the TE norms to local-implementation names. --only limits the
      rewrite to one rank folder (to build a checkpoint that mixes namings).
  roll_writes.py model0 DIR [--both]
      store each rank file's single chunk under "model0" and record
      virtual_pipeline_model_parallel_size 1 (ROLL given --vpp 1). --both keeps "model" too.
  roll_writes.py lm-head-wins DIR HF_DIR
      the last pipeline stage's tied output_layer.weight becomes the TP slices of HF_DIR's
      lm_head (what ROLL writes at PP > 1 when a tied checkpoint ships lm_head and the hash
      order makes lm_head the last writer).
  roll_writes.py audio-off DIR
      record enable_audio_output false (mca_config.json and its hf_config_json); the rank files
      keep talker.* / code2wav.* as ROLL writes them, re-saved by torch.
  roll_writes.py check-tied-lm DIR HF_DIR
      check that every rank file of a PP 1 tied checkpoint holds the TP-split embedding and
      output_layer.weight = the TP-split lm_head of HF_DIR (prints OK).
"""
import glob
import json
import os
import re
import struct
import sys

import torch

DT = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def hf_tensor(hf_dir, name):
    idx = os.path.join(hf_dir, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    for f in files:
        data = open(os.path.join(hf_dir, f), "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        if name in header:
            info = header[name]
            b, e = info["data_offsets"]
            return torch.frombuffer(bytearray(data[8 + n + b:8 + n + e]), dtype=DT[info["dtype"]]).reshape(info["shape"])
    raise SystemExit("no %s in %s" % (name, hf_dir))


def rank_files(d):
    return sorted(glob.glob(os.path.join(d, "iter_*", "mp_rank_*", "model_optim_rng.pt")))


def rank_coords(path, pp_size, ep_size):
    parts = [int(x) for x in os.path.basename(os.path.dirname(path))[len("mp_rank_"):].split("_")]
    tp, rest = parts[0], parts[1:]
    pp = rest.pop(0) if pp_size > 1 else 0
    ep = rest.pop(0) if ep_size > 1 else 0
    return tp, pp, ep


def mca_config(d):
    return json.load(open(os.path.join(d, "mca_config.json")))


def save_config(d, cfg):
    with open(os.path.join(d, "mca_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def legacy(d, local_norms, only):
    cfg = mca_config(d)
    hidden = cfg["hidden_size"]
    pat = re.compile(r"^(decoder\.layers\.\d+)\.mlp\.experts\.linear_fc([12])\.weight(\d+)$")
    changed = 0
    for path in rank_files(d):
        if only and os.path.basename(os.path.dirname(path)) != only:
            continue
        ck = torch.load(path)
        for key, sd in list(ck.items()):
            if not key.startswith("model"):
                continue
            experts = {}
            for name, t in sd.items():
                m = pat.match(name)
                if m:
                    experts.setdefault((m.group(1), m.group(2)), {})[int(m.group(3))] = t
            out = type(sd)()
            done = set()
            for name, t in sd.items():
                m = pat.match(name)
                if m:
                    lk = (m.group(1), m.group(2))
                    if lk in done:
                        continue
                    done.add(lk)
                    ws = [experts[lk][e] for e in sorted(experts[lk])]
                    stacked = torch.stack([w.t() for w in ws])
                    if lk[1] == "1":
                        out[lk[0] + ".mlp.experts.weight1"] = stacked.view(hidden, -1)
                    else:
                        out[lk[0] + ".mlp.experts.weight2"] = stacked.view(-1, hidden)
                    changed += 1
                    continue
                if local_norms and name.endswith(".self_attention.linear_qkv.layer_norm_weight"):
                    name = name.replace(".self_attention.linear_qkv.layer_norm_weight", ".input_layernorm.weight")
                out[name] = t
            ck[key] = out
        torch.save(ck, path)
    if not changed:
        raise SystemExit("no Transformer Engine grouped-GEMM expert names in %s" % d)


def model0(d, both):
    for path in rank_files(d):
        ck = torch.load(path)
        if list(ck.keys()) != ["model"]:
            raise SystemExit("%s: expected one chunk 'model', found %s" % (path, list(ck.keys())))
        ck["model0"] = ck["model"]
        if not both:
            del ck["model"]
        torch.save(ck, path)
    cfg = mca_config(d)
    cfg["virtual_pipeline_model_parallel_size"] = 1
    save_config(d, cfg)


def hf_name_of_lm_head(cfg):
    hf = json.loads(cfg["hf_config_json"])
    return "thinker.lm_head.weight" if hf.get("model_type") == "qwen3_omni_moe" else "lm_head.weight"


def lm_head_wins(d, hf_dir):
    cfg = mca_config(d)
    tp_size, pp_size = cfg["tensor_model_parallel_size"], cfg["pipeline_model_parallel_size"]
    ep_size = cfg.get("expert_model_parallel_size") or 1
    assert pp_size > 1 and cfg["tie_embeddings_and_output_weights"], "needs a tied checkpoint with PP > 1"
    lm = hf_tensor(hf_dir, hf_name_of_lm_head(cfg))
    n = 0
    for path in rank_files(d):
        tp, pp, _ = rank_coords(path, pp_size, ep_size)
        if pp != pp_size - 1:
            continue
        ck = torch.load(path)
        last = sorted(k for k in ck if k.startswith("model"))[-1]
        assert "output_layer.weight" in ck[last], path
        ck[last]["output_layer.weight"] = torch.chunk(lm, tp_size, 0)[tp].clone()
        torch.save(ck, path)
        n += 1
    assert n > 0


def audio_off(d):
    cfg = mca_config(d)
    cfg["enable_audio_output"] = False
    hf = json.loads(cfg["hf_config_json"])
    hf["enable_audio_output"] = False
    cfg["hf_config_json"] = json.dumps(hf, indent=2)
    save_config(d, cfg)
    held = 0
    for path in rank_files(d):
        ck = torch.load(path)
        held += sum(1 for sd in ck.values() for k in sd if k.startswith(("talker.", "code2wav.")))
        torch.save(ck, path)
    assert held > 0, "no talker/code2wav tensors to carry"


def check_tied_lm(d, hf_dir):
    cfg = mca_config(d)
    tp_size = cfg["tensor_model_parallel_size"]
    assert cfg["pipeline_model_parallel_size"] == 1 and cfg["tie_embeddings_and_output_weights"]
    hf = json.loads(cfg["hf_config_json"])
    emb_name = "thinker.model.embed_tokens.weight" if hf.get("model_type") == "qwen3_omni_moe" else "model.embed_tokens.weight"
    lm, emb = hf_tensor(hf_dir, hf_name_of_lm_head(cfg)), hf_tensor(hf_dir, emb_name)
    assert not torch.equal(lm, emb), "the fixture's lm_head equals its embedding: the check could not fail"
    for path in rank_files(d):
        tp, _, _ = rank_coords(path, 1, cfg.get("expert_model_parallel_size") or 1)
        sd = torch.load(path)["model"]
        for name, src in (("output_layer.weight", lm), ("embedding.word_embeddings.weight", emb)):
            if name not in sd:
                raise SystemExit("%s lacks %s" % (path, name))
            if not torch.equal(sd[name], torch.chunk(src, tp_size, 0)[tp]):
                raise SystemExit("%s: %s is not TP slice %d of %s" % (path, name, tp, "lm_head" if src is lm else "the embedding"))
    print("OK")


def main():
    a = sys.argv[1:]
    mode, d = a[0], a[1]
    if mode == "legacy":
        only = a[a.index("--only") + 1] if "--only" in a else None
        legacy(d, "--local-norms" in a, only)
    elif mode == "model0":
        model0(d, "--both" in a)
    elif mode == "lm-head-wins":
        lm_head_wins(d, a[2])
    elif mode == "audio-off":
        audio_off(d)
    elif mode == "check-tied-lm":
        check_tied_lm(d, a[2])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
