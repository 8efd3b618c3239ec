"""tilerr.py NAME RUN P.nc: held-out and training errors of efolding/tau4s3 by tile (tiles truth)."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

name, run, pred = sys.argv[1:4]
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
for n in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(n)
    e = p.params.values[idx, j] - t.true_params.values[:, j]
    te = sp == "test"
    tv = t.true_params.values[te, j]
    print(n, "test sse share by tile (top 5):")
    df = pd.DataFrame({"cell": cell[te], "e2": e[te] ** 2, "e": e[te]})
    gg = df.groupby("cell").agg(n=("e2", "size"), sse=("e2", "sum"), bias=("e", "mean"))
    gg["share"] = gg.sse / gg.sse.sum()
    gg["ntrain"] = [int(((cell == c) & (sp == "train")).sum()) for c in gg.index]
    print(gg.sort_values("share", ascending=False).head(5).round(3).to_string())
    print("  test var", tv.var().round(4), "mse", (e[te] ** 2).mean().round(4))
