"""The soilbinn dataset schema: names, units, checks, NetCDF load/save, tensor extraction.

One NetCDF file per dataset (``docs/data_schema.md`` in the repository is the contract; the names
below are fixed). Dimensions: ``site``, ``layer`` (20), ``month`` (12), ``obs``, ``param``
(21), ``covariate``, ``category``, ``pool`` (7).

Storage decisions made here (documented for users and other modules)
--------------------------------------------------------------------
* Numeric covariates: ``covariates(site, covariate)`` (float32); the ``covariate``
  coordinate holds the names; the units of each covariate are the string variable
  ``covariate_units(covariate)`` (``"1"`` when unknown).
* Categorical covariates: ``categories(site, category)`` int32 codes ``0..n-1`` with
  ``-1`` = missing; the ``category`` coordinate holds the names. Because every category
  has its own code list, the CF pair is stored per category as attributes of the
  ``categories`` variable: ``flag_values_<name>`` (int array ``0..n-1``) and
  ``flag_meanings_<name>`` (space-separated labels, spaces inside a label written ``_``).
* Forcing may be stored in float32 or float64; it is returned as float64 tensors.
* Depth-integrated stocks (optional, instead of or besides layers): ``stock_obs(site,
  interval)`` g m-2 over ``[stock_top, stock_bottom](site, interval)`` m, NaN-padded, as
  observed (cumulative stocks such as 0-5, 0-30 and 0-100 cm stay cumulative here; the
  loss turns them into increments). A site needs valid layers or valid stocks or both.
* Optional ``region(site)`` string (e.g. RaCA's ``MO01``; empty when unknown) for
  leave-region-out evaluation.
* Units are compared after normalisation against :data:`UNIT_ALIASES` (for example
  ``g m-3``, ``gC m-3``, ``g/m3`` and ``g C m-3`` are all accepted for carbon density).

Validation (:func:`validate_dataset`) returns every problem found as a string naming the
variable, the problem and the sites (ids); :func:`load_dataset` raises
:class:`DatasetError` with all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from soilbinn.process.forcing import Forcing
from soilbinn.process.grid import N_LAYERS, N_MONTHS, POOLS, ZISOI, ZSOI
from soilbinn.process.parameters import PARAM_NAMES, PRESETS, ParameterSpace


class DatasetError(ValueError):
    """A dataset violates the schema; the message lists every problem found."""

    def __init__(self, problems: Sequence[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(
            f"{head}{len(self.problems)} problem(s) in dataset (format: docs/data_schema.md):\n  "
            + "\n  ".join(self.problems)
        )


#: parts of a dataset that can be required
PARTS: tuple[str, ...] = ("forcing", "observations", "covariates", "params")

#: deepest observation depth allowed (bottom of CLM5 level 20), m
MAX_OBS_DEPTH = ZISOI[-1]

#: largest plausible mean SOC density over a stock interval (g m-3): 1 g C per cm3 of soil,
#: above pure organic matter at its particle density (RaCA's densest 0-5 cm pedon: 0.80)
MAX_STOCK_DENSITY = 1.0e6

#: canonical unit -> accepted spellings (compared after :func:`normalize_units`)
UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "g m-2 month-1": (
        "g m-2 month-1", "gC m-2 month-1", "g C m-2 month-1", "g/m2/month", "gC/m2/month",
        "g m-2 mon-1", "gC m-2 mon-1", "g m^-2 month^-1",
    ),
    "g m-3": ("g m-3", "gC m-3", "g C m-3", "g/m3", "gC/m3", "g m^-3", "gC m^-3"),
    "g m-2": ("g m-2", "gC m-2", "g C m-2", "g/m2", "gC/m2", "g m^-2", "gC m^-2"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "K": ("K", "kelvin", "degK", "degrees_K"),
    "1": ("1", "", "-", "dimensionless", "unitless", "fraction", "none"),
    "degrees_north": ("degrees_north", "degree_north", "degrees_N", "degree_N", "degN"),
    "degrees_east": ("degrees_east", "degree_east", "degrees_E", "degree_E", "degE"),
}  # fmt: skip


def normalize_units(units: str | None) -> str | None:
    """Return the canonical spelling of ``units`` or None if it is not recognised.

    Whitespace is collapsed; exact aliases match first, then case-insensitive ones
    (except for kelvin, where ``K`` is required).
    """
    text = "" if units is None else " ".join(str(units).split())
    for canon, aliases in UNIT_ALIASES.items():
        if text in aliases:
            return canon
    low = text.lower()
    for canon, aliases in UNIT_ALIASES.items():
        if canon != "K" and low in {a.lower() for a in aliases}:
            return canon
    return None


@dataclass(frozen=True)
class VarSpec:
    """Schema entry: dims (alternatives allowed), canonical units and valid range."""

    dims: tuple[tuple[str, ...], ...]
    units: str
    lo: float = -np.inf
    hi: float = np.inf
    long_name: str = ""
    integer: bool = False
    allow_nan: bool = False


_SLM = ("site", "layer", "month")
#: the forcing variables (data_schema.md), name -> spec
FORCING_VARS: dict[str, VarSpec] = {
    "input_cwd": VarSpec((("site", "month"),), "g m-2 month-1", 0.0, np.inf,
                         "carbon input to coarse woody debris"),
    "input_litter1": VarSpec((("site", "month"),), "g m-2 month-1", 0.0, np.inf,
                             "carbon input to metabolic litter"),
    "input_litter2": VarSpec((("site", "month"),), "g m-2 month-1", 0.0, np.inf,
                             "carbon input to cellulose litter"),
    "input_litter3": VarSpec((("site", "month"),), "g m-2 month-1", 0.0, np.inf,
                             "carbon input to lignin litter"),
    "altmax": VarSpec((("site", "month"),), "m", 0.0, 100.0, "maximum active layer thickness"),
    "altmax_lastyear": VarSpec((("site", "month"),), "m", 0.0, 100.0,
                               "maximum active layer thickness of the previous year"),
    "nbedrock": VarSpec((("site",), ("site", "month")), "1", 1, N_LAYERS,
                        "index of the deepest soil layer above bedrock", integer=True),
    "soil_temperature": VarSpec((_SLM,), "K", 150.0, 350.0, "soil temperature"),
    "water_scalar": VarSpec((_SLM,), "1", 0.0, 1.0, "water scalar of decomposition (W_SCALAR)"),
    "oxygen_scalar": VarSpec((_SLM,), "1", 0.0, 1.0, "oxygen scalar of decomposition (O_SCALAR)"),
    "nitrogen_scalar": VarSpec((_SLM,), "1", 0.0, 1.0,
                               "nitrogen limitation of litter decomposition (FPI_vr)"),
}  # fmt: skip
INPUT_VARS: tuple[str, ...] = ("input_cwd", "input_litter1", "input_litter2", "input_litter3")

OBS_VARS: dict[str, VarSpec] = {
    "soc": VarSpec((("site", "obs"),), "g m-3", 0.0, np.inf,
                   "soil organic carbon density", allow_nan=True),
    "obs_depth": VarSpec((("site", "obs"),), "m", 0.0, MAX_OBS_DEPTH,
                         "observation (node) depth", allow_nan=True),
}  # fmt: skip
OBS_OPTIONAL: dict[str, VarSpec] = {
    "obs_top": VarSpec((("site", "obs"),), "m", 0.0, MAX_OBS_DEPTH,
                       "top of the observed horizon", allow_nan=True),
    "obs_bottom": VarSpec((("site", "obs"),), "m", 0.0, MAX_OBS_DEPTH,
                          "bottom of the observed horizon", allow_nan=True),
    # flags of the real-data harmonisation (inputs/profiles.py); -1 = no observation
    "soc_source": VarSpec((("site", "obs"),), "1", -1, 3,
                          "how the SOC of the observed horizon was obtained", integer=True),
    "organic": VarSpec((("site", "obs"),), "1", -1, 1, "organic horizon flag", integer=True),
}  # fmt: skip

#: depth-integrated stock observations (dimension ``interval``), optional
STOCK_VARS: dict[str, VarSpec] = {
    "stock_obs": VarSpec((("site", "interval"),), "g m-2", 0.0, MAX_STOCK_DENSITY * MAX_OBS_DEPTH,
                         "SOC stock over the depth interval", allow_nan=True),
    "stock_top": VarSpec((("site", "interval"),), "m", 0.0, MAX_OBS_DEPTH,
                         "top of the stock's depth interval", allow_nan=True),
    "stock_bottom": VarSpec((("site", "interval"),), "m", 0.0, MAX_OBS_DEPTH,
                            "bottom of the stock's depth interval", allow_nan=True),
}  # fmt: skip


def _site_ids(ds: xr.Dataset) -> np.ndarray:
    if "site" in ds.coords:
        return np.asarray(ds["site"].values).astype(str)
    return np.array([f"#{i}" for i in range(ds.sizes.get("site", 0))])


def describe_sites(mask: np.ndarray, site_ids: np.ndarray, limit: int = 10) -> str:
    """'k site(s): a, b, c (+m more)' for a boolean mask over sites."""
    idx = np.flatnonzero(mask)
    names = ", ".join(str(site_ids[i]) for i in idx[:limit])
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{len(idx)} site(s): {names}{more}"


def _per_site(bad: np.ndarray) -> np.ndarray:
    """Reduce a (site, ...) boolean array to (site,)."""
    return bad.reshape(bad.shape[0], -1).any(axis=1) if bad.ndim > 1 else bad


def _check_var(ds: xr.Dataset, name: str, spec: VarSpec, ids: np.ndarray, out: list[str]) -> None:
    """Append problems of one variable (presence checked by the caller)."""
    da = ds[name]
    if tuple(sorted(da.dims)) not in {tuple(sorted(d)) for d in spec.dims}:
        want = " or ".join("(" + ", ".join(d) + ")" for d in spec.dims)
        out.append(f"{name}: has dims {da.dims}; expected {want}")
        return
    units = da.attrs.get("units")
    if normalize_units(units) != spec.units:
        out.append(
            f"{name}: units {units!r} not accepted; expected {spec.units!r} "
            f"(aliases: {', '.join(repr(a) for a in UNIT_ALIASES[spec.units][:4])}, ...)"
        )
    dims = next(d for d in spec.dims if tuple(sorted(d)) == tuple(sorted(da.dims)))
    if not np.issubdtype(da.dtype, np.number) and da.dtype != bool:
        out.append(f"{name}: is not numeric (dtype {da.dtype})")
        return
    v = np.asarray(da.transpose(*dims).values, dtype=np.float64)
    nan = ~np.isfinite(v)
    if not spec.allow_nan and nan.any():
        out.append(f"{name}: missing (NaN/inf) values at {describe_sites(_per_site(nan), ids)}")
    with np.errstate(invalid="ignore"):
        bad = ~nan & ((v < spec.lo) | (v > spec.hi))
    if bad.any():
        out.append(
            f"{name}: values outside [{spec.lo:g}, {spec.hi:g}] {spec.units} "
            f"(found {np.nanmin(v):.4g} to {np.nanmax(v):.4g}) at "
            f"{describe_sites(_per_site(bad), ids)}"
        )
    if spec.integer:
        nonint = ~nan & (np.round(v) != v)
        if nonint.any():
            out.append(f"{name}: non-integer values at {describe_sites(_per_site(nonint), ids)}")


def _check_sites(ds: xr.Dataset, out: list[str]) -> np.ndarray:
    if "site" not in ds.dims:
        out.append("dataset has no 'site' dimension")
        return np.array([], dtype=str)
    ids = _site_ids(ds)
    if "site" not in ds.coords:
        out.append("site: missing coordinate of site ids")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        out.append(
            f"site: {len(dup)} duplicate site id(s): {', '.join(map(str, dup[:10]))}"
            + (f" (+{len(dup) - 10} more)" if len(dup) > 10 else "")
        )
    for name, lo, hi, units in (
        ("lat", -90, 90, "degrees_north"),
        ("lon", -180, 360, "degrees_east"),
    ):
        if name not in ds.variables:
            out.append(f"{name}: missing (required, dims (site,), units {units})")
            continue
        if ds[name].dims != ("site",):
            out.append(f"{name}: has dims {ds[name].dims}; expected ('site',)")
            continue
        if normalize_units(ds[name].attrs.get("units")) != units:
            out.append(
                f"{name}: units {ds[name].attrs.get('units')!r} not accepted; expected {units!r}"
            )
        v = np.asarray(ds[name].values, dtype=np.float64)
        bad = ~np.isfinite(v) | (v < lo) | (v > hi)
        if bad.any():
            out.append(f"{name}: missing or outside [{lo}, {hi}] at {describe_sites(bad, ids)}")
    if "region" in ds.variables and (
        ds["region"].dims != ("site",) or ds["region"].dtype.kind not in "OSU"
    ):
        out.append("region: must be a string variable with dims ('site',) (empty = unknown)")
    return ids


def _check_sizes(ds: xr.Dataset, out: list[str]) -> None:
    for dim, size in (("layer", N_LAYERS), ("month", N_MONTHS), ("pool", len(POOLS))):
        if dim in ds.dims and ds.sizes[dim] != size:
            out.append(f"dimension {dim!r} has size {ds.sizes[dim]}; expected {size}")


def _check_forcing(ds: xr.Dataset, ids: np.ndarray, out: list[str]) -> None:
    for name, spec in FORCING_VARS.items():
        if name not in ds.variables:
            dims = " or ".join("(" + ", ".join(d) + ")" for d in spec.dims)
            out.append(
                f"{name}: missing (required forcing variable, dims {dims}, units {spec.units!r})"
            )
        else:
            _check_var(ds, name, spec, ids, out)


def _check_observations(ds: xr.Dataset, ids: np.ndarray, out: list[str]) -> None:
    has_layers = any(n in ds.variables for n in OBS_VARS)
    has_stocks = any(n in ds.variables for n in STOCK_VARS)
    if not has_layers and not has_stocks:
        out.append(
            "soc: missing (observations need layers soc/obs_depth (site, obs) in 'g m-3'/'m' "
            "and/or stocks stock_obs/stock_top/stock_bottom (site, interval) in 'g m-2'/'m')"
        )
        return
    n = ds.sizes["site"]
    n0 = len(out)
    stock_ok = _check_stocks(ds, ids, out) if has_stocks else np.zeros(n, bool)
    if not has_layers:
        if len(out) == n0 and not stock_ok.all():
            out.append(f"stock_obs: no valid observation at {describe_sites(~stock_ok, ids)}")
        return
    n0 = len(out)
    for name, spec in OBS_VARS.items():
        if name not in ds.variables:
            out.append(
                f"{name}: missing (required observation variable, dims (site, obs), units {spec.units!r})"
            )
        else:
            _check_var(ds, name, spec, ids, out)
    for name, spec in OBS_OPTIONAL.items():
        if name in ds.variables:
            _check_var(ds, name, spec, ids, out)
    if len(out) > n0:
        return
    soc = np.asarray(ds["soc"].transpose("site", "obs").values, dtype=np.float64)
    depth = np.asarray(ds["obs_depth"].transpose("site", "obs").values, dtype=np.float64)
    orphan = np.isfinite(soc) & ~np.isfinite(depth)
    if orphan.any():
        out.append(f"soc: values without an obs_depth at {describe_sites(_per_site(orphan), ids)}")
    zero_depth = np.isfinite(depth) & (depth <= 0)
    if zero_depth.any():
        out.append(
            f"obs_depth: depths must be > 0 m (node depth, not the top of the horizon) at "
            f"{describe_sites(_per_site(zero_depth), ids)}"
        )
    empty = ~(np.isfinite(soc) & np.isfinite(depth)).any(axis=1) & ~stock_ok
    if empty.any():
        what = "soc (nor stock_obs)" if has_stocks else "soc"
        out.append(f"{what}: no valid observation at {describe_sites(empty, ids)}")
    if "obs_top" in ds.variables and "obs_bottom" in ds.variables:
        top = np.asarray(ds["obs_top"].transpose("site", "obs").values, dtype=np.float64)
        bot = np.asarray(ds["obs_bottom"].transpose("site", "obs").values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            inv = (top >= bot) | (depth < top - 1e-6) | (depth > bot + 1e-6)
        inv &= np.isfinite(top) & np.isfinite(bot) & np.isfinite(depth)
        if inv.any():
            out.append(
                "obs_top/obs_bottom: horizon with top >= bottom or obs_depth outside "
                f"[top, bottom] at {describe_sites(_per_site(inv), ids)}"
            )


def _check_stocks(ds: xr.Dataset, ids: np.ndarray, out: list[str]) -> np.ndarray:
    """Check the stock variables; return the sites (bool (site,)) with a stock (all True
    when the variables are unusable, so that only the real problem is reported)."""
    n = ds.sizes["site"]
    missing = [k for k in STOCK_VARS if k not in ds.variables]
    if missing:
        out.append(
            f"{', '.join(missing)}: missing (stock observations need stock_obs, stock_top and "
            "stock_bottom, dims (site, interval))"
        )
        return np.ones(n, bool)
    for name, spec in STOCK_VARS.items():
        _check_var(ds, name, spec, ids, out)
    for name in STOCK_VARS:  # consistency needs (site, interval) numbers; ranges may be off
        da = ds[name]
        if set(da.dims) != {"site", "interval"} or not np.issubdtype(da.dtype, np.number):
            return np.ones(n, bool)  # unknown: do not also report empty sites
    stock, top, bot = (
        np.asarray(ds[k].transpose("site", "interval").values, dtype=np.float64) for k in STOCK_VARS
    )
    given = np.isfinite(stock)
    lims = np.isfinite(top) & np.isfinite(bot)
    problems = []
    orphan = given & ~lims
    if orphan.any():
        problems.append(("stock_obs: values without both stock_top and stock_bottom", orphan))
    with np.errstate(invalid="ignore"):
        inverted = lims & (top >= bot)
        dense = given & lims & ~inverted & (stock / np.where(inverted, 1.0, bot - top)
                                            > MAX_STOCK_DENSITY)  # fmt: skip
    if inverted.any():
        problems.append(("stock_top/stock_bottom: interval with top >= bottom", inverted))
    if dense.any():
        problems.append((
            f"stock_obs: implausible stock, mean density over the interval above "
            f"{MAX_STOCK_DENSITY:g} g m-3 (wrong units, e.g. kg m-2 read as g m-2 x 1000?)",
            dense,
        ))  # fmt: skip
    ok = given & lims & ~inverted
    # pairs (j, k) of one site: duplicate intervals; stock_j > stock_k for j inside k
    t_j, t_k = top[:, :, None], top[:, None, :]
    b_j, b_k = bot[:, :, None], bot[:, None, :]
    pair = ok[:, :, None] & ok[:, None, :] & ~np.eye(top.shape[1], dtype=bool)[None]
    same = pair & (t_j == t_k) & (b_j == b_k)
    if same.any():
        problems.append(("stock_top/stock_bottom: the same interval given twice", same))
    with np.errstate(invalid="ignore"):
        inside = pair & ~same & (t_j >= t_k) & (b_j <= b_k)
        exceeds = inside & (stock[:, :, None] > stock[:, None, :] * (1 + 1e-6) + 1e-6)
    if exceeds.any():
        problems.append((
            "stock_obs: a stock exceeds the stock of an interval containing it (e.g. 0-30 cm "
            "> 0-100 cm of the same site)",
            exceeds,
        ))  # fmt: skip
    for text, mask in problems:
        out.append(f"{text} at {describe_sites(_per_site(mask), ids)}")
    return ok.any(axis=1)


def _check_flags(ds: xr.Dataset, out: list[str]) -> list[int]:
    """Check per-category flag attributes; return the number of categories of each."""
    da = ds["categories"]
    names = [str(c) for c in np.asarray(ds["category"].values)] if "category" in ds.coords else []
    sizes = []
    for name in names:
        fv = da.attrs.get(f"flag_values_{name}")
        fm = da.attrs.get(f"flag_meanings_{name}")
        if fv is None or fm is None:
            out.append(f"categories: attributes flag_values_{name} / flag_meanings_{name} missing")
            sizes.append(0)
            continue
        fv = np.atleast_1d(np.asarray(fv))
        if len(str(fm).split()) != len(fv) or not np.array_equal(fv, np.arange(len(fv))):
            out.append(
                f"categories: flag_values_{name} must be 0..n-1 with one word per value in "
                f"flag_meanings_{name}"
            )
        sizes.append(len(fv))
    return sizes


def _check_covariates(ds: xr.Dataset, ids: np.ndarray, out: list[str]) -> None:
    if "covariates" not in ds.variables and "categories" not in ds.variables:
        out.append(
            "covariates: missing (need covariates(site, covariate) and/or categories(site, category))"
        )
        return
    if "covariates" in ds.variables:
        da = ds["covariates"]
        if set(da.dims) != {"site", "covariate"}:
            out.append(f"covariates: has dims {da.dims}; expected ('site', 'covariate')")
        elif "covariate" not in ds.coords:
            out.append("covariates: the 'covariate' coordinate of names is missing")
        else:
            names = [str(x) for x in np.asarray(ds["covariate"].values)]
            if len(set(names)) != len(names):
                out.append("covariate: duplicate covariate names")
            v = np.asarray(da.transpose("site", "covariate").values, dtype=np.float64)
            nan = ~np.isfinite(v)
            for j in np.flatnonzero(nan.any(axis=0)):
                out.append(
                    f"covariates: {names[j]!r} is missing (NaN) at {describe_sites(nan[:, j], ids)}"
                )
    if "categories" in ds.variables:
        da = ds["categories"]
        if set(da.dims) != {"site", "category"}:
            out.append(f"categories: has dims {da.dims}; expected ('site', 'category')")
            return
        if not np.issubdtype(da.dtype, np.integer):
            out.append(f"categories: must hold integer codes (dtype {da.dtype})")
            return
        sizes = _check_flags(ds, out)
        names = (
            [str(x) for x in np.asarray(ds["category"].values)] if "category" in ds.coords else []
        )
        v = np.asarray(da.transpose("site", "category").values)
        for j, (name, size) in enumerate(zip(names, sizes)):
            bad = (v[:, j] < -1) | (v[:, j] >= max(size, 1))
            if size and bad.any():
                out.append(
                    f"categories: {name!r} has codes outside -1..{size - 1} at {describe_sites(bad, ids)}"
                )


def _check_param_var(ds: xr.Dataset, name: str, ids: np.ndarray, out: list[str]) -> None:
    da = ds[name]
    if set(da.dims) != {"site", "param"}:
        out.append(f"{name}: has dims {da.dims}; expected ('site', 'param')")
        return
    if "param" not in ds.coords:
        out.append(f"{name}: the 'param' coordinate of names is missing")
        return
    pnames = tuple(str(x) for x in np.asarray(ds["param"].values))
    allowed = {
        ParameterSpace.from_preset("binn2025", t).names for t in ("clm5", "simple", "simple2")
    }
    if pnames not in allowed:
        out.append(f"param: names {pnames} do not match the process model's order {PARAM_NAMES}")
    preset = da.attrs.get("preset", ds.attrs.get("preset"))
    if preset is not None and preset not in PRESETS:
        out.append(f"{name}: attribute preset={preset!r} unknown; choose from {sorted(PRESETS)}")
    v = np.asarray(da.transpose("site", "param").values, dtype=np.float64)
    bad = ~np.isfinite(v) | (v < 0) | (v > 1)
    for j in np.flatnonzero(bad.any(axis=0)):
        out.append(
            f"{name}: {pnames[j] if j < len(pnames) else j} missing or outside the unit scale "
            f"[0, 1] at {describe_sites(bad[:, j], ids)}"
        )


def _check_params(ds: xr.Dataset, ids: np.ndarray, out: list[str]) -> None:
    if "params" not in ds.variables:
        out.append("params: missing (required, dims (site, param), unit scale [0, 1])")
    for name in ("params", "true_params"):
        if name in ds.variables:
            _check_param_var(ds, name, ids, out)


#: part name -> checker (a plain dict registry)
CHECKS = {
    "forcing": _check_forcing,
    "observations": _check_observations,
    "covariates": _check_covariates,
    "params": _check_params,
}


def present_parts(ds: xr.Dataset) -> tuple[str, ...]:
    """The parts a dataset appears to contain (used by ``soilbinn validate`` by default)."""
    marker = {
        "forcing": ("input_cwd", "soil_temperature", "water_scalar"),
        "observations": ("soc", "obs_depth", "stock_obs"),
        "covariates": ("covariates", "categories"),
        "params": ("params", "true_params"),
    }
    return tuple(p for p, names in marker.items() if any(n in ds.variables for n in names))


def validate_dataset(ds: xr.Dataset, require: Iterable[str] = ("forcing",)) -> list[str]:
    """Check a dataset against the schema.

    Parameters
    ----------
    ds : xarray.Dataset
    require : iterable of {"forcing", "observations", "covariates", "params"}
        Parts that must be present and valid. Site ids, lat/lon and dimension sizes are
        always checked.

    Returns
    -------
    list of str
        Every problem found (variable, problem, site ids); empty if the dataset is valid.
    """
    require = tuple(require)
    unknown = set(require) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown dataset part(s) {sorted(unknown)}; choose from {PARTS}")
    out: list[str] = []
    ids = _check_sites(ds, out)
    _check_sizes(ds, out)
    if "site" not in ds.dims:
        return out
    for part in require:
        CHECKS[part](ds, ids, out)
    return out


def check_dataset(
    ds: xr.Dataset, require: Iterable[str] = ("forcing",), source: str | None = None
) -> xr.Dataset:
    """Raise :class:`DatasetError` listing every problem; return ``ds`` when valid."""
    problems = validate_dataset(ds, require)
    if problems:
        raise DatasetError(problems, source)
    return ds


def load_dataset(path: str | os.PathLike, require: Iterable[str] = ("forcing",)) -> xr.Dataset:
    """Open a soilbinn NetCDF dataset, load it into memory and validate it.

    Parameters
    ----------
    path : path of a NetCDF file
    require : parts that must be present and valid (see :func:`validate_dataset`).

    Raises
    ------
    FileNotFoundError, DatasetError
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset file not found: {path}")
    try:
        with xr.open_dataset(path, engine="netcdf4", mask_and_scale=True) as f:
            ds = f.load()
    except OSError as err:
        raise DatasetError([f"cannot read as NetCDF: {err}"], str(path)) from err
    if "site" in ds.coords:
        ds = ds.assign_coords(site=np.asarray(ds["site"].values).astype(str))
    return check_dataset(ds, require, source=str(path))


