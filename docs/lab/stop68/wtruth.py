import sys

import numpy as np
import pandas as pd
import xarray as xr

n = sys.argv[1]
t = xr.open_dataset(f"fresh/{n}.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
train = split.site[split.split == "train"].astype(str).values
ts = [str(s) for s in t.site.values]
idx = np.array([ts.index(s) for s in train])
j = [str(p) for p in t.param.values].index("w_scaling")
np.save(f"runs/wt_{n}.npy", t.true_params.values[idx, j].astype(float))
