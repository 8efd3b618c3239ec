"""Gridded fields (NetCDF, CESM2 MATLAB v7.3) sampled at sites, and gridded forcing.

A :class:`Grid` holds ``values`` shaped ``(*lead, nlat, nlon)`` on a rectilinear lon/lat
grid (``lead`` e.g. ``("month",)`` or ``("month", "layer")``). :func:`sample_at_sites`
takes, for every site, the nearest *valid* cell (a cell is valid when all its leading
values are finite), by great-circle distance between cell centres and the site, and
reports sites whose own cell is invalid (moved to a neighbour) and sites with no valid
cell within ``max_distance_km`` (values NaN).

CESM2 MATLAB v7.3 files (see ``../shared/data/README.md``) hold ``var_record_monthly_mean``
stored in HDF5 as (month, lon, lat) or (month, layer, lon, lat) on the f05 grid: 576
longitudes from -180 + 0.3125 by 0.625 deg and 384 latitudes from 90 - 0.234375 by
-0.46875 deg; :func:`read_cesm2_mat` returns them as (month[, layer], lat, lon).

:func:`forcing_from_grids` turns gridded monthly fields into the dataset's forcing
variables with unit conversion (e.g. NPP in gC m-2 s-1 to litter inputs in
g m-2 month-1; air temperature to soil temperature by layer, see
:mod:`soilbinn.inputs.forcing_builder`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from soilbinn.data.schema import FORCING_VARS, add_forcing, base_coords, describe_sites
from soilbinn.inputs import forcing_builder as fb
from soilbinn.process.grid import N_LAYERS, N_MONTHS

EARTH_RADIUS_KM = 6371.0


class GridError(ValueError):
    """A gridded file or field cannot be used (names the file/variable and the problem)."""


@dataclass
class Grid:
    """A field on a rectilinear lon/lat grid.

    Attributes
    ----------
    values : ndarray (*lead, nlat, nlon)
    lat : (nlat,) degrees north; lon : (nlon,) degrees east in [-180, 180)
    lead : names of the leading dims, e.g. ("month",) or ("month", "layer")
    name, units : str
    """

    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    lead: tuple[str, ...] = ()
    name: str = ""
    units: str = ""

    def __post_init__(self) -> None:
        if self.values.shape[-2:] != (len(self.lat), len(self.lon)):
            raise GridError(
                f"grid {self.name!r}: values shape {self.values.shape} does not end with "
                f"(nlat, nlon) = ({len(self.lat)}, {len(self.lon)})"
            )
        if len(self.lead) != self.values.ndim - 2:
            raise GridError(
                f"grid {self.name!r}: lead dims {self.lead} vs values shape {self.values.shape}"
            )


#: units of the CESM2 monthly climatology files, by variable (file ``cesm2_<VAR>.mat``)
CESM2_UNITS: dict[str, str] = {
    "NPP": "gC m-2 s-1", "GPP": "gC m-2 s-1", "O_SCALAR": "1", "ALT": "m", "ALTMAX": "m",
    "ALTMAX_LASTYEAR": "m", "nbedrock": "1", "TOTSOMC": "gC m-2", "TOTLITC": "gC m-2",
    "TOTVEGC": "gC m-2",
}  # fmt: skip
CESM2_NLON, CESM2_NLAT = 576, 384


def cesm2_coords() -> tuple[np.ndarray, np.ndarray]:
    """(lat (384,), lon (576,)) cell centres of the CESM2 f05 grid as stored in the files."""
    lon = -180.0 + 0.3125 + 0.625 * np.arange(CESM2_NLON)
    lat = 90.0 - 0.234375 - 0.46875 * np.arange(CESM2_NLAT)
    return lat, lon


def read_cesm2_mat(path: str | os.PathLike, variable: str = "var_record_monthly_mean",
                   units: str | None = None) -> Grid:  # fmt: skip
    """Read a CESM2 MATLAB v7.3 monthly field as a :class:`Grid` (month[, layer], lat, lon)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"CESM2 grid file not found: {path}")
    try:
        with h5py.File(path, "r") as h:
            if variable not in h:
                raise GridError(f"{path}: no dataset {variable!r} (found {list(h.keys())})")
            raw = np.asarray(h[variable][...], dtype=np.float64)
    except OSError as err:
        raise GridError(f"{path}: not a MATLAB v7.3 (HDF5) file: {err}") from err
    if raw.shape[-2:] != (CESM2_NLON, CESM2_NLAT):
        raise GridError(
            f"{path}: shape {raw.shape} does not end with (576 lon, 384 lat) of the f05 grid"
        )
    lead = {2: (), 3: ("month",), 4: ("month", "layer")}.get(raw.ndim)
    if lead is None:
        raise GridError(f"{path}: unexpected number of dims {raw.ndim} (shape {raw.shape})")
    values = np.swapaxes(raw, -1, -2)  # (..., lat, lon)
    lat, lon = cesm2_coords()
    name = path.stem.removeprefix("cesm2_")
    return Grid(
        values, lat, lon, lead, name, units if units is not None else CESM2_UNITS.get(name, "")
    )


