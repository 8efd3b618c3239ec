"""Profile harmonisation on tiny hand-made CSVs (no shared data needed), plus the RaCA
stock check on the shared data (skipped with a message when it is absent)."""

import numpy as np
import pandas as pd
import pytest

from soilbinn.data.schema import OBS_OPTIONAL, base_coords, validate_dataset
from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.profiles import (
    NO_OBS,
    SOC_MEASURED,
    SOC_SOURCES,
    SOC_TC_MINUS_IC,
    SOC_TOTAL_C,
    SOC_VNIR,
    adams_bulk_density,
    add_layer_flags,
    compare_stocks,
    fragment_volume_pct,
    harmonise_profiles,
    interval_stocks,
    raca_soc,
    raca_stock_check,
    raca_stock_reference,
    soc_density,
)

SODAH_COLS = ["source", "profile_id", "lat", "lon", "top_m", "bot_m", "soc_pct", "soc_var",
              "bd_g_cm3", "land_cover", "network", "site_code", "hzn", "conus"]  # fmt: skip
SHARED = default_shared_path()


def test_adams_hand_values():
    # SOC 1 %: OM 1.724 %, BD = 100 / (1.724/0.244 + 98.276/1.64) = 1.49276
    np.testing.assert_allclose(adams_bulk_density(np.array([0.0, 1.0, 100 / 1.724])),
                               [1.64, 1.49276, 0.244], atol=1e-5)  # fmt: skip


def test_soc_density_hand_value():
    assert soc_density(2.0, 1.2, 10.0) == pytest.approx(0.02 * 1.2e6 * 0.9)


def test_fragment_volume_hand_values():
    # 20 % rock by mass, fine earth 1.325 g cm-3: (0.2/2.65) / (0.2/2.65 + 0.8/1.325) = 1/9
    np.testing.assert_allclose(fragment_volume_pct([0.0, 20.0, 100.0], [1.3, 1.325, 1.0]),
                               [0.0, 100 / 9, 100.0])  # fmt: skip


def test_raca_soc_lab_minus_carbonate_else_vnir():
    soc, src = raca_soc(
        c_tot_pct=[3.0, 2.0, np.nan, 0.5],
        caco3_pct=[10.0, np.nan, 5.0, 10.0],
        vnir_pct=[9.0, 9.0, 1.7, 9.0],
    )
    # 3 - 0.12*10 = 1.8; CaCO3 missing = 0; no lab value -> VNIR; 0.5 - 1.2 < 0 stays
    np.testing.assert_allclose(soc, [1.8, 2.0, 1.7, -0.7])
    assert list(src) == [SOC_TC_MINUS_IC, SOC_TC_MINUS_IC, SOC_VNIR, SOC_TC_MINUS_IC]


@pytest.fixture
def folder(tmp_path):
    s = [
        # two profiles at one location (treatments / years): composited by median
        ("SoDaH", "S1", 45.0, -93.0, 0.0, 0.1, 2.0, "lyr_soc", 1.0, "forest", "LTER", "A", "A", True),
        ("SoDaH", "S1", 45.0, -93.0, 0.0, 0.1, 4.0, "lyr_soc", 1.0, "forest", "LTER", "A", "A", True),
        ("SoDaH", "S2", 45.0, -93.0, 0.0, 0.1, 5.0, "lyr_soc", 1.0, "forest", "LTER", "A", "A", True),
        # forest floor above the mineral surface: S1 shifted down by 0.05 m
        ("SoDaH", "S1", 45.0, -93.0, -0.05, 0.0, 30.0, "lyr_soc", np.nan, "forest", "LTER", "A",
         "Oi", True),
        ("SoDaH", "S2", 45.0, -93.0, 0.1, 0.3, 1.0, "lyr_soc", np.nan, "forest", "LTER", "A", "B",
         True),
        # total carbon, no carbonate information
        ("SoDaH", "S5", 41.0, -96.0, 0.0, 0.2, 2.0, "lyr_c_tot", 1.2, "", "LTER", "K", "", True),
        # SoDaH copy of a NEON profile: dropped
        ("SoDaH", "S3", 40.1234, -100.5, 0.0, 0.2, 1.0, "lyr_soc", 1.3, "", "NEON", "N", "A", True),
        # outside CONUS
        ("SoDaH", "S4", 60.0, -150.0, 0.0, 0.2, 1.0, "lyr_soc", 1.3, "", "LTER", "B", "A", False),
    ]  # fmt: skip
    pd.DataFrame(s, columns=SODAH_COLS).to_csv(tmp_path / "sodah_layers.csv", index=False)
    pd.DataFrame({
        "source": "NEON", "profile_id": "NEON_X_1", "site_code": "X", "lat": 40.1234,
        "lon": -100.5, "top_m": [0.0, 0.05, 0.2], "bot_m": [0.05, 0.2, 0.5],
        "hzn": ["Oe", "A", "Bw"], "soc_pct": [40.0, 2.0, 0.5], "soc_var": "estimatedOC",
        "bd_g_cm3": [np.nan, 1.0, np.nan], "coarse_frag_pct": [0.0, 50.0, 0.0], "conus": True,
    }).to_csv(tmp_path / "neon_layers.csv", index=False)  # fmt: skip
    pd.DataFrame({
        "source": "RaCA",
        "profile_id": ["RACA_P1", "RACA_P1", "RACA_P1", "RACA_P2", "RACA_P3", "RACA_P3"],
        "site_id": "C0101F01", "lat": 47.0, "lon": -122.0,
        "top_m": [0.0, 0.1, 0.3, 0.0, 0.0, 0.05], "bot_m": [0.1, 0.3, 0.5, 0.2, 0.05, 0.2],
        "soc_pct": [3.0, 0.0, 0.004, 1.0, 30.0, 2.0], "soc_var": "SOC_pred1",
        "bd_g_cm3": [1.1, 1.2, 1.3, 1.3, 0.5, 1.0],
        "fragvol_pct": [0.0, 0.0, 0.0, 95.0, 0.0, 20.0],
        "c_tot_ncs_pct": [2.5, np.nan, np.nan, np.nan, 40.0, np.nan],
        "caco3_pct": [5.0, np.nan, np.nan, np.nan, np.nan, np.nan],
        "texture": ["l", "l", None, "l", "PM", "sil"], "land_use": 1, "conus": True,
    }).to_csv(tmp_path / "raca_layers_west.csv", index=False)  # fmt: skip
    return tmp_path


