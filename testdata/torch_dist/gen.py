#!/usr/bin/env python3
"""Make real torch_dist conformance fixtures for omnitui's loader/dcp.

Runs megatron-core's own dist_checkpointing.save (the writer under test) on
tiny GPT / MoE models, several gloo processes on one machine (CPU, or all
ranks on one GPU), and saves the same weights a second time as legacy
per-rank files (iter_0000001/mp_rank_*/model_optim_rng.pt), so that a Go test
can check that the torch_dist view equals the TP/EP-merged legacy tensors byte
for byte (and through them the HF output).

Not run yet: written in a session without the device machine. See README.md
for how to run it and what to commit.

usage: PYTHONPATH=<megatron-lm checkout at a tag> python gen.py --out DIR [--only NAME]
"""

import argparse
import json
import os
import shutil
import socket
import sys
import traceback
import zlib

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

# name: (world, tp, ep, etp, model dims, sharded_state_dict metadata)
FIXTURES = {
    # Dense GPT, stacked layers, TP=2: SwiGLU fc1 stored [all W; all V].
    "gpt_tp2": dict(world=2, tp=2, ep=1, etp=1, layers=2, experts=0, freq=None, meta={}),
    # MoE, every layer MoE, stacked layer and expert axes, TP=2 EP=2 ETP=1.
    "moe_tp2_ep2": dict(world=4, tp=2, ep=2, etp=1, layers=2, experts=4, freq=None, meta={}),
    # Dense-first MoE (moe_layer_freq list): per-layer keys, EP=2, ETP=2.
    "moe_dense_first_ep2_etp2": dict(world=4, tp=2, ep=2, etp=2, layers=3, experts=4, freq=[0, 1, 1], meta={}),
    # singleton_local_shards: _w/_v SwiGLU halves and per-expert keys, TP=2 EP=2.
    "moe_singleton_tp2_ep2": dict(world=4, tp=2, ep=2, etp=1, layers=2, experts=4, freq=None,
                                  meta={"singleton_local_shards": True}),
}

DIMS = dict(hidden=64, heads=4, groups=2, ffn=128, moe_ffn=32, vocab=128, seq=64)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_for(name, param, ps):
    """Seed per (parameter, shard): replicated copies get equal values (the
    save keeps replica 0 only), distinct shards distinct values."""
    s = zlib.crc32(name.encode())
    expert = "experts" in name
    if getattr(param, "tensor_model_parallel", False):
        tp_rank = ps.get_expert_tensor_parallel_rank() if expert else ps.get_tensor_model_parallel_rank()
        s += 1009 * (tp_rank + 1)
    if expert:
        s += 100003 * (ps.get_expert_model_parallel_rank() + 1)
    return s % (2**31)


