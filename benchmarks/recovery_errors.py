"""Where a recovery's errors come from (a diagnosis of finished acceptance runs).

For each finished run on a synthetic dataset (one with ``true_params``) and its
``soilbinn predict`` output, prints per learned parameter (unit scale):

- held-out R2, and R2, RMSE and mean error (bias) at the training and the test sites: an
  R2 that falls from training to test sites at the same RMSE is the test region's smaller
  spread of the truth, not a worse fit;
- the standard deviation of the truth at the test sites;
- the correlation of the errors of efolding and tau4s3 at the training sites (the SOC's
  trade-off between the depth of the inputs and the slowest pool's turnover);
- with ``--identifiability ID.nc`` (``soilbinn identifiability`` of the same data, once per
  run, in order): the mean error at the training sites, in standard deviations of the
  truth, in the quarter of them where the analysis' posterior sd is smallest and in the
  quarter where it is largest, the correlation of the truth with that sd, and the held-out
  R2 with the held-out sites' mean error removed (what a shift of the whole parameter
  would give: stop 55);
- the **ceiling**: the held-out R2 of a Gaussian process fitted to the *true* logits of the
  training sites (scikit-learn, ARD squared exponential plus white noise, on the
  standardised numeric covariates, lon, lat and one-hot categories; hyperparameters by
  marginal likelihood on ``--sites`` random training sites). It says whether a smooth
  prior over these covariates can represent the truth at all; a recovery far below it
  lost the parameters in the inversion, not in the extrapolation to held-out sites;
- **false water limitation** (stop 68): the share of training sites whose true w_scaling
  saturates the water scalar (:func:`soilbinn.process.rates.water_saturation_threshold`)
  and whose estimate lies below 0.97 of that threshold, and the mean errors of the other
  learned parameters there, at the other training sites and at the training sites whose
  truth is water-limited (stop 69). Above its threshold a site's SOC does not depend on
  w_scaling, so the estimate is free to fall below it. There the model slows
  decomposition in the driest cells, and the other parameters compensate;
- with ``--simulated SIM.nc`` (``soilbinn simulate DATA --params PRED.nc``, once per run, in
  order): the **SOC's verdict** (stop 70), the log-SOC misfit of the observations against
  the truth's noise-free SOC (``soc_true``) and against the estimate's simulated SOC, at
  the training and at the test sites, and twice the log-likelihood ratio of the two
  (Gaussian in log SOC, the truth's misfit as variance). A positive ratio at the training
  sites says the SOC the run was fitted to prefers the truth: the prior, not the data,
  put the estimate where it is.

The test sites are those ``RUN/split.csv`` marks ``test``; training sites are all others.

Usage::

    python benchmarks/recovery_errors.py T.nc RUN PRED.nc [T2.nc RUN2 PRED2.nc ...]

Used for the stop 46, 55, 68 and 70 diagnoses in ``docs/recovery_ablation.md``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from soilbinn.process.parameters import PRESETS
from soilbinn.process.rates import water_saturation_threshold

PARAMS = ("efolding", "tau4s3", "fs1s3")


def _features(ds: xr.Dataset, train: np.ndarray) -> np.ndarray:
    """(site, feature) standardised numeric covariates, lon, lat and one-hot categories."""
    x = np.concatenate(
        [
            ds["covariates"].values.astype(float),
            ds["lon"].values[:, None],
            ds["lat"].values[:, None],
        ],
        axis=1,
    )
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-9)
    cats = ds["categories"].values.astype(int)
    onehot = [np.eye(c.max() + 1)[c] for c in cats.T]
    return np.concatenate([x, *onehot], axis=1)


def _r2(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - ((truth - pred) ** 2).sum() / ((truth - truth.mean()) ** 2).sum())


def ceiling(x: np.ndarray, z: np.ndarray, train: np.ndarray, sites: int, seed: int = 0):
    """Logits at all sites predicted by a GP fitted to the true logits ``z`` at ``train``."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(np.flatnonzero(train), size=min(sites, int(train.sum())), replace=False)
    kernel = ConstantKernel(1.0) * RBF(np.ones(x.shape[1]), (1e-2, 1e3)) + WhiteKernel(
        1e-2, (1e-6, 1.0)
    )
    with warnings.catch_warnings():  # length scales at their bound: irrelevant features
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianProcessRegressor(kernel, normalize_y=True).fit(x[idx], z[idx]).kernel_
    gp = GaussianProcessRegressor(fitted, optimizer=None, normalize_y=True)
    return gp.fit(x[train], z[train]).predict(x)


