"""addpairs.py IN OUT: IN's categorical covariates with each pair of them added as a category
(code a * K_b + b over the codes present), e.g. land_cover x texture_class."""

import itertools
import sys

import numpy as np
import xarray as xr

sys.path.insert(0, "/work/wt86/src")
from soilbinn.data.schema import save_dataset

ds = xr.load_dataset(sys.argv[1])
cat = ds["categories"]
names = [str(c) for c in ds["category"].values]
short = {"land_cover": "lc", "climate_zone": "cz", "texture_class": "tex"}
news, attrs = [], dict(cat.attrs)
for a, b in itertools.combinations(names, 2):
    ca, cb = cat.sel(category=a).values.astype(int), cat.sel(category=b).values.astype(int)
    ok = (ca >= 0) & (cb >= 0)
    pair = np.where(ok, ca * (cb.max() + 1) + cb, -1)
    _, code = np.unique(pair[ok], return_inverse=True)
    out = np.full(len(pair), -1, dtype=np.int32)
    out[ok] = code
    nm = f"{short.get(a, a)}_{short.get(b, b)}"
    news.append(
        xr.DataArray(
            out[:, None], dims=("site", "category"), coords={"site": ds["site"], "category": [nm]}
        )
    )
    attrs[f"flag_values_{nm}"] = np.arange(int(code.max()) + 1, dtype=np.int32)
    attrs[f"flag_meanings_{nm}"] = " ".join(f"{nm}_{i}" for i in range(int(code.max()) + 1))
    print(nm, int(code.max()) + 1, "codes")
full = xr.concat([cat, *news], dim="category")
full.attrs = attrs
save_dataset(ds.drop_vars("categories").drop_dims("category").assign(categories=full), sys.argv[2])
