import sys

import numpy as np
import pandas as pd
import xarray as xr

name = sys.argv[1]
tag = sys.argv[2] if len(sys.argv) > 2 else "n"
t = xr.open_dataset(f"fresh/{name}.nc")
p = xr.open_dataset(f"fresh/p_{tag}_{name}.nc")
split = pd.read_csv(f"fresh/run_{tag}_{name}/split.csv")
names = [str(x) for x in t.param.values]


def lg(v):
    return np.log(v / (1 - v))


for part in ("train", "test"):
    s = split.site[split.split == part].astype(str).values
    ti = pd.Index([str(x) for x in t.site.values]).get_indexer(s)
    print(part, len(s))
    for q in ["efolding", "tau4s3", "fs1s3", "w_scaling"]:
        j = names.index(q)
        tt, pp = t.true_params.values[ti, j], p.params.values[ti, j]
        lsd = (lg(p.params_p95.values[ti, j]) - lg(p.params_p05.values[ti, j])) / (2 * 1.6448536)
        e = lg(tt) - lg(pp)
        print(
            f"  {q:10s} rmse_logit {np.sqrt(np.mean(e**2)):.3f} median sd {np.median(lsd):.3f} "
            f"sd(true logit) {np.std(lg(tt)):.3f} sd(pred logit) {np.std(lg(pp)):.3f} cov90 {np.mean(np.abs(e) < 1.645 * lsd):.2f}"
        )
