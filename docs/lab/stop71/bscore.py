"""bscore.py T.nc RUN ID.nc -> R2 efolding/tau4s3/fs1s3 and w check, GP alone and corrected"""

import sys

import numpy as np
import xarray as xr

t = xr.open_dataset(sys.argv[1])
b = np.load(f"{sys.argv[2]}/boost.npz")
idf = xr.open_dataset(sys.argv[3])
names = [str(x) for x in t.param.values]
ts = [str(s) for s in t.site.values]
learned = [str(x) for x in b["names"]]
ids = [str(s) for s in b["test_ids"]]
idx = np.array([ts.index(s) for s in ids])
isites = [str(s) for s in idf.site.values]
ii = np.array([isites.index(s) for s in ids])
jj = [str(x) for x in idf.param.values].index("w_scaling")
m = idf.constrained.values[ii, jj] == 1
out = []
for kind in ("gp", "boost"):
    p = b[f"test_{kind}"]
    r2 = []
    for n in ["efolding", "tau4s3", "fs1s3"]:
        tt = t.true_params.values[idx, names.index(n)]
        pp = p[:, learned.index(n)]
        r2.append(1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum())
    err = np.abs(
        p[:, learned.index("w_scaling")] - t.true_params.values[idx, names.index("w_scaling")]
    )
    near = err <= 2 * idf.posterior_sd.values[ii, jj]
    ok = min(r2) >= 0.85 and (m.sum() == 0 or near[m].mean() >= 0.95)
    out.append(
        " / ".join(f"{v:.3f}" for v in r2)
        + f" w {int(near[m].sum())}/{int(m.sum())} "
        + ("PASS" if ok else "miss")
    )
print(" | ".join(out))
