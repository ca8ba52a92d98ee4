#!/usr/bin/env python3
"""Independent restatement of block-FP8 dequantization, written with PyTorch.

Reads a block-FP8 Hugging Face checkpoint (F8_E4M3 weights with F32 X.weight_scale_inv per
128x128 block, as DeepSeek-V3 is released) and writes the bf16 checkpoint it stands for:
w_bf16 = bf16(float32(e4m3(w)) * scale_inv[i // 128, j // 128]) with torch's round-to-nearest-even
conversion, scales dropped, quantization_config removed from config.json. torch 1.13 has no
float8 dtype, so the e4m3fn code is decoded here from its bits: sign, 4 exponent bits (bias 7),
3 mantissa bits, subnormals at exponent 0.

usage: fp8_dequant.py IN_DIR OUT_DIR
"""
import json
import os
import struct
import sys

import torch


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out.append((name, info["dtype"], info["shape"], data[base + b:base + e]))
    return out


def e4m3_to_f32(raw, shape):
    u = torch.tensor(list(raw), dtype=torch.int64)
    sign = torch.where((u >> 7) & 1 == 1, -1.0, 1.0).to(torch.float64)
    exp = (u >> 3) & 0xF
    man = (u & 7).to(torch.float64)
    normal = (1.0 + man / 8.0) * torch.pow(2.0, (exp - 7).to(torch.float64))
    sub = (man / 8.0) * (2.0 ** -6)
    v = sign * torch.where(exp == 0, sub, normal)
    assert not bool(((exp == 15) & (man == 7)).any()), "NaN code in an FP8 weight"
    return v.to(torch.float32).reshape(shape)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    tensors = []
    for f in sorted(os.listdir(src)):
        if f.endswith(".safetensors"):
            tensors += read_st(os.path.join(src, f))
    by = {n: (dt, sh, raw) for n, dt, sh, raw in tensors}
    out = []
    for name, dt, shape, raw in tensors:
        if name.endswith(".weight_scale_inv"):
            continue
        if dt == "F8_E4M3":
            sdt, sshape, sraw = by[name + "_scale_inv"]
            assert sdt == "F32"
            s = torch.tensor(struct.unpack("<%df" % (len(sraw) // 4), sraw), dtype=torch.float32).reshape(sshape)
            full = s.repeat_interleave(128, 0).repeat_interleave(128, 1)[: shape[0], : shape[1]]
            w = (e4m3_to_f32(raw, shape) * full).to(torch.bfloat16)
            b = w.view(torch.int16).numpy().tobytes()
            out.append((name, "BF16", shape, b))
        else:
            out.append((name, dt, shape, raw))
    header, off = {}, 0
    for name, dt, shape, b in out:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for _, _, _, b in out:
            f.write(b)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg.pop("quantization_config", None)
    json.dump(cfg, open(os.path.join(dst, "config.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
