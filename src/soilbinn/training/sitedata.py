"""Site tensors for training and prediction, built once from a dataset.

:class:`SiteData` holds everything the models need for ``n`` sites as tensors (covariates,
lon/lat, forcing, observations, optional per-site fixed parameters), so the training loop
only indexes tensors. :func:`site_data_from_dataset` builds it through the data layer
(:mod:`soilbinn.data.schema`), which validates units and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import xarray as xr

from soilbinn.process.forcing import Forcing
from soilbinn.training.stocks import StockObs, stock_obs_from_dataset


class TrainingDataError(ValueError):
    """A dataset lacks what training or prediction needs (names file/variable/sites)."""


@dataclass
class SiteData:
    """Inputs (and optionally observations) of ``n`` sites.

    Attributes
    ----------
    site_ids : list of str (n,)
    numeric : Tensor (n, c) float32, raw (unscaled) numeric covariates
    categorical : Tensor (n, k + r) int64, codes (-1 = missing): the network's ``k``
        categorical covariates, then the ``r`` regions of the GP stage (``region_names``)
    lonlat : Tensor (n, 2) float32, degrees east / north
    forcing : Forcing or the process model's PreparedForcing (float64)
    soc, depth : Tensor (n, obs) float64 g m-3 and m, NaN padded (None when predicting;
        all NaN for sites, or datasets, with stocks only)
    stocks : :class:`~soilbinn.training.stocks.StockObs`, optional
        Depth-interval stock observations (n, interval), when the dataset has them.
    fixed_params : Tensor (n, n_params) float64 unit scale, optional
    """

    site_ids: list[str]
    numeric: torch.Tensor
    categorical: torch.Tensor
    lonlat: torch.Tensor
    forcing: Forcing
    soc: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    fixed_params: torch.Tensor | None = None
    stocks: StockObs | None = None
    numeric_names: list[str] = field(default_factory=list)
    categorical_names: list[str] = field(default_factory=list)
    n_categories: list[int] = field(default_factory=list)
    region_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def to(self, device) -> SiteData:
        """All tensors on ``device`` (forcing must still be a plain :class:`Forcing`)."""

        def mv(t):
            return None if t is None else t.to(device)

        return replace(
            self, numeric=mv(self.numeric), categorical=mv(self.categorical),
            lonlat=mv(self.lonlat), forcing=self.forcing.to(device), soc=mv(self.soc),
            depth=mv(self.depth), fixed_params=mv(self.fixed_params), stocks=mv(self.stocks),
        )  # fmt: skip

    def select(self, index: torch.Tensor) -> SiteData:
        """Rows ``index`` (int64 tensor) of every tensor."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.numeric.device)

        def pick(t):
            return None if t is None else t[index]

        return replace(
            self,
            site_ids=[self.site_ids[i] for i in index.tolist()],
            numeric=self.numeric[index],
            categorical=self.categorical[index],
            lonlat=self.lonlat[index],
            forcing=self.forcing.select(index),
            soc=pick(self.soc),
            depth=pick(self.depth),
            fixed_params=pick(self.fixed_params),
            stocks=None if self.stocks is None else self.stocks.select(index),
        )


def _need(ds: xr.Dataset, names: list[str], what: str, source: str) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise TrainingDataError(
            f"{source}: dataset lacks {', '.join(missing)}, needed for {what} "
            "(see docs/data_schema.md in the soilbinn repository; `soilbinn validate` lists every problem)"
        )


