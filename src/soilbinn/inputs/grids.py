"""Readers for the gridded real-data inputs (CESM2/CLM5 fields, BIOME4 climate) and a
nearest-valid-cell sampler.

Grids are read lazily, once per process (cached in memory on first use, never at import
time). Every reader returns arrays oriented ``(..., lat, lon)`` with 1-D cell-centre
coordinates, so sampling code does not care about the storage order on disk.

Orientation facts (checked against the data, see ``shared/data/README.md``)
--------------------------------------------------------------------------
* CESM2 ``cesm2_*.mat``: MATLAB v7.3 (HDF5), dataset ``var_record_monthly_mean`` of HDF5
  shape ``(12, 576, 384)`` = (month, lon, lat) or ``(12, 20, 576, 384)`` (month, layer,
  lon, lat). f05 grid: lon = -180 + 0.3125 + 0.625 i, lat = 90 - 0.234375 - 0.46875 j
  (descending). Ocean cells are NaN.
* BIOME4 ``BIOME4_inputdata.nc``: ``temp`` (monthly) and ``tmin`` (annual absolute
  minimum) are stored in tenths of a degree C although the ``units`` attribute says degC
  (Kansas, 40.25N 100.25W: about 104 = 10.4 C annual mean; ``tmin`` -298 = -29.8 C there,
  -481 at Fairbanks); both are divided by 10 here. The coordinates run 89.5 ... -90.0 and
  -180.0 ... 179.5, i.e. they label the south-west corner of each 0.5 degree cell (a
  cell-centre grid would never contain -90.0); cell centres are coordinate + 0.25.
  ``sun`` is in tenths of a percent (maximum 969): divided by 10.
  ``whc`` (mm/m) and ``perc`` use 999.9 / negative values as missing: set to NaN.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

#: mean Earth radius (km)
EARTH_RADIUS_KM = 6371.0
#: CESM2 fields read by the real-data pipeline (file stem after ``cesm2_``)
CESM2_FIELDS: tuple[str, ...] = (
    "NPP", "GPP", "O_SCALAR", "ALTMAX", "ALTMAX_LASTYEAR", "nbedrock", "TOTVEGC",
)  # fmt: skip
#: BIOME4 scale factors to physical units (tenths of degree C -> degree C)
BIOME4_SCALE: dict[str, float] = {"temp": 0.1, "tmin": 0.1, "prec": 1.0, "sun": 0.1,
                                  "whc": 1.0, "perc": 1.0}  # fmt: skip
BIOME4_UNITS: dict[str, str] = {"temp": "degC", "tmin": "degC", "prec": "mm month-1",
                                "sun": "percent", "whc": "mm m-1", "perc": "mm hr-1"}  # fmt: skip


class SharedDataError(ValueError):
    """The shared real-data folder or one of its files is missing or malformed."""


def default_shared_path() -> Path:
    """Where the shared real data live.

    ``$SOILBINN_SHARED_DATA`` if set, else ``<repo>/../shared/data`` (the checkout's
    sibling), else ``./../shared/data`` relative to the working directory.
    """
    env = os.environ.get("SOILBINN_SHARED_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    cand = repo.parent / "shared" / "data"
    return cand if cand.exists() else Path("..") / "shared" / "data"


def require_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise SharedDataError(
            f"{what}: file {path} not found (pass --shared pointing at the shared data folder, "
            "or set SOILBINN_SHARED_DATA)"
        )
    return path


@dataclass(frozen=True)
class Grid:
    """A regular lat/lon field.

    Attributes
    ----------
    values : ndarray (..., nlat, nlon)
        Leading dims are e.g. (month,) or (month, layer) or (soil_layer,).
    lat, lon : ndarray (nlat,), (nlon,)
        Cell-centre coordinates in degrees north / east (lon in [-180, 180)).
    units, name : str
    """

    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    units: str
    name: str


_CACHE: dict[tuple[str, str], object] = {}
_LOCK = threading.RLock()


def _cached(key: tuple[str, str], build):
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def clear_cache() -> None:
    """Forget every grid read so far (tests use this)."""
    with _LOCK:
        _CACHE.clear()


CESM2_LON = -180.0 + 0.3125 + 0.625 * np.arange(576)
CESM2_LAT = 90.0 - 0.234375 - 0.46875 * np.arange(384)
CESM2_UNITS = {"NPP": "gC m-2 s-1", "GPP": "gC m-2 s-1", "O_SCALAR": "1", "ALTMAX": "m",
               "ALTMAX_LASTYEAR": "m", "ALT": "m", "nbedrock": "1", "TOTVEGC": "gC m-2",
               "TOTSOMC": "gC m-2", "TOTLITC": "gC m-2"}  # fmt: skip


def read_cesm2(shared: str | os.PathLike, field: str) -> Grid:
    """Read ``grids/cesm2/cesm2_<field>.mat`` as (month, [layer,] lat, lon), cached.

    Raises :class:`SharedDataError` naming the file when it is absent or has an
    unexpected shape.
    """
    path = Path(shared) / "grids" / "cesm2" / f"cesm2_{field}.mat"

    def build() -> Grid:
        require_file(path, f"CESM2 field {field}")
        with h5py.File(path, "r") as h:
            if "var_record_monthly_mean" not in h:
                raise SharedDataError(f"{path}: dataset 'var_record_monthly_mean' not found")
            v = np.asarray(h["var_record_monthly_mean"][...], dtype=np.float64)
        if v.shape[-2:] != (576, 384) or v.shape[0] != 12 or v.ndim not in (3, 4):
            raise SharedDataError(
                f"{path}: var_record_monthly_mean has shape {v.shape}; expected "
                "(12, 576, 384) or (12, 20, 576, 384) = (month, [layer,] lon, lat)"
            )
        v = np.swapaxes(v, -1, -2)  # -> (..., lat, lon)
        return Grid(
            np.ascontiguousarray(v), CESM2_LAT, CESM2_LON, CESM2_UNITS.get(field, "1"), field
        )

    return _cached((str(Path(shared).resolve()), f"cesm2:{field}"), build)


def read_biome4(shared: str | os.PathLike, var: str) -> Grid:
    """Read one BIOME4 variable in physical units as (..., lat, lon) with cell centres."""
    path = Path(shared) / "grids" / "biome4" / "BIOME4_inputdata.nc"

    def build() -> Grid:
        require_file(path, "BIOME4 climate")
        with xr.open_dataset(path) as ds:
            if var not in ds:
                raise SharedDataError(f"{path}: variable {var!r} not found")
            da = ds[var].load()
            lat = np.asarray(ds["lat"].values, dtype=np.float64) + 0.25
            lon = np.asarray(ds["lon"].values, dtype=np.float64) + 0.25
        v = np.asarray(da.values, dtype=np.float64) * BIOME4_SCALE[var]
        if var in ("whc", "perc"):
            v[(v >= 999.0) | (v < 0)] = np.nan
        return Grid(v, lat, lon, BIOME4_UNITS[var], var)

    return _cached((str(Path(shared).resolve()), f"biome4:{var}"), build)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


@dataclass
class NearestValid:
    """Nearest valid grid cell (great-circle) of query points within ``max_km``.

    Build with :meth:`from_mask`; :meth:`query` returns ``(i_lat, i_lon, dist_km, ok)``.
    """

    tree: cKDTree
    ilat: np.ndarray
    ilon: np.ndarray

    @classmethod
    def from_mask(cls, lat: np.ndarray, lon: np.ndarray, valid: np.ndarray) -> NearestValid:
        ii, jj = np.nonzero(valid)
        return cls(cKDTree(_unit_vectors(lat[ii], lon[jj])), ii, jj)

    def query(self, lat, lon, max_km: float):
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        finite = np.isfinite(lat) & np.isfinite(lon)
        pts = _unit_vectors(np.where(finite, lat, 0.0), np.where(finite, lon, 0.0))
        chord, k = self.tree.query(pts, k=1)
        dist = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
        ok = finite & (dist <= max_km) & (k < len(self.ilat))
        kk = np.where(ok, k, 0)
        return self.ilat[kk], self.ilon[kk], np.where(finite, dist, np.inf), ok


def cesm2_sampler(shared: str | os.PathLike) -> NearestValid:
    """Sampler over CESM2 cells where every field in :data:`CESM2_FIELDS` is finite."""

    def build() -> NearestValid:
        valid = None
        for f in CESM2_FIELDS:
            g = read_cesm2(shared, f)
            fin = np.isfinite(g.values).reshape(-1, *g.values.shape[-2:]).all(axis=0)
            valid = fin if valid is None else valid & fin
        return NearestValid.from_mask(CESM2_LAT, CESM2_LON, valid)

    return _cached((str(Path(shared).resolve()), "sampler:cesm2"), build)


def biome4_sampler(shared: str | os.PathLike) -> NearestValid:
    """Sampler over BIOME4 cells where temp, prec, tmin, sun and whc are all finite."""

    def build() -> NearestValid:
        valid = None
        for v in ("temp", "prec", "tmin", "sun", "whc"):
            g = read_biome4(shared, v)
            fin = np.isfinite(g.values).reshape(-1, *g.values.shape[-2:]).all(axis=0)
            valid = fin if valid is None else valid & fin
        g = read_biome4(shared, "temp")
        return NearestValid.from_mask(g.lat, g.lon, valid)

    return _cached((str(Path(shared).resolve()), "sampler:biome4"), build)


def sample(grid: Grid, ilat: np.ndarray, ilon: np.ndarray) -> np.ndarray:
    """Values of ``grid`` at cells ``(ilat, ilon)``: shape (n, *leading dims)."""
    v = grid.values[..., ilat, ilon]  # (..., n)
    return np.moveaxis(v, -1, 0)
