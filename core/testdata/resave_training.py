# Re-saves mcore_adapter rank files the way a training run would: torch.load each
# model_optim_rng.pt, keep its model state dicts but store tensors as views into
# larger storages (offsets, transposed strides, shared storages), and add optimizer
# state, RNG state, argparse args and plain fields next to them.
import argparse
import random
import sys

import torch

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None

for path in sys.argv[1:]:
    d = torch.load(path, map_location="cpu")
    out = {}
    for key, sd in d.items():
        new = type(sd)()
        for i, (name, t) in enumerate(sd.items()):
            if i % 3 == 0 and t.dim() == 2:
                # non-contiguous view: transpose of a contiguous transpose
                new[name] = t.t().contiguous().t()
            elif i % 3 == 1:
                # view at an offset into a larger storage
                big = torch.cat([torch.zeros(7, dtype=t.dtype), t.flatten(), torch.ones(5, dtype=t.dtype)])
                new[name] = big[7:7 + t.numel()].view(t.shape)
            else:
                new[name] = t.clone()
        out[key] = new
    out["optimizer"] = {
        "optimizer": {"state": {0: {"exp_avg": torch.randn(4), "step": torch.tensor(3.0)}},
                      "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.95), "params": [0]}]},
        "param_scheduler": {"num_steps": 10},
    }
    rng = {"random_rng_state": random.getstate(), "torch_rng_state": torch.get_rng_state()}
    if np is not None:
        rng["np_rng_state"] = np.random.get_state()
    out["rng_state"] = [rng]
    out["args"] = argparse.Namespace(tensor_model_parallel_size=2, lr=1e-4, seq_length=128)
    out["checkpoint_version"] = 3.0
    out["iteration"] = 1
    torch.save(out, path)
