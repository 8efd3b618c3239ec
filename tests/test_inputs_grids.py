"""The grid class, its sampler and aggregation, and one reader per file kind.

Synthetic files written in tmp_path always run; hand-checked values on the shared data
are marked ``shared_data`` and skip with a message when it is absent.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr

from soilbinn.inputs.grids import (
    CESM2_LAT,
    CESM2_LON,
    Grid,
    SharedDataError,
    default_shared_path,
    great_circle_km,
    read_geotiff,
    read_hdf5,
    read_mat73,
    read_netcdf,
)


def _toy_grid() -> Grid:
    lat = np.array([41.0, 40.0, 39.0])  # descending
    lon = np.array([-101.0, -100.0, -99.0])
    v = np.arange(12 * 9, dtype=float).reshape(12, 3, 3)
    v[:, 1, 1] = np.nan  # the cell at (40, -100) is invalid (e.g. water)
    v[3, 0, 0] = np.nan  # one month missing also invalidates a cell
    return Grid(v, lat, lon, "1", "toy")


def test_sample_own_cell_then_nearest_valid():
    g = _toy_grid()
    vals, dist, ok = g.sample([39.1, 40.0, 41.0, 10.0], [-99.1, -100.0, -101.0, -100.0], 200.0)
    np.testing.assert_array_equal(vals[0], g.values[:, 2, 2])
    assert dist[0] == 0.0  # own cell
    # (40, -100) invalid: the nearest valid centre is 1 deg of longitude away (~85 km)
    assert ok[1] and dist[1] == pytest.approx(great_circle_km(40.0, -100.0, 40.0, -99.0))
    assert 84 < dist[1] < 86
    assert np.isfinite(vals[2]).all() and not np.array_equal(vals[2], g.values[:, 0, 0])
    assert ok.tolist() == [True, True, True, False]
    assert np.isnan(vals[3]).all() and np.isinf(dist[3])
    # a smaller limit refuses instead of filling
    _, _, ok2 = g.sample([40.0], [-100.0], 80.0)
    assert not ok2[0]


def test_sample_wraps_longitude_on_global_grids():
    lat = np.array([0.5, -0.5])
    lon = -179.5 + np.arange(360.0)
    v = np.full((2, 360), np.nan)
    v[0, 0] = 7.0  # only the cell at 179.5W is valid
    g = Grid(v, lat, lon)
    vals, dist, ok = g.sample([0.5], [179.9], 200.0)  # 0.4 deg east of the dateline
    assert ok[0] and vals[0] == 7.0 and dist[0] < 100


def test_aggregate_is_nan_aware_mean():
    lat = np.array([0.25, 0.75])  # ascending fine grid, 0.5 deg
    lon = np.array([0.25, 0.75, 1.25, 1.75])
    v = np.array([[1.0, 2.0, np.nan, np.nan], [3.0, np.nan, np.nan, np.nan]])
    a = Grid(v, lat, lon).aggregate(np.array([0.0, 1.0]), np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(a.values[0, 0], 2.0)  # mean of 1, 2, 3
    assert np.isnan(a.values[0, 1])  # nothing valid
    np.testing.assert_allclose(a.lat, [0.5])
    np.testing.assert_allclose(a.lon, [0.5, 1.5])


def test_netcdf_reader_roundtrip(tmp_path):
    lat = np.array([0.25, 0.75])
    lon = np.array([0.25, 180.25])  # 0-360 convention: unsorted after wrapping
    v = np.array([[1.0, -1.0], [3.0, 4.0]])
    ds = xr.Dataset(
        {"T_CLAY": (("lat", "lon"), v, {"units": "%"})}, coords={"lat": lat, "lon": lon}
    )
    ds["T_CLAY"].encoding["_FillValue"] = -1.0
    ds.to_netcdf(tmp_path / "c.nc")
    g = read_netcdf(tmp_path / "c.nc", "T_CLAY")
    np.testing.assert_allclose(g.lon, [-179.75, 0.25])
    assert g.units == "%"
    np.testing.assert_array_equal(g.values, [[np.nan, 1.0], [4.0, 3.0]])  # -1 = fill -> NaN
    with pytest.raises(SharedDataError, match="variable 'nope' not found"):
        read_netcdf(tmp_path / "c.nc", "nope")
    (tmp_path / "bad.nc").write_bytes(b"garbage" * 10)
    with pytest.raises(SharedDataError, match="bad.nc: cannot be read as NetCDF"):
        read_netcdf(tmp_path / "bad.nc", "T_CLAY")
    with pytest.raises(SharedDataError, match="missing.nc not found"):
        read_netcdf(tmp_path / "missing.nc", "T_CLAY")


def test_mat73_reader_orientation(tmp_path):
    data = np.full((12, 576, 384), np.nan)  # stored (month, lon, lat) on the f05 grid
    i, j = np.argmin(abs(CESM2_LON + 100)), np.argmin(abs(CESM2_LAT - 40))
    data[:, i, j] = 1e-5
    with h5py.File(tmp_path / "cesm2_NPP.mat", "w") as h:
        h["var_record_monthly_mean"] = data
    g = read_mat73(tmp_path / "cesm2_NPP.mat", CESM2_LAT, CESM2_LON)
    assert g.values.shape == (12, 384, 576)
    vals, dist, ok = g.sample([40.0], [-100.0], 60.0)
    assert ok[0] and vals[0, 0] == 1e-5
    with h5py.File(tmp_path / "bad.mat", "w") as h:
        h["var_record_monthly_mean"] = np.zeros((12, 10, 10))
    with pytest.raises(SharedDataError, match="bad.mat: .*expected \\(..., 576 lon, 384 lat\\)"):
        read_mat73(tmp_path / "bad.mat", CESM2_LAT, CESM2_LON)
    (tmp_path / "corrupt.mat").write_bytes(b"\0" * 64)
    with pytest.raises(SharedDataError, match="corrupt.mat: not a MATLAB v7.3"):
        read_mat73(tmp_path / "corrupt.mat", CESM2_LAT, CESM2_LON)


def test_hdf5_reader_scale_and_nodata(tmp_path):
    raw = np.zeros((18, 36), np.uint8)  # 10 degree global grid
    raw[0, 0] = 255  # no data at the NW corner
    raw[5, 8] = 74  # 74 * 28 - 450 = 1622 m (the widening matters: 74 * 28 > 255)
    with h5py.File(tmp_path / "alt.h5", "w") as h:
        h["Altitude"] = raw
    g = read_hdf5(tmp_path / "alt.h5", "Altitude", nodata=255, scale=28.0, offset=-450.0)
    assert np.isnan(g.values[0, 0]) and g.values[5, 8] == 1622.0
    assert g.lat[0] == 85.0 and g.lon[0] == -175.0
    vals, _, _ = g.sample([35.0], [-95.0], 1.0)  # row 5 = 40..30N, col 8 = 100..90W
    assert vals[0] == 1622.0


def _write_geotiff(path, arr, nodata):
    ny, nx = arr.shape
    tags = [
        (33550, 12, 3, (360.0 / nx, 180.0 / ny, 0.0)),  # ModelPixelScale
        (33922, 12, 6, (0.0, 0.0, 0.0, -180.0, 90.0, 0.0)),  # ModelTiepoint
        (42113, 2, 0, str(nodata)),  # GDAL_NODATA
    ]
    tifffile.imwrite(path, arr, extratags=tags, compression="zlib")


def test_geotiff_reader(tmp_path):
    arr = np.full((18, 36), 10, np.uint8)
    arr[5, 8] = 12
    arr[0, :] = 255
    _write_geotiff(tmp_path / "lc.tif", arr, 255)
    g = read_geotiff(tmp_path / "lc.tif")
    assert np.isnan(g.values[0]).all() and g.values[5, 8] == 12.0
    vals, dist, ok = g.sample([35.0, 89.0], [-95.0, 0.0], 2000.0)
    assert vals[0] == 12.0 and dist[0] == 0.0
    assert ok[1] and vals[1] == 10.0 and dist[1] > 0  # filled from the row below
    bad = tmp_path / "regional.tif"
    tifffile.imwrite(bad, arr, extratags=[(33550, 12, 3, (1.0, 1.0, 0.0)),
                                          (33922, 12, 6, (0, 0, 0, -100.0, 50.0, 0))])  # fmt: skip
    with pytest.raises(SharedDataError, match="regional.tif: not a global north-up grid"):
        read_geotiff(bad)
    (tmp_path / "junk.tif").write_bytes(b"II*\0junk")
    with pytest.raises(SharedDataError, match="junk.tif: not a readable GeoTIFF"):
        read_geotiff(tmp_path / "junk.tif")


# ----------------------------------------------------------------------------- shared data

SHARED = default_shared_path()
needs_shared = pytest.mark.skipif(
    not (SHARED / "grids" / "hwsd").exists(),
    reason=f"shared real data not found at {SHARED} (set SOILBINN_SHARED_DATA)",
)


@pytest.fixture(scope="module")
def known():
    from soilbinn.inputs.sampling import sample_inputs

    # Denver, a Flint Hills (Kansas) tallgrass cell, central Iowa, central Nevada desert
    return sample_inputs(SHARED, [39.74, 38.9, 42.0, 39.0], [-104.99, -96.5, -93.5, -116.0])


@pytest.mark.shared_data
@needs_shared
def test_known_places(known):
    inp = known
    assert inp.ok.all()
    assert inp["elevation"][0] == pytest.approx(1622, abs=30)  # README: Denver 1,622 m
    assert inp["igbp_class"][1] == 10  # grassland (Flint Hills)
    assert inp["lc_grassland"][1] == 1.0 and inp["lc_cropland"][1] == 0.0
    assert inp["igbp_class"][2] == 12  # Iowa cropland
    assert inp["ndvi_max"][2] == pytest.approx(0.87, abs=0.02)  # README: Iowa max 0.87
    assert inp["ndvi_max"][3] < 0.3  # Nevada
    assert inp["roughness"][0] > inp["roughness"][2]  # Front Range vs Iowa plains


@pytest.mark.shared_data
@needs_shared
@pytest.mark.parametrize("key,var", [("clay", "T_CLAY"), ("ph", "T_PH_H2O")])
def test_hwsd_matches_an_independent_read(key, var):
    import netCDF4

    from soilbinn.inputs.grids import read_fine

    g = read_fine(SHARED, key)
    lat, lon = 42.0, -93.5
    with netCDF4.Dataset(SHARED / "grids" / "hwsd" / f"{var}.nc4") as f:
        la, lo = f["lat"][:], f["lon"][:]
        i, j = int(np.argmin(abs(la - lat))), int(np.argmin(abs(lo - lon)))
        ref = float(f[var][i, j])
    vals, dist, ok = g.sample([lat], [lon], 60.0)
    assert dist[0] == 0.0 and vals[0] == pytest.approx(ref, rel=1e-6)
