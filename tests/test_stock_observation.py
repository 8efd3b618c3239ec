"""Observation operator for depth-interval stocks: hand integrals, model stocks, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soilbinn.process import grid
from soilbinn.process.observation import ObservationDepthError, stocks_over_intervals

NAN = float("nan")


def _soc(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(1e3, 5e4, (n, 20)), dtype=torch.float64)


def _stock(soc, top, bottom):
    return stocks_over_intervals(
        soc, torch.tensor(top, dtype=torch.float64), torch.tensor(bottom, dtype=torch.float64)
    )


def test_whole_partial_and_inside_one_layer_by_hand():
    soc = _soc(1)
    s = soc[0].numpy()
    # whole layers 1-3: interfaces 0, 0.02, 0.06, 0.12
    whole = 0.02 * s[0] + 0.04 * s[1] + 0.06 * s[2]
    # 0.03-0.25 m: 0.03 of layer 2 (to 0.06), layer 3 (0.06), layer 4 (0.08), 0.05 of layer 5
    partial = 0.03 * s[1] + 0.06 * s[2] + 0.08 * s[3] + 0.05 * s[4]
    # inside layer 10 (1.20-1.52 m)
    inside = 0.1 * s[9]
    # the deepest layer to the bottom of the column
    deep = (8.6 - 8.0) * s[19]
    out = _stock(soc, [[0.0, 0.03, 1.3, 8.0]], [[0.12, 0.25, 1.4, 8.6]])[0].numpy()
    np.testing.assert_allclose(out, [whole, partial, inside, deep], rtol=1e-12)


def test_nan_padding_gives_nan_and_rows_are_independent():
    soc = _soc(2)
    out = _stock(soc, [[0.0, NAN], [0.05, 0.0]], [[0.3, NAN], [0.3, 1.0]])
    assert torch.isnan(out[0, 1]) and torch.isfinite(out[0, 0])
    ref = _stock(soc[1:], [[0.05]], [[0.3]])
    assert float(out[1, 0]) == pytest.approx(float(ref[0, 0]), rel=1e-14)


def test_matches_the_models_own_0_30_and_0_100_cm_stocks():
    from soilbinn.process import CLM5Model, ParameterSpace
    from soilbinn.process.examples import random_forcing, random_parameters

    space = ParameterSpace.from_preset("binn2025")
    model = CLM5Model(space=space)
    out = model(random_parameters(4, space, seed=3), random_forcing(4, seed=3))
    soc = out["soc_layer"]
    top = torch.zeros(4, 3, dtype=torch.float64)
    bottom = torch.tensor([[0.3, 1.0, 8.6]] * 4, dtype=torch.float64)
    got = stocks_over_intervals(soc, top, bottom)
    torch.testing.assert_close(got[:, 0], out["soc_stock_0_30cm"], rtol=1e-12, atol=0)
    torch.testing.assert_close(got[:, 1], out["soc_stock_0_100cm"], rtol=1e-12, atol=0)
    torch.testing.assert_close(got[:, 2], out["soc_stock"], rtol=1e-12, atol=0)
    # additivity: 0-30 + 30-100 = 0-100
    inc = stocks_over_intervals(soc, torch.full((4, 1), 0.3, dtype=torch.float64),
                                torch.ones(4, 1, dtype=torch.float64))[:, 0]  # fmt: skip
    torch.testing.assert_close(got[:, 0] + inc, got[:, 1], rtol=1e-12, atol=0)


def test_gradcheck_float64():
    soc = _soc(2).requires_grad_(True)
    top = torch.tensor([[0.0, 0.03, NAN], [0.1, 0.5, 2.0]], dtype=torch.float64)
    bottom = torch.tensor([[0.3, 0.25, NAN], [0.9, 1.0, 8.6]], dtype=torch.float64)

    def f(x):
        return torch.nan_to_num(stocks_over_intervals(x, top, bottom))

    assert torch.autograd.gradcheck(f, (soc,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "top,bottom",
    [([[0.3]], [[0.3]]), ([[0.5]], [[0.3]]), ([[-0.1]], [[0.3]]), ([[0.0]], [[9.0]]),
     ([[0.0]], [[NAN]])],
)  # fmt: skip
def test_invalid_intervals_name_the_site(top, bottom):
    with pytest.raises(ObservationDepthError, match="siteA"):
        stocks_over_intervals(_soc(1), torch.tensor(top), torch.tensor(bottom), site_ids=["siteA"])


def test_interval_weights_sum_to_thickness():
    top = torch.tensor([0.0, 0.03, 1.3, 0.0])
    bottom = torch.tensor([0.12, 0.25, 1.4, 8.6])
    w = grid.interval_weights(top, bottom)
    torch.testing.assert_close(w.sum(-1), (bottom - top).to(w.dtype), rtol=1e-6, atol=1e-9)
