import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

sys.path.insert(0, "/work/wt86/src")
from soilbinn.nn.gp_prior import rbf_stack
from soilbinn.training.predict import load_run

name = sys.argv[1]
run = load_run(f"fresh/run_n_{name}")
pr = run.model.param_net
x = pr.x_train[:400]
ks = rbf_stack(x, x, pr.log_lengthscale, pr.correlation, pr.onehot, pr.cell_mask)
b = torch.diagonal(pr.b_cov())
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(f"fresh/p_n_{name}.nc")
split = pd.read_csv(f"fresh/run_n_{name}/split.csv")
s = split.site[split.split == "train"].astype(str).values
ti = pd.Index([str(v) for v in t.site.values]).get_indexer(s)
names = [str(v) for v in t.param.values]


def lg(v):
    return np.log(v / (1 - v))


for j, q in enumerate(["efolding", "tau4s3", "fs1s3", "w_scaling"]):
    k = ks[j] * b[j]
    marg = torch.diagonal(k).mean().item()
    # variance of a draw's deviation from its own site mean: mean diag - mean of all entries
    within = marg - k.mean().item()
    jj = names.index(q)
    print(
        f"{q:10s} b {b[j]:.3f} prior marginal var {marg:.3f} (spread across sites {within:.3f}) | var true logits {np.var(lg(t.true_params.values[ti, jj])):.3f} var mode logits {np.var(lg(p.params.values[ti, jj])):.3f}"
    )
