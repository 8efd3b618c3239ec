"""addcat.py FAM SEED: the truth with its regions as a fourth categorical covariate (what a
user who knows the regions, e.g. ecoregions, would supply): fresh/FAMSEED_rc.nc.
usage: addcat.py FAM SEED [KIND]: KIND (blocks, regions, tiles) the regions' kind, by default the truth's."""

import sys

import numpy as np
import xarray as xr

name, seed = sys.argv[1], int(sys.argv[2])
fam = (
    sys.argv[3] if len(sys.argv) > 3 else name
)  # the regions' kind (another than the truth's: irrelevant regions)
ds = xr.open_dataset(f"fresh/{name}{seed}.nc").load()
lon, lat = ds["lon"].values.astype(float), ds["lat"].values.astype(float)
if fam == "blocks":
    cell = (np.floor((lon + 130) / 10) * 10 + np.floor((lat - 20) / 10)).astype(int)
elif fam == "regions":
    g = np.random.default_rng([seed, 6161])
    cx, cy = g.uniform(lon.min(), lon.max(), 14), g.uniform(lat.min(), lat.max(), 14)
    cell = ((lon[:, None] - cx) ** 2 + (lat[:, None] - cy) ** 2).argmin(1)
elif fam == "tiles":
    g = np.random.default_rng([seed, 7171])
    w, h = g.uniform(7.0, 15.0), g.uniform(6.0, 12.0)
    x0, y0 = g.uniform(0.0, w), g.uniform(0.0, h)
    cell = np.floor((lon - x0) / w).astype(int) * 1000 + np.floor((lat - y0) / h).astype(int)
_, block = np.unique(cell, return_inverse=True)
cat = ds["categories"]
new = xr.DataArray(
    block.astype(np.int32)[:, None],
    dims=("site", "category"),
    coords={"site": ds.site, "category": ["region"]},
)
out = xr.concat([cat, new], dim="category")
out.attrs = dict(cat.attrs)
k = int(block.max()) + 1
out.attrs["flag_values_region"] = np.arange(k, dtype=np.int32)
out.attrs["flag_meanings_region"] = " ".join(f"r{i}" for i in range(k))
ds = ds.drop_vars("categories").drop_dims("category").assign(categories=out)
ds.to_netcdf(f"fresh/{name}{seed}_rc.nc")
print(name, seed, fam, k, "regions")