def by_identifiability(
    truth: np.ndarray, pred: np.ndarray, sd: np.ndarray, train: np.ndarray, test: np.ndarray
) -> str:
    """Errors against the identifiability analysis' posterior sd (one parameter, unit scale).

    The mean error at the training sites in the quarter of smallest and of largest
    posterior sd, in standard deviations of the truth; the truth's correlation with the sd;
    the held-out R2 with the held-out sites' mean error removed.
    """
    e = (pred - truth) / truth.std()
    lo, hi = np.quantile(sd[train], [0.25, 0.75])
    d = (pred - truth)[test]
    r2_shift = 1 - ((d - d.mean()) ** 2).sum() / ((truth[test] - truth[test].mean()) ** 2).sum()
    return (
        f"bias/sd best-identified quarter {e[train & (sd <= lo)].mean():+.3f} "
        f"worst {e[train & (sd >= hi)].mean():+.3f} | corr(truth, sd) "
        f"{np.corrcoef(truth, sd)[0, 1]:+.2f} | test R2 less its mean error {r2_shift:.3f}"
    )


def false_water_limitation(ds: xr.Dataset, p: xr.Dataset, train: np.ndarray) -> str:
    """Where the estimate of w_scaling limits decomposition and the truth does not.

    Parameters
    ----------
    ds : Dataset
        The synthetic dataset: ``true_params`` (unit scale, with its ``preset``) and the
        forcing's ``water_scalar`` (site, layer, month).
    p : Dataset
        ``soilbinn predict`` output for the same sites (``params``, unit scale).
    train : ndarray of bool (site,)
        The training sites.

    Returns
    -------
    str
        The shares of training sites with a saturated truth and, among those, with an
        estimate below 0.97 of the threshold; mean errors of efolding, tau4s3 and fs1s3
        at those sites, at the other training sites, and at the training sites whose
        truth is water-limited (below its threshold; stop 69: on niche 2653 the bias sits
        there, and cutting the falsely limited sites left it unchanged elsewhere).
    """
    lo, hi = PRESETS[ds["true_params"].attrs.get("preset", "binn2025")]["w_scaling"]
    thr = water_saturation_threshold(torch.as_tensor(ds["water_scalar"].values)).numpy()
    thr = (thr - lo) / (hi - lo)  # unit scale
    w_true = ds["true_params"].sel(param="w_scaling").values
    w_est = p["params"].sel(param="w_scaling").sel(site=ds["site"].values).values
    saturated = train & (w_true >= thr)
    false = saturated & (w_est < 0.97 * thr)
    rest = train & ~false
    limited = train & ~(w_true >= thr)
    errs = []
    for k in PARAMS:
        e = (
            p["params"].sel(param=k, site=ds["site"].values).values
            - ds["true_params"].sel(param=k).values
        )
        at = [f"{e[m].mean():+.3f}" if m.any() else "-" for m in (false, rest, limited)]
        errs.append(f"{k} " + " / ".join(at))
    return (
        f"true w_scaling saturated at {saturated.sum() / train.sum():.0%} of training sites, "
        f"estimate below 0.97 of its threshold at {false.sum() / max(saturated.sum(), 1):.0%} "
        f"of those | bias there / at the other training sites / where the truth is "
        "water-limited: " + ", ".join(errs)
    )


