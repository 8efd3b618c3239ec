"""Identifiability: exact Jacobian (vs finite differences), Laplace posterior, command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from soilbinn.cli import main
from soilbinn.data.schema import forcing_from_dataset, save_dataset
from soilbinn.evaluation.identifiability import (
    PRIOR_VARIANCE,
    identifiability,
    laplace,
    observation_jacobian,
    site_information_r2,
)
from soilbinn.inputs.synth import make_synthetic
from soilbinn.process.model import CLM5Model


@pytest.fixture(scope="module")
def small():
    return make_synthetic(6, seed=4, noise=0.1)


def test_jacobian_matches_central_differences(small):
    model = CLM5Model("binn2025")
    f = model.prepare(forcing_from_dataset(small))
    p = torch.from_numpy(small["true_params"].values.astype(float))
    depth = torch.from_numpy(small["obs_depth"].values.astype(float))
    names = list(model.space.names)
    idx = [names.index(n) for n in ("efolding", "tau4s3", "fs1s3", "q10")]
    J, logsoc = observation_jacobian(model, p, f, depth, idx)
    h = 1e-6
    for k, j in enumerate(idx):
        up, dn = p.clone(), p.clone()
        up[:, j] += h
        dn[:, j] -= h
        _, lu = observation_jacobian(model, up, f, depth, idx)
        _, ld = observation_jacobian(model, dn, f, depth, idx)
        fd = (lu - ld) / (2 * h)
        ok = torch.isfinite(fd)
        np.testing.assert_allclose(J[..., k][ok], fd[ok], rtol=1e-5, atol=1e-7)
    assert (J[~torch.isfinite(depth)] == 0).all()


def test_laplace_reference_values():
    # one site, two parameters, J = diag(a, 0) on two observations
    J = torch.tensor([[[3.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    res = laplace(J, sigma=0.1)
    F = 9.0 / 0.01
    assert res["fisher"][0, 0, 0] == pytest.approx(F)
    assert res["posterior_sd"][0, 0] == pytest.approx((F + 12.0) ** -0.5)
    assert res["posterior_sd"][0, 1] == pytest.approx(PRIOR_VARIANCE**0.5)  # nothing learned
    # perfectly traded-off pair: only the sum is informed, sds stay wide, correlation -> -1
    J = torch.tensor([[[5.0, 5.0]] * 8], dtype=torch.float64)
    res = laplace(J, sigma=0.1)
    assert res["conditional_sd"][0, 0] < 0.01 < 0.2 < res["posterior_sd"][0, 0]
    assert res["correlation"][0, 0, 1] < -0.99


def test_saturated_w_scaling_is_not_constrained(small):
    ds = small.copy(deep=True)
    ds["true_params"].values[:, list(ds["param"].values).index("w_scaling")] = 1.0  # W*5 >= 1
    ident = identifiability(ds, learned=["efolding", "w_scaling"])
    w = ds["water_scalar"].values
    sat = (w * 5.0 >= 1).all(axis=(1, 2))
    assert sat.any()
    sd = ident["posterior_sd"].sel(param="w_scaling").values
    np.testing.assert_allclose(sd[sat], PRIOR_VARIANCE**0.5, rtol=1e-12)
    assert (ident["constrained"].sel(param="w_scaling").values[sat] == 0).all()


def test_command_writes_netcdf_and_figure(small, tmp_path, capsys):
    data = tmp_path / "d.nc"
    save_dataset(small, data)
    out = tmp_path / "ident.nc"
    args = ["identifiability", str(data), "--learned", "efolding,tau4s3", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "site_information_r2" in printed
    with xr.open_dataset(out) as r:
        assert list(r["param"].values) == ["efolding", "tau4s3"]
        assert r["fisher"].dims == ("site", "param", "param2")
        # the stored Fisher information is the posterior precision minus the prior's
        cov = (
            r["correlation"].values
            * r["posterior_sd"].values[:, :, None]
            * r["posterior_sd"].values[:, None, :]
        )
        np.testing.assert_allclose(
            np.linalg.inv(cov), r["fisher"].values + 12.0 * np.eye(2), rtol=1e-6, atol=1e-6
        )
        assert r["posterior_sd"].attrs["units"] == "1"
        assert ((r["posterior_sd"] > 0) & (r["posterior_sd"] <= PRIOR_VARIANCE**0.5 + 1e-12)).all()
    assert out.with_suffix(".png").exists()
    assert main(args) == 1 and "exists" in capsys.readouterr().err  # never overwritten
    bad = ["identifiability", str(data), "--learned", "nope", "--out", str(tmp_path / "x.nc")]
    assert main(bad) == 1
    assert "nope" in capsys.readouterr().err


def test_site_information_r2_is_the_r2_of_each_sites_posterior_mean():
    """Monte Carlo in a linear-Gaussian world: parameters drawn from the population prior,
    three noisy observations per site with site-specific sensitivities (one site type only
    sees the sum of the two parameters); the R2 of the exact posterior means must match."""
    rng = np.random.default_rng(3)
    n, sigma = 20000, 0.1
    mean, var = np.array([0.5, 0.4]), np.array([0.04, 0.02])
    theta = mean + rng.normal(size=(n, 2)) * np.sqrt(var)
    J = rng.normal(size=(n, 3, 2)) * rng.uniform(0.0, 0.3, size=(n, 1, 1))
    J[: n // 3] = rng.uniform(0.1, 0.5, size=(n // 3, 1, 1)) * np.ones((1, 3, 2))  # sum only
    y = np.einsum("nok,nk->no", J, theta) + sigma * rng.normal(size=(n, 3))
    F = np.einsum("nok,noj->nkj", J, J) / sigma**2
    C = np.linalg.inv(F + np.diag(1.0 / var))
    resid = y - np.einsum("nok,k->no", J, mean)
    post = mean + np.einsum("nkj,noj,no->nk", C, J, resid) / sigma**2
    r2 = 1.0 - ((post - theta) ** 2).mean(0) / var
    expected = site_information_r2(F, var)
    assert 0.1 < expected.min() and expected.max() < 0.9  # neither trivial nor perfect
    np.testing.assert_allclose(expected, r2, atol=0.02)
    # no information: nothing resolved; no spread: undefined
    assert np.allclose(site_information_r2(np.zeros((5, 2, 2)), var), 0.0)
    assert np.isnan(site_information_r2(F[:10], np.array([0.0, 0.02]))[0])
