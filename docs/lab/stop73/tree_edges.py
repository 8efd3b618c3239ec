"""Lab: data-driven threshold edges from shallow boosted trees fitted to a run's
training-site estimates (TREE_P = predict output, TREE_T = truth dataset)."""

import os

import numpy as np
import torch
import xarray as xr
from sklearn.ensemble import GradientBoostingRegressor

LEARNED = ["efolding", "tau4s3", "fs1s3", "w_scaling"]


def tree_edges(numeric, lonlat, t):
    if os.environ.get("TREE_EDGES"):
        e = np.load(os.environ["TREE_EDGES"])
        assert e.shape == (numeric.shape[1] + 2, t), e.shape
        return torch.as_tensor(e)
    numeric = numeric.double().numpy()
    ll = lonlat.double().numpy()
    p = xr.open_dataset(os.environ["TREE_P"])
    from scipy.spatial import cKDTree

    dist, rows = cKDTree(np.column_stack([p.lon.values, p.lat.values])).query(ll)
    assert dist.max() < 1e-3, dist.max()
    names = [str(x) for x in p.param.values]
    X = np.column_stack([numeric, ll])
    X = np.where(np.isfinite(X), X, np.nanmedian(X, 0))
    v = X.shape[1]
    cands = [[] for _ in range(v)]
    params = os.environ.get("TREE_PARAMS", ",".join(LEARNED)).split(",")
    for n in params:
        u = np.clip(p.params.values[rows, names.index(n)].astype(float), 1e-6, 1 - 1e-6)
        y = np.log(u / (1 - u))
        m = GradientBoostingRegressor(
            max_depth=int(os.environ.get("TREE_DEPTH", 2)),
            n_estimators=int(os.environ.get("TREE_N", 20)),
            learning_rate=0.2,
            min_samples_leaf=40,
            random_state=0,
        )
        m.fit(X, y)
        for est in m.estimators_[:, 0]:
            tr = est.tree_
            for node in range(tr.node_count):
                f = tr.feature[node]
                if f < 0:
                    continue
                lo, hi = tr.children_left[node], tr.children_right[node]
                gain = (
                    tr.weighted_n_node_samples[node] * tr.impurity[node]
                    - tr.weighted_n_node_samples[lo] * tr.impurity[lo]
                    - tr.weighted_n_node_samples[hi] * tr.impurity[hi]
                )
                cands[f].append((gain, tr.threshold[node]))
    edges = np.full((v, t), np.inf)
    sd = X.std(0)
    for f in range(v):
        kept = []
        for _gain, th in sorted(cands[f], reverse=True):
            if all(abs(th - k) > 0.05 * sd[f] for k in kept):
                kept.append(th)
            if len(kept) == t:
                break
        edges[f, : len(kept)] = sorted(kept)
    print("tree edges per variable:", [int(np.isfinite(e).sum()) for e in edges], flush=True)
    return torch.as_tensor(edges)
