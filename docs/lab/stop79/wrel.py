"""wrel.py NAME RUN P.nc: thresholds, truth and estimate of w_scaling (unit scale) at training sites."""

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
ps = [str(s) for s in p.site.values]
idx = np.array([ps.index(str(s)) for s in t.site.values])
tr = np.array([part[str(x)] for x in t.site.values]) == "train"
names = [str(x) for x in t.param.values]
j = names.index("w_scaling")
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
thr = thr[tr]
tw = t.true_params.values[tr, j]
ew = p.params.values[idx, j][tr]


def lg(v):
    return np.log(v / (1 - v))


def q(v):
    return np.round(np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95]), 3)


print("thr", q(thr))
print("truth", q(tw))
print("est", q(ew))
print("truth/thr", q(tw / thr))
print("est/thr", q(ew / thr))
r = ew / thr
s = tw >= thr
print(
    "truth-saturated sites: est/thr",
    q(r[s]),
    " truth-limited: est/thr",
    q(r[~s]) if (~s).any() else "-",
)
print(
    "corr(logit est, logit thr) at truth-saturated",
    np.round(np.corrcoef(lg(ew[s]), lg(thr[s]))[0, 1], 2),
    "corr(logit truth, logit thr)",
    np.round(np.corrcoef(lg(tw), lg(thr))[0, 1], 2),
)
