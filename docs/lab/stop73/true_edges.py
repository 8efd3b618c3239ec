"""true_edges.py T.nc SEED OUT.npy T: the steps truth's own thresholds of the learned parameters."""

import sys

import numpy as np
import xarray as xr

sys.path.insert(0, "/work/main/benchmarks")
from recovery_truths import _features  # noqa: E402

ds = xr.open_dataset(sys.argv[1])
seed, t = int(sys.argv[2]), int(sys.argv[4])
f, lc, _ = _features(ds)
cats = ds["categories"].values.astype(int)
tex = cats[:, [str(c) for c in ds["category"].values].index("texture_class")]
keys = ["pet", "clay", "sand", "moisture_index", "bedrock_depth", "npp", "ph"]
rng = np.random.default_rng([seed, 904])
rng.normal(0, 0.5, (21, lc.max() + 1, tex.max() + 1))
names = [str(x) for x in ds.param.values]
want = {names.index(n) for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]}
cov = [str(c) for c in ds.covariate.values]
found = {c: [] for c in cov}
for j in range(21):
    for k in rng.choice(keys, 3, replace=False):
        x = f[k]
        th = np.quantile(x, rng.uniform(0.2, 0.8))
        rng.choice([-1.0, 1.0]), rng.uniform(0.6, 1.2)
        if j in want:
            found[k].append(th)
    g, k = rng.choice(keys, 2, replace=False)
    if j in want:
        found[g].append(f[g].mean())
edges = np.full((len(cov) + 2, t), np.inf)
for i, c in enumerate(cov):
    v = sorted(found[c])[:t]
    edges[i, : len(v)] = v
print({c: len(v) for c, v in found.items() if v})
np.save(sys.argv[3], edges)
