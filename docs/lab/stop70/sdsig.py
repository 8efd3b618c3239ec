"""sdsig.py NAME...: at training sites, does the Fisher sd at the ESTIMATE carry signal about the truth beyond the estimate?"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

for n in sys.argv[1:]:
    t = xr.open_dataset(f"fresh/{n}.nc")
    p = xr.open_dataset(f"fresh/p_{n}.nc")
    ie = xr.open_dataset(f"fresh/ide_{n}.nc")
    it = xr.open_dataset(f"fresh/id_{n}.nc")
    split = pd.read_csv(f"fresh/run_{n}/split.csv")
    tr = set(split.site[split.split != "test"].astype(str))
    sites = [str(s) for s in t.site.values]
    m = np.array([s in tr for s in sites])
    names = [str(x) for x in t.param.values]
    psites = [str(s) for s in p.site.values]
    assert psites == sites
    assert [str(s) for s in ie.site.values] == sites
    for par in ["efolding", "tau4s3", "fs1s3"]:
        j = names.index(par)
        k = [str(x) for x in ie.param.values].index(par)
        tt = t.true_params.values[m, j]
        pp = p.params.values[m, j]
        se = np.log(ie.posterior_sd.values[m, k])
        st = np.log(it.posterior_sd.values[m, k])
        sd = tt.std()
        q = np.quantile(se, [0.25, 0.75])
        lo, hi = se <= q[0], se >= q[1]
        X = np.c_[np.ones(m.sum()), pp]
        r1 = tt - X @ np.linalg.lstsq(X, tt, rcond=None)[0]
        X2 = np.c_[X, se]
        b2 = np.linalg.lstsq(X2, tt, rcond=None)[0]
        r2_ = tt - X2 @ b2
        print(
            f"{n:13s} {par:8s} bias/sd by sd_at_estimate quarter best {(pp - tt)[lo].mean() / sd:+.3f} worst {(pp - tt)[hi].mean() / sd:+.3f} | "
            f"corr(truth,sd_est) {np.corrcoef(tt, se)[0, 1]:+.2f} corr(est,sd_est) {np.corrcoef(pp, se)[0, 1]:+.2f} corr(sd_t,sd_e) {np.corrcoef(st, se)[0, 1]:+.2f} | "
            f"R2 truth~est {1 - r1.var() / tt.var():.3f} +log sd_est {1 - r2_.var() / tt.var():.3f} (coef {b2[2]:+.3f})"
        )
