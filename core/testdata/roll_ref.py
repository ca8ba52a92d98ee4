#!/usr/bin/env python3
"""Independent reference for omnitui's HF -> mcore_adapter conversion, written with PyTorch.

It restates, in torch operations, what ROLL's mcore_adapter converter does (QKV fuse by
reshape/cat, torch.chunk TP splits, swiglu gate/up chunks, legacy grouped GEMM
stack-of-transposes .view, pipeline placement, expert parallel local indices), builds the state
dict every rank file must hold, then torch.load()s omnitui's output and compares key sets,
dtypes, shapes and values exactly.

The model family's data (name rules, TP split rules, stage placement, optional hooks) lives in
one file per family, roll_ref_families/<model_type>.py, loaded by config.json's model_type.
A family file defines (see llama.py for the smallest complete one):

  text_config(cfg)   -> the dict holding hidden_size, num_attention_heads, ... (flat configs: cfg)
  head_dim(tc)       -> optional; default tc.get("head_dim") or hidden // heads
  num_experts(tc)    -> optional; default tc.get("num_experts", 0)
  LAYER_PREFIX, MOE_PREFIX (None: no experts)
  RENAME             {full HF name: Megatron name}   (embedding, final norm, lm_head)
  PREFIX_RENAME      [(HF prefix, Megatron prefix)]  (whole sub-models renamed as they are)
  LAYER              {HF name relative to a layer or expert: Megatron relative name}
  QKV, QKV_BIAS      (q, k, v, Megatron name) or None, relative to a layer
  STACK              [(gate, up, Megatron name)] relative to a layer or expert (swiglu pairs)
  SKIP               HF name suffixes that are no weights (left out)
  DUP, COL, ROW      TP rules: fnmatch patterns over names relative to their layer/expert
  PRE, POST          non-layer names placed on the first / last pipeline stage
  TE_TO_LOCAL        relative-name renames under transformer_impl=local
  CONFIG             {mca_config key: expected value} checked in mca_config.json
  drop(name, cfg, settings)            optional: True leaves an HF tensor out (after asserting why)
  rename(rel, layer, expert, tc)       optional: family rename of a layer-relative Megatron name
  embed_on_last(tc)                    optional: True puts the embedding on the last stage too (MTP)
  num_experts(tc)                      optional: number of routed experts

usage: roll_ref.py HF_DIR OUT_DIR SETTINGS_JSON
"""
import fnmatch
import importlib.util
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
    sd = OrderedDict()
    for f in files:
        sd.update(read_safetensors(os.path.join(d, f)))
    return sd


