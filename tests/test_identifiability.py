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
    holed = small.copy(deep=True)
    holed["true_params"].values[2, 0] = np.nan
    save_dataset(holed, tmp_path / "holed.nc")
    assert (
        main(["identifiability", str(tmp_path / "holed.nc"), "--out", str(tmp_path / "h.nc")]) == 1
    )
    err = capsys.readouterr().err
    assert "true_params" in err and str(small["site"].values[2]) in err and "Traceback" not in err
    out2 = tmp_path / "ident2.nc"
    args = ["identifiability", str(data), "--learned", "efolding,tau4s3", "--out", str(out2)]
    assert main([*args, "--profile", "2"]) == 2 and "--profile" in capsys.readouterr().err
    assert main([*args, "--profile", "4"]) == 0
    assert "fraction_constrained_global" in capsys.readouterr().out
    with xr.open_dataset(out2) as r:
        assert r["profile_chi2"].dims == ("site", "param", "grid") and r.sizes["grid"] == 4
        assert (r["constrained_global"] <= r["constrained"]).all()
        value = small["true_params"].sel(param=["efolding", "tau4s3"]).values
        assert (r["profile_lower"].values <= value).all() and (value <= r["profile_upper"]).all()
        inside = r["profile_chi2"].values < 3.84
        grid = r["grid"].values
        assert (np.where(inside, grid, 2.0).min(-1) >= r["profile_lower"].values - 1e-12).all()


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


def _prepared(ds):
    model = CLM5Model("binn2025")
    f = model.prepare(forcing_from_dataset(ds))
    p = torch.from_numpy(ds["true_params"].values.astype(float))
    depth = torch.from_numpy(ds["obs_depth"].values.astype(float))
    return model, f, p, depth, list(model.space.names)


def test_profile_is_the_minimum_over_the_other_parameters(small):
    """The profile at a grid value is below the misfit with the others at the truth (the
    fit can only improve on its start), zero where the grid value is the site's own, and
    no worse than a multi-start bounded least-squares fit (scipy) of the others."""
    from scipy.optimize import least_squares

    from soilbinn.evaluation.identifiability import profile_chi2

    ds = small.copy(deep=True)
    names = list(ds["param"].values)
    ds["true_params"].values[:, names.index("efolding")] = 0.5
    model, f, p, depth, names = _prepared(ds)
    idx = [names.index(n) for n in ("efolding", "tau4s3", "fs1s3")]
    grid = [0.1, 0.3, 0.5, 0.7, 0.9]
    prof = profile_chi2(model, p, f, depth, idx, grid, 0.1).numpy()
    assert prof.shape == (len(p), 3, 5)
    np.testing.assert_array_less(prof[:, 0, 2], 1e-6)  # efolding at its own value
    _, y = observation_jacobian(model, p, f, depth, [])
    ok = torch.isfinite(y)
    for g, gv in enumerate(grid):  # the others at the truth
        q = p.clone()
        q[:, idx[0]] = gv
        _, ls = observation_jacobian(model, q, f, depth, [])
        cond = (torch.where(ok, ls - y, 0.0) ** 2).sum(1).numpy() / 0.01
        assert (prof[:, 0, g] <= cond + 1e-9).all()
    site, g = 0, 0  # efolding far from its value: compare with scipy from several starts
    f0, d0, y0, ok0 = f.select([site]), depth[[site]], y[[site]], ok[[site]]

    def resid(x):
        q = p[[site]].clone()
        q[0, idx[0]] = grid[g]
        q[0, idx[1:]] = torch.from_numpy(x)
        _, ls = observation_jacobian(model, q, f0, d0, [])
        return ((ls - y0)[ok0] / 0.1).numpy()

    starts = [p[site, idx[1:]].numpy(), np.full(2, 0.5), np.array([0.2, 0.8]), np.array([0.8, 0.2])]
    best = min(
        float((least_squares(resid, x0, bounds=(1e-4, 1 - 1e-4), diff_step=1e-7).fun ** 2).sum())
        for x0 in starts
    )
    assert best > 0.5  # a real trade-off to fit, not a flat direction
    assert prof[site, 0, g] <= best * 1.02 + 1e-6


def test_profile_is_flat_exactly_on_the_saturated_plateau(small):
    """Where W w_scaling >= 1 in every (layer, month) the SOC does not depend on
    w_scaling, so its profile is zero at every grid value on that plateau; below it the
    water scalar limits decomposition and the misfit rises."""
    from soilbinn.evaluation.identifiability import profile_chi2

    ds = small.copy(deep=True)
    names = list(ds["param"].values)
    ds["true_params"].values[:, names.index("w_scaling")] = 0.95
    model, f, p, depth, names = _prepared(ds)
    idx = [names.index(n) for n in ("w_scaling", "efolding")]
    grid = np.linspace(0.05, 0.95, 7)
    prof = profile_chi2(model, p, f, depth, idx, grid, 0.1).numpy()
    wmin = ds["water_scalar"].values.reshape(len(p), -1).min(1)
    plateau = grid[None, :] * 5.0 * wmin[:, None] >= 1.0  # w_scaling = 5 u (binn2025)
    assert plateau.sum() >= 3 and (~plateau).sum() >= 3
    np.testing.assert_array_less(prof[:, 0][plateau], 1e-10)
    assert (prof[:, 0][~plateau] > 1e-6).mean() > 0.8


