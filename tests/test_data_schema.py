"""Dataset schema: round trip, every validation error path, tensor extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soilbinn.data.schema import (
    DatasetError,
    covariates_from_dataset,
    forcing_from_dataset,
    load_dataset,
    normalize_units,
    observations_from_dataset,
    params_from_dataset,
    save_dataset,
    validate_dataset,
)
from soilbinn.inputs.synth import make_synthetic

ALL = ("forcing", "observations", "covariates", "params")


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(30, seed=3, simulate=True)


def _problems(ds, require=ALL):
    return "\n".join(validate_dataset(ds, require))


def test_valid_and_round_trip(ds, tmp_path):
    assert validate_dataset(ds, ALL) == []
    path = save_dataset(ds, tmp_path / "d.nc")
    back = load_dataset(path, require=ALL)
    for name in ("soc", "soc_true", "obs_depth", "true_params", "soil_temperature", "covariates"):
        np.testing.assert_array_equal(back[name].values, ds[name].values)
    np.testing.assert_array_equal(back["categories"].values, ds["categories"].values)
    assert list(back["site"].values) == list(ds["site"].values)
    assert back["soc"].attrs["units"] == "g m-3"
    assert (
        back["categories"].attrs["flag_meanings_land_cover"]
        == ds["categories"].attrs["flag_meanings_land_cover"]
    )
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temp file


def test_tensors(ds):
    f = forcing_from_dataset(ds)
    n = ds.sizes["site"]
    assert f.soil_temperature.shape == (n, 20, 12) and f.soil_temperature.dtype == torch.float64
    assert f.nbedrock.shape == (n, 12) and f.nbedrock.dtype == torch.int64
    monthly = sum(ds[v].values.astype(np.float64) for v in ("input_litter1",)).sum(axis=1)
    np.testing.assert_allclose(f.litter_input[:, 1].numpy(), monthly)
    f.validate()
    soc, depth = observations_from_dataset(ds)
    assert soc.shape == depth.shape == (n, ds.sizes["obs"])
    assert torch.equal(torch.isnan(soc), torch.isnan(depth))
    cov = covariates_from_dataset(ds)
    assert cov.numeric.dtype == torch.float32 and cov.numeric.shape == (n, len(cov.numeric_names))
    assert cov.categorical.dtype == torch.int64
    assert cov.categorical_names == ["land_cover", "texture_class", "climate_zone"]
    assert cov.n_categories == [5, 6, 5]
    assert int(cov.categorical.max()) < max(cov.n_categories)
    p = params_from_dataset(ds, "true_params")
    assert p.shape == (n, 21)


@pytest.mark.parametrize("alias", ["g m-3", "gC m-3", "g/m3", "g C m-3", " gC  m-3 "])
def test_unit_aliases(alias):
    assert normalize_units(alias) == "g m-3"


def test_unit_rejections():
    assert normalize_units("kg m-3") is None
    assert normalize_units("k") is None  # kelvin must be K
    assert normalize_units("K") == "K"


def _break(ds, fn):
    bad = ds.copy(deep=True)
    fn(bad)
    return bad


def test_missing_variable(ds):
    text = _problems(ds.drop_vars("water_scalar"))
    assert "water_scalar: missing" in text
    text = _problems(ds.drop_vars(["soc"]))
    assert "soc: missing" in text
    text = _problems(ds.drop_vars(["covariates", "categories"]))
    assert "covariates: missing" in text
    text = _problems(ds.drop_vars(["params"]))
    assert "params: missing" in text


def test_wrong_units(ds):
    bad = _break(ds, lambda d: d["soil_temperature"].attrs.update(units="degC"))
    assert "soil_temperature: units 'degC' not accepted" in _problems(bad)
    bad = _break(ds, lambda d: d["soc"].attrs.update(units="%"))
    assert "soc: units '%' not accepted" in _problems(bad)


def test_wrong_dims(ds):
    bad = ds.copy()
    bad["altmax"] = (("site", "layer"), np.full((ds.sizes["site"], 20), 40.0), {"units": "m"})
    assert "altmax: has dims ('site', 'layer')" in _problems(bad)


def test_nan_and_range_name_sites(ds):
    sid = str(ds["site"].values[4])

    def nan_forcing(d):
        d["oxygen_scalar"].values[4, 3, 2] = np.nan

    assert f"oxygen_scalar: missing (NaN/inf) values at 1 site(s): {sid}" in _problems(
        _break(ds, nan_forcing)
    )

    def too_big(d):
        d["water_scalar"].values[4, 0, 0] = 1.5

    assert "water_scalar: values outside [0, 1]" in _problems(_break(ds, too_big))

    def bad_bedrock(d):
        d["nbedrock"].values[4] = 0

    assert "nbedrock: values outside [1, 20]" in _problems(_break(ds, bad_bedrock))
    assert sid in _problems(_break(ds, bad_bedrock))

    def celsius(d):
        d["soil_temperature"].values[4] -= 273.15

    assert "soil_temperature: values outside [150, 350]" in _problems(_break(ds, celsius))

    def neg_input(d):
        d["input_cwd"].values[4, 0] = -1

    assert "input_cwd: values outside" in _problems(_break(ds, neg_input))


def test_observation_checks(ds):
    sid = str(ds["site"].values[2])

    def too_deep(d):
        d["obs_depth"].values[2, 0] = 9.0

    assert "obs_depth: values outside [0, 8.6]" in _problems(_break(ds, too_deep))

    def zero(d):
        d["obs_depth"].values[2, 0] = 0.0

    assert "obs_depth: depths must be > 0 m" in _problems(_break(ds, zero))

    def negative(d):
        d["soc"].values[2, 0] = -5.0

    assert "soc: values outside [0, inf]" in _problems(_break(ds, negative))

    def orphan(d):
        d["obs_depth"].values[2, 0] = np.nan

    text = _problems(_break(ds, orphan))
    assert f"soc: values without an obs_depth at 1 site(s): {sid}" in text

    def empty(d):
        d["soc"].values[2, :] = np.nan

    assert f"soc: no valid observation at 1 site(s): {sid}" in _problems(_break(ds, empty))

    def outside_horizon(d):
        d["obs_top"].values[2, 0] = d["obs_bottom"].values[2, 0] + 0.1

    assert "obs_top/obs_bottom: horizon with top >= bottom" in _problems(
        _break(ds, outside_horizon)
    )


def test_duplicate_sites_and_coords(ds):
    ids = ds["site"].values.copy()
    ids[1] = ids[0]
    bad = ds.assign_coords(site=ids)
    assert f"site: 1 duplicate site id(s): {ids[0]}" in _problems(bad)
    bad = _break(ds, lambda d: d["lat"].values.__setitem__(0, 95.0))
    assert "lat: missing or outside [-90, 90]" in _problems(bad)
    bad = ds.drop_vars("lon")
    assert "lon: missing" in _problems(bad)


def test_dimension_size(ds):
    bad = ds.isel(layer=slice(0, 19))
    assert "dimension 'layer' has size 19; expected 20" in _problems(bad)


def test_covariate_and_category_checks(ds):
    def nan_cov(d):
        d["covariates"].values[5, 1] = np.nan

    assert "covariates: 'mat' is missing (NaN)" in _problems(_break(ds, nan_cov))

    def bad_code(d):
        d["categories"].values[5, 0] = 9

    assert "categories: 'land_cover' has codes outside -1..4" in _problems(_break(ds, bad_code))

    def no_flags(d):
        del d["categories"].attrs["flag_meanings_texture_class"]

    assert "flag_meanings_texture_class missing" in _problems(_break(ds, no_flags))


def test_param_checks(ds):
    def outside(d):
        d["params"].values[7, 3] = 1.2

    assert "params: efolding missing or outside the unit scale [0, 1]" in _problems(
        _break(ds, outside)
    )
    bad = _break(ds, lambda d: d["params"].attrs.update(preset="nope"))
    assert "attribute preset='nope' unknown" in _problems(bad)
    bad = ds.assign_coords(param=[f"p{i}" for i in range(21)])
    assert "param: names" in _problems(bad)


def test_load_raises_with_every_problem(ds, tmp_path):
    def two(d):
        d["soil_temperature"].attrs["units"] = "C"
        d["water_scalar"].values[0] = 2.0

    path = save_dataset(_break(ds, two), tmp_path / "bad.nc")
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    assert len(err.value.problems) == 2 and str(path) in str(err.value)
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "nope.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(DatasetError, match="cannot read as NetCDF"):
        load_dataset(tmp_path / "junk.nc")


def test_unknown_part(ds):
    with pytest.raises(ValueError, match="unknown dataset part"):
        validate_dataset(ds, ("forcings",))
