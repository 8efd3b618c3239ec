"""trte.py NAME RUN P.nc: R2 at training vs test sites (the prediction at both), and the
w-saturated share: is the loss in the training-site estimates or in the extrapolation?"""

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
s = np.array([part[str(x)] for x in t.site.values])
names = [str(x) for x in t.param.values]


def r2(a, b):
    return 1 - ((a - b) ** 2).sum() / ((b - b.mean()) ** 2).sum()


out = []
for par in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(par)
    tt = t.true_params.values[:, j]
    pp = p.params.values[idx, j]
    out.append(
        f"{par} train {r2(pp[s == 'train'], tt[s == 'train']):.3f} test {r2(pp[s == 'test'], tt[s == 'test']):.3f}"
    )
print(name, " | ".join(out))
