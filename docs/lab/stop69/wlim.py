"""wlim.py NAME [P.nc]: at the training sites whose true w_scaling is water-limited, the errors of
w_scaling (as a ratio to the threshold) and of the other parameters, by how limited the truth is."""

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
train = np.array([sp[str(s)] != "test" for s in t.site.values])
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
names = [str(x) for x in t.param.values]
P = p.params.sel(site=t.site.values)


def v(src, k):
    return src.sel(param=k).values


wt, wp = v(t.true_params, "w_scaling"), v(P, "w_scaling")
rt, rp = np.minimum(wt / thr, 1), np.minimum(wp / thr, 1)
lim = train & (rt < 1)
print(n, f"truly limited training sites {lim.sum()} ({lim.sum() / train.sum():.0%})")
for lo_, hi_ in [(0, 0.5), (0.5, 0.8), (0.8, 1.0)]:
    m = lim & (rt >= lo_) & (rt < hi_)
    if not m.any():
        continue
    e = {k: (v(P, k) - v(t.true_params, k))[m].mean() for k in ["efolding", "tau4s3", "fs1s3"]}
    print(
        f"  true w/thr in [{lo_},{hi_}) n={m.sum():4d}: est w/thr (capped) mean {rp[m].mean():.3f} vs true {rt[m].mean():.3f};",
        " ".join(f"{k} {x:+.3f}" for k, x in e.items()),
    )
