"""wsat.py T.nc OUT.nc: T with true_params' w_scaling set to 1.02 x each site's saturation
threshold (the saturated hypothesis, fixed like the 17 others)."""

import sys

import numpy as np
import torch
import xarray as xr

from soilbinn.process.rates import water_saturation_threshold

t = xr.open_dataset(sys.argv[1]).load()
thr = water_saturation_threshold(torch.as_tensor(t.water_scalar.values)).numpy() / 5.0
j = [str(x) for x in t.param.values].index("w_scaling")
tp = t.true_params.values.copy()
print(
    "truth saturated",
    (tp[:, j] >= thr).mean().round(3),
    "thr_u quantiles",
    np.quantile(thr, [0.1, 0.5, 0.9]).round(3),
)
tp[:, j] = np.clip(1.02 * thr, 0, 1)
t["true_params"] = (t.true_params.dims, tp, t.true_params.attrs)
t.to_netcdf(sys.argv[2])
