"""pin.py RUN T.nc NEW [--set ...]: GP-stage rerun from the network with w_scaling's start
PINNED at PIN (env, default 0.98) x threshold at every training site (raised where the
network's is lower, lowered where higher); the other parameters the network's. No truth is
used. Built on stop 78's tpat.py (in the lab directory), whose start it replaces."""

import os
import sys

import numpy as np
import torch
import tpat  # patches the trainer's GP stage to run tpat.pattern_start alone
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold


def pinned_start(p):
    q = p.clone()
    j, thr = tpat.STATE["j"], tpat.STATE["thr"].to(p.dtype).to(p.device)
    q[:, j] = (float(os.environ.get("PIN", "0.98")) * thr).clamp(max=0.999)
    return q


def method(self):
    ds = xr.open_dataset(sys.argv[2])
    sites = [str(v) for v in ds.site.values]
    rows = np.array([sites.index(s) for s in self.data["train"].site_ids])
    thr = water_saturation_threshold(torch.as_tensor(ds.water_scalar.values[rows])) / 5.0
    tpat.STATE.update(j=list(self.model.learned_names).index("w_scaling"), thr=thr)
    return tpat._orig_method(self)


tpat.pattern_start = pinned_start
tpat.tm._Trainer.fit_gp_prior = method
if __name__ == "__main__":
    sys.exit(tpat.gp_stage_rerun.main())
