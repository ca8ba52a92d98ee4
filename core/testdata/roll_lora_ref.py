#!/usr/bin/env python3
"""Independent PyTorch restatement of ROLL's Megatron-LoRA -> PEFT mapping, for omnitui's tests.

Written from the semantics (not ROLL's code): every lora_A / lora_B of a Megatron module is
gathered over TP the way its base weight is split (column-parallel bases: A replicated, B
split by rows, SwiGLU rows [gate_i; up_i] per rank; row-parallel bases: A split by columns, B
replicated), then mapped like the base weight with the LoRA rank in place of the hidden size.

  roll_lora_ref.py expect LORA_DIR LAYER_PREFIX OUT_DIR
      writes OUT_DIR/<adapter>.pt: {"model": {peft tensor name: tensor}}
  roll_lora_ref.py both LORA_DIR LAYER_PREFIX OUT_DIR PEFT_DIR [FACTOR]   (expect, then check;
      FACTOR: the scale PEFT applies to rank-reduced modules relative to the trained one)
  roll_lora_ref.py check LORA_DIR LAYER_PREFIX PEFT_DIR
      functional equivalence in float64: for every HF module, scale_peft * B_hf @ A_hf (scale
      from the written adapter_config.json the way PEFT resolves rank/alpha patterns) equals
      the trained scale * B @ A gathered to the same HF weight. Prints "ok N" on success.
"""
import json
import math
import os
import re
import struct
import sys

import torch

MOE = ".mlp.experts."


def load_cfg(d):
    with open(os.path.join(d, "mca_config.json")) as f:
        return json.load(f)


def rank_dir(tp, pp, ep, npp, nep):
    s = "mp_rank_%02d" % tp
    if npp > 1:
        s += "_%03d" % pp
    if nep > 1:
        s += "_%03d" % ep
    return s


def read_adapter(top, name, cfg):
    sub = os.path.join(top, name)
    with open(os.path.join(sub, "latest_checkpointed_iteration.txt")) as f:
        it = f.read().strip()
    itdir = "release" if it == "release" else "iter_%07d" % int(it)
    tp, pp, ep = cfg["tensor_model_parallel_size"], cfg["pipeline_model_parallel_size"], cfg["expert_model_parallel_size"]
    layers = cfg["num_layers"]
    per = layers // pp
    experts = cfg.get("num_moe_experts") or 0
    local = experts // ep if experts else 0
    # global name -> {tp: tensor}
    mods = {}
    for t in range(tp):
        for p in range(pp):
            for e in range(ep):
                sd = torch.load(os.path.join(sub, itdir, rank_dir(t, p, e, pp, ep), "model_optim_rng.pt"), map_location="cpu")["model"]
                for k, v in sd.items():
                    if k.endswith("_extra_state"):
                        continue
                    m = re.match(r"decoder\.layers\.(\d+)\.(.*)$", k)
                    layer = int(m.group(1)) + p * per
                    rest = m.group(2)
                    g = re.match(r"mlp\.experts\.(linear_fc[12])\.lora_([AB])\.weight(\d+)$", rest)
                    s = re.match(r"mlp\.experts\.local_experts\.(\d+)\.(linear_fc[12])\.lora_([AB])\.weight$", rest)
                    if g:
                        key = ("decoder.layers.%d.mlp.experts.local_experts.%d.%s" % (layer, e * local + int(g.group(3)), g.group(1)), g.group(2))
                    elif s:
                        key = ("decoder.layers.%d.mlp.experts.local_experts.%d.%s" % (layer, e * local + int(s.group(1)), s.group(2)), s.group(3))
                    else:
                        if e > 0:
                            continue  # non-expert copies on other EP ranks
                        mm = re.match(r"(.*)\.lora_([AB])\.weight$", rest)
                        key = ("decoder.layers.%d.%s" % (layer, mm.group(1)), mm.group(2))
                    mods.setdefault(key, {})[t] = v
    return mods


def gather(mods, cfg):
    """(module, 'A'|'B') -> whole Megatron matrix (SwiGLU B as (gate, up))."""
    tp = cfg["tensor_model_parallel_size"]
    out = {}
    for (mod, ab), parts in mods.items():
        parts = [parts[i] for i in range(tp)]
        row_base = mod.endswith("linear_proj") or mod.endswith("linear_fc2")
        if ab == "A":
            if row_base:
                out[(mod, ab)] = torch.cat(parts, dim=1)
            else:
                for p in parts[1:]:
                    assert torch.equal(p, parts[0]), mod
                out[(mod, ab)] = parts[0]
        else:
            if row_base:
                for p in parts[1:]:
                    assert torch.equal(p, parts[0]), mod
                out[(mod, ab)] = parts[0]
            elif mod.endswith("linear_fc1"):
                halves = [torch.chunk(p, 2, dim=0) for p in parts]
                out[(mod, ab)] = (torch.cat([h[0] for h in halves]), torch.cat([h[1] for h in halves]))
            else:
                out[(mod, ab)] = torch.cat(parts, dim=0)
    return out


