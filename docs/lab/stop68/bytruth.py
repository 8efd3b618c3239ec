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
    j = names.index(name)
    jj = inames.index(name)
    sd = i.posterior_sd.values[:, jj]
    tt = t.true_params.values[:, j]
    e = p.params.values[:, j] - tt
    q = np.quantile(tt[tr], [0, 0.25, 0.5, 0.75, 1])
    out = []
    for a, b in zip(q[:-1], q[1:]):
        m = tr & (tt >= a) & (tt <= b)
        out.append(f"{a:.2f}-{b:.2f}: bias {e[m].mean():+.3f} sd {sd[m].mean():.3f}")
    print(n, name, f"corr(sd,truth) {np.corrcoef(sd[tr], tt[tr])[0, 1]:+.2f}", " | ".join(out))
