"""wdiag.py NAME [P.nc]: tau4s3/efolding/fs1s3 errors at held-out sites by where w_scaling
sits against its saturation threshold (true and estimated)."""

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold

n = sys.argv[1]
t = xr.open_dataset(f"fresh/{n}.nc")
p = xr.open_dataset(sys.argv[2] if len(sys.argv) > 2 else f"fresh/p_{n}.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
lab = np.array([sp[str(s)] for s in t.site.values])
names = [str(x) for x in t.param.values]
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
j = names.index("w_scaling")
wt, wp = t.true_params.values[:, j], p.params.values[:, j]
for part in ["train", "test"]:
    m = lab == part
    sat_t = wt >= thr
    ratio = wp / thr
    print(
        part,
        f"true saturated {sat_t[m].mean():.2f}; est/threshold quantiles",
        np.round(np.quantile(ratio[m], [0.1, 0.25, 0.5, 0.75, 0.9]), 3),
    )
    for name in ["efolding", "tau4s3", "fs1s3"]:
        k = names.index(name)
        e = p.params.values[:, k] - t.true_params.values[:, k]
        lo = m & (ratio < 0.97)
        hi = m & (ratio >= 0.97)
        print(
            f"  {name:8s} bias all {e[m].mean():+.3f} | est w < 0.97 thr ({lo.sum()}) {e[lo].mean():+.3f}"
            f" | est w >= 0.97 thr ({hi.sum()}) {e[hi].mean():+.3f} | true sat {e[m & sat_t].mean():+.3f}"
            f" unsat {e[m & ~sat_t].mean():+.3f} | corr(err, ratio) {np.corrcoef(e[m], np.minimum(ratio[m], 1.5))[0, 1]:+.2f}"
        )