_LAT_NAMES = ("lat", "latitude", "y", "nav_lat")
_LON_NAMES = ("lon", "longitude", "x", "nav_lon")
_LEAD_NAMES = {"time": "month", "month": "month", "layer": "layer", "levgrnd": "layer",
               "levsoi": "layer", "soil_layer": "layer"}  # fmt: skip


def read_netcdf_grid(path: str | os.PathLike, variable: str, scale: float = 1.0,
                     units: str | None = None) -> Grid:  # fmt: skip
    """Read ``variable`` of a NetCDF file on a 1-D lat/lon grid as a :class:`Grid`.

    Leading dims named time/month become ``month``; levgrnd/levsoi/layer/soil_layer become
    ``layer``. ``scale`` multiplies the values (e.g. 0.1 for temperatures in tenths of a
    degree); ``units`` overrides the file's attribute.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"grid file not found: {path}")
    with xr.open_dataset(path) as f:
        if variable not in f.variables:
            raise GridError(f"{path}: no variable {variable!r} (found {sorted(f.data_vars)})")
        da = f[variable].load()
    latn = next((d for d in da.dims if d in _LAT_NAMES), None)
    lonn = next((d for d in da.dims if d in _LON_NAMES), None)
    if latn is None or lonn is None:
        raise GridError(
            f"{path}: variable {variable!r} has dims {da.dims}; need 1-D lat and lon dims"
        )
    others = [d for d in da.dims if d not in (latn, lonn)]
    unknown = [d for d in others if d not in _LEAD_NAMES]
    if unknown:
        raise GridError(f"{path}: variable {variable!r} has unsupported dim(s) {unknown}")
    da = da.transpose(*others, latn, lonn)
    lon = ((np.asarray(da[lonn].values, dtype=np.float64) + 180.0) % 360.0) - 180.0
    values = np.asarray(da.values, dtype=np.float64) * scale
    order = np.argsort(lon, kind="stable")
    return Grid(
        values[..., order], np.asarray(da[latn].values, dtype=np.float64), lon[order],
        tuple(_LEAD_NAMES[d] for d in others), variable,
        units if units is not None else str(da.attrs.get("units", "")),
    )  # fmt: skip


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@dataclass
class SamplingReport:
    """Where each site's value came from.

    Attributes
    ----------
    field : name of the field
    site_ids : (n,) str
    distance_km : (n,) distance from the site to the centre of the cell used (NaN: none)
    own_cell_valid : (n,) bool, the site's own cell was valid
    no_valid_cell : (n,) bool, no valid cell within ``max_distance_km`` (values NaN)
    max_distance_km : float
    """

    field: str
    site_ids: np.ndarray
    distance_km: np.ndarray
    own_cell_valid: np.ndarray
    no_valid_cell: np.ndarray
    max_distance_km: float

    @property
    def missing_sites(self) -> list[str]:
        return [str(s) for s in self.site_ids[self.no_valid_cell]]

    def __str__(self) -> str:
        moved = ~self.own_cell_valid & ~self.no_valid_cell
        lines = [f"{self.field}: {len(self.site_ids)} sites sampled"]
        if moved.any():
            lines.append(
                f"  moved to the nearest valid cell (max {np.nanmax(self.distance_km[moved]):.0f} km): "
                f"{describe_sites(moved, self.site_ids)}"
            )
        if self.no_valid_cell.any():
            lines.append(
                f"  no valid cell within {self.max_distance_km:g} km (NaN): "
                f"{describe_sites(self.no_valid_cell, self.site_ids)}"
            )
        return "\n".join(lines)


def sample_at_sites(grid: Grid, lat: Sequence[float], lon: Sequence[float],
                    site_ids: Sequence[str] | None = None,
                    max_distance_km: float = 150.0) -> tuple[np.ndarray, SamplingReport]:  # fmt: skip
    """Values of ``grid`` at sites from the nearest valid cell.

    Returns
    -------
    values : ndarray (n, *lead), NaN where no valid cell lies within ``max_distance_km``
    report : :class:`SamplingReport`
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = ((np.asarray(lon, dtype=np.float64) + 180.0) % 360.0) - 180.0
    n = lat.shape[0]
    ids = np.asarray(site_ids if site_ids is not None else [f"#{i}" for i in range(n)]).astype(str)
    flat = grid.values.reshape(-1, len(grid.lat), len(grid.lon))
    valid = np.isfinite(flat).all(axis=0)  # (nlat, nlon)
    vi, vj = np.nonzero(valid)
    if len(vi) == 0:
        raise GridError(f"grid {grid.name!r}: no valid (finite) cell")
    tree = cKDTree(_xyz(grid.lat[vi], grid.lon[vj]))
    chord, k = tree.query(_xyz(lat, lon))
    dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2, 0, 1))
    none = dist > max_distance_km
    own_i = np.abs(lat[:, None] - grid.lat[None, :]).argmin(axis=1)
    dlon = np.abs(((lon[:, None] - grid.lon[None, :]) + 180.0) % 360.0 - 180.0)
    own_j = dlon.argmin(axis=1)
    half_lat = np.median(np.abs(np.diff(grid.lat))) / 2 if len(grid.lat) > 1 else 90.0
    half_lon = np.median(np.abs(np.diff(grid.lon))) / 2 if len(grid.lon) > 1 else 180.0
    inside = (np.abs(lat - grid.lat[own_i]) <= half_lat + 1e-9) & (
        dlon[np.arange(n), own_j] <= half_lon + 1e-9
    )
    own_valid = valid[own_i, own_j] & inside
    out = flat[:, vi[k], vj[k]].T.reshape(n, *grid.values.shape[:-2]).copy()
    out[none] = np.nan
    dist = np.where(none, np.nan, dist)
    return out, SamplingReport(grid.name, ids, dist, own_valid, none, max_distance_km)


