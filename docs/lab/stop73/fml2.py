"""fml2.py T.nc RUN IDEST.nc OUT.npy [BAR] [T]: threshold edges chosen by the fast marginal
likelihood (Tipping & Faul 2003) at a run's GP posterior mode.

Jointly over the four learned parameters: the Laplace pseudo-observations have covariance
Sigma = b_jj K_j + W_j^-1 (W_j the marginal Fisher information of the site's logit, from
`soilbinn identifiability --params-from` at the estimate) and Sigma^-1 r = alpha_j (the
prior's stored alpha). A candidate indicator u = [x_v > e] (centred) with its own variance
raises the log evidence by 0.5 (q^2/s - 1 - log(q^2/s)), q = u'alpha, s = u'Sigma^-1 u,
where q^2 > s. Greedy: add the best while the gain exceeds BAR nats.
"""

import os
import sys

import numpy as np
import scipy.linalg as sla
import torch
import xarray as xr
from scipy.spatial import cKDTree

from soilbinn.nn.gp_prior import rbf_stack, site_kernel
from soilbinn.training.predict import load_run

torch.set_num_threads(1)
T, RUN, IDE, OUT = sys.argv[1:5]
BAR = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
TMAX = int(sys.argv[6]) if len(sys.argv) > 6 else 4
LEARNED = ["efolding", "tau4s3", "fs1s3", "w_scaling"]
ds = xr.open_dataset(T)
g = load_run(RUN).model.param_net
num = torch.as_tensor(ds.covariates.values.astype(np.float32))
cat = torch.as_tensor(ds.categories.values.astype(np.int64))
ll = torch.as_tensor(np.column_stack([ds.lon.values, ds.lat.values]).astype(np.float32))
with torch.no_grad():
    feats = g.features(num, cat, ll).numpy()
xt = g.x_train.numpy()
d, rows = cKDTree(feats).query(xt)
assert d.max() < 1e-4, d.max()
ide = xr.open_dataset(IDE)
assert [str(s) for s in ide.site.values] == [str(s) for s in ds.site.values]
fis = ide.fisher.values[rows]  # (n, 4, 4) unit scale
pnames = [str(p) for p in ide.param.values]
order = [pnames.index(n) for n in LEARNED]
fis = fis[:, order][:, :, order]
with torch.no_grad():
    z = g.logits(g.x_train).numpy()  # (n, 4) posterior mode logits
u01 = 1 / (1 + np.exp(-z))
D = u01 * (1 - u01)
F = fis * D[:, :, None] * D[:, None, :]  # logit scale (n, 4, 4)
n = len(rows)
with torch.no_grad():
    if g.kernel == "per_parameter":
        ks = rbf_stack(g.x_train, g.x_train, g.log_lengthscale, g.correlation, g.onehot).numpy()
    else:
        kx = site_kernel(g.x_train, g.x_train, g.log_lengthscale, g.correlation, g.onehot).numpy()
        ks = np.stack([kx] * 4)
bdiag = torch.diagonal(g.b_cov()).numpy()
alpha = g.alpha.numpy()
EPS = float(os.environ.get("FML_EPS", 1e-3))
Winv = np.linalg.inv(F + EPS * np.eye(4))  # (n, 4, 4)
# Sigma (4n x 4n), index p * n + i
Sigma = np.zeros((4 * n, 4 * n))
for p in range(4):
    Sigma[p * n : (p + 1) * n, p * n : (p + 1) * n] = bdiag[p] * ks[p]
idx = np.arange(n)
for p in range(4):
    for r in range(4):
        Sigma[p * n + idx, r * n + idx] += Winv[:, p, r]
raw = np.column_stack(
    [ds.covariates.values[rows], ds.lon.values[rows], ds.lat.values[rows]]
).astype(float)
names = [str(c) for c in ds.covariate.values] + ["lon", "lat"]
qs = np.arange(0.04, 0.97, 0.02)
cand_v, cand_e, cand_p, cols = [], [], [], []
for v in range(raw.shape[1]):
    col = raw[:, v]
    ok = np.isfinite(col)
    if ok.sum() < 10 or np.unique(col[ok]).size < 5:
        continue
    for e in np.unique(np.quantile(col[ok], qs)):
        ind = (np.nan_to_num(col, nan=-np.inf) > e).astype(float)
        if 20 <= ind.sum() <= len(ind) - 20:
            for p in range(3):
                u = np.zeros(4 * n)
                u[p * n : (p + 1) * n] = ind - ind.mean()
                cols.append(u)
                cand_v.append(v)
                cand_e.append(e)
                cand_p.append(p)
U = np.stack(cols, 1)
cand_v, cand_e, cand_p = np.array(cand_v), np.array(cand_e), np.array(cand_p)
cf = sla.cho_factor(Sigma)
S = sla.cho_solve(cf, U)
a = alpha.T.reshape(-1).copy()  # (4n,) index p * n + i
chosen = {v: [] for v in range(raw.shape[1])}
log = []
for _ in range(int(os.environ.get("FML_MAX", 16))):
    s = (U * S).sum(0)
    q = U.T @ a
    ratio = q**2 / s
    gain = np.where(ratio > 1, 0.5 * (ratio - 1 - np.log(np.maximum(ratio, 1e-300))), 0.0)
    c = int(np.argmax(gain))
    if _ == 0:
        top = np.argsort(gain)[::-1][:5]
        print(
            "top gains",
            [
                (
                    LEARNED[cand_p[t]],
                    names[cand_v[t]],
                    round(float(np.mean(raw[:, cand_v[t]] <= cand_e[t])), 2),
                    round(float(gain[t]), 1),
                )
                for t in top
            ],
        )
    if gain[c] < BAR:
        break
    var = (q[c] ** 2 - s[c]) / s[c] ** 2
    sc = S[:, c].copy()
    fac = var / (1 + var * s[c])
    S -= fac * np.outer(sc, U[:, c] @ S)
    a -= fac * sc * q[c]
    v, e = cand_v[c], cand_e[c]
    log.append(f"{LEARNED[cand_p[c]]}:{names[v]}@{np.mean(raw[:, v] <= e):.2f}({gain[c]:.0f})")
    chosen[v].append(e)
print(" ".join(log))
edges = np.full((raw.shape[1], TMAX), np.inf)
for v, es in chosen.items():
    es = sorted(set(es))[:TMAX]
    edges[v, : len(es)] = es
np.save(OUT, edges)
print("edges per variable:", [int(np.isfinite(e).sum()) for e in edges])
