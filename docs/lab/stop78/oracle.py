"""oracle.py NAME RUN: the ceiling: regressors fitted to the TRUE logits of the training
sites (covariates, categories one-hot, lon/lat), held-out R2 per learned parameter."""

import sys

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel as C
from sklearn.gaussian_process.kernels import Matern, WhiteKernel
from sklearn.metrics import r2_score

name, run = sys.argv[1:3]
t = xr.open_dataset(f"fresh/{name}.nc")
split = pd.read_csv(f"{run}/split.csv")
part = dict(zip(split.site.astype(str), split.split))
s = np.array([part[str(x)] for x in t.site.values])
tr, te = s == "train", s == "test"
X = [t.covariates.values]
for j in range(t.categories.shape[1]):
    X.append(pd.get_dummies(t.categories.values[:, j]).values.astype(float))
X.append(np.c_[t.lon.values, t.lat.values])
X = np.concatenate(X, 1)
X = (X - X[tr].mean(0)) / (X[tr].std(0) + 1e-9)
names = [str(x) for x in t.param.values]
out = []
for par in ["efolding", "tau4s3", "fs1s3"]:
    y = t.true_params.values[:, names.index(par)]
    hb = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05).fit(X[tr], y[tr])
    r_hb = r2_score(y[te], hb.predict(X[te]))
    # spatial only: GP on lon/lat of the residual of a covariate GBM
    hb2 = HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05).fit(X[tr][:, :-2], y[tr])
    res = y[tr] - hb2.predict(X[tr][:, :-2])
    gp = GaussianProcessRegressor(
        C(0.01) * Matern(length_scale=0.3, nu=0.5) + WhiteKernel(1e-3), normalize_y=False
    ).fit(X[tr][:, -2:][:1500], res[:1500])
    r_rk = r2_score(y[te], hb2.predict(X[te][:, :-2]) + gp.predict(X[te][:, -2:]))
    r_cov = r2_score(y[te], hb2.predict(X[te][:, :-2]))
    out.append(f"{par} gbm {r_hb:.3f} cov-only {r_cov:.3f} +kriging {r_rk:.3f}")
print(name, " | ".join(out), flush=True)
