"""Skill metrics of predicted against observed SOC, overall and by depth bin.

NSE (Nash-Sutcliffe efficiency, ``1 - SSE / SS_obs``; the BINN code reported ``1 - NSE``
under this name), R2 (squared Pearson correlation, which differs from NSE when predictions
are biased), RMSE and MAE (g m-3), over all valid (finite) observation pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: depth-bin edges (m) of the paper: 0-0.1, 0.1-0.3, 0.3-1, >1
DEPTH_BINS: tuple[float, ...] = (0.0, 0.1, 0.3, 1.0, float("inf"))
METRICS = ("nse", "r2", "rmse", "mae", "n")


def bin_label(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g}m" if np.isfinite(hi) else f">{lo:g}m"


def regression_metrics(pred, obs) -> dict[str, float]:
    """NSE, R2, RMSE, MAE and count over finite pairs of two arrays of any shape."""
    pred = np.asarray(pred, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    ok = np.isfinite(pred) & np.isfinite(obs)
    p, o = pred[ok], obs[ok]
    n = int(ok.sum())
    if n == 0:
        return {"nse": np.nan, "r2": np.nan, "rmse": np.nan, "mae": np.nan, "n": 0}
    err = p - o
    ss_obs = float(((o - o.mean()) ** 2).sum())
    nse = 1.0 - float((err**2).sum()) / ss_obs if ss_obs > 0 else np.nan
    if n > 1 and p.std() > 0 and o.std() > 0:
        r2 = float(np.corrcoef(p, o)[0, 1] ** 2)
    else:
        r2 = np.nan
    return {
        "nse": nse,
        "r2": r2,
        "rmse": float(np.sqrt((err**2).mean())),
        "mae": float(np.abs(err).mean()),
        "n": n,
    }


def depth_binned_metrics(pred, obs, depth, bins=DEPTH_BINS) -> pd.DataFrame:
    """Metrics overall (row ``all``) and per depth bin ``[lo, hi)`` (m)."""
    pred = np.asarray(pred, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    depth = np.asarray(depth, dtype=np.float64).ravel()
    rows = {"all": regression_metrics(pred, obs)}
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (depth >= lo) & (depth < hi)
        rows[bin_label(lo, hi)] = regression_metrics(pred[m], obs[m])
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "depth_bin"
    return df


def skill_metrics(pred, obs) -> dict[str, float]:
    """Skill of predictions against observations (e.g. per-site stocks): :func:`regression_metrics` plus Spearman rho and bias.

    ``nse`` is the coefficient of determination ``1 - SSE / SS_obs`` (what is usually called
    R2 for out-of-sample predictions; negative when worse than the observed mean), ``r2``
    the squared Pearson correlation, ``spearman`` Spearman's rank correlation and ``bias``
    ``mean(pred - obs)``, all over finite pairs, in the units of the inputs.
    """
    from scipy.stats import spearmanr

    pred = np.asarray(pred, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    ok = np.isfinite(pred) & np.isfinite(obs)
    out = regression_metrics(pred[ok], obs[ok])
    p, o = pred[ok], obs[ok]
    out["bias"] = float((p - o).mean()) if len(p) else np.nan
    rho = np.nan
    if len(p) > 2 and np.ptp(p) > 0 and np.ptp(o) > 0:
        rho = float(spearmanr(p, o).statistic)
    out["spearman"] = rho
    return out


def interval_label(top: float, bottom: float) -> str:
    """'0-30cm' for an interval given in m."""
    return f"{round(top * 100, 3):g}-{round(bottom * 100, 3):g}cm"


def stock_metrics(pred, obs, top, bottom) -> pd.DataFrame:
    """Skill on depth-interval stocks, one row per interval as observed (e.g. 0-30cm).

    Parameters
    ----------
    pred, obs : array (n, k), g m-2
        Predicted and observed stocks, NaN-padded.
    top, bottom : array (n, k), m
        The interval of each stock.

    Returns
    -------
    DataFrame indexed by ``interval`` with ``n``, ``r2`` (squared Pearson), ``spearman``,
    ``nse``, ``bias_kg_m2`` (mean of predicted - observed), ``rmse_kg_m2``, ``mae_kg_m2``;
    intervals sorted by (top, bottom).
    """
    pred, obs, top, bottom = (
        np.asarray(a, dtype=np.float64).ravel() for a in (pred, obs, top, bottom)
    )
    ok = np.isfinite(pred) & np.isfinite(obs) & np.isfinite(top) & np.isfinite(bottom)
    rows = {}
    for t, b in sorted(set(zip(top[ok].tolist(), bottom[ok].tolist()))):
        m = ok & (top == t) & (bottom == b)
        p, o = pred[m] / 1000.0, obs[m] / 1000.0
        r = skill_metrics(p, o)
        rows[interval_label(t, b)] = {
            "n": r["n"], "r2": r["r2"], "spearman": r["spearman"], "nse": r["nse"],
            "bias_kg_m2": r["bias"], "rmse_kg_m2": r["rmse"], "mae_kg_m2": r["mae"],
        }  # fmt: skip
    cols = ["n", "r2", "spearman", "nse", "bias_kg_m2", "rmse_kg_m2", "mae_kg_m2"]
    df = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    df.index.name = "interval"
    return df
