"""shifted.py NAME [P.nc]: held-out R2 as is and with the held-out mean error removed."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

n = sys.argv[1]
pf = sys.argv[2] if len(sys.argv) > 2 else f"fresh/p_{n}.nc"
t = xr.open_dataset(f"fresh/{n}.nc")
p = xr.open_dataset(pf)
split = pd.read_csv(f"fresh/run_{n}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
te = np.array([sp[str(s)] == "test" for s in t.site.values])
names = [str(x) for x in t.param.values]
out = []
for name in ["efolding", "tau4s3", "fs1s3"]:
    j = names.index(name)
    tt = t.true_params.values[te, j]
    e = p.params.values[te, j] - tt
    v = ((tt - tt.mean()) ** 2).sum()
    out.append(
        f"{1 - (e**2).sum() / v:.3f}->{1 - ((e - e.mean()) ** 2).sum() / v:.3f} ({e.mean():+.3f})"
    )
print(n, " / ".join(out))
