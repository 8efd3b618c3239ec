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
    with xr.open_dataset(out) as r:
        assert list(r["param"].values) == ["efolding", "tau4s3"]
        assert r["posterior_sd"].attrs["units"] == "1"
        assert ((r["posterior_sd"] > 0) & (r["posterior_sd"] <= PRIOR_VARIANCE**0.5 + 1e-12)).all()
    assert out.with_suffix(".png").exists()
    assert main(args) == 1 and "exists" in capsys.readouterr().err  # never overwritten
    bad = ["identifiability", str(data), "--learned", "nope", "--out", str(tmp_path / "x.nc")]
    assert main(bad) == 1
    assert "nope" in capsys.readouterr().err
