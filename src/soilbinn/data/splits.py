"""Cross-validation splits: random k-fold and spatial block k-fold, deterministic from a seed.

* ``random``: a seeded permutation of the sites, dealt to folds in turn (fold sizes differ
  by at most one).
* ``spatial``: sites are grouped in ``block_deg`` x ``block_deg`` lon/lat cells (cells
  anchored at -180 E, -90 N); the cells are shuffled with the seed and assigned, largest
  first, to the fold with the fewest sites so far (balanced folds; whole cells held out
  together, as in spatial block CV of the BINN successor code).

A split is recorded with a run via :func:`split_dataset` (NetCDF-ready, with the kind,
k, seed and block size as attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr


class SplitError(ValueError):
    """Impossible split request (too few sites or blocks for k folds, bad arguments)."""


def _random(lat: np.ndarray, lon: np.ndarray, k: int, seed: int, block_deg: float) -> np.ndarray:
    n = lat.shape[0]
    if n < k:
        raise SplitError(f"random k-fold: {n} site(s) cannot fill k={k} folds")
    perm = np.random.default_rng([seed, 77]).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    folds[perm] = np.arange(n) % k
    return folds


def block_ids(lat: np.ndarray, lon: np.ndarray, block_deg: float = 2.0) -> np.ndarray:
    """Integer id (n,) of the ``block_deg`` lon/lat cell of each site."""
    if not block_deg > 0:
        raise SplitError(f"spatial k-fold: block_deg must be > 0 (got {block_deg})")
    i = np.floor((np.asarray(lat) + 90.0) / block_deg).astype(np.int64)
    j = np.floor((np.mod(np.asarray(lon) + 180.0, 360.0)) / block_deg).astype(np.int64)
    return i * 100_000 + j


def _spatial(lat: np.ndarray, lon: np.ndarray, k: int, seed: int, block_deg: float) -> np.ndarray:
    blocks = block_ids(lat, lon, block_deg)
    if len(np.unique(blocks)) < k:
        raise SplitError(
            f"spatial k-fold: only {len(np.unique(blocks))} block(s) of {block_deg} deg hold "
            f"sites; need >= k={k}"
        )
    return _balanced_groups(blocks, k, seed)


def _balanced_groups(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each site when whole groups are dealt, largest first, to the lightest fold."""
    uniq, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    rng = np.random.default_rng([seed, 78])
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-counts[order], kind="stable")]  # largest first, ties shuffled
    load = np.zeros(k, dtype=np.int64)
    block_fold = np.empty(len(uniq), dtype=np.int64)
    for b in order:
        f = int(np.argmin(load))
        block_fold[b] = f
        load[f] += counts[b]
    return block_fold[inverse]


#: split kind -> implementation (plain dict registry)
SPLITTERS: dict[str, Callable[[np.ndarray, np.ndarray, int, int, float], np.ndarray]] = {
    "random": _random,
    "spatial": _spatial,
}


def kfold_assign(
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    k: int,
    seed: int,
    kind: str = "random",
    block_deg: float = 2.0,
) -> np.ndarray:
    """Fold id (0..k-1) of every site.

    Parameters
    ----------
    lat, lon : (n,) degrees north / east
    k : number of folds (>= 2)
    seed : the split is a deterministic function of (lat, lon, k, seed, kind, block_deg)
    kind : {"random", "spatial"}
    block_deg : block size of the spatial split, degrees

    Returns
    -------
    numpy.ndarray (n,) int64
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.shape != lon.shape or lat.ndim != 1:
        raise SplitError(
            f"kfold_assign: lat and lon must be 1-D of equal length ({lat.shape}, {lon.shape})"
        )
    if kind not in SPLITTERS:
        raise SplitError(f"kfold_assign: unknown kind {kind!r}; choose from {sorted(SPLITTERS)}")
    if int(k) != k or k < 2:
        raise SplitError(f"kfold_assign: k must be an integer >= 2 (got {k})")
    if kind == "spatial" and not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise SplitError("kfold_assign: spatial split needs finite lat/lon for every site")
    return SPLITTERS[kind](lat, lon, int(k), int(seed), float(block_deg))


def group_kfold(groups: Sequence | np.ndarray, k: int | None = None, seed: int = 0) -> np.ndarray:
    """Fold id of every site such that each group (e.g. a region) is held out whole.

    Parameters
    ----------
    groups : (n,) labels (any hashable values; e.g. RaCA MO regions, NEON domains)
    k : number of folds; ``None`` gives one fold per group (leave-one-group-out, folds in
        sorted label order); otherwise whole groups are dealt, largest first (ties
        shuffled with ``seed``), to the fold with the fewest sites so far
    seed : int

    Returns
    -------
    numpy.ndarray (n,) int64, values 0..k-1
    """
    labels = np.asarray(groups).astype(str)
    if labels.ndim != 1:
        raise SplitError("group_kfold: groups must be 1-D")
    uniq, inverse = np.unique(labels, return_inverse=True)
    if k is None:
        if len(uniq) < 2:
            raise SplitError(f"group k-fold: only {len(uniq)} group(s); need >= 2")
        return inverse.astype(np.int64)
    if int(k) != k or k < 2:
        raise SplitError(f"group_kfold: k must be an integer >= 2 (got {k})")
    if len(uniq) < k:
        raise SplitError(f"group k-fold: only {len(uniq)} group(s); need >= k={k}")
    return _balanced_groups(inverse, int(k), int(seed))


def split_dataset(
    site_ids: Sequence[str], folds: np.ndarray, kind: str, k: int, seed: int, block_deg: float = 2.0
) -> xr.Dataset:
    """The split as a small dataset ``fold(site)`` to record with a run (NetCDF)."""
    attrs = {"kind": kind, "k": int(k), "seed": int(seed), "long_name": "cross-validation fold"}
    if kind == "spatial":
        attrs["block_deg"] = float(block_deg)
    return xr.Dataset(
        {"fold": ("site", np.asarray(folds, dtype=np.int32), attrs)},
        coords={"site": ("site", np.asarray(site_ids).astype(str))},
    )
