"""Which GP kernel structure pools best when each site says little: a ceiling on a truth.

The GP stage of ``demo`` pools the sites' weak information over the covariates with one
ARD squared-exponential kernel per learned parameter. How much the kernel's *structure*
matters, apart from the SOC and the fitting, is measured here on a synthetic truth's own
parameters: each site's true unit-scale parameter plus independent Gaussian noise of
``--noise`` (standing in for a site's posterior sd, 0.13-0.23 for tau4s3 and fs1s3 at 10%
SOC noise, ``soilbinn identifiability``), an exact GP regression on ``--train`` sites of
the training part of a spatial split (2-degree blocks, one of 7 folds held out), its
hyperparameters by the marginal likelihood (L-BFGS), and the held-out R2 against the truth,
for three kernels over the GP stage's features (standardised covariates and lon/lat,
one-hot categories):

* ``ard``: ``s^2 exp(-|(x - x') / l|^2 / 2)``, the stage's kernel;
* ``additive``: ``sum_d w_d exp(-(x_d - x'_d)^2 / (2 l_d^2))``, one term per feature, no
  interactions (a GAM-like prior);
* ``both``: their sum, the marginal likelihood weighting them.

Run::

    python benchmarks/gp_kernel_structure.py T.nc [--noise 0.15] [--train 600]

It prints one line per parameter: held-out R2 and negative log marginal likelihood of each
kernel (~5 CPU minutes for a truth of 3,000 sites on one core).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import xarray as xr

from soilbinn.data.splits import kfold_assign

PARAMS = ("efolding", "tau4s3", "fs1s3")
KINDS = ("ard", "additive", "both")


def features(ds: xr.Dataset, train: np.ndarray) -> torch.Tensor:
    """Standardised covariates and lon/lat (by the training sites) and one-hot categories."""
    num = np.column_stack([ds["covariates"].values, ds.lon.values / 10, ds.lat.values / 10])
    num = (num - num[train].mean(0)) / np.where(num[train].std(0) > 0, num[train].std(0), 1)
    cats = ds["categories"].values.astype(int)
    onehot = [np.eye(c.max() + 1)[c] for c in cats.T]
    return torch.tensor(np.column_stack([num, *onehot]), dtype=torch.float64)


def _se(a: torch.Tensor, b: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
    a, b = a / ls, b / ls
    return torch.exp(
        -0.5 * ((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T).clamp_min(0)
    )


def kernel(kind: str, th: dict, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The kernel (na, nb) of features a (na, d), b (nb, d); log hyperparameters bounded."""
    k = torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)
    if kind in ("ard", "both"):
        k = k + th["log_s2"].clamp(-12, 5).exp() * _se(a, b, th["log_ls"].clamp(-4, 8).exp())
    if kind in ("additive", "both"):
        ls, w = th["log_ls_add"].clamp(-4, 8).exp(), th["log_w_add"].clamp(-12, 5).exp()
        for j in range(a.shape[1]):
            k = k + w[j] * _se(a[:, j : j + 1], b[:, j : j + 1], ls[j : j + 1])
    return k


def fit_predict(kind: str, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, noise: float):
    """Marginal-likelihood GP regression; (prediction at xt, negative log marginal likelihood)."""
    scale = float(y.std())
    y = y / scale
    d = x.shape[1]
    th = {
        "log_ls": torch.zeros(d),
        "log_s2": torch.tensor(0.0),
        "log_ls_add": torch.zeros(d),
        "log_w_add": torch.full((d,), -3.0),
        "mu": torch.tensor(float(y.mean())),
        "log_noise": torch.tensor(math.log((noise / scale) ** 2)),
    }
    th = {key: v.double().requires_grad_(True) for key, v in th.items()}
    eye = torch.eye(len(y), dtype=torch.float64)

    def nll() -> torch.Tensor:
        kk = kernel(kind, th, x, x) + (th["log_noise"].clamp(-12, 3).exp() + 1e-6) * eye
        chol = torch.linalg.cholesky(kk)
        r = (y - th["mu"])[:, None]
        return 0.5 * (r * torch.cholesky_solve(r, chol)).sum() + torch.log(chol.diagonal()).sum()

    opt = torch.optim.LBFGS(list(th.values()), max_iter=60, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nll()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        kk = kernel(kind, th, x, x) + (th["log_noise"].clamp(-12, 3).exp() + 1e-6) * eye
        alpha = torch.cholesky_solve((y - th["mu"])[:, None], torch.linalg.cholesky(kk))[:, 0]
        pred = (th["mu"] + kernel(kind, th, xt, x) @ alpha) * scale
        return pred.numpy(), float(nll()) + len(y) * math.log(scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("truth", help="a truth written by benchmarks/recovery_truths.py")
    ap.add_argument("--noise", type=float, default=0.15, help="sd of each site's noisy value")
    ap.add_argument("--train", type=int, default=600, help="training sites of the regression")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = xr.open_dataset(args.truth)
    fold = kfold_assign(ds.lat.values, ds.lon.values, 7, args.seed, kind="spatial")
    rng = np.random.default_rng(args.seed)
    train = rng.choice(np.flatnonzero(fold != 0), args.train, replace=False)
    test = np.flatnonzero(fold == 0)
    x = features(ds, train)
    truth = ds["true_params"].sel(param=list(PARAMS)).values
    for j, name in enumerate(PARAMS):
        noisy = truth[:, j] + args.noise * rng.standard_normal(len(truth))
        cells = []
        for kind in KINDS:
            pred, nll = fit_predict(kind, x[train], torch.tensor(noisy[train]), x[test], args.noise)
            t = truth[test, j]
            r2 = 1 - ((pred - t) ** 2).sum() / ((t - t.mean()) ** 2).sum()
            cells.append(f"{kind} R2 {r2:.3f} (nll {nll:.1f})")
        print(f"{args.truth}  {name}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
