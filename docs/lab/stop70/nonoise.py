import sys

import xarray as xr

from soilbinn.data.schema import save_dataset

t = xr.load_dataset(sys.argv[1])
t["soc"].values[:] = t["soc_true"].values
save_dataset(t, sys.argv[2])
