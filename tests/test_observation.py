"""Observation operator: linear and pchip interpolation to observed depths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import PchipInterpolator

from soilbinn.process import grid
from soilbinn.process.observation import ObservationDepthError, interpolate_to_depths

Z = np.asarray(grid.ZSOI)


def _profiles(n=5, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(5e3, 5e4, (n, 1)) * np.exp(-Z[None] / rng.uniform(0.2, 2, (n, 1)))
    return base * rng.uniform(0.8, 1.2, (n, 20))  # non-monotone wiggles


def test_linear_matches_numpy_and_holds_ends():
    soc = _profiles()
    depths = np.array([[0.0, 0.005, 0.01, 0.025, 0.3, 1.0, 7.0, 8.03, 8.5, np.nan]] * 5)
    out = interpolate_to_depths(torch.tensor(soc), torch.tensor(depths)).numpy()
    for i in range(5):
        ref = np.interp(depths[i], Z, soc[i])  # numpy holds ends constant too
        np.testing.assert_allclose(out[i, :-1], ref[:-1], rtol=1e-13)
        assert np.isnan(out[i, -1])


def test_pchip_matches_scipy_inside_the_grid():
    soc = _profiles(seed=1)
    depths = np.tile(np.linspace(0.01, 8.03, 57), (5, 1))
    out = interpolate_to_depths(torch.tensor(soc), torch.tensor(depths), method="pchip").numpy()
    for i in range(5):
        np.testing.assert_allclose(out[i], PchipInterpolator(Z, soc[i])(depths[i]), rtol=1e-12)


def test_interpolation_at_nodes_is_exact():
    soc = _profiles(seed=2)
    nodes = torch.tensor(np.tile(Z, (5, 1)))
    for method in ("linear", "pchip"):
        out = interpolate_to_depths(torch.tensor(soc), nodes, method=method)
        np.testing.assert_allclose(out.numpy(), soc, rtol=1e-13)


def test_depth_below_grid_is_an_error():
    soc = torch.tensor(_profiles(2))
    depths = torch.tensor([[0.1, np.nan], [0.2, 9.5]])
    with pytest.raises(ObservationDepthError, match="P2"):
        interpolate_to_depths(soc, depths, site_ids=["P1", "P2"])
    with pytest.raises(ObservationDepthError):
        interpolate_to_depths(soc, torch.tensor([[-0.1, 0.2], [0.1, 0.2]]))


def test_unknown_method():
    with pytest.raises(ValueError, match="interpolation"):
        interpolate_to_depths(torch.zeros(1, 20), torch.zeros(1, 1) + 0.1, method="cubic")


@pytest.mark.parametrize("method", ["linear", "pchip"])
def test_gradient(method):
    soc = torch.tensor(_profiles(2, seed=3)).requires_grad_()
    depths = torch.tensor([[0.03, 0.7, np.nan], [0.2, 1.9, 4.4]], dtype=torch.float64)

    def fn(s):
        out = interpolate_to_depths(s, depths, method=method)
        return torch.nan_to_num(out, nan=0.0)

    assert torch.autograd.gradcheck(fn, (soc,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("method", ["linear", "pchip"])
def test_depth_interpolator_equals_interpolate_to_depths(method):
    """The precomputed interpolator gives bit-identical values (PRODA's sampler uses it)."""
    from soilbinn.process.observation import DepthInterpolator

    g = torch.Generator().manual_seed(1)
    soc = torch.rand(6, 20, generator=g, dtype=torch.float64) * 1e4
    soc[2] = soc[2].sort(descending=True).values  # monotone profile
    depths = torch.rand(6, 5, generator=g, dtype=torch.float64) * 3.0
    depths[0, 0] = 0.0  # above the first node
    depths[1, 1] = 8.6  # below the last node
    depths[3, 3:] = float("nan")
    interp = DepthInterpolator(depths, method)
    expected = interpolate_to_depths(soc, depths, method=method)
    got = interp(soc)
    assert torch.equal(torch.isnan(got), torch.isnan(depths))
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(expected))
    with pytest.raises(ValueError):
        interp(soc[:3])