def hf_modules(mod, prefix):
    """Megatron module -> [(hf module, part)]; part names how the base weight splits."""
    m = re.match(r"decoder\.layers\.(\d+)\.(.*)$", mod)
    layer, rest = m.group(1), m.group(2)
    base = prefix + layer
    x = re.match(r"mlp\.experts\.local_experts\.(\d+)\.(.*)$", rest)
    if x:
        base += MOE + x.group(1)
        rest = x.group(2)
        mlp = ""
    else:
        mlp = "mlp."
    if rest == "self_attention.linear_qkv":
        return [(base + ".self_attn.q_proj", "q"), (base + ".self_attn.k_proj", "k"), (base + ".self_attn.v_proj", "v")]
    if rest == "self_attention.linear_proj":
        return [(base + ".self_attn.o_proj", None)]
    if rest == mlp + "linear_fc1":
        return [(base + "." + mlp + "gate_proj", 0), (base + "." + mlp + "up_proj", 1)]
    if rest == mlp + "linear_fc2":
        return [(base + "." + mlp + "down_proj", None)]
    raise KeyError(mod)


def qkv_split(w, cfg, width):
    ng, nh, dim = cfg["num_query_groups"], cfg["num_attention_heads"], cfg["kv_channels"]
    w = w.reshape(ng, dim * (nh // ng + 2), width)
    q, k, v = torch.split(w, [dim * nh // ng, dim, dim], dim=1)
    return {"q": q.reshape(-1, width), "k": k.reshape(-1, width), "v": v.reshape(-1, width)}


def expect(top, prefix, out):
    cfg = load_cfg(top)
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(top)):
        if not os.path.isfile(os.path.join(top, name, "adapter_config.json")):
            continue
        g = gather(read_adapter(top, name, cfg), cfg)
        res = {}
        for (mod, ab), w in g.items():
            for hf, part in hf_modules(mod, prefix):
                key = "base_model.model." + hf + ".lora_" + ab + ".weight"
                if ab == "A":
                    res[key] = w.clone()
                elif part in ("q", "k", "v"):
                    res[key] = qkv_split(w, cfg, w.shape[-1])[part].clone()
                elif isinstance(part, int):
                    res[key] = w[part].clone()
                else:
                    res[key] = w.clone()
        torch.save({"model": res}, os.path.join(out, name + ".pt"))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "F64": torch.float64}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dt[v["dtype"]]) if b > a else torch.zeros(0, dtype=dt[v["dtype"]])
        out[k] = t.reshape(v["shape"])
    return out


def peft_value(pattern, name, default):
    # PEFT: a pattern key matches a module name that ends with it (as a regex), after a dot.
    for key, v in pattern.items():
        if re.match(r"(.*\.)?(%s)$" % key, name):
            return v
    return default


def check(top, prefix, peft_dir, reduced_factor=1.0):
    cfg = load_cfg(top)
    topk = cfg.get("moe_router_topk") or 1
    n = 0
    for name in sorted(os.listdir(top)):
        acp = os.path.join(top, name, "adapter_config.json")
        if not os.path.isfile(acp):
            continue
        with open(acp) as f:
            src = json.load(f)
        r, alpha, rs = src["r"], src["lora_alpha"], src.get("use_rslora", False)
        trained = alpha / (math.sqrt(r) if rs else r)
        d = peft_dir if name == "default" else os.path.join(peft_dir, name)
        with open(os.path.join(d, "adapter_config.json")) as f:
            pc = json.load(f)
        st = read_safetensors(os.path.join(d, "adapter_model.safetensors"))
        g = gather(read_adapter(top, name, cfg), cfg)
        for (mod, ab), w in g.items():
            if ab != "A":
                continue
            A = w.double()
            B = g[(mod, "B")]
            if isinstance(B, tuple):
                full = torch.cat(B).double() @ A * trained
                ffn = B[0].shape[0]
                parts = {0: full[:ffn], 1: full[ffn:]}
            else:
                full = B.double() @ A * trained
                parts = None
            for hf, part in hf_modules(mod, prefix):
                if part in ("q", "k", "v"):
                    want = qkv_split(full, cfg, full.shape[-1])[part]
                elif isinstance(part, int):
                    want = parts[part]
                else:
                    want = full
                a = st["base_model.model." + hf + ".lora_A.weight"].double()
                b = st["base_model.model." + hf + ".lora_B.weight"].double()
                pr = peft_value(pc.get("rank_pattern") or {}, hf, pc["r"])
                pa = peft_value(pc.get("alpha_pattern") or {}, hf, pc["lora_alpha"])
                assert a.shape[0] == pr, (hf, a.shape, pr)
                scale = pa / (math.sqrt(pr) if pc.get("use_rslora") else pr)
                got = b @ a * scale
                if pr != pc["r"]:
                    want = want * reduced_factor
                if not torch.allclose(got, want, rtol=1e-9, atol=1e-9):
                    print("MISMATCH", name, hf, float((got - want).abs().max()))
                    sys.exit(1)
                n += 1
    print("ok", n)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "expect":
        expect(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "both":  # expect into argv[4], check argv[5]
        expect(sys.argv[2], sys.argv[3], sys.argv[4])
        check(sys.argv[2], sys.argv[3], sys.argv[5], float(sys.argv[6]) if len(sys.argv) > 6 else 1.0)
    else:
        sys.exit("unknown command " + cmd)