def _encoding(ds: xr.Dataset) -> dict:
    enc = {}
    for name, da in ds.variables.items():
        if da.dtype.kind in "OU":
            enc[name] = {"dtype": str}
        elif da.dtype.kind == "f" and name not in ds.dims:
            enc[name] = {"_FillValue": np.nan}
        elif da.dtype.kind in "iub":
            enc[name] = {"_FillValue": None}
    return enc


def save_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to NetCDF4 atomically (temp file in the same directory, then rename)."""
    from soilbinn.io import write_netcdf

    path = write_netcdf(ds, path, engine="netcdf4", format="NETCDF4", encoding=_encoding(ds))
    return path


# --------------------------------------------------------------------------- tensors


def _values(ds: xr.Dataset, name: str, dims: tuple[str, ...]) -> np.ndarray:
    return np.asarray(ds[name].transpose(*dims).values, dtype=np.float64)


def forcing_from_dataset(ds: xr.Dataset, device=None) -> Forcing:
    """Build the process model's :class:`~soilbinn.process.forcing.Forcing` (float64).

    Monthly litter inputs (g m-2 month-1) are summed to annual totals (g m-2 yr-1),
    ``nbedrock`` is broadcast to (n, 12), per-layer fields are returned as (n, 20, 12).
    """
    check_dataset(ds, ("forcing",))
    n = ds.sizes["site"]
    litter = np.stack([_values(ds, v, ("site", "month")).sum(axis=1) for v in INPUT_VARS], axis=1)
    nb = ds["nbedrock"]
    nbv = np.asarray(nb.transpose("site", "month").values if "month" in nb.dims else nb.values)
    nbv = np.broadcast_to(np.rint(nbv).astype(np.int64).reshape(n, -1), (n, N_MONTHS)).copy()
    t = {name: torch.from_numpy(_values(ds, name, _SLM)) for name in
         ("soil_temperature", "water_scalar", "oxygen_scalar", "nitrogen_scalar")}  # fmt: skip
    f = Forcing(
        litter_input=torch.from_numpy(litter),
        altmax=torch.from_numpy(_values(ds, "altmax", ("site", "month"))),
        altmax_lastyear=torch.from_numpy(_values(ds, "altmax_lastyear", ("site", "month"))),
        nbedrock=torch.from_numpy(nbv),
        site_ids=list(_site_ids(ds)),
        **t,
    )
    return f.to(device) if device is not None else f


def observations_from_dataset(ds: xr.Dataset, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(soc, depth)``: float64 tensors (n, obs) in g m-3 and m, NaN padded.

    An observation is kept only where both SOC and depth are finite. A dataset with
    stocks only gives all-NaN tensors of shape (n, 1).
    """
    check_dataset(ds, ("observations",))
    if "soc" not in ds.variables:
        empty = torch.full((ds.sizes["site"], 1), float("nan"), dtype=torch.float64)
        return empty.to(device), empty.clone().to(device)
    soc = _values(ds, "soc", ("site", "obs"))
    depth = _values(ds, "obs_depth", ("site", "obs"))
    bad = ~(np.isfinite(soc) & np.isfinite(depth))
    soc[bad] = np.nan
    depth[bad] = np.nan
    return torch.from_numpy(soc).to(device), torch.from_numpy(depth).to(device)


