"""cmp.py T.nc RUN P1.nc [P2.nc ...]: per parameter at the held-out sites, bias, sd ratio, r and R2"""

import sys

import numpy as np
import pandas as pd
import xarray as xr

t = xr.open_dataset(sys.argv[1])
split = pd.read_csv(f"{sys.argv[2]}/split.csv")
test = split.site[split.split == "test"].astype(str).values
ts = [str(s) for s in t.site.values]
idx = np.array([ts.index(s) for s in test])
names = [str(x) for x in t.param.values]
for f in sys.argv[3:]:
    p = xr.open_dataset(f)
    ps = [str(s) for s in p.site.values]
    pidx = np.array([ps.index(s) for s in test])
    cells = []
    for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]:
        j = names.index(n)
        tt, pp = t.true_params.values[idx, j], p.params.values[pidx, j]
        r2 = 1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum()
        cells.append(
            f"{n[:4]} b{pp.mean() - tt.mean():+.3f} s{pp.std() / tt.std():.2f} r{np.corrcoef(pp, tt)[0, 1]:.3f} R2 {r2:.3f}"
        )
    print(f.split("/")[-1][:22].ljust(22), " | ".join(cells))
