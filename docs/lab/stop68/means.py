"""means.py NAME [P.nc ...]: mean logits of the learned parameters at the training sites (truth, then each prediction)."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

n = sys.argv[1]
t = xr.open_dataset(f"fresh/{n}.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
tr = np.array([sp[str(s)] == "train" for s in t.site.values])
names = [str(x) for x in t.param.values]
J = [names.index(p) for p in ["efolding", "tau4s3", "fs1s3", "w_scaling"]]


def lg(v):
    v = np.clip(v, 1e-6, 1 - 1e-6)
    return np.log(v / (1 - v))


print("truth", np.round(lg(t.true_params.values[tr][:, J]).mean(0), 3))
for f in sys.argv[2:]:
    p = xr.open_dataset(f)
    print(f, np.round(lg(p.params.values[tr][:, J]).mean(0), 3))