def stocks_from_dataset(ds: xr.Dataset, device=None) -> tuple[torch.Tensor, ...] | None:
    """Return ``(stock, top, bottom)``: float64 tensors (n, interval) in g m-2, m, m.

    NaN-padded; an interval is kept only where the stock and both limits are finite.
    None when the dataset has no stock observations.
    """
    if "stock_obs" not in ds.variables:
        return None
    check_dataset(ds, ("observations",))
    stock, top, bot = (_values(ds, k, ("site", "interval")) for k in STOCK_VARS)
    bad = ~(np.isfinite(stock) & np.isfinite(top) & np.isfinite(bot))
    for a in (stock, top, bot):
        a[bad] = np.nan
    return tuple(torch.from_numpy(a).to(device) for a in (stock, top, bot))


@dataclass
class Covariates:
    """Covariates of ``n`` sites as tensors for the parameter network.

    Attributes
    ----------
    numeric : Tensor (n, c) float32
        Raw numeric covariates (not scaled), in ``numeric_units``.
    numeric_names, numeric_units : list of str (c,)
    categorical : Tensor (n, k) int64
        Codes ``0..n_categories[j]-1``; ``-1`` = missing.
    categorical_names : list of str (k,)
    n_categories : list of int (k,)
    category_labels : list of list of str
        Labels of the codes of each categorical covariate.
    site_ids : list of str (n,)
    """

    numeric: torch.Tensor
    numeric_names: list[str]
    categorical: torch.Tensor
    categorical_names: list[str]
    n_categories: list[int]
    numeric_units: list[str] = field(default_factory=list)
    category_labels: list[list[str]] = field(default_factory=list)
    site_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.numeric.shape[0])