# ----------------------------------------------------------------------------- forcing

#: flux units -> factor to g m-2 per month, for each month (12,)
FLUX_TO_MONTHLY: dict[str, np.ndarray] = {
    "gC m-2 s-1": fb.DAYS_IN_MONTH * 86400.0,
    "g m-2 s-1": fb.DAYS_IN_MONTH * 86400.0,
    "gC m-2 d-1": fb.DAYS_IN_MONTH,
    "g m-2 d-1": fb.DAYS_IN_MONTH,
    "g m-2 month-1": np.ones(12),
    "gC m-2 month-1": np.ones(12),
}
#: temperature units -> (scale, offset) to degC
TEMPERATURE_TO_C: dict[str, tuple[float, float]] = {
    "degC": (1.0, 0.0), "C": (1.0, 0.0), "K": (1.0, -273.15), "0.1 degC": (0.1, 0.0),
}  # fmt: skip


def _month_layer(v: np.ndarray, name: str, lead: tuple[str, ...]) -> np.ndarray:
    """(n, *lead) -> (n, 20, 12)."""
    n = v.shape[0]
    if lead == ("month", "layer"):
        return np.transpose(v, (0, 2, 1))
    if lead == ("layer", "month"):
        return v
    if lead == ("month",):
        return np.repeat(v[:, None, :], N_LAYERS, axis=1)
    if lead == ():
        return np.broadcast_to(v.reshape(n, 1, 1), (n, N_LAYERS, N_MONTHS)).copy()
    raise GridError(
        f"field for {name!r} has leading dims {lead}; need (month, layer), (month,) or ()"
    )


def _monthly(v: np.ndarray, name: str, lead: tuple[str, ...]) -> np.ndarray:
    if lead == ("month",):
        return v
    if lead == ():
        return np.repeat(v.reshape(-1, 1), N_MONTHS, axis=1)
    raise GridError(f"field for {name!r} has leading dims {lead}; need (month,) or ()")


