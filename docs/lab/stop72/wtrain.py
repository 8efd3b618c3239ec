"""wtrain.py T.nc RUN P.nc ID.nc: w_scaling at the constrained training and held-out sites:
how many, mean truth, mean estimate, share within 2 sd, correlation"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

t, run, p, i = (xr.open_dataset(sys.argv[1]), sys.argv[2], xr.open_dataset(sys.argv[3]),
                xr.open_dataset(sys.argv[4]))  # fmt: skip
split = pd.read_csv(f"{run}/split.csv")
j = [str(x) for x in t.param.values].index("w_scaling")
jj = [str(x) for x in i.param.values].index("w_scaling")


def at(ds: xr.Dataset, sites: np.ndarray) -> np.ndarray:
    s = [str(x) for x in ds.site.values]
    return np.array([s.index(x) for x in sites])


for part in ("train", "test"):
    sites = split.site[split.split == part].astype(str).values
    ti, pi, ii = at(t, sites), at(p, sites), at(i, sites)
    m = i.constrained.values[ii, jj] == 1
    tt = t.true_params.values[ti, j][m]
    pp = p.params.values[pi, j][m]
    sd = i.posterior_sd.values[ii, jj][m]
    print(part, int(m.sum()), f"true {tt.mean():.3f} pred {pp.mean():.3f}",
          f"within {np.mean(np.abs(pp - tt) <= 2 * sd):.2f} r {np.corrcoef(tt, pp)[0, 1]:.2f}")  # fmt: skip
