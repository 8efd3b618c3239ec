"""Importers: profile CSV unit conversions and covariate tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soilbinn.data.schema import covariates_from_dataset, validate_dataset
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
