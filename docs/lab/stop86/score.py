"""score.py T.nc RUN P.nc [ID.nc] -> one line: R2 efolding/tau4s3/fs1s3, w within 2sd, pass"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

t = xr.open_dataset(sys.argv[1])
run = sys.argv[2]
p = xr.open_dataset(sys.argv[3])
split = pd.read_csv(f"{run}/split.csv")
test = split.site[split.split == "test"].astype(str).values
names = [str(x) for x in t.param.values]
ts = [str(s) for s in t.site.values]
idx = np.array([ts.index(s) for s in test])
ps = [str(s) for s in p.site.values]
pidx = np.array([ps.index(s) for s in test])
r2 = []
for n in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(n)
    tt = t.true_params.values[idx, j]
    pp = p.params.values[pidx, j]
    r2.append(1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum())
w = ""
ok = all(v >= 0.85 for v in r2)
if len(sys.argv) > 4:
    i = xr.open_dataset(sys.argv[4])
    isites = [str(s) for s in i.site.values]
    ii = np.array([isites.index(s) for s in test])
    j = names.index("w_scaling")
    jj = [str(x) for x in i.param.values].index("w_scaling")
    m = i.constrained.values[ii, jj] == 1
    err = np.abs(p.params.values[pidx, j] - t.true_params.values[idx, j])
    near = err <= 2 * i.posterior_sd.values[ii, jj]
    w = f"{int(near[m].sum())}/{int(m.sum())}"
    if m.sum():
        ok = ok and near[m].mean() >= 0.95
print(" / ".join(f"{v:.3f}" for v in r2), w, "PASS" if ok else "miss")