def category_labels(ds: xr.Dataset) -> dict[str, list[str]]:
    """Category name -> list of code labels, from the per-category flag attributes."""
    if "categories" not in ds.variables:
        return {}
    attrs = ds["categories"].attrs
    return {
        str(c): str(attrs[f"flag_meanings_{c}"]).split()
        for c in np.asarray(ds["category"].values).astype(str)
    }


def covariates_from_dataset(ds: xr.Dataset, device=None) -> Covariates:
    """Extract numeric and categorical covariates (see the module docstring for storage)."""
    check_dataset(ds, ("covariates",))
    n = ds.sizes["site"]
    if "covariates" in ds.variables:
        num = np.asarray(ds["covariates"].transpose("site", "covariate").values, dtype=np.float32)
        names = [str(s) for s in np.asarray(ds["covariate"].values)]
        units = (
            [str(u) for u in np.asarray(ds["covariate_units"].values)]
            if "covariate_units" in ds.variables
            else ["1"] * len(names)
        )
    else:
        num, names, units = np.zeros((n, 0), np.float32), [], []
    labels = category_labels(ds)
    if "categories" in ds.variables:
        cat = np.asarray(ds["categories"].transpose("site", "category").values, dtype=np.int64)
    else:
        cat = np.zeros((n, 0), np.int64)
    return Covariates(
        numeric=torch.from_numpy(num).to(device),
        numeric_names=names,
        categorical=torch.from_numpy(cat).to(device),
        categorical_names=list(labels),
        n_categories=[len(v) for v in labels.values()],
        numeric_units=units,
        category_labels=list(labels.values()),
        site_ids=list(_site_ids(ds)),
    )


