"""Real-data pipeline on the shared data (skipped with a message when it is absent)."""

import json

import numpy as np
import pytest

from soilbinn.inputs.grids import default_shared_path

SHARED = default_shared_path()
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not (SHARED / "grids" / "cesm2").exists(),
        reason=f"shared real data not found at {SHARED} (set SOILBINN_SHARED_DATA)",
    ),
]


@pytest.mark.slow
def test_grid_orientation_known_places():
    from soilbinn.inputs.sampling import sample_inputs

    inp = sample_inputs(SHARED, [40.2, 23.0, 40.25], [-100.3, 10.0, -100.25])
    npp_kansas = inp["npp"][0].mean() * 365 * 86400
    assert npp_kansas == pytest.approx(556, rel=0.1)  # README: about 556 gC m-2 yr-1
    assert inp["npp"][1].max() * 365 * 86400 < 5.0  # Sahara: ~0
    # BIOME4 tenths of degC -> degC: about 10.4 C annual mean in Kansas
    assert inp["temp"][2].mean() == pytest.approx(10.4, abs=1.0)  # half-cell offset uncertain
    assert -40 < inp["tmin"][2] < -20
    assert 0 < inp["sun"][2].mean() <= 100


def test_ocean_points_are_not_covered():
    from soilbinn.inputs.sampling import sample_inputs

    inp = sample_inputs(SHARED, [30.0, 0.0], [-60.0, -140.0])
    assert not inp.ok.any()
    assert np.isnan(inp["npp"]).all()


@pytest.fixture(scope="module")
def small():
    from soilbinn.inputs.dataset import build_real_dataset

    return build_real_dataset(SHARED, max_profiles=60, seed=1, raca_stocks=False)  # layers only


@pytest.mark.slow
def test_real_dataset_schema_and_values(small):
    from soilbinn.data.schema import forcing_from_dataset, validate_dataset

    ds, rep = small
    assert validate_dataset(ds, require=("forcing", "observations", "covariates")) == []
    n = ds.sizes["site"]
    assert 50 <= n <= 60
    assert rep["kept"]["sites"] == n
    soc, depth = ds["soc"].values, ds["obs_depth"].values
    ok = np.isfinite(soc)
    assert (soc[ok] > 0).all() and (soc[ok] < 1e6).all()
    # organic horizons are kept (flagged); mineral layers stay below 400 kg C m-3
    assert (soc[ok & (ds["organic"].values == 0)] < 4e5).all()
    assert ((ds["soc_source"].values >= 0) == ok).all()
    top, bot = ds["obs_top"].values, ds["obs_bottom"].values
    np.testing.assert_allclose(depth[ok], 0.5 * (top[ok] + bot[ok]))
    assert (ds["lat"].values > 24).all() and (ds["lon"].values < -66).all()
    f = forcing_from_dataset(ds).validate()
    assert (f.litter_input.sum(1) > 0).all()
    # reasons sum up: every source profile read is either kept or dropped for a reason
    assert sum(rep["dropped_layers"].values()) > 0
    assert "pedotransfer" in rep and rep["pedotransfer"]["rmse_g_cm3"] < 0.5


def test_site_csv_reports_rows_outside_coverage(tmp_path):
    from soilbinn.inputs.sites import SitesFileError, build_site_dataset

    csv = tmp_path / "sites.csv"
    csv.write_text("site,lat,lon\nkansas,39.0,-98.0\ngulf,27.0,-90.0\nparis,48.85,2.35\n")
    ds, outside = build_site_dataset(csv, SHARED)
    assert ds["site"].values.tolist() == ["kansas"]
    reasons = dict(zip(outside.site, outside.reason))
    assert "outside CONUS" in reasons["paris"]
    assert "no value within 60 km for" in reasons["gulf"] and "npp" in reasons["gulf"]
    bad = tmp_path / "bad.csv"
    bad.write_text("lat,lon\n40,abc\n")
    with pytest.raises(SitesFileError, match="not numeric"):
        build_site_dataset(bad, SHARED)
    with pytest.raises(SitesFileError, match="no 'lat'"):
        (tmp_path / "nolat.csv").write_text("x,lon\n1,2\n")
        build_site_dataset(tmp_path / "nolat.csv", SHARED)


