"""diag.py T.nc RUN P.nc: training-site R2 of the estimates; held-out R2 of the GP and of
gradient boosting fitted on (a) the training-site estimates, (b) the true training values."""

import sys

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.ensemble import HistGradientBoostingRegressor

t = xr.open_dataset(sys.argv[1])
split = pd.read_csv(f"{sys.argv[2]}/split.csv")
p = xr.open_dataset(sys.argv[3])
ts = [str(s) for s in t.site.values]
pos = {s: i for i, s in enumerate(ts)}
ps = {str(s): i for i, s in enumerate(p.site.values)}
tr = split.site[split.split == "train"].astype(str).values
te = split.site[split.split == "test"].astype(str).values
itr, ite = np.array([pos[s] for s in tr]), np.array([pos[s] for s in te])
ptr, pte = np.array([ps[s] for s in tr]), np.array([ps[s] for s in te])
X = np.column_stack([t.covariates.values, t.categories.values, t.lon.values, t.lat.values])
ncov = t.covariates.shape[1]
cat = np.zeros(X.shape[1], bool)
cat[ncov : ncov + t.categories.shape[1]] = True
names = [str(x) for x in t.param.values]


def r2(a, b):
    return 1 - ((a - b) ** 2).sum() / ((b - b.mean()) ** 2).sum()


def lg(u):
    u = np.clip(u, 1e-6, 1 - 1e-6)
    return np.log(u / (1 - u))


def gbm(y):
    m = HistGradientBoostingRegressor(
        max_iter=300, learning_rate=0.05, categorical_features=cat, random_state=0
    )
    m.fit(X[itr], y)
    z = m.predict(X[ite])
    return 1 / (1 + np.exp(-z))


out = []
for n in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(n)
    tt, te_t = t.true_params.values[itr, j], t.true_params.values[ite, j]
    est_tr, est_te = p.params.values[ptr, j], p.params.values[pte, j]
    out.append(
        f"{n}: train {r2(est_tr, tt):.3f} test-gp {r2(est_te, te_t):.3f} "
        f"gbm-est {r2(gbm(lg(est_tr)), te_t):.3f} gbm-true {r2(gbm(lg(tt)), te_t):.3f}"
    )
print(" | ".join(out))