def params_from_dataset(ds: xr.Dataset, name: str = "params", device=None) -> torch.Tensor:
    """Unit-scale parameters (n, n_params) float64 from ``params`` or ``true_params``."""
    check_dataset(ds, ("params",))
    return torch.from_numpy(_values(ds, name, ("site", "param"))).to(device)


# --------------------------------------------------------------------------- builders


def base_coords(site_ids: Sequence[str], lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """A dataset with the schema's coordinates (site, lat, lon, layer, depth, month)."""
    ds = xr.Dataset(
        coords={
            "site": ("site", np.asarray(site_ids).astype(str)),
            "lat": ("site", np.asarray(lat, dtype=np.float64),
                    {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude"}),
            "lon": ("site", np.asarray(lon, dtype=np.float64),
                    {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude"}),
            "layer": ("layer", np.arange(1, N_LAYERS + 1, dtype=np.int32),
                      {"long_name": "CLM5 soil level (1 = top)"}),
            "depth": ("layer", np.asarray(ZSOI, dtype=np.float64),
                      {"units": "m", "long_name": "node depth of the soil layer", "positive": "down"}),
            "month": ("month", np.arange(1, N_MONTHS + 1, dtype=np.int32), {"long_name": "month of year"}),
        }
    )  # fmt: skip
    ds["site"].attrs["long_name"] = "site (profile) identifier"
    ds.attrs["Conventions"] = "CF-1.8"
    return ds


def add_forcing(ds: xr.Dataset, values: dict[str, np.ndarray], dtype=np.float32) -> xr.Dataset:
    """Add forcing arrays (site, month) / (site, layer, month) / nbedrock (site,) with attrs."""
    for name, spec in FORCING_VARS.items():
        v = np.asarray(values[name])
        dims = next(d for d in spec.dims if len(d) == v.ndim)
        arr = v.astype(np.int32) if spec.integer else v.astype(dtype)
        ds[name] = (dims, arr, {"units": spec.units, "long_name": spec.long_name})
    return ds


def add_categories(
    ds: xr.Dataset, codes: dict[str, np.ndarray], labels: dict[str, Sequence[str]]
) -> xr.Dataset:
    """Add ``categories(site, category)`` with per-category flag attributes."""
    names = list(codes)
    arr = np.stack([np.asarray(codes[c], dtype=np.int32) for c in names], axis=1)
    attrs = {"long_name": "categorical covariates (integer codes, -1 = missing)", "units": "1"}
    for c in names:
        lab = [str(x).replace(" ", "_") for x in labels[c]]
        attrs[f"flag_values_{c}"] = np.arange(len(lab), dtype=np.int32)
        attrs[f"flag_meanings_{c}"] = " ".join(lab)
    ds = ds.assign_coords(category=("category", np.asarray(names, dtype=str)))
    ds["categories"] = (("site", "category"), arr, attrs)
    return ds


def add_covariates(ds: xr.Dataset, values: dict[str, np.ndarray], units: dict[str, str],
                   long_names: dict[str, str] | None = None) -> xr.Dataset:  # fmt: skip
    """Add numeric ``covariates(site, covariate)`` and ``covariate_units(covariate)``."""
    names = list(values)
    arr = np.stack([np.asarray(values[c], dtype=np.float32) for c in names], axis=1)
    ds = ds.assign_coords(covariate=("covariate", np.asarray(names, dtype=str)))
    ds["covariates"] = (("site", "covariate"), arr,
                        {"long_name": "numeric covariates (units in covariate_units)"})  # fmt: skip
    ds["covariate_units"] = ("covariate", np.asarray([units.get(c, "1") for c in names], dtype=str))
    if long_names:
        ds["covariate_long_name"] = (
            "covariate",
            np.asarray([long_names.get(c, c) for c in names], dtype=str),
        )
    return ds


def add_stocks(
    ds: xr.Dataset, stock: np.ndarray, top: np.ndarray, bottom: np.ndarray
) -> xr.Dataset:
    """Add ``stock_obs``, ``stock_top``, ``stock_bottom`` (site, interval) with attrs.

    Parameters
    ----------
    stock : ndarray (n, k), g m-2
    top, bottom : ndarray (n, k), m
        NaN-padded.
    """
    for name, v in zip(STOCK_VARS, (stock, top, bottom)):
        spec = STOCK_VARS[name]
        ds[name] = (("site", "interval"), np.asarray(v, dtype=np.float64),
                    {"units": spec.units, "long_name": spec.long_name})  # fmt: skip
    return ds
