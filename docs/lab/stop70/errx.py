"""errx.py NAME...: how much of the training-site error (est - truth) is a function of the covariates (GBM, 5-fold CV R2), and at held-out sites"""

import sys

import numpy as np
import pandas as pd
import xarray as xr
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_predict

for n in sys.argv[1:]:
    t = xr.open_dataset(f"fresh/{n}.nc")
    p = xr.open_dataset(f"fresh/p_{n}.nc")
    split = pd.read_csv(f"fresh/run_{n}/split.csv")
    tr = set(split.site[split.split != "test"].astype(str))
    m = np.array([str(s) in tr for s in t.site.values])
    x = np.c_[t.covariates.values, t.lon.values, t.lat.values, t.categories.values]
    ncat = t.categories.shape[1]
    catmask = [False] * (x.shape[1] - ncat) + [True] * ncat
    names = [str(v) for v in t.param.values]
    out = []
    for par in ["efolding", "tau4s3", "fs1s3"]:
        j = names.index(par)
        e = p.params.values[:, j] - t.true_params.values[:, j]
        g = HistGradientBoostingRegressor(
            max_iter=200, learning_rate=0.05, categorical_features=catmask, random_state=0
        )
        pr = cross_val_predict(g, x[m], e[m], cv=5)
        r2 = 1 - ((e[m] - pr) ** 2).mean() / e[m].var()
        g.fit(x[m], e[m])
        pt = g.predict(x[~m])
        r2t = 1 - ((e[~m] - pt) ** 2).mean() / e[~m].var()
        tt = t.true_params.values[:, j]

        # held-out R2 now and if the covariate-predictable error (learned at training sites vs truth) were removed
        def R(a, y=tt[~m]):  # noqa: N802
            return 1 - ((a - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()

        out.append(
            f"{par}: err var explained by covariates CV {r2:.2f} test {r2t:.2f}; heldout R2 {R(p.params.values[~m, j]):.3f} -> {R(p.params.values[~m, j] - pt):.3f}"
        )
    print(n, " | ".join(out))
