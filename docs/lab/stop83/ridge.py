"""ridge.py NAME TILE: median Fisher posterior sd and correlations (id_NAME.nc) in one tile of a
tiles truth and elsewhere."""

import sys

import numpy as np
import xarray as xr

name, C = sys.argv[1], int(sys.argv[2])
t = xr.open_dataset(f"fresh/{name}.nc")
d = xr.open_dataset(f"fresh/id_{name}.nc")
lon, lat = t.lon.values, t.lat.values
seed = int(name.strip("abcdefghijklmnopqrstuvwxyz"))
g = np.random.default_rng([seed, 7171])
w, h = g.uniform(7.0, 15.0), g.uniform(6.0, 12.0)
x0, y0 = g.uniform(0.0, w), g.uniform(0.0, h)
cell = np.floor((lon - x0) / w).astype(int) * 1000 + np.floor((lat - y0) / h).astype(int)
for lab, m in [("tile", cell == C), ("rest", cell != C)]:
    sd = d.posterior_sd.values[m]
    cor = d.correlation.values[m]
    print(
        lab,
        "median posterior sd",
        np.round(np.median(sd, 0), 3),
        "median corr tau-w",
        np.round(np.median(cor[:, 1, 3]), 3),
        "ef-tau",
        np.round(np.median(cor[:, 0, 1]), 3),
        "n_obs",
        np.median(d.n_obs.values[m]),
    )
