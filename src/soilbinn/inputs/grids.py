"""One grid class, one reader per file kind and one sampler for every gridded input.

:class:`Grid` holds ``values`` shaped ``(*lead, nlat, nlon)`` on a regular lat/lon grid
(cell centres, either latitude order; lon in [-180, 180) ascending). Readers, one per
file kind, return it and raise :class:`SharedDataError` with one line naming the file
and the problem (missing, unreadable, wrong shape):

* :func:`read_netcdf` (NetCDF / NetCDF4, e.g. BIOME4, HWSD),
* :func:`read_mat73` (MATLAB v7.3 = HDF5, the CESM2 climatology),
* :func:`read_hdf5` (a plain HDF5 2-D dataset on a global grid, e.g. elevation),
* :func:`read_geotiff` (a north-up global GeoTIFF, via ``tifffile``).

The shared-data wrappers :func:`read_cesm2`, :func:`read_biome4` and
:func:`read_fine` know where each file lives, its scale and its no-data coding, and keep
what they read in memory once per process (never at import time).

Sampling (:meth:`Grid.sample`): every point takes its own cell; where that cell is not
valid (a value is NaN), the nearest valid cell of *that grid* within ``max_km``
(great-circle distance between the point and the cell centre), so each variable is
filled from its own nearest valid cell, never from one cell chosen for all. The fill
distance (0 for the own cell) is returned per point; points with nothing valid within ``max_km`` are
flagged and get NaN. :meth:`Grid.aggregate` averages a fine grid over the cells of a
coarser target grid (the NaN-aware mean of the fine cells whose centres fall inside).

Orientation facts (checked against the data, see ``shared/data/README.md``)
--------------------------------------------------------------------------
* CESM2 ``cesm2_*.mat``: dataset ``var_record_monthly_mean`` of HDF5 shape
  ``(12, 576, 384)`` = (month, lon, lat) or ``(12, 20, 576, 384)``; f05 grid:
  lon = -180 + 0.3125 + 0.625 i, lat = 90 - 0.234375 - 0.46875 j (descending). Ocean NaN.
* BIOME4 ``BIOME4_inputdata.nc``: ``temp``, ``tmin`` in tenths of a degree C although
  the ``units`` attribute says degC (Kansas 40.25N 100.25W: 104 = 10.4 C); ``sun`` in
  tenths of a percent; all divided by 10 here. Coordinates label the south-west corner
  of each 0.5 degree cell (they include -90.0): centres are coordinate + 0.25.
  ``whc`` (mm/m) and ``perc`` use 999.9 / negative values as missing.
* HWSD ``T_*.nc4``: 0.05 degree, centres -179.975..179.975, lat ascending, -1 = no data.
* Elevation ``Altitude.h5``: uint8 (2160, 4320), 1/12 degree, row 0 at 90N, col 0 at
  180W; metres = value x 28 - 450 (widened first), 255 = no data.
* MODIS land cover and NDVI GeoTIFFs: 0.05 degree, 7200 x 3600, origin 180W 90N;
  no data 255 (land cover) and -3000 (NDVI).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: mean Earth radius (km)
EARTH_RADIUS_KM = 6371.0
#: km per degree of latitude
KM_PER_DEG = np.pi * EARTH_RADIUS_KM / 180.0
#: CESM2 fields read by the real-data pipeline (file stem after ``cesm2_``)
CESM2_FIELDS: tuple[str, ...] = (
    "NPP", "GPP", "O_SCALAR", "ALTMAX", "ALTMAX_LASTYEAR", "nbedrock", "TOTVEGC",
)  # fmt: skip
CESM2_UNITS = {"NPP": "gC m-2 s-1", "GPP": "gC m-2 s-1", "O_SCALAR": "1", "ALTMAX": "m",
               "ALTMAX_LASTYEAR": "m", "ALT": "m", "nbedrock": "1", "TOTVEGC": "gC m-2",
               "TOTSOMC": "gC m-2", "TOTLITC": "gC m-2"}  # fmt: skip
CESM2_LON = -180.0 + 0.3125 + 0.625 * np.arange(576)
CESM2_LAT = 90.0 - 0.234375 - 0.46875 * np.arange(384)
#: BIOME4 scale factors to physical units (tenths of degree C -> degree C)
BIOME4_SCALE: dict[str, float] = {"temp": 0.1, "tmin": 0.1, "prec": 1.0, "sun": 0.1,
                                  "whc": 1.0, "perc": 1.0}  # fmt: skip
BIOME4_UNITS: dict[str, str] = {"temp": "degC", "tmin": "degC", "prec": "mm month-1",
                                "sun": "percent", "whc": "mm m-1", "perc": "mm hr-1"}  # fmt: skip


@dataclass(frozen=True)
class FineSource:
    """Where a fine global covariate grid lives and how it is coded."""

    path: str  # relative to the shared folder
    kind: str  # "netcdf", "hdf5" or "geotiff"
    variable: str  # NetCDF variable / HDF5 dataset ("" for GeoTIFF)
    units: str
    nodata: float | None = None
    scale: float = 1.0
    offset: float = 0.0


#: the fine covariate grids (key -> source)
FINE_SOURCES: dict[str, FineSource] = {
    "clay": FineSource("grids/hwsd/T_CLAY.nc4", "netcdf", "T_CLAY", "%"),
    "sand": FineSource("grids/hwsd/T_SAND.nc4", "netcdf", "T_SAND", "%"),
    "silt": FineSource("grids/hwsd/T_SILT.nc4", "netcdf", "T_SILT", "%"),
    "oc": FineSource("grids/hwsd/T_OC.nc4", "netcdf", "T_OC", "%"),
    "ph": FineSource("grids/hwsd/T_PH_H2O.nc4", "netcdf", "T_PH_H2O", "1"),
    "elevation": FineSource(
        "grids/elevation/Altitude.h5", "hdf5", "Altitude", "m", 255, 28.0, -450.0
    ),  # fmt: skip
    "landcover": FineSource(
        "grids/landcover/MCD12C1.A2019001.006.2020220162300.tif", "geotiff", "", "1", 255
    ),  # fmt: skip
    "ndvi_max": FineSource("grids/ndvi/NDVI_maximum.tif", "geotiff", "", "1", -3000),
    "ndvi_min": FineSource("grids/ndvi/NDVI_minimum.tif", "geotiff", "", "1", -3000),
}


class SharedDataError(ValueError):
    """A gridded input file is missing, unreadable or not shaped as expected."""


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
    """``path`` if it exists, else :class:`SharedDataError` naming it."""
    if not Path(path).exists():
        raise SharedDataError(
            f"{what}: file {path} not found (pass --shared pointing at the shared data folder, "
            "or set SOILBINN_SHARED_DATA)"
        )
    return Path(path)


def _unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km) between points (broadcasting)."""
    chord = np.linalg.norm(_unit_xyz(lat1, lon1) - _unit_xyz(lat2, lon2), axis=-1)
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


