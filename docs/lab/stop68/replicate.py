"""replicate.py T.nc P.nc OUT.nc SEED [NOISE]: the truth replaced by a run's predicted
parameters (all sites), SOC simulated from them with fresh log-normal noise (parametric
bootstrap replicate)."""

import sys

import numpy as np
import torch
import xarray as xr

from soilbinn.data.schema import save_dataset
from soilbinn.inputs.synth import simulate_soc_layer
from soilbinn.process.observation import interpolate_to_depths

t = xr.load_dataset(sys.argv[1])
p = xr.load_dataset(sys.argv[2])
seed = int(sys.argv[4])
noise = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
assert [str(s) for s in p.site.values] == [str(s) for s in t.site.values]
assert [str(s) for s in p.param.values] == [str(s) for s in t.param.values]
par = np.clip(p.params.values.astype(float), 1e-6, 1 - 1e-6)
t["true_params"].values[:] = par
t["params"].values[:] = par
layer = simulate_soc_layer(par, t, "binn2025")
depth = t["obs_depth"].values
soc_true = interpolate_to_depths(
    torch.from_numpy(layer), torch.from_numpy(depth), method="linear"
).numpy()
eps = np.random.default_rng([seed, 77]).standard_normal(depth.shape)
t["soc"].values[:] = np.where(np.isfinite(t["soc"].values), soc_true * np.exp(noise * eps), np.nan)
t["soc_true"].values[:] = soc_true
save_dataset(t, sys.argv[3])
print("wrote", sys.argv[3])
