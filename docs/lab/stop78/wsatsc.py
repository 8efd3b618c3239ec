"""wsatsc.py NAME RUN: R2 of the saturated hypothesis' test predictions (lab_wsat.npz)."""

import sys

import numpy as np
import xarray as xr

name, run = sys.argv[1:3]
t = xr.open_dataset(f"fresh/{name}.nc")
z = np.load(f"{run}/lab_wsat.npz")
ts = [str(s) for s in t.site.values]
idx = [ts.index(s) for s in z["site"]]
pn = [str(x) for x in t.param.values]
out = []
for c, n in enumerate(z["names"]):
    tt = t.true_params.values[idx, pn.index(str(n))]
    pp = z["learned"][:, c]
    out.append(f"{1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum():.3f}")
print(name, " / ".join(out))
