"""Lab truth: blocks' terms, but region offsets on Voronoi regions (no grid).

usage: gen_regions.py SEED OUT.nc  (14 region centres drawn uniformly over the sites' box)
"""

import sys

import numpy as np

sys.path.insert(0, "/work/main/benchmarks")
import recovery_truths as rt  # noqa: E402

from soilbinn.data.schema import save_dataset  # noqa: E402


def truth_regions(ds, seed):
    z = rt._standardised(ds)
    lon, lat = ds["lon"].values.astype(float), ds["lat"].values.astype(float)
    g = np.random.default_rng([seed, 6161])
    cx = g.uniform(lon.min(), lon.max(), 14)
    cy = g.uniform(lat.min(), lat.max(), 14)
    d = (lon[:, None] - cx) ** 2 + (lat[:, None] - cy) ** 2
    block = d.argmin(1)
    rng = np.random.default_rng([seed, 5151])
    keys = sorted(k for k in z if k != "lat")
    out = np.empty((len(lon), 21))
    for j in range(21):
        a, b, c = rng.choice(keys, 3, replace=False)
        v = rng.normal(0, 0.8) * z[a] + rng.normal(0, 0.8) * z[b] + 0.3 * rng.normal() * z[a] ** 2
        v = v + 0.6 * rng.normal() * np.log1p(np.exp(z[c]))
        v = v + rng.normal(0, 0.35, 14)[block]
        lo, hi = np.quantile(v, [0.01, 0.99])
        out[:, j] = 0.15 + 0.7 * np.clip((v - lo) / (hi - lo), 0, 1)
    return out


rt.TRUTHS["regions"] = truth_regions
seed, out = int(sys.argv[1]), sys.argv[2]
save_dataset(rt.make_truth_dataset("regions", 3000, seed), out)
print("wrote", out)
