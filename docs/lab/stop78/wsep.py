"""wsep.py NAME RUN P.nc: the estimate's w ratio to threshold at truth-saturated vs truth-limited
training sites (quantiles), and the threshold's own quantiles in each group."""

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
j = [str(x) for x in t.param.values].index("w_scaling")
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
tw, ew = t.true_params.values[:, j], p.params.values[idx, j]
sat = tw >= thr
r = ew / thr
q = [0.1, 0.25, 0.5, 0.75, 0.9]
print(
    name,
    f"sat n={int((tr & sat).sum())} ratio q {np.round(np.quantile(r[tr & sat], q), 2)} thr {np.round(np.quantile(thr[tr & sat], q), 2)}",
)
print(
    name,
    f"lim n={int((tr & ~sat).sum())} ratio q {np.round(np.quantile(r[tr & ~sat], q), 2)} thr {np.round(np.quantile(thr[tr & ~sat], q), 2)} truth ratio {np.round(np.quantile((tw / thr)[tr & ~sat], q), 2)}",
)
