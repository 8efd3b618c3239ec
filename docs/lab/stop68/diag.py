import sys

import numpy as np
import pandas as pd
import xarray as xr

t = xr.open_dataset(sys.argv[1])
run = sys.argv[2]
p = xr.open_dataset(sys.argv[3])
split = pd.read_csv(f"{run}/split.csv")
sp = dict(zip(split.site.astype(str), split.split))
names = [str(x) for x in t.param.values]
lab = np.array([sp[str(s)] for s in t.site.values])
for part in ["train", "test"]:
    m = lab == part
    for n in ["efolding", "tau4s3", "fs1s3", "w_scaling"]:
        j = names.index(n)
        tt = t.true_params.values[m, j]
        pp = p.params.values[m, j]
        r2 = 1 - ((pp - tt) ** 2).sum() / ((tt - tt.mean()) ** 2).sum()
        slope = np.polyfit(tt, pp, 1)[0]
        print(
            part,
            n,
            f"R2 {r2:.3f} r {np.corrcoef(tt, pp)[0, 1]:.3f} slope {slope:.2f} bias {np.mean(pp - tt):+.3f} sd_true {tt.std():.3f} sd_pred {pp.std():.3f}",
        )