def forcing_from_grids(
    lat: Sequence[float],
    lon: Sequence[float],
    site_ids: Sequence[str],
    sources: dict[str, Grid],
    constants: dict[str, float] | None = None,
    cwd_fraction: float | np.ndarray = 0.0,
    max_distance_km: float = 150.0,
) -> tuple[xr.Dataset, dict[str, SamplingReport]]:
    """Build the forcing variables at sites from gridded monthly fields.

    Parameters
    ----------
    lat, lon, site_ids : (n,) site locations and ids
    sources : name -> :class:`Grid`. Names are forcing variables (``soil_temperature``,
        ``water_scalar``, ``oxygen_scalar``, ``nitrogen_scalar`` with (month, layer),
        (month,) or no lead dims; ``altmax``, ``altmax_lastyear``, ``nbedrock`` with
        (month,) or none) or derived sources: ``npp`` (monthly flux, units in
        :data:`FLUX_TO_MONTHLY`) -> the four litter inputs, and ``air_temperature``
        (monthly, units in :data:`TEMPERATURE_TO_C`) -> soil temperature.
    constants : forcing variable -> constant value for variables without a field
        (e.g. ``{"nitrogen_scalar": 0.7}``); ``altmax_lastyear`` defaults to ``altmax``.
    cwd_fraction : share of NPP entering coarse woody debris (scalar or (n,))

    Returns
    -------
    dataset : forcing variables at the sites (float64), plus ``lat``/``lon``
    reports : field name -> :class:`SamplingReport`
    """
    constants = dict(constants or {})
    n = len(site_ids)
    out: dict[str, np.ndarray] = {}
    reports: dict[str, SamplingReport] = {}

    def sample(name: str) -> tuple[np.ndarray, Grid]:
        g = sources[name]
        v, rep = sample_at_sites(g, lat, lon, site_ids, max_distance_km)
        reports[name] = rep
        return v, g

    if "npp" in sources:
        v, g = sample("npp")
        if g.units not in FLUX_TO_MONTHLY:
            raise GridError(
                f"npp field {g.name!r}: units {g.units!r} not in {sorted(FLUX_TO_MONTHLY)}"
            )
        monthly = _monthly(v, "npp", g.lead) * FLUX_TO_MONTHLY[g.units][None, :]
        annual = np.clip(monthly.sum(axis=1), 0.0, None)
        out.update(fb.litter_inputs(annual, cwd_fraction=cwd_fraction))
    if "air_temperature" in sources:
        v, g = sample("air_temperature")
        if g.units not in TEMPERATURE_TO_C:
            raise GridError(
                f"air_temperature field {g.name!r}: units {g.units!r} not in {sorted(TEMPERATURE_TO_C)}"
            )
        scale, offset = TEMPERATURE_TO_C[g.units]
        mean, amp = fb.annual_wave_fit(_monthly(v, "air_temperature", g.lead) * scale + offset)
        out["soil_temperature"] = fb.soil_temperature(mean, amp)
    for name in ("soil_temperature", "water_scalar", "oxygen_scalar", "nitrogen_scalar"):
        if name in sources:
            v, g = sample(name)
            out[name] = _month_layer(v, name, g.lead)
    for name in ("altmax", "altmax_lastyear"):
        if name in sources:
            v, g = sample(name)
            out[name] = _monthly(v, name, g.lead)
    if "nbedrock" in sources:
        v, g = sample("nbedrock")
        nb = v.reshape(n, -1)[:, 0]
        out["nbedrock"] = np.where(np.isfinite(nb), np.rint(nb), -1).astype(np.int32)
    unknown = set(sources) - set(FORCING_VARS) - {"npp", "air_temperature"}
    if unknown:
        raise GridError(f"forcing_from_grids: unknown source(s) {sorted(unknown)}")
    for name, value in constants.items():
        if name not in FORCING_VARS:
            raise GridError(f"forcing_from_grids: constant for unknown variable {name!r}")
        if name in out:
            continue
        shape = {1: (n,), 2: (n, N_MONTHS), 3: (n, N_LAYERS, N_MONTHS)}[
            len(FORCING_VARS[name].dims[-1])
        ]
        out[name] = np.full(shape, value)
    if "altmax" in out and "altmax_lastyear" not in out:
        out["altmax_lastyear"] = out["altmax"].copy()
    missing = [v for v in FORCING_VARS if v not in out]
    if missing:
        raise GridError(f"forcing_from_grids: no field or constant for {missing}")
    ds = base_coords(site_ids, lat, lon)
    ds = add_forcing(ds, out, dtype=np.float64)
    return ds, reports
