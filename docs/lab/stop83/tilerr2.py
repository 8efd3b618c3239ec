"""tilerr2.py NAME RUN P.nc TILE: truth and estimate of efolding, tau4s3, w_scaling, fs1s3
in one tile of a tiles truth, training and held-out sites."""

import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold

name, run, pred = sys.argv[1:4]
C = int(sys.argv[4])
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(pred)
split = pd.read_csv(f"{run}/split.csv")
part = dict(zip(split.site.astype(str), split.split))
ps = [str(s) for s in p.site.values]
idx = np.array([ps.index(str(s)) for s in t.site.values])
sp = np.array([part[str(x)] for x in t.site.values])
names = [str(x) for x in t.param.values]
lon, lat = t.lon.values, t.lat.values
seed = int(name.strip("abcdefghijklmnopqrstuvwxyz"))
g = np.random.default_rng([seed, 7171])
w, h = g.uniform(7.0, 15.0), g.uniform(6.0, 12.0)
x0, y0 = g.uniform(0.0, w), g.uniform(0.0, h)
cell = np.floor((lon - x0) / w).astype(int) * 1000 + np.floor((lat - y0) / h).astype(int)
m = cell == C
j = names.index("tau4s3")
k = names.index("efolding")
df = pd.DataFrame(
    {
        "lon": lon[m],
        "lat": lat[m],
        "split": sp[m],
        "tau_t": t.true_params.values[m, j],
        "tau_p": p.params.values[idx[m], j],
        "ef_t": t.true_params.values[m, k],
        "ef_p": p.params.values[idx[m], k],
    }
)
print(df.groupby("split")[["tau_t", "tau_p", "ef_t", "ef_p"]].describe().T.round(3).to_string())
te = df[df.split == "test"]
print(te.sort_values("tau_p").head(8).round(3).to_string())
print("test lon/lat range", te.lon.min(), te.lon.max(), te.lat.min(), te.lat.max())

thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
jw = names.index("w_scaling")
d2 = pd.DataFrame(
    {
        "split": sp[m],
        "w_t": t.true_params.values[m, jw],
        "w_p": p.params.values[idx[m], jw],
        "thr": thr[m],
        "fs_t": t.true_params.values[m, names.index("fs1s3")],
        "fs_p": p.params.values[idx[m], names.index("fs1s3")],
    }
)
d2["sat_t"] = d2.w_t >= d2.thr
d2["sat_p"] = d2.w_p >= d2.thr
print(d2.groupby("split").mean().round(3).to_string())
