#!/usr/bin/env python3
"""Independent reference for omnitui's HF -> mcore_adapter conversion, written with PyTorch.

It restates, in torch operations, what ROLL's mcore_adapter converter does for qwen3_omni_moe
(QKV fuse by reshape/cat, torch.chunk TP splits, swiglu gate/up chunks, legacy grouped GEMM
stack-of-transposes .view, pipeline placement, expert parallel local indices), builds the state
dict every rank file must hold, then torch.load()s omnitui's output and compares key sets,
dtypes, shapes and values exactly.

usage: roll_ref.py HF_DIR OUT_DIR SETTINGS_JSON
"""
import json
import os
import re
import struct
import sys
from collections import OrderedDict

import torch

DT = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
      "BOOL": torch.bool}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = bytearray(data[base + b:base + e])
        t = torch.frombuffer(buf, dtype=DT[info["dtype"]]) if len(buf) else torch.empty(0, dtype=DT[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def load_hf(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd = {}
    for f in files:
        sd.update(read_safetensors(os.path.join(d, f)))
    return sd


def expand_layout(s, pp):
    """Megatron layout subset: E t L m, | separators, x*N and (...)*N repetition."""
    s = s.replace(" ", "").replace(",", "")

    def expand(x):
        while True:
            m = re.search(r"\(([^()]*)\)\*(\d+)", x)
            if not m:
                break
            x = x[:m.start()] + m.group(1) * int(m.group(2)) + x[m.end():]
        return re.sub(r"([EtLm])\*(\d+)", lambda m: m.group(1) * int(m.group(2)), x)

    stages = expand(s).split("|")
    assert len(stages) % pp == 0
    vp = len(stages) // pp
    # stages listed pp-major within each virtual round: index = vp*pp + pp_rank
    return [[stages[v * pp + p] for v in range(vp)] for p in range(pp)], vp


def main():
    hf_dir, out_dir, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    tc = cfg["thinker_config"]["text_config"]
    nh, ng, hidden = tc["num_attention_heads"], tc["num_key_value_heads"], tc["hidden_size"]
    d = tc.get("head_dim", hidden // nh)
    L, E = tc["num_hidden_layers"], tc.get("num_experts", 0)
    tied = tc.get("tie_word_embeddings", False)
    audio_out = cfg.get("enable_audio_output", True)
    tp, pp, ep = settings.get("tp", 1), settings.get("pp", 1), settings.get("ep", 1)
    vpp = settings.get("vpp") or None
    layout = settings.get("layout") or None
    acc_e, acc_l = settings.get("account_embedding", False), settings.get("account_loss", False)
    grouped = settings.get("moe_grouped_gemm", False)
    legacy = settings.get("moe_legacy_grouped_gemm", False)
    impl = settings.get("transformer_impl") or "transformer_engine"
    te_grouped = grouped and not legacy and impl == "transformer_engine"
    drop_audio = settings.get("drop_audio_output", False)
    cast = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(settings.get("dtype", "keep"))

    hf = load_hf(hf_dir)
    if cast is not None:
        hf = {k: (v.to(cast) if v.is_floating_point() else v) for k, v in hf.items()}

    # ---- HF -> global Megatron names (template ops) ----
    mca = OrderedDict()  # name -> tensor or ("stack", gate, up)
    rn = {"thinker.model.embed_tokens.weight": "embedding.word_embeddings.weight",
          "thinker.model.norm.weight": "decoder.final_layernorm.weight",
          "thinker.lm_head.weight": "output_layer.weight"}
    layer_rn = {".input_layernorm.weight": ".self_attention.linear_qkv.layer_norm_weight",
                ".self_attn.o_proj.weight": ".self_attention.linear_proj.weight",
                ".self_attn.q_norm.weight": ".self_attention.q_layernorm.weight",
                ".self_attn.k_norm.weight": ".self_attention.k_layernorm.weight",
                ".post_attention_layernorm.weight": ".pre_mlp_layernorm.weight",
                ".mlp.gate.weight": ".mlp.router.weight"}
    for name, w in hf.items():
        if name in rn:
            if tied and name == "thinker.lm_head.weight":
                continue
            mca[rn[name]] = w
            continue
        for pre, new in (("thinker.visual.", "vision_model."), ("thinker.audio_tower.", "audio_model."),
                         ("talker.", "talker."), ("code2wav.", "code2wav.")):
            if name.startswith(pre):
                if pre in ("talker.", "code2wav.") and not audio_out:
                    assert drop_audio
                    break
                mca[new + name[len(pre):]] = w
                break
        else:
            m = re.match(r"^thinker\.model\.layers\.(\d+)(\.mlp\.experts\.(\d+))?(\..*)$", name)
            assert m, name
            l, e, rest = int(m.group(1)), m.group(3), m.group(4)
            lp = "decoder.layers.%d" % l
            if e is not None:
                xp = lp + ".mlp.experts.local_experts.%s" % e
                if rest == ".gate_proj.weight":
                    mca[xp + ".linear_fc1.weight"] = ("stack", w, hf[name.replace("gate_proj", "up_proj")])
                elif rest == ".down_proj.weight":
                    mca[xp + ".linear_fc2.weight"] = w
                else:
                    assert rest == ".up_proj.weight", name
            elif rest in layer_rn:
                mca[lp + layer_rn[rest]] = w
            elif rest == ".self_attn.q_proj.weight":
                q, k, v = w, hf[name.replace("q_proj", "k_proj")], hf[name.replace("q_proj", "v_proj")]
                mca[lp + ".self_attention.linear_qkv.weight"] = torch.cat(
                    [q.reshape((ng, d * nh // ng, -1)), k.reshape((ng, d, -1)), v.reshape((ng, d, -1))], dim=1
                ).reshape((-1, hidden))
            elif rest == ".self_attn.q_proj.bias":
                q, k, v = w, hf[name.replace("q_proj", "k_proj")], hf[name.replace("q_proj", "v_proj")]
                mca[lp + ".self_attention.linear_qkv.bias"] = torch.cat(
                    [q.reshape((ng, d * nh // ng)), k.reshape((ng, d)), v.reshape((ng, d))], dim=1).reshape((-1))
            else:
                assert rest in (".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
                                ".self_attn.k_proj.bias", ".self_attn.v_proj.bias"), name

    # ---- pipeline ----
    V = vpp or 1
    if layout:
        lay, V = expand_layout(layout, pp)

        def layer_info(g):
            off = 0
            for v in range(V):
                for p in range(pp):
                    n = lay[p][v].count("t")
                    if off + n > g:
                        return g - off, p, v
                    off += n
            raise ValueError(g)
    else:
        n = L + (1 if acc_e else 0) + (1 if acc_l else 0)
        assert n % (pp * V) == 0
        per = n // (pp * V)

        def layer_info(g):
            o = 1 if acc_e else 0
            local, chunk = (g + o) % per, (g + o) // per
            p, v = chunk % pp, chunk // pp
            if p == 0 and v == 0 and acc_e:
                local -= 1
            return local, p, v

    e_local = E // ep if E else 1
    te_to_local = {".self_attention.linear_qkv.layer_norm_weight": ".input_layernorm.weight"}
    import fnmatch
    dup = [".self_attention.linear_qkv.layer_norm_weight", "decoder.final_layernorm.weight", ".mlp.router.weight",
           ".pre_mlp_layernorm.weight", ".self_attention.q_layernorm.weight", ".self_attention.k_layernorm.weight",
           "vision_model.*", "audio_model.*", "talker.*", "code2wav.*"]
    col = ["embedding.word_embeddings.weight", "output_layer.weight", ".self_attention.linear_qkv.weight"]
    row = [".self_attention.linear_proj.weight", ".linear_fc2.weight"]

    def match(pure, pats):
        return any(pure == p or fnmatch.fnmatch(pure, p) for p in pats)

    checked = 0
    for tr in range(tp):
        for pr in range(pp):
            for er in range(ep):
                expect = {}
                for v in range(V):
                    first = pr == 0 and v == 0
                    last = pr == pp - 1 and v == V - 1
                    sd = OrderedDict()
                    waiting = {}
                    for name, w in mca.items():
                        if tied and pp > 1 and last and name == "embedding.word_embeddings.weight":
                            name = "output_layer.weight"
                        m = re.match(r"^decoder\.layers\.(\d+)(\.mlp\.experts\.local_experts\.(\d+))?(\..*)$", name)
                        if m:
                            local, p_, v_ = layer_info(int(m.group(1)))
                            if (p_, v_) != (pr, v):
                                continue
                            ge = int(m.group(3)) if m.group(3) is not None else None
                            pure = m.group(4)
                        else:
                            pure = name
                            ge = None
                            if name == "embedding.word_embeddings.weight" or name.startswith(("vision_model.", "audio_model.")):
                                on = first or (name == "embedding.word_embeddings.weight" and tied and last)
                            elif name in ("output_layer.weight", "decoder.final_layernorm.weight") or name.startswith(("talker.", "code2wav.")):
                                on = last
                            else:
                                on = True
                            if not on:
                                continue
                        if ge is not None and ge // e_local != er:
                            continue
                        mp = pure.replace(".bias", ".weight") if pure.endswith(".bias") else pure
                        # TP split
                        if isinstance(w, tuple):
                            gate, up = w[1], w[2]
                            x = torch.cat([torch.chunk(gate, tp, dim=0)[tr], torch.chunk(up, tp, dim=0)[tr]], dim=0)
                        elif match(mp, dup):
                            x = w
                        elif match(mp, col):
                            x = torch.chunk(w, tp, dim=0)[tr]
                        elif match(mp, row):
                            x = torch.chunk(w, tp, dim=1)[tr]
                        else:
                            raise ValueError("no tp rule " + name)
                        if m:
                            lp = "decoder.layers.%d" % local
                            if impl == "local":
                                pure = te_to_local.get(pure, pure)
                            if ge is not None:
                                le = ge % e_local
                                if grouped and te_grouped:
                                    key = lp + ".mlp.experts." + pure[1:] + str(le)
                                elif grouped:
                                    key = lp + (".mlp.experts.weight1" if "fc1" in pure else ".mlp.experts.weight2")
                                    waiting.setdefault(key, {})[le] = x.transpose(0, 1)
                                    if len(waiting[key]) == e_local:
                                        st = torch.stack([waiting[key][i] for i in range(e_local)], dim=0)
                                        sd[key] = st.view(hidden, -1) if "weight1" in key else st.view(-1, hidden)
                                    continue
                                else:
                                    key = lp + ".mlp.experts.local_experts.%d" % le + pure
                            else:
                                key = lp + pure
                        else:
                            key = name
                        sd[key] = x
                    expect["model" if V == 1 else "model%d" % v] = sd
                path = "mp_rank_%02d" % tr
                if pp > 1:
                    path += "_%03d" % pr
                if ep > 1:
                    path += "_%03d" % er
                f = os.path.join(out_dir, "iter_0000001", path, "model_optim_rng.pt")
                got = torch.load(f, map_location="cpu")
                if set(got.keys()) != set(expect.keys()):
                    raise SystemExit("%s: top-level keys %s, expected %s" % (f, sorted(got), sorted(expect)))
                for key, sd in expect.items():
                    g = got[key]
                    if set(g.keys()) != set(sd.keys()):
                        missing = sorted(set(sd) - set(g))[:5]
                        extra = sorted(set(g) - set(sd))[:5]
                        raise SystemExit("%s[%s]: key sets differ: missing %s extra %s" % (f, key, missing, extra))
                    for k, x in sd.items():
                        y = g[k]
                        if y.dtype != x.dtype or tuple(y.shape) != tuple(x.shape) or not torch.equal(y, x.contiguous()):
                            raise SystemExit("%s[%s] %s: got %s %s, expected %s %s (values equal: %s)" % (
                                f, key, k, y.dtype, tuple(y.shape), x.dtype, tuple(x.shape),
                                tuple(y.shape) == tuple(x.shape) and torch.equal(y, x.contiguous())))
                        checked += 1
    mc = json.load(open(os.path.join(out_dir, "mca_config.json")))
    # a layout with k*PP stages implies virtual size k (Megatron derives it; ROLL needs it to place chunks)
    want_vpp = vpp or (V if layout and V > 1 else None)
    for k, want in (("tensor_model_parallel_size", tp), ("pipeline_model_parallel_size", pp),
                    ("expert_model_parallel_size", ep), ("virtual_pipeline_model_parallel_size", want_vpp),
                    ("num_layers", L), ("hidden_size", hidden), ("num_query_groups", ng), ("kv_channels", d),
                    ("hf_model_type", "qwen3_omni_moe"), ("swiglu", True), ("transformer_impl", impl)):
        if mc.get(k) != want:
            raise SystemExit("mca_config.json %s = %r, expected %r" % (k, mc.get(k), want))
    if json.loads(mc["hf_config_json"]) != cfg:
        raise SystemExit("mca_config.json hf_config_json differs from config.json")
    with open(os.path.join(out_dir, "latest_checkpointed_iteration.txt")) as f:
        assert f.read().strip() == "1"
    print("OK %d tensors" % checked)


if __name__ == "__main__":
    main()