def test_command_takes_parameters_from_a_prediction_file(small, tmp_path, capsys):
    """--params-from: the parameters of another file (e.g. `soilbinn predict`'s output),
    matched by site id whatever their order; a site it lacks is one clear line."""
    data = tmp_path / "d.nc"
    save_dataset(small, data)
    moved = small["true_params"].values.copy()
    moved[:, :] = np.clip(moved + 0.1, 0.0, 1.0)
    pred = xr.Dataset({"params": (("site", "param"), moved)},
                      coords={"site": small["site"].values, "param": small["param"].values})  # fmt: skip
    pred.isel(site=slice(None, None, -1)).to_netcdf(tmp_path / "pred.nc")
    out = tmp_path / "id.nc"
    args = ["identifiability", str(data), "--learned", "efolding,tau4s3", "--out", str(out)]
    assert main([*args, "--params-from", str(tmp_path / "pred.nc")]) == 0
    direct = small.assign(true_params=(("site", "param"), moved))
    expect = identifiability(direct, learned=["efolding", "tau4s3"])
    with xr.open_dataset(out) as r:
        np.testing.assert_allclose(r["posterior_sd"].values, expect["posterior_sd"].values,
                                   rtol=1e-10)  # fmt: skip
        at_truth = identifiability(small, learned=["efolding", "tau4s3"])
        assert not np.allclose(r["posterior_sd"].values, at_truth["posterior_sd"].values)
    sub = tmp_path / "sub.nc"  # a subsample: the same values at the sites it keeps
    assert main([*args[:-1], str(sub), "--params-from", str(tmp_path / "pred.nc"),
                 "--max-sites", "4"]) == 0  # fmt: skip
    with xr.open_dataset(sub) as r:
        assert r.sizes["site"] == 4
        np.testing.assert_allclose(
            r["posterior_sd"].values,
            expect["posterior_sd"].sel(site=r["site"].values).values, rtol=1e-10)  # fmt: skip
    bare = tmp_path / "bare.nc"  # observations without parameters of their own
    save_dataset(small.drop_vars(["true_params", "params"]).drop_dims("param"), bare)
    out3 = tmp_path / "id3.nc"
    assert main(["identifiability", str(bare), "--learned", "efolding,tau4s3", "--out", str(out3),
                 "--params-from", str(tmp_path / "pred.nc")]) == 0  # fmt: skip
    with xr.open_dataset(out3) as r:
        np.testing.assert_allclose(r["posterior_sd"].values, expect["posterior_sd"].values,
                                   rtol=1e-10)  # fmt: skip
    pred.isel(site=slice(1, None)).to_netcdf(tmp_path / "short.nc")
    out2 = str(tmp_path / "id2.nc")
    assert main([*args[:-1], out2, "--params-from", str(tmp_path / "short.nc")]) == 1
    err = capsys.readouterr().err
    assert "short.nc" in err and "missing" in err and str(small["site"].values[0]) in err


def test_distant_chi2_includes_the_boundary_of_distant(small):
    """distant_chi2 is the profile's minimum over the grid values farther than 2 threshold
    and the two values at exactly that distance (inside the unit box), so a coarse grid
    cannot skip the nearest distant values, where the profile is usually lowest."""
    from soilbinn.evaluation.identifiability import profile_chi2

    learned = ["efolding", "tau4s3"]
    ident = identifiability(small, learned=learned, profile=4)
    model, f, p, depth, names = _prepared(small)
    idx = [names.index(n) for n in learned]
    v = p[:, idx]
    edge = profile_chi2(model, p, f, depth, idx, torch.stack([v - 0.2, v + 0.2], -1), 0.1)
    grid = ident["grid"].values
    far = np.abs(grid[None, None, :] - v.numpy()[:, :, None]) > 0.2
    on_grid = np.where(far, ident["profile_chi2"].values, np.inf).min(-1)
    inside = torch.stack([v - 0.2 >= 0, v + 0.2 <= 1], -1).numpy()
    at_edge = np.where(inside, edge.numpy(), np.inf).min(-1)
    np.testing.assert_allclose(ident["distant_chi2"].values, np.minimum(on_grid, at_edge),
                               rtol=1e-9)  # fmt: skip
    assert (at_edge < on_grid).any()  # the boundary matters on this data