def wrap_lon(lon) -> np.ndarray:
    """Longitudes mapped to [-180, 180)."""
    return (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class Grid:
    """A field on a regular lat/lon grid.

    Attributes
    ----------
    values : ndarray (*lead, nlat, nlon)
        Leading dims e.g. (month,), (month, layer) or (soil_layer,).
    lat : ndarray (nlat,)
        Cell-centre latitudes (deg N), evenly spaced, ascending or descending.
    lon : ndarray (nlon,)
        Cell-centre longitudes (deg E), evenly spaced and ascending in [-180, 180).
    units, name : str
    """

    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    units: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.values.shape[-2:] != (len(self.lat), len(self.lon)) or self.values.ndim < 2:
            raise SharedDataError(
                f"grid {self.name!r}: values shape {self.values.shape} does not end with "
                f"(nlat, nlon) = ({len(self.lat)}, {len(self.lon)})"
            )

    @property
    def dlat(self) -> float:
        return float(self.lat[1] - self.lat[0]) if len(self.lat) > 1 else 180.0

    @property
    def dlon(self) -> float:
        return float(self.lon[1] - self.lon[0]) if len(self.lon) > 1 else 360.0

    @property
    def is_global_lon(self) -> bool:
        return abs(len(self.lon) * self.dlon - 360.0) < 1e-6

    def valid(self) -> np.ndarray:
        """(nlat, nlon) bool: every leading value of the cell is finite."""
        v = self.values.reshape(-1, *self.values.shape[-2:])
        return np.isfinite(v).all(axis=0)

    def cell_index(self, lat, lon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of the cell holding each point, and whether it lies on the grid."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = wrap_lon(lon)
        fi = (lat - self.lat[0]) / self.dlat
        fj = (lon - self.lon[0]) / self.dlon
        i = np.rint(np.nan_to_num(fi, nan=-1e9)).astype(np.int64)
        j = np.rint(np.nan_to_num(fj, nan=-1e9)).astype(np.int64)
        if self.is_global_lon:
            j = np.mod(j, len(self.lon))
        on = (i >= 0) & (i < len(self.lat)) & (j >= 0) & (j < len(self.lon))
        on &= np.isfinite(lat) & np.isfinite(lon)
        return np.clip(i, 0, len(self.lat) - 1), np.clip(j, 0, len(self.lon) - 1), on

    def sample(
        self, lat, lon, max_km: float, valid: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values at points from their own cell, else the nearest valid cell within ``max_km``.

        Parameters
        ----------
        lat, lon : array_like (n,), degrees
        max_km : float
            Largest distance (km) from the point to the centre of a substitute cell.
        valid : ndarray (nlat, nlon) bool, optional
            Which cells may be used (default :meth:`valid`).

        Returns
        -------
        values : ndarray (n, *lead), NaN where ``ok`` is False
        dist_km : ndarray (n,), 0 where the point's own cell is used, else the distance
            from the point to the centre of the substitute cell (inf where none)
        ok : ndarray (n,) bool
        """
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = wrap_lon(np.atleast_1d(lon))
        good = self.valid() if valid is None else valid
        i, j, on = self.cell_index(lat, lon)
        ok = on & good[i, j]
        own = ok.copy()
        need = np.flatnonzero(~ok & np.isfinite(lat) & np.isfinite(lon))
        if len(need):
            ii, jj, found = self._nearest_valid(good, lat[need], lon[need], i[need], j[need],
                                                max_km)  # fmt: skip
            i[need], j[need] = ii, jj
            ok[need] = found
        dist = np.where(ok, great_circle_km(lat, lon, self.lat[i], self.lon[j]), np.inf)
        dist[own] = 0.0
        vals = np.moveaxis(self.values[..., i, j], -1, 0).astype(np.float64)
        vals[~ok] = np.nan
        return vals, dist, ok

    def _nearest_valid(self, good, lat, lon, i0, j0, max_km):
        """Window search around each point for the nearest valid cell.

        Points are processed in bands of similar latitude, so the longitude half-width of
        the window (``max_km`` over the cell width at the band's largest latitude) stays
        small away from the poles; distances are computed for valid candidates only.
        """
        nlat, nlon = good.shape
        ki = int(np.ceil(max_km / (KM_PER_DEG * abs(self.dlat)))) + 1
        out_i, out_j = i0.copy(), j0.copy()
        found = np.zeros(len(lat), bool)
        order = np.argsort(np.abs(lat))
        s = 0
        while s < len(order):
            alat = min(abs(lat[order[min(s + 255, len(order) - 1)]]), 89.9)
            coslat = max(np.cos(np.deg2rad(alat)), 1e-3)
            kj = int(min(np.ceil(max_km / (KM_PER_DEG * self.dlon * coslat)) + 1, nlon // 2))
            di, dj = np.meshgrid(np.arange(-ki, ki + 1), np.arange(-kj, kj + 1), indexing="ij")
            di, dj = di.ravel(), dj.ravel()
            step = int(np.clip(1_000_000 // len(di), 1, 256))
            idx = order[s : s + step]
            s += step
            ci = i0[idx, None] + di[None, :]
            cj = j0[idx, None] + dj[None, :]
            inside = (ci >= 0) & (ci < nlat)
            if self.is_global_lon:
                cj = np.mod(cj, nlon)
            else:
                inside &= (cj >= 0) & (cj < nlon)
            ci, cj = np.clip(ci, 0, nlat - 1), np.clip(cj, 0, nlon - 1)
            r, c = np.nonzero(inside & good[ci, cj])
            if len(r) == 0:
                continue
            d = great_circle_km(lat[idx][r], lon[idx][r], self.lat[ci[r, c]], self.lon[cj[r, c]])
            best = np.full(len(idx), np.inf)
            np.minimum.at(best, r, d)
            hit = d == best[r]
            first = np.unique(r[hit], return_index=True)
            rr = first[0]
            k = np.flatnonzero(hit)[first[1]]
            out_i[idx[rr]], out_j[idx[rr]] = ci[r[k], c[k]], cj[r[k], c[k]]
            found[idx] = best <= max_km
        return out_i, out_j, found

    def aggregate(self, lat_edges: np.ndarray, lon_edges: np.ndarray) -> Grid:
        """NaN-aware mean over the cells of a coarser regular target grid.

        Parameters
        ----------
        lat_edges, lon_edges : ndarray (m+1,), (k+1,)
            Ascending cell edges of the target grid (degrees).

        Returns
        -------
        Grid (*lead, m, k) with ascending latitudes; NaN where no fine cell is valid.
        """
        ti = np.searchsorted(lat_edges, self.lat, side="right") - 1
        tj = np.searchsorted(lon_edges, self.lon, side="right") - 1
        m, k = len(lat_edges) - 1, len(lon_edges) - 1
        rows = np.flatnonzero((ti >= 0) & (ti < m))
        cols = np.flatnonzero((tj >= 0) & (tj < k))
        lead = self.values.shape[:-2]
        flat = self.values.reshape(-1, *self.values.shape[-2:])
        out = np.full((flat.shape[0], m, k), np.nan)
        if len(rows) and len(cols):
            cell = (ti[rows][:, None] * k + tj[cols][None, :]).ravel()
            for c in range(flat.shape[0]):
                v = flat[c][np.ix_(rows, cols)].ravel().astype(np.float64)
                fin = np.isfinite(v)
                s = np.bincount(cell[fin], weights=v[fin], minlength=m * k)
                n = np.bincount(cell[fin], minlength=m * k)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[c] = np.where(n > 0, s / np.maximum(n, 1), np.nan).reshape(m, k)
        centre = lambda e: 0.5 * (e[1:] + e[:-1])  # noqa: E731
        return Grid(out.reshape(*lead, m, k), centre(np.asarray(lat_edges, float)),
                    centre(np.asarray(lon_edges, float)), self.units, self.name)  # fmt: skip


# ----------------------------------------------------------------------------- readers


def _regular(coord: np.ndarray, path, what: str) -> np.ndarray:
    c = np.asarray(coord, dtype=np.float64)
    if c.ndim != 1 or len(c) < 2 or not np.allclose(np.diff(c), c[1] - c[0], atol=1e-6 * 360):
        raise SharedDataError(f"{path}: {what} coordinate is not a regular 1-D axis")
    return c


def read_netcdf(path: str | os.PathLike, variable: str, scale: float = 1.0,
                centre_offset: float = 0.0, units: str | None = None) -> Grid:  # fmt: skip
    """Read ``variable`` of a NetCDF file on a 1-D lat/lon grid.

    Masked / fill values become NaN; ``scale`` multiplies the values; ``centre_offset``
    (degrees) is added to both coordinates (for files that label cell corners).
    Longitudes are wrapped to [-180, 180) and sorted.
    """
    import netCDF4

    path = require_file(Path(path), f"NetCDF variable {variable}")
    try:
        with netCDF4.Dataset(path) as f:
            if variable not in f.variables:
                raise SharedDataError(f"{path}: variable {variable!r} not found "
                                      f"(found {sorted(f.variables)})")  # fmt: skip
            var = f[variable]
            dims = var.dimensions
            latn = next((d for d in dims if d.lower() in ("lat", "latitude", "y")), None)
            lonn = next((d for d in dims if d.lower() in ("lon", "longitude", "x")), None)
            if latn is None or lonn is None or dims[-2:] != (latn, lonn):
                raise SharedDataError(f"{path}: variable {variable!r} has dims {dims}; "
                                      "expected (..., lat, lon)")  # fmt: skip
            var.set_auto_maskandscale(True)
            raw = var[...]
            lat = _regular(f[latn][:], path, "latitude") + centre_offset
            lon = _regular(f[lonn][:], path, "longitude") + centre_offset
            file_units = getattr(var, "units", "")
    except SharedDataError:
        raise
    except (OSError, RuntimeError, KeyError, IndexError) as err:
        raise SharedDataError(f"{path}: cannot be read as NetCDF ({err})") from err
    vals = np.ma.filled(np.ma.asarray(raw).astype(np.float32), np.nan) * np.float32(scale)
    lon = wrap_lon(lon)
    if np.any(np.diff(lon) <= 0):
        order = np.argsort(lon, kind="stable")
        vals, lon = np.ascontiguousarray(vals[..., order]), lon[order]
    return Grid(vals, lat, lon, units if units is not None else file_units, variable)


def read_mat73(path: str | os.PathLike, lat: np.ndarray, lon: np.ndarray,
               variable: str = "var_record_monthly_mean", units: str = "") -> Grid:  # fmt: skip
    """Read a MATLAB v7.3 (HDF5) field stored as (..., lon, lat) on the given centres."""
    import h5py

    path = require_file(Path(path), f"MATLAB v7.3 field {variable}")
    try:
        with h5py.File(path, "r") as h:
            if variable not in h:
                raise SharedDataError(f"{path}: dataset {variable!r} not found")
            v = np.asarray(h[variable][...], dtype=np.float64)
    except OSError as err:
        raise SharedDataError(f"{path}: not a MATLAB v7.3 (HDF5) file ({err})") from err
    if v.ndim < 2 or v.shape[-2:] != (len(lon), len(lat)):
        raise SharedDataError(f"{path}: {variable} has shape {v.shape}; expected "
                              f"(..., {len(lon)} lon, {len(lat)} lat)")  # fmt: skip
    return Grid(np.ascontiguousarray(np.swapaxes(v, -1, -2)), np.asarray(lat, float),
                np.asarray(lon, float), units, path.stem)  # fmt: skip


def _global_axes(nrow: int, ncol: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of a global north-up grid: row 0 at 90N, column 0 at 180W."""
    dlat, dlon = 180.0 / nrow, 360.0 / ncol
    return 90.0 - dlat * (np.arange(nrow) + 0.5), -180.0 + dlon * (np.arange(ncol) + 0.5)


def _decode(raw: np.ndarray, nodata, scale: float, offset: float) -> np.ndarray:
    v = raw.astype(np.float32)
    if nodata is not None:
        v[raw == nodata] = np.nan
    if scale != 1.0 or offset != 0.0:
        v = v * np.float32(scale) + np.float32(offset)
    return v


def read_hdf5(path: str | os.PathLike, dataset: str, nodata=None, scale: float = 1.0,
              offset: float = 0.0, units: str = "") -> Grid:  # fmt: skip
    """Read a global north-up 2-D HDF5 dataset (row 0 at 90N, column 0 at 180W).

    Values are widened to float32 before ``value * scale + offset``; ``nodata`` -> NaN.
    """
    import h5py

    path = require_file(Path(path), f"HDF5 dataset {dataset}")
    try:
        with h5py.File(path, "r") as h:
            if dataset not in h:
                raise SharedDataError(f"{path}: dataset {dataset!r} not found (found {list(h)})")
            raw = np.asarray(h[dataset][...])
    except OSError as err:
        raise SharedDataError(f"{path}: not a readable HDF5 file ({err})") from err
    if raw.ndim != 2 or raw.shape[1] != 2 * raw.shape[0]:
        raise SharedDataError(f"{path}: {dataset} has shape {raw.shape}; expected a global "
                              "(nlat, 2 nlat) grid")  # fmt: skip
    lat, lon = _global_axes(*raw.shape)
    return Grid(_decode(raw, nodata, scale, offset), lat, lon, units, dataset)


def read_geotiff(path: str | os.PathLike, nodata=None, scale: float = 1.0,
                 offset: float = 0.0, units: str = "") -> Grid:  # fmt: skip
    """Read a global north-up GeoTIFF (origin 180W 90N, square cells) with ``tifffile``.

    The GeoTIFF tie point and pixel scale are checked; ``nodata`` (default: the
    GDAL_NODATA tag) becomes NaN.
    """
    import tifffile

    path = require_file(Path(path), "GeoTIFF")
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            tags = {t.code: t.value for t in page.tags.values()}
            raw = page.asarray()
    except Exception as err:  # tifffile raises several kinds on corrupt files
        raise SharedDataError(f"{path}: not a readable GeoTIFF ({err})") from err
    if raw.ndim != 2:
        raise SharedDataError(f"{path}: image has shape {raw.shape}; expected one band")
    nrow, ncol = raw.shape
    scale_tag, tie = tags.get(33550), tags.get(33922)
    if scale_tag is None or tie is None:
        raise SharedDataError(f"{path}: no GeoTIFF pixel scale / tie point tags")
    if (abs(tie[3] + 180.0) > 1e-6 or abs(tie[4] - 90.0) > 1e-6
            or abs(scale_tag[0] * ncol - 360) > 1e-6 or abs(scale_tag[1] * nrow - 180) > 1e-6):  # fmt: skip
        raise SharedDataError(f"{path}: not a global north-up grid from 180W 90N "
                              f"(tie point {tie[3:5]}, pixel size {scale_tag[:2]})")  # fmt: skip
    if nodata is None and 42113 in tags:
        nodata = float(str(tags[42113]).strip("\x00 "))
    lat, lon = _global_axes(nrow, ncol)
    return Grid(_decode(raw, nodata, scale, offset), lat, lon, units, path.stem)


# ----------------------------------------------------------------------------- shared data

_CACHE: dict[tuple[str, str], object] = {}
_LOCK = threading.RLock()


def cached(shared: str | os.PathLike, key: str, build):
    """``build()`` once per (shared folder, key) and process."""
    with _LOCK:
        k = (str(Path(shared).resolve()), key)
        if k not in _CACHE:
            _CACHE[k] = build()
        return _CACHE[k]


def clear_cache() -> None:
    """Forget every grid read so far (tests and benchmarks use this)."""
    with _LOCK:
        _CACHE.clear()


def read_cesm2(shared: str | os.PathLike, field: str) -> Grid:
    """``grids/cesm2/cesm2_<field>.mat`` as (month, [layer,] lat, lon), cached."""
    path = Path(shared) / "grids" / "cesm2" / f"cesm2_{field}.mat"

    def build() -> Grid:
        require_file(path, f"CESM2 field {field}")
        g = read_mat73(path, CESM2_LAT, CESM2_LON, units=CESM2_UNITS.get(field, "1"))
        if g.values.shape[0] != 12 or g.values.ndim not in (3, 4):
            raise SharedDataError(f"{path}: shape {g.values.shape}; expected (12, [20,] lat, lon)")
        return Grid(g.values, g.lat, g.lon, g.units, field)

    return cached(shared, f"cesm2:{field}", build)


def read_biome4(shared: str | os.PathLike, var: str) -> Grid:
    """One BIOME4 variable in physical units as (..., lat, lon) with cell centres, cached."""
    path = Path(shared) / "grids" / "biome4" / "BIOME4_inputdata.nc"

    def build() -> Grid:
        require_file(path, "BIOME4 climate")
        g = read_netcdf(path, var, scale=BIOME4_SCALE[var], centre_offset=0.25,
                        units=BIOME4_UNITS[var])  # fmt: skip
        v = g.values.astype(np.float64)
        if var in ("whc", "perc"):
            v[(v >= 999.0) | (v < 0)] = np.nan
        return Grid(v, g.lat, g.lon, g.units, var)

    return cached(shared, f"biome4:{var}", build)


def read_fine(shared: str | os.PathLike, key: str) -> Grid:
    """One fine covariate grid of :data:`FINE_SOURCES` in physical units, cached."""
    src = FINE_SOURCES[key]
    path = Path(shared) / src.path

    def build() -> Grid:
        require_file(path, f"covariate grid {key}")
        if src.kind == "netcdf":
            g = read_netcdf(path, src.variable, scale=src.scale, units=src.units)
        elif src.kind == "hdf5":
            g = read_hdf5(path, src.variable, src.nodata, src.scale, src.offset, src.units)
        else:
            g = read_geotiff(path, src.nodata, src.scale, src.offset, src.units)
        return Grid(g.values, g.lat, g.lon, src.units, key)

    return cached(shared, f"fine:{key}", build)
