"""estgbm.py NAME RUN P.nc: a regressor fitted to the fit's OWN training-site estimates
(covariates, categories one-hot; no lon/lat), its held-out R2 against the truth, beside the
package's prediction and a regressor fitted to the truth (the ceiling)."""

import sys

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score

name, run, pred = sys.argv[1:4]
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(pred)
ps = [str(s) for s in p.site.values]
idx = np.array([ps.index(str(s)) for s in t.site.values])
split = pd.read_csv(f"{run}/split.csv")
part = dict(zip(split.site.astype(str), split.split))
s = np.array([part[str(x)] for x in t.site.values])
tr, te = s == "train", s == "test"
X = [t.covariates.values]
for j in range(t.categories.shape[1]):
    X.append(pd.get_dummies(t.categories.values[:, j]).values.astype(float))
X = np.concatenate(X, 1)
names = [str(x) for x in t.param.values]
out = []
for par in ["efolding", "tau4s3", "fs1s3"]:
    y = t.true_params.values[:, names.index(par)]
    e = p.params.values[idx, names.index(par)]

    def fit(tgt):
        return HistGradientBoostingRegressor(max_iter=400, learning_rate=0.05, random_state=0).fit(
            X[tr], tgt[tr]
        )

    r_pkg = r2_score(y[te], e[te])
    r_est = r2_score(y[te], fit(e).predict(X[te]))
    r_tru = r2_score(y[te], fit(y).predict(X[te]))
    out.append(f"{par} pkg {r_pkg:.3f} gbm-on-estimates {r_est:.3f} gbm-on-truth {r_tru:.3f}")
print(name, " | ".join(out), flush=True)
