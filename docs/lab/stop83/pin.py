"""pin.py RUN T.nc NEW [--set ...]: GP-stage rerun from the network with w_scaling's start
PINNED at PIN (env, default 0.98) x threshold at every training site (raised where the
network's is lower, lowered where higher); the other parameters the network's. No truth used.
PINBOTH=1: two starts, demo's and the pinned one."""

import sys

import numpy as np
import torch
import xarray as xr

sys.path.insert(0, "/work/wt83/benchmarks")
import gp_stage_rerun  # noqa: E402

import soilbinn.training.trainer as tm  # noqa: E402
from soilbinn.process.rates import water_saturation_threshold  # noqa: E402

_orig_fit = tm.fit_gp_prior
_orig_method = tm._Trainer.fit_gp_prior
STATE = {}


def pattern_start(p):
    import os

    q = p.clone()
    j, thr = STATE["j"], STATE["thr"].to(p.dtype).to(p.device)
    q[:, j] = (float(os.environ.get("PIN", "0.98")) * thr).clamp(max=0.999)
    return q


def fit(net, inputs, loss, n_obs, cfg, use_lonlat, seed, log, blend, starts, **kw):
    import os

    st = [*starts, pattern_start] if os.environ.get("PINBOTH") else [pattern_start]
    return _orig_fit(net, inputs, loss, n_obs, cfg, use_lonlat, seed, log, blend, st, **kw)


def method(self):
    ds = xr.open_dataset(sys.argv[2])
    sites = [str(v) for v in ds.site.values]
    rows = np.array([sites.index(s) for s in self.data["train"].site_ids])
    j = list(self.model.learned_names).index("w_scaling")
    thr = water_saturation_threshold(torch.as_tensor(ds.water_scalar.values[rows])) / 5.0
    STATE.update(j=j, thr=thr)
    return _orig_method(self)


tm.fit_gp_prior = fit
tm._Trainer.fit_gp_prior = method
if __name__ == "__main__":
    sys.exit(gp_stage_rerun.main())