def soc_verdict(ds: xr.Dataset, sim: xr.Dataset, train: np.ndarray) -> str:
    """How much better the truth explains the observed SOC than the estimate does.

    Parameters
    ----------
    ds : Dataset
        The synthetic dataset: observed ``soc`` and noise-free ``soc_true`` (site, obs),
        gC m-3.
    sim : Dataset
        ``soilbinn simulate`` of the same dataset with the estimated parameters:
        ``soc_sim`` (site, obs), gC m-3.
    train : ndarray of bool (site,)
        The training sites (the others are the test sites).

    Returns
    -------
    str
        Per split: the number of observations, the mean squared log-SOC misfit of the
        truth and of the estimate, and ``2 log LR = n (m_est - m_truth) / m_truth``.
    """
    obs = np.log(ds["soc"].values)
    truth = np.log(ds["soc_true"].values)
    est = np.log(sim["soc_sim"].sel(site=ds["site"].values).values)
    ok = np.isfinite(obs) & np.isfinite(truth) & np.isfinite(est)
    cells = []
    for name, m in (("train", train), ("test", ~train)):
        k = ok & m[:, None]
        m_t = float(((obs - truth)[k] ** 2).mean())
        m_e = float(((obs - est)[k] ** 2).mean())
        cells.append(
            f"{name} n_obs {int(k.sum())} misfit truth {m_t:.5f} estimate {m_e:.5f} "
            f"2 log LR {k.sum() * (m_e - m_t) / m_t:+.1f}"
        )
    return "SOC's verdict (log-SOC misfit; 2 log LR > 0: the SOC prefers the truth): " + (
        " | ".join(cells)
    )


def diagnose(
    data: str,
    run: str,
    pred: str,
    sites: int,
    identifiability: str | None = None,
    simulated: str | None = None,
) -> list[str]:
    """The lines printed for one run (``sites`` = 0: no ceiling)."""
    ds = xr.open_dataset(data)
    p = xr.open_dataset(pred)
    split = pd.read_csv(f"{run}/split.csv").set_index("site")["split"]
    part = np.array([split.get(s) for s in ds["site"].values])
    test = part == "test"
    train = ~test
    x = _features(ds, train)
    ident = xr.open_dataset(identifiability) if identifiability else None
    lines = []
    err = {}
    for k in PARAMS:
        y = ds["true_params"].sel(param=k).values
        f = p["params"].sel(param=k).values
        err[k] = (f - y)[train]
        if sites:
            top = 1 / (1 + np.exp(-ceiling(x, np.log(y / (1 - y)), train, sites)))
        cells = []
        for name, m in (("train", train), ("test", test)):
            cells.append(
                f"{name} R2 {_r2(y[m], f[m]):.3f} rmse {np.sqrt(((f - y)[m] ** 2).mean()):.3f} "
                f"bias {(f - y)[m].mean():+.3f}"
            )
        cells.append(f"test sd {y[test].std():.3f}")
        if sites:
            cells.append(f"ceiling {_r2(y[test], top[test]):.3f}")
        lines.append(f"{data} {k:9s} " + " | ".join(cells))
        if ident is not None:
            sd = ident["posterior_sd"].sel(param=k, site=ds["site"].values).values
            lines.append(f"{data} {k:9s} " + by_identifiability(y, f, sd, train, test))
    r = np.corrcoef(err["efolding"], err["tau4s3"])[0, 1]
    lines.append(f"{data} error correlation efolding-tau4s3 at training sites {r:+.2f}")
    if "water_scalar" in ds and "w_scaling" in [str(v) for v in p["param"].values]:
        lines.append(f"{data} {false_water_limitation(ds, p, train)}")
    if simulated is not None:
        lines.append(f"{data} {soc_verdict(ds, xr.open_dataset(simulated), train)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("triples", nargs="+", help="DATA RUN PRED, repeated")
    ap.add_argument(
        "--sites", type=int, default=800, help="sites the ceiling's GP is fitted on (0: no ceiling)"
    )
    ap.add_argument(
        "--identifiability", action="append", default=[],
        help="soilbinn identifiability output of a triple's DATA (once per triple, in order)",
    )  # fmt: skip
    ap.add_argument(
        "--simulated", action="append", default=[],
        help="soilbinn simulate DATA --params PRED output (once per triple, in order)",
    )  # fmt: skip
    a = ap.parse_args(argv)
    if len(a.triples) % 3:
        ap.error("give DATA RUN PRED triples")
    n = len(a.triples) // 3
    if a.identifiability and len(a.identifiability) != n:
        ap.error(f"--identifiability given {len(a.identifiability)} times for {n} runs")
    if a.simulated and len(a.simulated) != n:
        ap.error(f"--simulated given {len(a.simulated)} times for {n} runs")
    idents = a.identifiability or [None] * n
    sims = a.simulated or [None] * n
    for i in range(n):
        lines = diagnose(
            *a.triples[3 * i : 3 * i + 3], sites=a.sites, identifiability=idents[i],
            simulated=sims[i],
        )  # fmt: skip
        print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
