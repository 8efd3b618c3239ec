import sys

import numpy as np
import torch
import xarray as xr

sys.path.insert(0, "/work/wt86/src")
sys.path.insert(0, "/work/wt86/benchmarks")
from recovery_truths import _features

from soilbinn.training.predict import load_run

name, seed = sys.argv[1], int(sys.argv[2])
ds = xr.open_dataset(f"fresh/{name}.nc")
f, _, _ = _features(ds)
keys = sorted(f)
x = np.stack([(f[k] - f[k].mean()) / (f[k].std() + 1e-9) for k in keys], axis=1)
rng = np.random.default_rng([seed, 4545])
names = [str(p) for p in ds.param.values]
truth = {}
for j in range(21):
    idx = rng.choice(len(keys), 3, replace=False)
    ls = rng.uniform(1, 3, 3)
    z = x[:, idx] / ls
    sq = (z**2).sum(1)
    cov = 1.5 * np.exp(-0.5 * np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0))
    chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(z)))
    rng.standard_normal(len(z))
    truth[names[j]] = [(keys[i], round(s_, 2)) for i, s_ in zip(idx, ls)]
run = load_run(f"fresh/run_n_{name}")
pr = run.model.param_net
meta = run.meta
num = meta["numeric_names"]
d = pr.x_train.shape[1]
cats = sum(meta["n_categories"])
feat = list(num) + [f"cat{i}" for i in range(cats)] + ["lon", "lat"]
print("features", d, len(feat))
learned = ["efolding", "tau4s3", "fs1s3", "w_scaling"]
for j, q in enumerate(learned):
    ls = pr.log_lengthscale[j]
    w = torch.sigmoid(ls[-1]).item()
    se = ls[:d].exp()
    ad = ls[d : 2 * d].exp()
    print(q, "truth", truth[q], "b", round(pr.b_cov()[j, j].item(), 2), "additive w", round(w, 3))
    for k, l_true in truth[q]:
        i = feat.index(k) if k in feat else None
        print(
            "   ",
            k,
            "truth ls",
            l_true,
            "fitted SE ls",
            None if i is None else round(se[i].item(), 2),
            "add ls",
            None if i is None else round(ad[i].item(), 2),
        )
    order = torch.argsort(se[: len(num)])[:5]
    print("    shortest SE:", [(feat[i], round(se[i].item(), 2)) for i in order.tolist()])
