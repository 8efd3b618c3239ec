"""wq.py NAME RUN P.nc: where the true w_scaling saturates (training sites), the estimate's
ratio to the saturation threshold and the other parameters' mean errors by that ratio."""

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold

name, run, pred = sys.argv[1:4]
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(pred)
split = pd.read_csv(f"{run}/split.csv")
part = dict(zip(split.site.astype(str), split.split))
sites = [str(s) for s in t.site.values]
psites = [str(s) for s in p.site.values]
idx = np.array([psites.index(s) for s in sites])
train = np.array([part[s] for s in sites]) == "train"
names = [str(x) for x in t.param.values]
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
j = names.index("w_scaling")
truth, est = t.true_params.values[:, j], p.params.values[idx, j]
sat = train & (truth >= thr)
ratio = est / thr
quart = np.round(np.quantile(ratio[sat], [0.1, 0.25, 0.5, 0.75, 0.9]), 3)
print(name, "saturated", round(sat.sum() / train.sum(), 2), "est/threshold q10-q90", quart)
edges = [0, 0.8, 0.9, 0.95, 0.97, 10]
for par in ["efolding", "tau4s3", "fs1s3"]:
    k = names.index(par)
    err = p.params.values[idx, k] - t.true_params.values[:, k]
    cells = []
    for a, b in zip(edges[:-1], edges[1:]):
        s = sat & (ratio >= a) & (ratio < b)
        cells.append(f"[{a},{b}) n={s.sum()} {err[s].mean():+.3f}" if s.sum() else f"[{a},{b}) -")
    print(" ", par, "error by est/threshold:", " | ".join(cells),
          f"| truth limited {err[train & ~sat].mean():+.3f}")  # fmt: skip