def site_data_from_dataset(
    ds: xr.Dataset,
    observations: bool = True,
    fixed_from: str | None = None,
    param_names: tuple[str, ...] | None = None,
    numeric_names: list[str] | None = None,
    categorical_names: list[str] | None = None,
    source: str = "dataset",
    region_names: list[str] | None = None,
) -> SiteData:
    """Build :class:`SiteData` from a schema dataset.

    Parameters
    ----------
    observations : bool
        Require and load the observations (training, evaluation): layers ``soc`` /
        ``obs_depth``, stocks ``stock_obs`` / ``stock_top`` / ``stock_bottom``, or both.
    fixed_from : str, optional
        Variable (site, param) with unit-scale parameter values for fixed parameters.
    numeric_names, categorical_names : list of str, optional
        Covariates to use, in this order (None: all in the dataset but the regions). At
        prediction these are the training run's names and every one must be present.
    region_names : list of str, optional
        Categorical covariates the network does not read, the GP stage's regions
        (``train.gp_prior.regions``): their codes follow the network's in ``categorical``.
    """
    from soilbinn.data import schema

    _need(ds, ["covariates", "lat", "lon"], "the network inputs", source)
    if observations and "stock_obs" not in ds.variables:
        _need(ds, ["soc", "obs_depth"], "training (observed SOC layers or stocks)", source)
    require = ("forcing", "covariates") + (("observations",) if observations else ())
    problems = schema.validate_dataset(ds, require=require)
    if problems:
        raise TrainingDataError(f"{source}: invalid dataset:\n  " + "\n  ".join(problems))
    cov = schema.covariates_from_dataset(ds)
    numeric, names = cov.numeric, list(cov.numeric_names)
    if numeric_names is not None:
        missing = [n for n in numeric_names if n not in names]
        if missing:
            raise TrainingDataError(f"{source}: covariate(s) {missing} missing from 'covariates'")
        numeric = numeric[:, [names.index(n) for n in numeric_names]]
        names = list(numeric_names)
    cat, cnames = cov.categorical, list(cov.categorical_names)
    ncat = list(cov.n_categories)
    regions = list(region_names or [])
    missing = [n for n in regions if n not in cnames]
    if missing:
        raise TrainingDataError(f"{source}: region(s) {missing} (train.gp_prior.regions) are "
                                "not categorical covariates of the dataset (its categories: "
                                f"{', '.join(cnames) or 'none'})")  # fmt: skip
    if categorical_names is None:
        categorical_names = [n for n in cnames if n not in regions]
    missing = [n for n in categorical_names if n not in cnames]
    if missing:
        raise TrainingDataError(f"{source}: categorical covariate(s) {missing} missing")
    idx = [cnames.index(n) for n in list(categorical_names) + regions]
    cat = cat[:, idx] if len(idx) else cat.new_zeros((cat.shape[0], 0))
    ncat = [ncat[i] for i in idx[: len(categorical_names)]]
    cnames = list(categorical_names)
    forcing = schema.forcing_from_dataset(ds)
    soc = depth = stocks = None
    if observations:
        soc, depth = schema.observations_from_dataset(ds)
        stocks = stock_obs_from_dataset(ds)
    fixed = None
    if fixed_from is not None:
        _need(ds, [fixed_from], f"model.fixed_from = {fixed_from!r}", source)
        var = ds[fixed_from]
        if "param" in var.dims and param_names is not None:
            var = var.sel(param=list(param_names))
        fixed = torch.as_tensor(np.asarray(var.transpose("site", ...).values, dtype=np.float64))
        bad = ~torch.isfinite(fixed).all(1) | (fixed < 0).any(1) | (fixed > 1).any(1)
        if bool(bad.any()):
            ids = [str(s) for s in np.asarray(ds["site"].values)[bad.numpy()][:10]]
            raise TrainingDataError(
                f"{source}: {fixed_from} must be finite and on the unit scale [0, 1]; "
                f"bad at {int(bad.sum())} site(s): {', '.join(ids)}"
            )
    lonlat = torch.as_tensor(
        np.stack([np.asarray(ds["lon"].values), np.asarray(ds["lat"].values)], axis=1),
        dtype=torch.float32,
    )
    return SiteData(
        site_ids=[str(s) for s in np.asarray(ds["site"].values)],
        numeric=numeric.to(torch.float32),
        categorical=cat.to(torch.int64),
        lonlat=lonlat,
        forcing=replace(
            forcing.to(dtype=torch.float64),
            site_ids=[str(s) for s in np.asarray(ds["site"].values)],
        ),
        soc=soc,
        depth=depth,
        fixed_params=fixed,
        stocks=stocks,
        numeric_names=names,
        categorical_names=cnames,
        n_categories=[int(k) for k in ncat],
        region_names=regions,
    )


def split_indices(
    lat: np.ndarray,
    lon: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    kind: str = "random",
    block_deg: float = 2.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sites into train / validation / test (sorted int64 index arrays).

    ``random`` permutes sites; ``spatial`` permutes ``block_deg`` x ``block_deg`` cells
    and fills validation then test with whole cells, first fit: each cell in turn goes to
    validation if it fits in what that set still lacks, else to test if it fits there,
    else to training (sizes approximate the fractions from below). A cell larger than
    what remains is passed over, not the end of the filling, so one large cell early in
    the order does not leave a set nearly empty (docs/recovery_ablation.md, stop 78).
    """
    n = len(lat)
    rng = np.random.default_rng(seed)
    if kind == "random":
        order = rng.permutation(n)
        n_val = int(round(val_fraction * n))
        n_test = int(round(test_fraction * n))
        val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    elif kind == "spatial":
        cell = np.floor(np.asarray(lat) / block_deg) * 10000 + np.floor(np.asarray(lon) / block_deg)
        cells, inv = np.unique(cell, return_inverse=True)
        cell_order = rng.permutation(len(cells))
        counts = np.bincount(inv, minlength=len(cells))
        room = [val_fraction * n, test_fraction * n]  # what each set still lacks
        part = np.full(len(cells), 2)  # 0 validation, 1 test, 2 training
        for c in cell_order:
            for s in (0, 1):
                if counts[c] <= room[s]:
                    part[c], room[s] = s, room[s] - counts[c]
                    break
        is_val, is_test = part[inv] == 0, part[inv] == 1
        val, test = np.nonzero(is_val)[0], np.nonzero(is_test)[0]
        train = np.nonzero(~is_val & ~is_test)[0]
    else:
        raise ValueError(f"unknown split kind {kind!r}; choose random or spatial")
    return np.sort(train), np.sort(val), np.sort(test)


def split_shortfalls(
    idx: tuple[np.ndarray, np.ndarray, np.ndarray], val_fraction: float, test_fraction: float
) -> list[str]:
    """The validation or test sets that got less than half the sites their fraction asks.

    The spatial split fills each set with whole cells, so on a small dataset whose sites
    cluster in a few large cells a set can stay well short of its fraction even though
    cells that do not fit are passed over (before stop 78 the filling stopped at the
    first of them: 2 test sites of 300 against 45 asked, docs/recovery_ablation.md,
    stop 77).

    Parameters
    ----------
    idx : tuple of int arrays
        Train, validation and test site indices (:func:`split_indices`).
    val_fraction, test_fraction : float
        The fractions asked for.

    Returns
    -------
    list of str
        One line per short set, e.g. ``"test: 2 sites of 300 (0.7%), 15% asked"``.
    """
    n = sum(len(i) for i in idx)
    out = []
    for name, got, frac in (("validation", idx[1], val_fraction), ("test", idx[2], test_fraction)):
        if frac > 0 and len(got) < 0.5 * frac * n:
            out.append(f"{name}: {len(got)} sites of {n} ({100 * len(got) / max(n, 1):.1f}%), "
                       f"{100 * frac:g}% asked")  # fmt: skip
    return out
