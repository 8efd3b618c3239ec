"""wtrain.py T.nc RUN P.nc ID.nc: w_scaling at constrained sites, train and test: mean true, mean pred, share within 2 sd"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

t, run, p, i = (xr.open_dataset(sys.argv[1]), sys.argv[2], xr.open_dataset(sys.argv[3]),
                xr.open_dataset(sys.argv[4]))
split = pd.read_csv(f"{run}/split.csv")
names = [str(x) for x in t.param.values]
j = names.index("w_scaling")
jj = [str(x) for x in i.param.values].index("w_scaling")
for part in ("train", "test"):
    sites = split.site[split.split == part].astype(str).values
    def at(ds):
        s = [str(x) for x in ds.site.values]
        return np.array([s.index(x) for x in sites])
    ti, pi, ii = at(t), at(p), at(i)
    m = i.constrained.values[ii, jj] == 1
    tt, pp, sd = t.true_params.values[ti, j][m], p.params.values[pi, j][m], i.posterior_sd.values[ii, jj][m]
    print(part, int(m.sum()), f"true {tt.mean():.3f} pred {pp.mean():.3f} within {np.mean(np.abs(pp - tt) <= 2 * sd):.2f}",
          f"r {np.corrcoef(tt, pp)[0, 1]:.2f}")
