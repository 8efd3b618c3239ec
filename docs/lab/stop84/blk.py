"""blk.py NAME [TAG]: is the GP's error at the training sites regional (10-degree blocks)?"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

name = sys.argv[1]
tag = sys.argv[2] if len(sys.argv) > 2 else "n"
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(f"fresh/p_{tag}_{name}.nc")
split = pd.read_csv(f"fresh/run_{tag}_{name}/split.csv")
ts = np.array([str(s) for s in t.site.values])
sp = dict(zip(split.site.astype(str), split.split))
tr = np.array([sp.get(s) == "train" for s in ts])
te = ~tr
names = [str(x) for x in t.param.values]
lon, lat = t.lon.values, t.lat.values
key = np.floor(lon / 10) * 1000 + np.floor(lat / 10)
for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]:
    j = names.index(n)
    tt, pp = t.true_params.values[:, j], p.params.values[:, j]

    def r2(m, a, b):
        return 1 - ((a[m] - b[m]) ** 2).sum() / ((b[m] - b[m].mean()) ** 2).sum()

    e = pp - tt
    df = pd.DataFrame({"k": key[tr], "e": e[tr], "t": tt[tr]})
    be = df.groupby("k").e.transform("mean").values
    bt = df.groupby("k").t.transform("mean").values
    fe = 1 - ((e[tr] - be) ** 2).sum() / (e[tr] ** 2).sum()
    ft = 1 - ((tt[tr] - bt) ** 2).sum() / ((tt[tr] - tt[tr].mean()) ** 2).sum()
    print(
        f"{n:9s} R2 train {r2(tr, pp, tt):.3f} test {r2(te, pp, tt):.3f} | share of train SSE in block means {fe:.2f} | truth var in block means {ft:.2f}"
    )
