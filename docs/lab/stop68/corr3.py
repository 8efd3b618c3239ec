"""corr3.py NAME TAG: held-out R2 efolding/tau4s3/fs1s3 after subtracting the replicate's
mean bias at the training sites (unit scale); the biases, replicate then true."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

n, tag = sys.argv[1], sys.argv[2]
t = xr.open_dataset(f"fresh/{n}.nc")
p = xr.open_dataset(f"fresh/p_{n}.nc")
q = xr.open_dataset(f"rep/{tag}_{n}.p.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
lab = np.array([sp[str(s)] for s in t.site.values])
tr, te = lab == "train", lab == "test"
names = [str(x) for x in t.param.values]
r2s, bs = [], []
for name in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(name)
    tt, pp, qq = t.true_params.values[:, j], p.params.values[:, j], q.params.values[:, j]
    b = np.mean(qq[tr] - pp[tr])
    e = pp[te] - b - tt[te]
    r2s.append(1 - (e**2).sum() / ((tt[te] - tt[te].mean()) ** 2).sum())
    bs.append(f"{b:+.3f}/{np.mean(pp[tr] - tt[tr]):+.3f}")
print(
    f"| {n} | {tag} | "
    + " / ".join(f"{v:.3f}" for v in r2s)
    + (" PASS" if min(r2s) >= 0.85 else "")
    + " | "
    + ", ".join(bs)
    + " |"
)