def load_family(model_type):
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "roll_ref_families")
    sys.path.insert(0, here)  # family files may share helpers (_decoder.py)
    path = os.path.join(here, model_type + ".py")
    if not os.path.exists(path):
        raise SystemExit("no reference family file %s" % path)
    spec = importlib.util.spec_from_file_location("fam_" + model_type, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


def match(pure, pats):
    return any(pure == p or fnmatch.fnmatchcase(pure, p) for p in pats)


def global_names(F, hf, cfg, tc, settings):
    """HF tensors -> OrderedDict of global Megatron name -> tensor or ("stack", gate, up)."""
    nh, ng, hidden = tc["num_attention_heads"], tc["num_key_value_heads"], tc["hidden_size"]
    d = F.head_dim(tc) if hasattr(F, "head_dim") else (tc.get("head_dim") or hidden // nh)
    tied = tc.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
    moe = re.escape(F.MOE_PREFIX) if F.MOE_PREFIX else "(?!)"  # (?!) never matches: no experts
    rx = re.compile("^" + re.escape(F.LAYER_PREFIX) + r"(\d+)(" + moe + r"(\d+))?(\..*)$")
    qkv_in = set(F.QKV[:3]) if F.QKV else set()
    bias_in = set(F.QKV_BIAS[:3]) if F.QKV_BIAS else set()
    stack_in = {}
    for g, u, m in F.STACK:
        stack_in[g] = (g, u, m)
        stack_in[u] = None
    rename = getattr(F, "rename", None)
    mca = OrderedDict()
    for name, w in hf.items():
        if any(name.endswith(s) for s in F.SKIP):
            continue
        if hasattr(F, "drop") and F.drop(name, cfg, settings):
            continue
        if name in F.RENAME:
            if tied and F.RENAME[name] == "output_layer.weight":
                continue  # tied: the embedding is the output layer
            mca[F.RENAME[name]] = w
            continue
        pre = [(a, b) for a, b in F.PREFIX_RENAME if name.startswith(a)]
        if pre:
            a, b = pre[0]
            mca[b + name[len(a):]] = w
            continue
        m = rx.match(name)
        assert m, "no rule for " + name
        layer, e, rest = int(m.group(1)), m.group(3), m.group(4)
        base = name[:len(name) - len(rest)]
        lp = "decoder.layers.%d" % layer
        xp = lp + (".mlp.experts.local_experts.%s" % e if e is not None else "")

        def put(rel, v):
            if rename is not None:
                rel = rename(rel, layer, int(e) if e is not None else -1, tc)
            mca[xp + rel] = v

        if rest in F.LAYER:
            put(F.LAYER[rest], w)
        elif rest in stack_in:
            if stack_in[rest] is not None:
                g, u, mn = stack_in[rest]
                put(mn, ("stack", w, hf[base + u]))
        elif rest in qkv_in:
            if rest == F.QKV[0]:
                q, k, v = w, hf[base + F.QKV[1]], hf[base + F.QKV[2]]
                put(F.QKV[3], torch.cat([q.reshape((ng, d * nh // ng, -1)), k.reshape((ng, d, -1)),
                                         v.reshape((ng, d, -1))], dim=1).reshape((-1, hidden)))
        elif rest in bias_in:
            if rest == F.QKV_BIAS[0]:
                q, k, v = w, hf[base + F.QKV_BIAS[1]], hf[base + F.QKV_BIAS[2]]
                put(F.QKV_BIAS[3], torch.cat([q.reshape((ng, d * nh // ng)), k.reshape((ng, d)),
                                              v.reshape((ng, d))], dim=1).reshape((-1)))
        else:
            raise SystemExit("reference has no rule for " + name)
    return mca


def main():
    hf_dir, out_dir, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    F = load_family(cfg["model_type"])
    tc = F.text_config(cfg)
    hidden, L = tc["hidden_size"], tc["num_hidden_layers"]
    E = F.num_experts(tc) if hasattr(F, "num_experts") else tc.get("num_experts", 0)
    tied = tc.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
    tp, pp, ep = settings.get("tp", 1), settings.get("pp", 1), settings.get("ep", 1)
    vpp = settings.get("vpp") or None
    layout = settings.get("layout") or None
    acc_e, acc_l = settings.get("account_embedding", False), settings.get("account_loss", False)
    grouped = settings.get("moe_grouped_gemm", False)
    legacy = settings.get("moe_legacy_grouped_gemm", False)
    impl = settings.get("transformer_impl") or "transformer_engine"
    te_grouped = grouped and not legacy and impl == "transformer_engine"
    cast = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(settings.get("dtype", "keep"))

    hf = load_hf(hf_dir)
    if cast is not None:
        hf = OrderedDict((k, (v.to(cast) if v.is_floating_point() else v)) for k, v in hf.items())
    mca = global_names(F, hf, cfg, tc, settings)

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
                            pure, ge = name, None
                            if name == "embedding.word_embeddings.weight" or match(name, F.PRE):
                                on = first or (name == "embedding.word_embeddings.weight" and tied and last)
                                # families with MTP layers: the last stage embeds tokens too
                                if name == "embedding.word_embeddings.weight" and last and not tied and \
                                        hasattr(F, "embed_on_last") and F.embed_on_last(tc):
                                    on = True
                            elif match(name, F.POST):
                                on = last
                            else:
                                on = True
                            if not on:
                                continue
                        if ge is not None and ge // e_local != er:
                            continue
                        mp = pure[:-len(".bias")] + ".weight" if pure.endswith(".bias") else pure
                        # TP split
                        if isinstance(w, tuple):
                            gate, up = w[1], w[2]
                            x = torch.cat([torch.chunk(gate, tp, dim=0)[tr], torch.chunk(up, tp, dim=0)[tr]], dim=0)
                        elif match(mp, F.DUP):
                            x = w
                        elif match(mp, F.COL):
                            x = torch.chunk(w, tp, dim=0)[tr]
                        elif match(mp, F.ROW):
                            x = torch.chunk(w, tp, dim=1)[tr]
                        else:
                            raise SystemExit("reference has no tp rule for " + name)
                        if m:
                            lp = "decoder.layers.%d" % local
                            if impl == "local":
                                pure = F.TE_TO_LOCAL.get(pure, pure)
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
    want = [("tensor_model_parallel_size", tp), ("pipeline_model_parallel_size", pp),
            ("expert_model_parallel_size", ep), ("virtual_pipeline_model_parallel_size", want_vpp),
            ("num_layers", L), ("hidden_size", hidden), ("hf_model_type", cfg["model_type"]),
            ("swiglu", True), ("transformer_impl", impl)]
    want += list(F.CONFIG.items()) if not callable(F.CONFIG) else list(F.CONFIG(tc).items())
    for k, w in want:
        if mc.get(k) != w:
            raise SystemExit("mca_config.json %s = %r, expected %r" % (k, mc.get(k), w))
    if json.loads(mc["hf_config_json"]) != cfg:
        raise SystemExit("mca_config.json hf_config_json differs from config.json")
    with open(os.path.join(out_dir, "latest_checkpointed_iteration.txt")) as f:
        assert f.read().strip() == "1"
    print("OK %d tensors" % checked)


if __name__ == "__main__":
    main()
