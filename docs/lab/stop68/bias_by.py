"""bias_by.py NAME [P.nc]: the mean error at the training sites by quarter of the
identifiability posterior sd, then by quarter of the true value, per learned parameter."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

n = sys.argv[1]
pf = sys.argv[2] if len(sys.argv) > 2 else f"fresh/p_{n}.nc"
t = xr.open_dataset(f"fresh/{n}.nc")
p = xr.open_dataset(pf)
i = xr.open_dataset(f"fresh/id_{n}.nc")
split = pd.read_csv(f"fresh/run_{n}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
tr = np.array([sp[str(s)] == "train" for s in t.site.values])
names = [str(x) for x in t.param.values]
inames = [str(x) for x in i.param.values]
for name in ["efolding", "tau4s3", "fs1s3"]:
    sd = i.posterior_sd.values[:, inames.index(name)]
    truth = t.true_params.values[:, names.index(name)]
    e = p.params.values[:, names.index(name)] - truth
    for label, v in (("posterior sd", sd), ("truth", truth)):
        q = np.quantile(v[tr], [0, 0.25, 0.5, 0.75, 1])
        cells = [
            f"{a:.3f}-{b:.3f}: bias {e[tr & (v >= a) & (v <= b)].mean():+.3f}"
            for a, b in zip(q[:-1], q[1:])
        ]
        print(n, name, f"by {label}", " | ".join(cells))
    print(n, name, f"corr(truth, sd) {np.corrcoef(sd[tr], truth[tr])[0, 1]:+.2f}")
