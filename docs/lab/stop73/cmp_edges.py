"""cmp_edges.py T.nc RUN P.nc TRUE.npy: tree thresholds (from the estimates) against the truth's."""

import os
import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

sys.path.insert(0, "/work/lab/s73")
from tree_edges import tree_edges  # noqa: E402

t = xr.open_dataset(sys.argv[1])
split = pd.read_csv(f"{sys.argv[2]}/split.csv")
os.environ["TREE_P"] = sys.argv[3]
tr = set(split.site[split.split == "train"].astype(str))
m = np.array([str(s) in tr for s in t.site.values])
num = torch.as_tensor(t.covariates.values[m])
ll = torch.as_tensor(np.column_stack([t.lon.values[m], t.lat.values[m]]))
true = np.load(sys.argv[4])
X = np.column_stack([t.covariates.values[m], t.lon.values[m], t.lat.values[m]])
names = [str(c) for c in t.covariate.values] + ["lon", "lat"]
for tt in [1, 2, 3]:
    e = tree_edges(num, ll, tt).numpy()
    out = []
    for i, n in enumerate(names):
        col = X[:, i]
        te = [f"{np.mean(col <= v):.2f}" for v in true[i] if np.isfinite(v)]
        fe = [f"{np.mean(col <= v):.2f}" for v in e[i] if np.isfinite(v)]
        if te or fe:
            out.append(f"{n}: true {te} tree {fe}")
    print(tt, "\n  ".join(out))
