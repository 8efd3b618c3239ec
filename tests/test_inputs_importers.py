"""Importers: profile CSV unit conversions, covariate tables, gridded sampling and forcing."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from soilbinn.data.schema import covariates_from_dataset, validate_dataset
from soilbinn.inputs.gridded import (
    Grid,
    GridError,
    forcing_from_grids,
    read_cesm2_mat,
    read_netcdf_grid,
    sample_at_sites,
)
from soilbinn.inputs.importers import ImportError_, join_covariates_csv, read_profiles_csv

PROFILES = """profile_id,lat,lon,top,bottom,soc_pct,bd,frag
P1,40.0,-100.0,0,10,2.0,1.2,0
P1,40.0,-100.0,10,30,1.0,1.4,10
P1,40.0,-100.0,30,60,0.5,1.5,
P2,35.5,-90.25,0,20,3.0,1.0,0
P2,35.5,-90.25,20,50,1.5,,0
"""


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


COLS = {"top": "top", "bottom": "bottom", "soc": "soc_pct", "bulk_density": "bd"}


def test_percent_with_bulk_density(tmp_path):
    ds = read_profiles_csv(_write(tmp_path, PROFILES), soc_units="%", depth_units="cm",
                           columns={**COLS, "coarse_fragments": "frag"})  # fmt: skip
    assert list(ds["site"].values) == ["P1", "P2"]
    # hand-computed: pct/100 * bd * 1e6 * (1 - frag/100)
    np.testing.assert_allclose(ds["soc"].values[0], [24000.0, 12600.0, 7500.0])
    np.testing.assert_allclose(ds["obs_depth"].values[0], [0.05, 0.20, 0.45])
    np.testing.assert_allclose(ds["obs_top"].values[0], [0.0, 0.1, 0.3])
    # P2's second layer has no bulk density: dropped and reported, padded with NaN
    np.testing.assert_allclose(ds["soc"].values[1, 0], 30000.0)
    assert np.isnan(ds["soc"].values[1, 1]) and np.isnan(ds["obs_depth"].values[1, 1])
    assert "1 rows dropped: SOC missing" in ds.attrs["import_report"]
    assert validate_dataset(ds, ("observations",)) == []


def test_density_units_and_g_per_kg(tmp_path):
    text = "profile_id,lat,lon,top_m,bot_m,soc_g_m3,bd_g_cm3\nA,40,-100,0.0,0.1,12.5,1300\n"
    ds = read_profiles_csv(_write(tmp_path, text), soc_units="kg m-3")
    np.testing.assert_allclose(ds["soc"].values[0, 0], 12500.0)
    ds = read_profiles_csv(_write(tmp_path, text), soc_units="g kg-1",
                           columns={"soc": "soc_g_m3"}, bulk_density_units="kg m-3")  # fmt: skip
    np.testing.assert_allclose(ds["soc"].values[0, 0], 12.5e-3 * 1.3 * 1e6)


def test_profile_errors(tmp_path):
    p = _write(tmp_path, PROFILES)
    with pytest.raises(ImportError_, match=r"missing column\(s\) 'top_m' \(top\)"):
        read_profiles_csv(p)
    with pytest.raises(ImportError_, match="needs a bulk density column"):
        read_profiles_csv(p, soc_units="%", columns={**COLS, "bulk_density": "nope"})
    with pytest.raises(ImportError_, match="soc_units 'ppm' unknown"):
        read_profiles_csv(p, soc_units="ppm")
    inverted = PROFILES.replace("P1,40.0,-100.0,10,30", "P1,40.0,-100.0,30,10")
    with pytest.raises(ImportError_, match=r"bottom <= top on line\(s\) 3 \(profiles P1\)"):
        read_profiles_csv(_write(tmp_path, inverted), soc_units="%", depth_units="cm", columns=COLS)
    ds = read_profiles_csv(_write(tmp_path, inverted), soc_units="%", depth_units="cm", columns=COLS,
                           invalid="drop")  # fmt: skip
    assert "1 rows dropped: missing or inverted depths" in ds.attrs["import_report"]
    text = PROFILES.replace("0.5,1.5", "abc,1.5")
    with pytest.raises(
        ImportError_, match=r"column 'soc_pct' has non-numeric values \('abc'\) on line\(s\) 4"
    ):
        read_profiles_csv(_write(tmp_path, text), soc_units="%", depth_units="cm", columns=COLS)
    text = PROFILES.replace("P1,40.0,-100.0,30,60", "P1,41.0,-100.0,30,60")
    with pytest.raises(ImportError_, match="several lat/lon values: P1"):
        read_profiles_csv(_write(tmp_path, text), soc_units="%", depth_units="cm", columns=COLS)
    text = PROFILES + "P2,35.5,-90.25,0,20,5.0,1.0,0\n"
    with pytest.raises(ImportError_, match="repeat a layer"):
        read_profiles_csv(_write(tmp_path, text), soc_units="%", depth_units="cm", columns=COLS)
    ds = read_profiles_csv(_write(tmp_path, text), soc_units="%", depth_units="cm", columns=COLS,
                           duplicates="mean")  # fmt: skip
    np.testing.assert_allclose(ds["soc"].values[1, 0], 40000.0)
    text = PROFILES.replace("2.0,1.2", "-2.0,1.2")
    with pytest.raises(ImportError_, match="negative SOC"):
        read_profiles_csv(_write(tmp_path, text), soc_units="%", depth_units="cm", columns=COLS)
    with pytest.raises(ImportError_, match="bulk density outside"):
        read_profiles_csv(
            p, soc_units="%", depth_units="cm", columns=COLS, bulk_density_units="kg m-3"
        )
    with pytest.raises(FileNotFoundError):
        read_profiles_csv(tmp_path / "missing.csv")


def _profiles(tmp_path):
    return read_profiles_csv(
        _write(tmp_path, PROFILES, "p.csv"), soc_units="%", depth_units="cm", columns=COLS
    )


def test_covariate_join(tmp_path):
    ds = _profiles(tmp_path)
    table = "site,clay [%],mat [degC],biome\nP2,30,15.5,forest\nP1,20,10.0,grass land\nP9,1,1,x\n"
    out = join_covariates_csv(ds, _write(tmp_path, table), categorical=["biome"])
    cov = covariates_from_dataset(out)
    assert cov.numeric_names == ["clay", "mat"] and cov.numeric_units == ["%", "degC"]
    np.testing.assert_allclose(cov.numeric.numpy(), [[20, 10.0], [30, 15.5]])
    assert cov.category_labels == [["forest", "grass_land", "x"]]
    assert cov.categorical[:, 0].tolist() == [1, 0]
    assert validate_dataset(out, ("observations", "covariates")) == []
    # a second table appends
    out2 = join_covariates_csv(out, _write(tmp_path, "site,ph\nP1,6\nP2,7\n", "b.csv"))
    assert covariates_from_dataset(out2).numeric_names == ["clay", "mat", "ph"]


def test_covariate_errors(tmp_path):
    ds = _profiles(tmp_path)
    with pytest.raises(ImportError_, match=r"1 site\(s\) of the dataset not in the table: P2"):
        join_covariates_csv(ds, _write(tmp_path, "site,clay\nP1,3\n"))
    with pytest.raises(ImportError_, match=r"duplicate site id\(s\) P1"):
        join_covariates_csv(ds, _write(tmp_path, "site,clay\nP1,3\nP1,4\nP2,1\n"))
    with pytest.raises(
        ImportError_, match="column 'clay': missing or non-numeric for site\\(s\\) P2"
    ):
        join_covariates_csv(ds, _write(tmp_path, "site,clay\nP1,3\nP2,lots\n"))
    with pytest.raises(ImportError_, match="site-id column 'id' missing"):
        join_covariates_csv(ds, _write(tmp_path, "site,clay\nP1,3\nP2,1\n"), site_column="id")


def _toy_grid():
    lat = np.array([41.0, 40.0, 39.0])
    lon = np.array([-101.0, -100.0, -99.0])
    v = np.arange(12 * 9, dtype=float).reshape(12, 3, 3)
    v[:, 1, 1] = np.nan  # the cell at (40, -100) is invalid (e.g. water)
    v[3, 0, 0] = np.nan  # one month missing also invalidates a cell
    return Grid(v, lat, lon, ("month",), "toy", "1")


def test_sampling_nearest_valid_cell():
    g = _toy_grid()
    vals, rep = sample_at_sites(g, [39.1, 40.0, 41.0, 10.0], [-99.1, -100.0, -101.0, -100.0],
                                ["a", "b", "c", "far"], max_distance_km=200)  # fmt: skip
    np.testing.assert_array_equal(vals[0], g.values[:, 2, 2])
    assert np.isfinite(vals[1]).all()  # moved from the invalid cell to a neighbour
    assert 80 < rep.distance_km[1] < 90  # 1 deg of longitude at 40 N ~ 85 km (or 1 deg lat 111 km)
    assert np.isfinite(vals[2]).all() and not np.array_equal(vals[2], g.values[:, 0, 0])
    assert rep.own_cell_valid.tolist() == [True, False, False, False]
    assert rep.missing_sites == ["far"] and np.isnan(vals[3]).all()
    assert "no valid cell within 200 km (NaN): 1 site(s): far" in str(rep)


def test_read_cesm2_mat_orientation(tmp_path):
    # a fake v7.3 file: stored as (month, lon, lat) on the f05 grid
    data = np.full((12, 576, 384), np.nan)
    lat = 90 - 0.234375 - 0.46875 * np.arange(384)
    lon = -180 + 0.3125 + 0.625 * np.arange(576)
    i, j = np.argmin(abs(lon + 100)), np.argmin(abs(lat - 40))
    data[:, i, j] = 1e-5  # gC m-2 s-1
    path = tmp_path / "cesm2_NPP.mat"
    with h5py.File(path, "w") as h:
        h["var_record_monthly_mean"] = data
    g = read_cesm2_mat(path)
    assert g.values.shape == (12, 384, 576) and g.units == "gC m-2 s-1" and g.lead == ("month",)
    ds, reps = forcing_from_grids(
        [40.0], [-100.0], ["k"], {"npp": g},
        constants={"altmax": 41.998, "nbedrock": 20, "soil_temperature": 288.0,
                   "water_scalar": 0.8, "oxygen_scalar": 1.0, "nitrogen_scalar": 0.7},
    )  # fmt: skip
    annual = 1e-5 * 86400 * 365  # 315.36 g m-2 yr-1
    total = sum(
        ds[v].values.sum() for v in ("input_cwd", "input_litter1", "input_litter2", "input_litter3")
    )
    np.testing.assert_allclose(total, annual)
    np.testing.assert_allclose(ds["input_litter1"].values.sum(), 0.25 * annual)
    assert validate_dataset(ds) == []
    with h5py.File(tmp_path / "bad.mat", "w") as h:
        h["var_record_monthly_mean"] = np.zeros((12, 10, 10))
    with pytest.raises(GridError, match="576 lon, 384 lat"):
        read_cesm2_mat(tmp_path / "bad.mat")


def test_netcdf_grid_and_air_temperature(tmp_path):
    lat = np.array([45.0, 40.0])
    lon = np.array([250.0, 260.0])  # 0-360 convention
    m = np.arange(1, 13)
    temp = 100 + 100 * np.sin(2 * np.pi * (m - 4.2) / 12)  # tenths of degC: mean 10, amp 10
    arr = np.broadcast_to(temp[:, None, None], (12, 2, 2)).copy()
    xr.Dataset({"temp": (("time", "lat", "lon"), arr)}, coords={"lat": lat, "lon": lon}).to_netcdf(
        tmp_path / "t.nc"
    )
    g = read_netcdf_grid(tmp_path / "t.nc", "temp", scale=0.1, units="degC")
    assert g.lon.min() < 0 and g.lead == ("month",)
    ds, _ = forcing_from_grids(
        [40.0], [-100.0], ["s"], {"air_temperature": g},
        constants={"input_cwd": 0, "input_litter1": 10, "input_litter2": 10, "input_litter3": 10,
                   "altmax": 41.998, "nbedrock": 20, "water_scalar": 0.8, "oxygen_scalar": 1.0,
                   "nitrogen_scalar": 0.7},
    )  # fmt: skip
    t = ds["soil_temperature"].values[0] - 273.15
    np.testing.assert_allclose(t.mean(axis=1), 11.0, atol=1e-6)  # mean air + 1 K soil offset
    np.testing.assert_allclose((t[0].max() - t[0].min()) / 2, 10 * np.exp(-0.01 / 2.2), rtol=0.02)
    with pytest.raises(GridError, match=r"no field or constant for \['input_cwd'"):
        forcing_from_grids([40.0], [-100.0], ["s"], {"air_temperature": g})
    with pytest.raises(GridError, match="no variable 'tmp'"):
        read_netcdf_grid(tmp_path / "t.nc", "tmp")


SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "grids" / "cesm2"


@pytest.mark.shared_data
@pytest.mark.skipif(
    not (SHARED / "cesm2_NPP.mat").exists(), reason="../shared/data/grids/cesm2 absent"
)
def test_real_cesm2_npp_kansas():
    g = read_cesm2_mat(SHARED / "cesm2_NPP.mat")
    vals, rep = sample_at_sites(g, [40.0, 30.0], [-100.0, -60.0], ["kansas", "atlantic"])
    annual = vals[0].mean() * 86400 * 365
    assert 450 < annual < 650  # README: about 556 gC m-2 yr-1
    assert rep.missing_sites == ["atlantic"]
