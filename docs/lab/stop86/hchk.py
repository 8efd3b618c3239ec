import sys

import numpy as np
import pandas as pd
import torch
import xarray as xr

sys.path.insert(0, "/work/wt86/src")
from soilbinn.training.predict import load_run

name = sys.argv[1]
run = load_run(f"fresh/run_n_{name}")
pr = run.model.param_net
h = pr.hessian
print("hessian shape", tuple(h.shape), "b_cov diag", torch.diagonal(pr.b_cov()).tolist())
print(
    "log ls (first term) mean per param",
    pr.log_lengthscale[:, :31].mean(1).tolist(),
    "weight logit",
    pr.log_lengthscale[:, -1].tolist(),
)
idd = xr.open_dataset(f"fresh/id_{name}.nc")
split = pd.read_csv(f"fresh/run_n_{name}/split.csv")
tr = split.site[split.split == "train"].astype(str).values
ii = pd.Index([str(s) for s in idd.site.values]).get_indexer(tr)
t = xr.open_dataset(f"fresh/{name}.nc")
names = [str(x) for x in t.param.values]
lj = [names.index(q) for q in ["efolding", "tau4s3", "fs1s3", "w_scaling"]]
ijj = [
    [str(x) for x in idd.param.values].index(q)
    for q in ["efolding", "tau4s3", "fs1s3", "w_scaling"]
]
tp = t.true_params.values[pd.Index([str(s) for s in t.site.values]).get_indexer(tr)][:, lj]
fis_sd_unit = idd.posterior_sd.values[ii][:, ijj]
fis_sd_logit = fis_sd_unit / (tp * (1 - tp))
hh = h.numpy()
# per-site sd from H alone (3x3 on the first three, w often singular)
sds = []
for i in range(len(hh)):
    m = hh[i, :3, :3] + 1e-9 * np.eye(3)
    sds.append(np.sqrt(np.diag(np.linalg.inv(m))))
sds = np.array(sds)
print("median per-site sd from H (eff, tau, fs):", np.median(sds, 0))
print(
    "median per-site Fisher sd in logits (identifiability):", np.nanmedian(fis_sd_logit[:, :3], 0)
)
