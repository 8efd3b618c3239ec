"""Lab: copy a truth dataset with extra categorical covariates, lon/lat grid cells.

usage: add_cells.py IN.nc OUT.nc SIZE:X0:Y0 [SIZE:X0:Y0 ...]  (cells of SIZE degrees from (X0, Y0))
"""

import sys

import numpy as np
import xarray as xr

src, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
ds = xr.load_dataset(src)
lon, lat = ds["lon"].values, ds["lat"].values
cats = ds["categories"].values
names = [str(c) for c in ds["category"].values]
attrs = dict(ds["categories"].attrs)
cols = [cats]
for s in specs:
    size, x0, y0 = (float(v) for v in s.split(":"))
    key = np.floor((lon - x0) / size).astype(int) * 1000 + np.floor((lat - y0) / size).astype(int)
    _, code = np.unique(key, return_inverse=True)
    name = f"cell{s.replace(':', '_').replace('.', 'p').replace('-', 'm')}"
    names.append(name)
    cols.append(code[:, None].astype(cats.dtype))
    k = int(code.max()) + 1
    attrs[f"flag_values_{name}"] = np.arange(k, dtype=np.int32)
    attrs[f"flag_meanings_{name}"] = " ".join(f"c{i}" for i in range(k))
    print(name, k, "cells")
new = np.concatenate(cols, axis=1)
ds = ds.drop_vars(["categories", "category"])
ds = ds.assign_coords(category=names)
ds["categories"] = (("site", "category"), new, attrs)
ds.to_netcdf(out)