def test_harmonise_rules(folder):
    h = harmonise_profiles(folder)
    rep = h.report
    assert rep["dropped_layers"]["outside CONUS"] == 1
    assert rep["dropped_layers"]["SoDaH NEON layer duplicating neon_layers.csv"] == 1
    assert rep["dropped_layers"]["RaCA row without lab carbon or field texture (not analysed)"] == 1
    assert rep["dropped_layers"][
        "SOC <= 0 % (below detection, missing, or total C < carbonate C)"
    ] == 1  # fmt: skip
    assert rep["dropped_layers"]["coarse fragments >= 90 %"] == 1
    assert rep["forest_floor_shift"]["profiles"] == 1
    assert sorted(h.sites.index) == [
        "neon_X_1", "raca_P1", "raca_P3", "sodah_41.0_-96.0", "sodah_45.0_-93.0"
    ]  # fmt: skip
    lay = h.layers.set_index(["site", "top_m"])
    s = "sodah_45.0_-93.0"
    # S1 shifted by 0.05 m: forest floor 0-0.05 (Adams BD), mineral 0.05-0.15 (3 %)
    assert sorted(lay.loc[(s, 0.0), "soc_g_m3"]) == pytest.approx(
        sorted([0.30 * adams_bulk_density(30.0) * 1e6, 0.05e6])
    )
    assert lay.loc[(s, 0.05), "soc_g_m3"] == pytest.approx(0.03e6)
    assert lay.loc[(s, 0.05), "bot_m"] == pytest.approx(0.15)
    org = h.layers[h.layers.site == s].set_index("soc_g_m3").organic
    assert org[0.30 * adams_bulk_density(30.0) * 1e6] and not org[0.05e6]
    assert lay.loc[(s, 0.1), "depth_m"] == pytest.approx(0.2)  # S2 unshifted
    assert (h.layers.top_m >= 0).all()
    # NEON: coarse fragments applied, organic Oe kept and flagged
    # 50 % of the mass as rock at BD 1.0: volume (0.5/2.65) / (0.5/2.65 + 0.5/1.0) = 0.27397
    assert lay.loc[("neon_X_1", 0.05), "soc_g_m3"] == pytest.approx(0.02e6 * (1 - 0.27397), 1e-4)
    assert lay.loc[("neon_X_1", 0.0), "organic"]
    assert lay.loc[("neon_X_1", 0.0), "soc_source"] == SOC_TC_MINUS_IC
    # RaCA: lab 2.5 - 0.12*5 = 1.9 %; PM layer organic from its lab value; VNIR fallback
    assert lay.loc[("raca_P1", 0.0), "soc_g_m3"] == pytest.approx(0.019 * 1.1e6)
    assert lay.loc[("raca_P3", 0.0), "soc_g_m3"] == pytest.approx(0.40 * 0.5e6)
    assert lay.loc[("raca_P3", 0.0), "organic"]
    assert lay.loc[("raca_P3", 0.05), "soc_source"] == SOC_VNIR
    assert lay.loc[("raca_P3", 0.05), "soc_g_m3"] == pytest.approx(0.02 * 1.0e6 * 0.8)
    assert lay.loc[("sodah_41.0_-96.0", 0.0), "soc_source"] == SOC_TOTAL_C
    assert lay.loc[(s, 0.1), "soc_source"] == SOC_MEASURED
    assert rep["kept"]["layers"] == 11
    assert rep["kept"]["organic_layers"] == 3
    assert h.sites.loc["raca_P1", "land_use"] == "f"