def test_grid_dataset_covers_conus_and_matches_site_covariates():
    from soilbinn.inputs.dataset import build_grid_dataset, build_point_dataset

    g = build_grid_dataset(SHARED, resolution=2.0)
    assert 150 < g.sizes["site"] < 260  # ~8e6 km2 / (2 deg cells)
    water = g["covariates"].values[:, list(g["covariate"].values).index("lc_water")]
    assert water.max() <= 0.5 and g.attrs["cells_masked_water"] >= 1  # the Great Lakes
    assert "not soil" in g.attrs["land_mask"]
    i = 10
    la, lo = g["lat"].values[i], g["lon"].values[i]
    # the same function with the cell as footprint gives the grid's values exactly
    lat_e = g["grid_lat"].values[0] - 1.0 + 2.0 * np.arange(g.sizes["grid_lat"] + 1)
    lon_e = g["grid_lon"].values[0] - 1.0 + 2.0 * np.arange(g.sizes["grid_lon"] + 1)
    p, ok = build_point_dataset([la], [lo], ["x"], SHARED, footprint=(lat_e, lon_e))
    np.testing.assert_allclose(p["covariates"].values[0], g["covariates"].values[i], rtol=1e-6)
    np.testing.assert_allclose(p["soil_temperature"].values[0], g["soil_temperature"].values[i])
    # a site at the cell centre shares the climate covariates but takes its own fine cell
    s, ok = build_point_dataset([la], [lo], ["x"], SHARED)
    names = list(g["covariate"].values)
    k = names.index("mat")
    assert s["covariates"].values[0, k] == pytest.approx(g["covariates"].values[i, k])
    lc = [names.index(n) for n in names if n.startswith("lc_")]
    assert sorted(s["covariates"].values[0, lc]) == [0.0] * (len(lc) - 1) + [1.0]
    np.testing.assert_allclose(g["covariates"].values[:, lc].sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_cli_prepare_real(tmp_path):
    from soilbinn.cli import main
    from soilbinn.data.schema import load_dataset

    out = tmp_path / "real.nc"
    assert main(["prepare", "real", "--shared", str(SHARED), "--out", str(out),
                 "--max-profiles", "15", "--land-use", "--report", str(tmp_path / "r.json")]) == 0  # fmt: skip
    ds = load_dataset(out, require=("forcing", "observations", "covariates"))
    cats = ds["category"].values.astype(str)
    assert "land_use" in cats and "igbp_class" in cats
    names = set(ds["covariate"].values.astype(str))
    assert {"topsoil_clay", "topsoil_sand", "topsoil_ph", "elevation", "ndvi_max",
            "lc_grassland"} <= names and "topsoil_oc" not in names  # fmt: skip
    assert json.loads((tmp_path / "r.json").read_text())["kept"]["sites"] == ds.sizes["site"]
    assert (
        main(["prepare", "grid", "--shared", str(tmp_path), "--out", str(tmp_path / "g.nc")]) == 2
    )


def test_grid_region_box_and_bad_region(tmp_path, capsys):
    from soilbinn.cli import main
    from soilbinn.data.schema import load_dataset

    out = tmp_path / "box.nc"
    assert main(["prepare", "grid", "--shared", str(SHARED), "--out", str(out),
                 "--region=-100,38,-98,40", "--resolution", "0.5"]) == 0  # fmt: skip
    ds = load_dataset(out, require=("forcing", "covariates"))
    assert ds.sizes["site"] == 16  # 4 x 4 Kansas land cells
    np.testing.assert_allclose(ds["grid_lon"].values, [-99.75, -99.25, -98.75, -98.25])
    assert (ds["fill_distance"].values == 0).all()  # inland: every input from its own cell
    names = list(ds["covariate"].values.astype(str))
    lc = [names.index(n) for n in names if n.startswith("lc_")]
    assert ((ds["covariates"].values[:, lc] > 0) & (ds["covariates"].values[:, lc] < 1)).any()
    capsys.readouterr()
    bad = tmp_path / "europe.nc"
    assert main(["prepare", "grid", "--shared", str(SHARED), "--out", str(bad),
                 "--region", "europe"]) == 2  # fmt: skip
    assert not bad.exists()
    assert "region 'europe'" in capsys.readouterr().err


def test_each_input_filled_from_its_own_nearest_cell():
    from soilbinn.inputs.sampling import sample_inputs

    # Red River Valley (MN): BIOME4 whc has no value within 60 km, every other input does
    inp = sample_inputs(SHARED, [48.46], [-96.17])
    assert inp.ok[0]
    assert 60 < inp.distance_km["whc"][0] <= 150
    assert inp.distance_km["temp"][0] == 0 and inp.distance_km["clay"][0] == 0
    inp = sample_inputs(SHARED, [48.46], [-96.17], max_km=20)
    assert not inp.ok[0] and "whc (50 km)" in inp.missing[0]
