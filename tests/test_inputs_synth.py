"""Synthetic generator: determinism, truth reproducibility, plausibility, grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soilbinn.data.schema import forcing_from_dataset, validate_dataset
from soilbinn.inputs.regions import is_conus_land
from soilbinn.inputs.synth import (
    TRUTH_FUNCTIONS,
    make_synthetic,
    make_synthetic_grid,
    observation_horizons,
    standardised,
    true_parameters,
    truth_offsets,
)
from soilbinn.process.grid import NO_PERMAFROST_ALT
from soilbinn.process.parameters import PARAM_NAMES, ParameterSpace

ALL = ("forcing", "observations", "covariates", "params")


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(120, seed=11, noise=0.1)


def test_valid_full_schema(ds):
    assert validate_dataset(ds, ALL) == []
    for v in (
        "true_params",
        "params",
        "soc",
        "soc_true",
        "obs_top",
        "obs_bottom",
        "soc_layer_true",
    ):
        assert v in ds


def test_determinism():
    a = make_synthetic(25, seed=5, noise=0.2)
    b = make_synthetic(25, seed=5, noise=0.2)
    c = make_synthetic(25, seed=6, noise=0.2)
    for v in (
        "lat",
        "soc",
        "true_params",
        "soil_temperature",
        "covariates",
        "categories",
        "obs_depth",
    ):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert not np.allclose(a["lat"].values, c["lat"].values)


def test_truth_reproducible(ds):
    """Simulating the stored true parameters with the stored forcing reproduces soc_true."""
    from soilbinn.process.model import CLM5Model
    from soilbinn.process.observation import interpolate_to_depths

    model = CLM5Model(preset=ds["true_params"].attrs["preset"], transport="clm5")
    p = torch.from_numpy(ds["true_params"].values.astype(np.float64))
    layer = model(p, forcing_from_dataset(ds))["soc_layer"]
    depth = torch.from_numpy(ds["obs_depth"].values.astype(np.float64))
    soc = interpolate_to_depths(layer, depth, method="linear").numpy()
    np.testing.assert_allclose(soc, ds["soc_true"].values, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(layer.numpy(), ds["soc_layer_true"].values, rtol=1e-9)


def test_noise_is_lognormal_with_sigma():
    d = make_synthetic(300, seed=2, noise=0.3)
    r = np.log(d["soc"].values / d["soc_true"].values)
    r = r[np.isfinite(r)]
    assert abs(r.std() - 0.3) < 0.02 and abs(r.mean()) < 0.02
    d0 = make_synthetic(20, seed=2, noise=0.0)
    np.testing.assert_array_equal(d0["soc"].values, d0["soc_true"].values)


def test_truth_is_the_documented_function(ds):
    f = {
        n: ds["covariates"].sel(covariate=n).values.astype(np.float64)
        for n in ds["covariate"].values
    }
    z = standardised(f)
    off = truth_offsets(11)
    i = PARAM_NAMES.index("q10")
    expect = 0.15 + 0.7 / (1 + np.exp(-(TRUTH_FUNCTIONS["q10"][1](z) + off[i])))
    # covariates are stored in float32, so agreement is to float32 precision
    np.testing.assert_allclose(ds["true_params"].values[:, i], expect, atol=1e-5)
    assert "function_q10" in ds["true_params"].attrs


def test_truth_away_from_bounds(ds):
    p = ds["true_params"].values
    assert p.min() >= 0.15 and p.max() <= 0.85
    efold = ParameterSpace.from_preset("binn2025").to_physical(torch.from_numpy(p))[:, 3]
    assert float(efold.min()) >= 0.37
    # parameters do vary across sites (something to learn)
    assert (p.std(axis=0) > 0.02).all()


def test_sites_on_conus_land(ds):
    assert is_conus_land(ds["lat"].values, ds["lon"].values).all()
    assert ds["lat"].values.min() > 24 and ds["lat"].values.max() < 50


def test_plausible_forcing_and_covariates(ds):
    t = ds["soil_temperature"].values - 273.15
    amp_top = (t[:, 0].max(axis=1) - t[:, 0].min(axis=1)) / 2
    amp_deep = (t[:, 15].max(axis=1) - t[:, 15].min(axis=1)) / 2
    assert (amp_deep < amp_top).all()  # damping with depth
    assert (t[:, 0].argmax(axis=1) + 1 >= 6).all() and (t[:, 0].argmax(axis=1) + 1 <= 8).all()
    assert -15 < t.mean() < 30
    w = ds["water_scalar"].values
    assert w.min() >= 0.2 and w.max() <= 1.0
    nb = ds["nbedrock"].values
    assert nb.min() >= 5 and nb.max() <= 20 and np.mean(nb == 20) > 0.3
    assert np.mean(ds["altmax"].values[:, 0] == np.float32(NO_PERMAFROST_ALT)) > 0.9
    inputs = sum(
        ds[v].values.sum(axis=1)
        for v in ("input_cwd", "input_litter1", "input_litter2", "input_litter3")
    )
    npp = ds["covariates"].sel(covariate="npp").values
    np.testing.assert_allclose(inputs, npp, rtol=1e-5)
    assert 100 < np.median(npp) < 900
    cov = {n: ds["covariates"].sel(covariate=n).values for n in ds["covariate"].values}
    np.testing.assert_allclose(cov["clay"] + cov["sand"] + cov["silt"], 100, rtol=1e-5)


def test_observation_depths(ds):
    d, top, bot = (ds[v].values for v in ("obs_depth", "obs_top", "obs_bottom"))
    n_obs = np.isfinite(d).sum(axis=1)
    assert n_obs.min() >= 3 and n_obs.max() <= 12
    np.testing.assert_allclose(d, (top + bot) / 2, atol=1e-3)
    np.testing.assert_allclose(top[:, 0], 0.0)
    deepest = np.nanmax(bot, axis=1)
    assert deepest.max() <= 2.01 and np.median(deepest) > 1.0
    thick = bot - top
    assert np.nanmin(thick) >= 0.045 and np.nanmax(thick) <= 0.45
    soc = ds["soc_true"].values
    assert np.nanmedian(soc[:, 0]) > np.nanmedian(soc[:, 3])  # SOC decreases with depth
    assert 5e3 < np.nanmedian(soc[:, 0]) < 2e5  # 0.5-15 % SOC at bulk density ~1.3


def test_horizons_respect_shallow_bedrock():
    top, bot = observation_horizons(np.array([5, 20, 7]), np.random.default_rng(0))
    assert np.nanmax(bot[0]) <= 0.32 + 1e-9 and np.nanmax(bot[2]) <= 0.68 + 1e-9


def test_grid_matches_site_fields():
    g = make_synthetic_grid(2.0, seed=11)
    assert validate_dataset(g, ("forcing", "covariates")) == []
    assert "soc" not in g and g.attrs["grid_resolution_deg"] == 2.0
    i, j = g["grid_i"].values, g["grid_j"].values
    np.testing.assert_allclose(g["lat"].values, g.attrs["grid_lat0"] + 2.0 * i)
    np.testing.assert_allclose(g["lon"].values, g.attrs["grid_lon0"] + 2.0 * j)
    # same seed -> same truth function at the same location
    f = {
        n: g["covariates"].sel(covariate=n).values.astype(np.float64) for n in g["covariate"].values
    }
    np.testing.assert_allclose(true_parameters(f, 11), g["true_params"].values, atol=1e-5)
    assert 150 < g.sizes["site"] < 260  # CONUS is ~8e6 km2, ~200 cells of 2 deg


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_sites"):
        make_synthetic(0)
    with pytest.raises(ValueError, match="noise"):
        make_synthetic(5, noise=-1)
    with pytest.raises(ValueError, match="preset"):
        make_synthetic(5, preset="nope", simulate=False)