def test_legacy_rules_drop_organic_and_use_vnir(folder):
    h = harmonise_profiles(folder, targets="legacy")
    rep = h.report["dropped_layers"]
    assert rep["above the mineral surface (negative depth)"] == 1
    assert rep["organic horizon (O/L)"] == 1
    assert rep["organic material (SOC > 20 %)"] == 1  # the RaCA PM layer, VNIR 30 %
    lay = h.layers.set_index(["site", "top_m"])
    assert lay.loc[("raca_P1", 0.0), "soc_g_m3"] == pytest.approx(0.03 * 1.1e6)  # VNIR
    assert lay.loc[("raca_P1", 0.3), "soc_source"] == SOC_VNIR  # unanalysed row kept
    assert not h.layers.organic.any()


def test_raca_vnir_drop(folder):
    h = harmonise_profiles(folder, raca_vnir="drop")
    assert h.report["dropped_layers"]["RaCA layer without lab value (raca_vnir='drop')"] == 3
    raca = h.layers[h.layers.site.str.startswith("raca_")]
    assert len(raca) == 2 and (raca.soc_source == SOC_TC_MINUS_IC).all()
    with pytest.raises(ValueError, match="raca_vnir"):
        harmonise_profiles(folder, raca_vnir="bogus")


def test_harmonise_subset_and_bad_option(folder):
    h = harmonise_profiles(folder, max_profiles=1, seed=3)
    assert len(h.sites) == 1 and set(h.layers.site) == set(h.sites.index)
    with pytest.raises(ValueError, match="raca"):
        harmonise_profiles(folder, raca="bogus")
    with pytest.raises(ValueError, match="targets"):
        harmonise_profiles(folder, targets="bogus")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="sodah_layers.csv"):
        harmonise_profiles(tmp_path)


def test_layer_flags_in_dataset_validate(folder):
    h = harmonise_profiles(folder)
    sites = h.sites
    ds = base_coords(sites.index.to_numpy(), sites.lat.to_numpy(), sites.lon.to_numpy())
    n_obs = int(sites.n_obs.max())
    ds = ds.assign_coords(obs=np.arange(n_obs))
    rows = h.layers.site.map({s: i for i, s in enumerate(sites.index)}).to_numpy()
    rank = h.layers.groupby("site").cumcount().to_numpy()
    soc = np.full((len(sites), n_obs), np.nan)
    soc[rows, rank] = h.layers.soc_g_m3
    depth = np.full_like(soc, np.nan)
    depth[rows, rank] = h.layers.depth_m
    ds["soc"] = (("site", "obs"), soc, {"units": "g m-3"})
    ds["obs_depth"] = (("site", "obs"), depth, {"units": "m"})
    ds = add_layer_flags(ds, h.layers, rows, rank)
    assert validate_dataset(ds, require=("observations",)) == []
    src = ds["soc_source"].values
    assert ((src == NO_OBS) == np.isnan(soc)).all()
    assert ds["soc_source"].attrs["flag_meanings"].split()[1:] == list(SOC_SOURCES)
    assert OBS_OPTIONAL["soc_source"].hi == len(SOC_SOURCES) - 1
    assert int(ds["organic"].values.max()) == 1
    ds["soc_source"].values[0, 0] = 7  # planted fault
    assert any("soc_source" in p for p in validate_dataset(ds, require=("observations",)))


def test_interval_stocks_hand_computed():
    layers = pd.DataFrame({
        "site": ["a", "a", "a", "b"],
        "top_m": [0.0, 0.1, 0.4, 0.0],
        "bot_m": [0.1, 0.4, 1.2, 0.02],
        "soc_g_m3": [20000.0, 10000.0, 5000.0, 1000.0],
    })  # fmt: skip
    st = interval_stocks(layers, [(0.0, 0.05), (0.0, 0.3), (0.0, 1.0)])
    # a: 0-5: 20000*0.05; 0-30: 20000*0.1 + 10000*0.2; 0-100: + 10000*0.3 + 5000*0.6
    assert st.loc["a"].tolist() == pytest.approx([1000.0, 4000.0, 8000.0])
    # b ends at 2 cm: nothing counted below its last layer
    assert st.loc["b"].tolist() == pytest.approx([20.0, 20.0, 20.0])
    assert list(st.columns) == ["0-5", "0-30", "0-100"]


