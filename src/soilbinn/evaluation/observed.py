"""Observed SOC stocks of a dataset over fixed depth intervals (the evaluation's adapter).

:func:`observed_stocks` returns, for every site, the observed stock over each requested
interval (default 0-30 and 0-100 cm, g m-2) and where it came from:

* ``stock``: a depth-interval stock observation of the dataset (``stock_obs(site,
  interval)`` g m-2 over ``stock_top`` / ``stock_bottom`` (site, interval) m), either
  an interval equal to the requested one or a chain of contiguous intervals from its top to
  its bottom (increments such as 0-5, 5-30, 30-100 cm are summed);
* ``layers``: the integral of the observed layer densities (``soc`` g m-3 over
  ``obs_top``-``obs_bottom``) when the horizons cover at least ``min_coverage`` of the
  interval; the uncovered part (gaps between horizons) is filled with the mean density of
  the covered part. Overlapping horizons (composites) are averaged where they overlap;
* otherwise NaN (``none``).

Stock observations take precedence over layers where a site has both. Integration uses a
1 cm grid (cell centres), exact for horizon boundaries on whole centimetres.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

#: the stock intervals of the evaluation (m): 0-30 and 0-100 cm
STOCK_INTERVALS: dict[str, tuple[float, float]] = {
    "soc_stock_0_30cm": (0.0, 0.3),
    "soc_stock_0_100cm": (0.0, 1.0),
}
SOURCES = ("none", "layers", "stock")


def layer_stocks(
    top: np.ndarray, bottom: np.ndarray, soc: np.ndarray, interval: tuple[float, float],
    min_coverage: float = 0.9, step: float = 0.01, chunk: int = 2048,
) -> np.ndarray:  # fmt: skip
    """Stock (n,) g m-2 over ``interval`` (m) from horizons ``top``/``bottom`` (n, obs) m
    and densities ``soc`` (n, obs) g m-3 (NaN padded); NaN where coverage < min_coverage."""
    a, b = interval
    z = np.arange(a + step / 2, b, step)  # cell centres
    out = np.full(top.shape[0], np.nan)
    for s in range(0, top.shape[0], chunk):
        t, bo, c = top[s : s + chunk], bottom[s : s + chunk], soc[s : s + chunk]
        ok = np.isfinite(t) & np.isfinite(bo) & np.isfinite(c)
        cover = ok[:, :, None] & (t[:, :, None] <= z) & (bo[:, :, None] > z)  # (m, obs, cells)
        n = cover.sum(1)
        dens = np.where(cover, np.nan_to_num(c)[:, :, None], 0.0).sum(1) / np.maximum(n, 1)
        covered = n > 0
        frac = covered.mean(1)
        mean_dens = np.where(covered, dens, 0.0).sum(1) / np.maximum(covered.sum(1), 1)
        stock = (np.where(covered, dens, 0.0).sum(1) + (~covered).sum(1) * mean_dens) * step
        out[s : s + chunk] = np.where(frac >= min_coverage, stock, np.nan)
    return out


def _chain(tops: np.ndarray, bottoms: np.ndarray, a: float, b: float, tol: float = 1e-6):
    """Indices of intervals that tile [a, b] contiguously (exact match first), or None."""
    exact = np.nonzero((np.abs(tops - a) < tol) & (np.abs(bottoms - b) < tol))[0]
    if len(exact):
        return [int(exact[0])]
    chain, pos = [], a
    while pos < b - tol:
        nxt = np.nonzero((np.abs(tops - pos) < tol) & (bottoms <= b + tol) & (bottoms > pos))[0]
        if not len(nxt):
            return None
        j = int(nxt[np.argmax(bottoms[nxt])])
        chain.append(j)
        pos = float(bottoms[j])
    return chain


def observed_stocks(
    ds: xr.Dataset, intervals: dict[str, tuple[float, float]] | None = None,
    min_coverage: float = 0.9,
) -> xr.Dataset:  # fmt: skip
    """Observed stocks (g m-2) and their source per site and interval.

    Returns
    -------
    xarray.Dataset with, for each interval name, ``<name>(site)`` g m-2 and
    ``<name>_source(site)`` (one of ``none``, ``layers``, ``stock``).
    """
    intervals = intervals or STOCK_INTERVALS
    n = ds.sizes["site"]
    out = xr.Dataset(coords={"site": ds["site"].values})
    have_layers = all(v in ds.variables for v in ("soc", "obs_top", "obs_bottom"))
    have_stock = all(v in ds.variables for v in ("stock_obs", "stock_top", "stock_bottom"))
    if have_layers:
        top = np.asarray(ds["obs_top"].transpose("site", ...).values, dtype=np.float64)
        bot = np.asarray(ds["obs_bottom"].transpose("site", ...).values, dtype=np.float64)
        soc = np.asarray(ds["soc"].transpose("site", ...).values, dtype=np.float64)
    if have_stock:  # stock_top/bottom: (site, interval) per the schema, or (interval,)
        so = np.asarray(ds["stock_obs"].transpose("site", ...).values, dtype=np.float64)
        st = np.broadcast_to(np.asarray(ds["stock_top"].values, dtype=np.float64), so.shape)
        sb = np.broadcast_to(np.asarray(ds["stock_bottom"].values, dtype=np.float64), so.shape)
        with_stock = np.nonzero(np.isfinite(so).any(1))[0]
    for name, (a, b) in intervals.items():
        value = np.full(n, np.nan)
        source = np.zeros(n, dtype=np.int8)
        if have_layers:
            value = layer_stocks(top, bot, soc, (a, b), min_coverage)
            source[np.isfinite(value)] = 1
        if have_stock:
            for i in with_stock:
                ok = np.isfinite(so[i]) & np.isfinite(st[i]) & np.isfinite(sb[i])
                idx = np.nonzero(ok)[0]
                chain = _chain(st[i, idx], sb[i, idx], a, b)
                if chain is not None:
                    value[i] = so[i, idx[chain]].sum()
                    source[i] = 2
        out[name] = ("site", value, {"units": "g m-2", "long_name": f"observed SOC stock {a * 100:g}-{b * 100:g} cm"})  # fmt: skip
        out[f"{name}_source"] = ("site", np.asarray(SOURCES, dtype=object)[source].astype(str))
    return out


__all__ = ["observed_stocks", "layer_stocks", "STOCK_INTERVALS"]
