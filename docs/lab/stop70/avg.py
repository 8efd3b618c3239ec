"""avg.py TAG NAME...: held-out R2 of the unit-scale average of demo's and TAG's predictions."""

import sys

import numpy as np
import pandas as pd
import xarray as xr

tag = sys.argv[1]
for n in sys.argv[2:]:
    t = xr.open_dataset(f"fresh/{n}.nc")
    a = xr.open_dataset(f"fresh/p_{n}.nc")
    b = xr.open_dataset(f"runs/{n}_{tag}.p.nc")
    split = pd.read_csv(f"fresh/run_{n}/split.csv")
    te = set(split.site[split.split == "test"].astype(str))
    m = np.array([str(s) in te for s in t.site.values])
    names = [str(x) for x in t.param.values]
    out = []
    for par in ["efolding", "tau4s3", "fs1s3"]:
        j = names.index(par)
        y = t.true_params.values[m, j]
        p = 0.5 * (a.params.values[m, j] + b.params.values[m, j])
        out.append(1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    print(
        n,
        " / ".join(f"{v:.3f}" for v in out),
        "PASS" if min(out) >= 0.85 else "miss",
        f"{min(out):.3f}",
    )
