"""errc.py NAME RUN P.nc: at the training sites, the errors' sd and correlations (4 learned),
and the w-limitation share."""

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
L = ["efolding", "tau4s3", "fs1s3", "w_scaling"]
E = np.stack(
    [p.params.values[idx, names.index(n)] - t.true_params.values[:, names.index(n)] for n in L], 1
)[tr]
print(name, "error mean", np.round(E.mean(0), 3), "sd", np.round(E.std(0), 3))
print(np.round(np.corrcoef(E.T), 2))
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
j = names.index("w_scaling")
tw, ew = t.true_params.values[tr, j], p.params.values[idx, j][tr]
print(
    "truth saturated",
    round((tw >= thr[tr]).mean(), 2),
    "estimate saturated",
    round((ew >= thr[tr]).mean(), 2),
    "both",
    round(((tw >= thr[tr]) & (ew >= thr[tr])).mean(), 2),
)