def test_compare_stocks_metrics():
    ref = pd.DataFrame({"land_use": ["F", "F", "C", "C"], "0-30": [100.0, 200.0, 300.0, np.nan]},
                       index=["p1", "p2", "p3", "p4"])  # fmt: skip
    ours = pd.DataFrame({"0-30": [110.0, 220.0, 330.0, 50.0]}, index=["p1", "p2", "p3", "p4"])
    t = compare_stocks(ours, ref).set_index("land_use")
    assert t.loc["all", "n"] == 3 and t.loc["all", "missing"] == 0
    assert t.loc["all", "r"] == pytest.approx(1.0)
    assert t.loc["all", "median_ratio"] == pytest.approx(1.1)
    assert t.loc["all", "bias_MgC_ha"] == pytest.approx(np.mean([0.1, 0.2, 0.3]))
    assert t.loc["F", "n"] == 2
    t2 = compare_stocks(ours.drop("p2"), ref).set_index("land_use")
    assert t2.loc["all", "missing"] == 1


def _raca_stock_csv(path, pedon_ids, stocks_05, stocks_30, stocks_100, land_use="F"):
    """A ``raca_pedon_stocks.csv`` in the shared file's format (stocks in Mg C ha-1)."""
    n = len(pedon_ids)
    pd.DataFrame({
        "source": "RaCA", "pedon_id": pedon_ids, "site_id": [p[:8] for p in pedon_ids],
        "lat": 47.0, "lon": -122.0, "MO": 1, "land_use": land_use,
        "SOCstock_0_5cm_MgC_ha": stocks_05, "SOCstock_0_30cm_MgC_ha": stocks_30,
        "SOCstock_0_100cm_MgC_ha": stocks_100, "stock_use_depth_cm": 100.0,
        "n_samples": 3, "conus": [True] * n,
    }).to_csv(path, index=False)  # fmt: skip
    return path


def test_raca_stock_reference_ids_and_units(tmp_path):
    # the three spellings of pedon 1 of a RaCA site all map to the layered site id
    ids = ["C0101F01-1", "C0102F01_1", "c0103x05-1"]
    p = _raca_stock_csv(tmp_path / "s.csv", ids, [10.0, 1, 1], [30.0, 2, 2], [np.nan, 3, 3])
    ref = raca_stock_reference(p)
    assert ref.index.tolist() == ["raca_C0101F011", "raca_C0102F011", "raca_C0103X051"]
    assert ref.loc["raca_C0101F011", "0-30"] == pytest.approx(3000.0)  # g m-2
    assert np.isnan(ref.loc["raca_C0101F011", "0-100"])
    assert ref.land_use.tolist() == ["F", "F", "F"]
    pd.DataFrame({"pedon_id": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="bad.csv: missing column"):
        raca_stock_reference(tmp_path / "bad.csv")


@pytest.mark.shared_data
@pytest.mark.skipif(
    not (SHARED / "profiles" / "raca_pedon_stocks.csv").exists(),
    reason=f"shared real data not found at {SHARED} (set SOILBINN_SHARED_DATA)",
)
def test_raca_stock_check_meets_targets():
    t = raca_stock_check(SHARED / "profiles").set_index(["interval_cm", "land_use"])
    for iv in ("0-5", "0-30", "0-100"):
        row = t.loc[(iv, "all")]
        assert row.n > 900 and row.missing == 0
        assert row.r >= 0.95, (iv, row.r)
        assert abs(row.median_ratio - 1.0) <= 0.05, (iv, row.median_ratio)


def test_check_stocks_command(folder, capsys):
    from soilbinn.cli import main

    shared = folder.parent / "shared"
    (shared / "profiles").mkdir(parents=True)
    for f in folder.glob("*.csv"):
        (shared / "profiles" / f.name).write_bytes(f.read_bytes())
    # RaCA pedon P1 (id P1 -> "P-1"): lab 1.9 % x BD 1.1 over 0-10 cm
    _raca_stock_csv(shared / "profiles" / "raca_pedon_stocks.csv", ["P-1"],
                    [0.019 * 1.1 * 5 * 100], [0.019 * 1.1 * 10 * 100], [np.nan])  # fmt: skip
    assert main(["prepare", "check-stocks", "--shared", str(shared), "--targets", "source"]) == 0
    out = capsys.readouterr().out
    row = next(line.split() for line in out.splitlines() if line.split()[1:3] == ["0-30", "all"])
    assert row[3] == "1" and float(row[7]) == pytest.approx(1.0)  # n, median ratio
    assert main(["prepare", "check-stocks", "--shared", str(folder / "nowhere")]) == 2
    assert "raca_pedon_stocks.csv" in capsys.readouterr().err
