"""How many MacKay updates the support estimate needs, on captured inputs (lab)."""

import time

import torch

import soilbinn.training.gp_support as gs

torch.set_num_threads(1)
args, kw = torch.load("capgp.pt", weights_only=False)
print(args[0].shape, [gr.shape[1] for gr in args[3]], kw)
out = {}
for it in (10, 20, 30, 50, 100, 200):
    t0 = time.perf_counter()
    out[it] = gs.group_precisions(*args, **{**kw, "iterations": it, "tol": 0.0})
    print(it, f"{time.perf_counter() - t0:.3f} s")
for it, a in out.items():
    diff = float((a.log() - out[200].log()).abs().max())
    off = int(((a >= 1e4) != (out[200] >= 1e4)).sum())
    print(it, "max |log a - log a200|", diff, "switched off differ", off)
