"""ytruth.py NAME: the truth's learned logits by lon/lat, for LAB_TREE_Y (oracle partitions)."""

import sys

import numpy as np
import xarray as xr

t = xr.open_dataset(f"fresh/{sys.argv[1]}.nc")
names = [str(x) for x in t.param.values]
j = [names.index(n) for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]]
q = np.clip(t.true_params.values[:, j], 1e-6, 1 - 1e-6)
np.save(
    f"fresh/y_{sys.argv[1]}.npy", np.column_stack([t.lon.values, t.lat.values, np.log(q / (1 - q))])
)
