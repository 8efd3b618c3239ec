"""Profile harmonisation on tiny hand-made CSVs (no shared data needed)."""

import numpy as np
import pandas as pd
import pytest

from soilbinn.inputs.profiles import adams_bulk_density, harmonise_profiles, soc_density

SODAH_COLS = ["source", "profile_id", "lat", "lon", "top_m", "bot_m", "soc_pct", "soc_var",
              "bd_g_cm3", "land_cover", "network", "site_code", "hzn", "conus"]  # fmt: skip


def test_adams_hand_values():
    # SOC 1 %: OM 1.724 %, BD = 100 / (1.724/0.244 + 98.276/1.64) = 1.49276
    np.testing.assert_allclose(adams_bulk_density(np.array([0.0, 1.0, 100 / 1.724])),
                               [1.64, 1.49276, 0.244], atol=1e-5)  # fmt: skip


def test_soc_density_hand_value():
    assert soc_density(2.0, 1.2, 10.0) == pytest.approx(0.02 * 1.2e6 * 0.9)


@pytest.fixture
def folder(tmp_path):
    s = [
        # two profiles at one location (treatments / years): composited by median
        ("SoDaH", "S1", 45.0, -93.0, 0.0, 0.1, 2.0, "x", 1.0, "forest", "LTER", "A", "A", True),
        ("SoDaH", "S1", 45.0, -93.0, 0.0, 0.1, 4.0, "x", 1.0, "forest", "LTER", "A", "A", True),
        ("SoDaH", "S2", 45.0, -93.0, 0.0, 0.1, 5.0, "x", 1.0, "forest", "LTER", "A", "A", True),
        (
            "SoDaH",
            "S1",
            45.0,
            -93.0,
            -0.05,
            0.0,
            30.0,
            "x",
            np.nan,
            "forest",
            "LTER",
            "A",
            "Oi",
            True,
        ),
        ("SoDaH", "S2", 45.0, -93.0, 0.1, 0.3, 1.0, "x", np.nan, "forest", "LTER", "A", "B", True),
        # SoDaH copy of a NEON profile: dropped
        ("SoDaH", "S3", 40.1234, -100.5, 0.0, 0.2, 1.0, "x", 1.3, "", "NEON", "N", "A", True),
        # outside CONUS
        ("SoDaH", "S4", 60.0, -150.0, 0.0, 0.2, 1.0, "x", 1.3, "", "LTER", "B", "A", False),
    ]
    pd.DataFrame(s, columns=SODAH_COLS).to_csv(tmp_path / "sodah_layers.csv", index=False)
    pd.DataFrame({
        "source": "NEON", "profile_id": "NEON_X_1", "site_code": "X", "lat": 40.1234,
        "lon": -100.5, "top_m": [0.0, 0.05, 0.2], "bot_m": [0.05, 0.2, 0.5],
        "hzn": ["Oe", "A", "Bw"], "soc_pct": [40.0, 2.0, 0.5], "soc_var": "e",
        "bd_g_cm3": [np.nan, 1.0, np.nan], "coarse_frag_pct": [0.0, 50.0, 0.0], "conus": True,
    }).to_csv(tmp_path / "neon_layers.csv", index=False)  # fmt: skip
    pd.DataFrame({
        "source": "RaCA", "profile_id": ["RACA_P1", "RACA_P1", "RACA_P2"], "site_id": "C0101F01",
        "lat": 47.0, "lon": -122.0, "top_m": [0.0, 0.1, 0.0], "bot_m": [0.1, 0.3, 0.2],
        "soc_pct": [3.0, 0.0, 1.0], "soc_var": "p", "bd_g_cm3": [1.1, 1.2, 1.3],
        "fragvol_pct": [0.0, 0.0, 95.0], "texture": "l", "land_use": 1, "conus": True,
    }).to_csv(tmp_path / "raca_layers_west.csv", index=False)  # fmt: skip
    return tmp_path


def test_harmonise_rules(folder):
    h = harmonise_profiles(folder)
    rep = h.report
    assert rep["dropped_layers"]["outside CONUS"] == 1
    assert rep["dropped_layers"]["SoDaH NEON layer duplicating neon_layers.csv"] == 1
    assert rep["dropped_layers"]["above the mineral surface (negative depth)"] == 1
    assert rep["dropped_layers"]["organic horizon (O/L)"] == 1
    assert rep["dropped_layers"]["SOC <= 0 % (below detection or missing)"] == 1
    assert rep["dropped_layers"]["coarse fragments >= 90 %"] == 1
    # sites: one SoDaH composite, one NEON profile, one RaCA pedon (P2 lost all layers)
    assert sorted(h.sites.index) == ["neon_X_1", "raca_P1", "sodah_45.0_-93.0"]
    assert h.sites.loc["sodah_45.0_-93.0", "n_profiles"] == 2
    lay = h.layers.set_index(["site", "top_m"])
    # S1 replicates averaged (3 %), S2 5 % -> median of the two profiles = 4 % at BD 1.0
    assert lay.loc[("sodah_45.0_-93.0", 0.0), "soc_g_m3"] == pytest.approx(0.04 * 1.0e6)
    # missing BD filled with Adams
    assert lay.loc[("sodah_45.0_-93.0", 0.1), "soc_g_m3"] == pytest.approx(
        0.01 * 1.49276e6, rel=1e-5
    )
    assert lay.loc[("sodah_45.0_-93.0", 0.1), "depth_m"] == pytest.approx(0.2)
    # NEON: coarse fragments applied, organic Oe dropped
    assert lay.loc[("neon_X_1", 0.05), "soc_g_m3"] == pytest.approx(0.02 * 1.0e6 * 0.5)
    assert ("neon_X_1", 0.0) not in lay.index
    assert rep["kept"]["layers"] == 5
    assert h.sites.loc["raca_P1", "land_use"] == "f"


def test_harmonise_subset_and_bad_option(folder):
    h = harmonise_profiles(folder, max_profiles=1, seed=3)
    assert len(h.sites) == 1 and set(h.layers.site) == set(h.sites.index)
    with pytest.raises(ValueError, match="raca"):
        harmonise_profiles(folder, raca="bogus")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="sodah_layers.csv"):
        harmonise_profiles(tmp_path)
