"""misfit.py NAME...: log-SOC misfit at training / test sites of the truth (soc_true) and of the estimate (sim_*.nc)."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

for n in sys.argv[1:]:
    t = xr.open_dataset(f"fresh/{n}.nc")
    s = xr.open_dataset(f"fresh/sim_{n}.nc")
    split = pd.read_csv(f"fresh/run_{n}/split.csv")
    tr = set(split.site[split.split != "test"].astype(str))
    m = np.array([str(x) in tr for x in t.site.values])
    lo = np.log(t.soc.values)
    lt = np.log(t.soc_true.values)
    le = np.log(s.soc_sim.values)
    ok = np.isfinite(lo)
    for nm, mm in (("train", m), ("test", ~m)):
        k = ok & mm[:, None]
        mt = ((lo - lt)[k] ** 2).mean()
        me = ((lo - le)[k] ** 2).mean()
        d = ((le - lt)[k] ** 2).mean()
        nobs = k.sum()
        print(
            f"{n:13s} {nm:5s} n_obs {nobs:6d} misfit truth {mt:.5f} estimate {me:.5f}  -> 2*dlogL (sigma2=truth misfit) {nobs * (me - mt) / mt:8.1f}; est-vs-noise-free msd {d:.5f}"
        )