def worker(rank, name, spec, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=spec["world"])
    from megatron.core import dist_checkpointing, parallel_state as ps
    from megatron.core.models.gpt import GPTModel
    from megatron.core.models.gpt.gpt_layer_specs import get_gpt_decoder_block_spec
    from megatron.core.transformer.transformer_config import TransformerConfig
    import megatron.core.package_info as pi

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(0)  # every rank on the one GPU; gloo carries the collectives
    ps.initialize_model_parallel(
        tensor_model_parallel_size=spec["tp"],
        expert_model_parallel_size=spec["ep"],
        expert_tensor_parallel_size=spec["etp"],
    )
    if cuda:
        from megatron.core.tensor_parallel import model_parallel_cuda_manual_seed
        model_parallel_cuda_manual_seed(1234)
    d = DIMS
    kw = dict(
        num_layers=spec["layers"], hidden_size=d["hidden"], num_attention_heads=d["heads"],
        num_query_groups=d["groups"], ffn_hidden_size=d["ffn"], gated_linear_unit=True,
        activation_func=torch.nn.functional.silu, normalization="RMSNorm", add_bias_linear=False,
        qk_layernorm=True, use_cpu_initialization=True, params_dtype=torch.bfloat16, bf16=True,
        tensor_model_parallel_size=spec["tp"], expert_model_parallel_size=spec["ep"],
        expert_tensor_parallel_size=spec["etp"], sequence_parallel=spec["tp"] > 1 and spec["experts"] > 0,
    )
    if spec["experts"]:
        kw.update(num_moe_experts=spec["experts"], moe_ffn_hidden_size=d["moe_ffn"], moe_router_topk=2,
                  moe_grouped_gemm=False, moe_token_dispatcher_type="alltoall")
        if spec["freq"] is not None:
            kw["moe_layer_freq"] = spec["freq"]
    config = TransformerConfig(**kw)
    block = get_gpt_decoder_block_spec(config, use_transformer_engine=False)
    model = GPTModel(config=config, transformer_layer_spec=block, vocab_size=d["vocab"],
                     max_sequence_length=d["seq"], position_embedding_type="rope",
                     share_embeddings_and_output_weights=False)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            g = torch.Generator().manual_seed(seed_for(pname, p, ps))
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype))

    root = os.path.join(out, name)
    ckpt = os.path.join(root, "torch_dist")
    legacy = os.path.join(root, "legacy")
    if rank == 0:
        os.makedirs(ckpt, exist_ok=True)
    dist.barrier()
    args = argparse.Namespace(num_layers=spec["layers"], num_experts=spec["experts"] or None,
                              hidden_size=d["hidden"], tensor_model_parallel_size=spec["tp"],
                              expert_model_parallel_size=spec["ep"])
    state = {
        "model": model.sharded_state_dict(metadata=dict(spec["meta"]) or None),
        "args": args, "iteration": 1, "checkpoint_version": 3.0,
    }
    dist_checkpointing.save(state, ckpt)

    # Legacy save of the same weights, named as mcore_adapter names rank folders.
    tp, ep = ps.get_tensor_model_parallel_rank(), ps.get_expert_model_parallel_rank()
    rd = "mp_rank_%02d" % tp + ("_%03d" % ep if spec["ep"] > 1 else "")
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("_extra_state")}
    # Ranks with the same (tp, ep) differ only in data parallelism and hold equal
    # copies: the lowest of them writes the folder.
    pairs = [None] * spec["world"]
    dist.all_gather_object(pairs, (tp, ep))
    if pairs.index((tp, ep)) == rank:
        os.makedirs(os.path.join(legacy, "iter_0000001", rd), exist_ok=True)
        torch.save({"model": sd, "iteration": 1, "checkpoint_version": 3.0},
                   os.path.join(legacy, "iter_0000001", rd, "model_optim_rng.pt"))
    dist.barrier()
    if rank == 0:
        with open(os.path.join(legacy, "latest_checkpointed_iteration.txt"), "w") as f:
            f.write("1")
        ver = getattr(pi, "__version__", "?")
        info = dict(
            fixture=name, megatron_core=ver, torch=torch.__version__, python=sys.version.split()[0],
            parallel=dict(tp=spec["tp"], ep=spec["ep"], etp=spec["etp"], world=spec["world"]),
            model=dict(DIMS, layers=spec["layers"], experts=spec["experts"], moe_layer_freq=spec["freq"],
                       qk_layernorm=True, swiglu=True, normalization="RMSNorm", dtype="bfloat16"),
            sharded_state_dict_metadata=spec["meta"],
            files=sorted(os.listdir(ckpt)),
        )
        with open(os.path.join(root, "fixture.json"), "w") as f:
            json.dump(info, f, indent=1)
    dist.barrier()
    ps.destroy_model_parallel()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", action="append")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    failed = []
    for name, spec in FIXTURES.items():
        if a.only and name not in a.only:
            continue
        shutil.rmtree(os.path.join(a.out, name), ignore_errors=True)
        try:
            mp.spawn(worker, args=(name, spec, free_port(), a.out), nprocs=spec["world"], join=True)
            print("ok", name, flush=True)
        except Exception:  # keep going: one failing layout must not cost the others
            traceback.print_exc()
            failed.append(name)
            print("FAILED", name, flush=True)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
