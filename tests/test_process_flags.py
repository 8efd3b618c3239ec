"""The process model flags implausible steady states and never leaves a non-finite
diagnostic unflagged (issue 13, item 7)."""

from __future__ import annotations

import pytest
import torch

from soilbinn.process import grid
from soilbinn.process.examples import random_forcing
from soilbinn.process.model import (
    IMPLAUSIBLE_STOCK,
    CLM5Model,
    implausible_state,
    stocks,
)


def _pools(values: list[float]) -> torch.Tensor:
    """(n, 7, 20) pools with every SOM layer of site i at ``values[i]`` g m-3."""
    p = torch.zeros(len(values), 7, 20, dtype=torch.float64)
    p[:, 4:7] = torch.tensor(values, dtype=torch.float64)[:, None, None] / 3
    return p


def test_criterion_on_constructed_states():
    depth = float(sum(grid.DZ))  # 0-8.6 m column
    limit = IMPLAUSIBLE_STOCK / depth  # uniform density at the bound, g m-3
    pools = _pools([1e4, 0.99 * limit, 1.01 * limit, 5e3, 5e3, 5e3])
    pools[3, 5, 7] = float("nan")
    pools[4, 4, 2] = -1e-12 * 5e3  # round-off: not flagged
    pools[5, 4, 2] = -1e-3 * 5e3  # a real negative pool
    flags = implausible_state(pools, stocks(pools)["soc_stock"])
    assert flags.tolist() == [False, False, True, True, False, True]
    # the bound, in words: 1,000 kg m-2 over 0-8.6 m, i.e. >110 kg C m-3 on average
    assert IMPLAUSIBLE_STOCK == 1.0e6 and limit > 1.1e5


def _unit_cube(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, d, generator=g, dtype=torch.float64)
    k = n // 5  # a fifth at exact corners of the unit cube
    p[:k] = (p[:k] > 0.5).double()
    p[0], p[1] = 0.0, 1.0
    return p


@pytest.mark.parametrize("clip", [True, False], ids=["clipped", "unclipped"])
@pytest.mark.parametrize("preset", ["proda2023", "binn2025"])
def test_random_unit_cube_every_absurd_or_nonfinite_site_is_flagged(preset, clip):
    model = CLM5Model(preset, clip_negative=clip)
    n = 1000
    forcing = random_forcing(n, seed=7)
    p = _unit_cube(n, model.space.n, seed=11)
    out = model(p, forcing)
    proc = model.processes(p, forcing, out)
    flagged = proc["implausible"]
    assert flagged.dtype == torch.bool and flagged.shape == (n,)
    assert bool((out["implausible"] <= flagged).all())  # the process flag includes the state's
    # every non-finite diagnostic is flagged (input_allocation's documented NaN excepted)
    for name, v in {**proc, **out}.items():
        if name in ("implausible", "ill_conditioned") or v.dtype == torch.bool:
            continue
        bad = ~torch.isfinite(v.reshape(n, -1)).all(dim=1)
        if name == "input_allocation":
            bad = torch.isinf(v)
        assert bool((bad <= flagged).all()), f"{name}: {int((bad & ~flagged).sum())} unflagged"
    # every unflagged site is a plausible state: finite, non-negative, stock within the bound
    ok = ~flagged
    assert int(ok.sum()) > n // 3
    assert torch.isfinite(out["pools"][ok]).all()
    assert (out["pools"][ok] >= -1e-8 * out["pools"][ok].abs().amax()).all()
    assert (out["soc_stock"][ok] <= IMPLAUSIBLE_STOCK).all()
    assert bool((out["soc_stock"] > IMPLAUSIBLE_STOCK).any())  # the flag is not vacuous
    if clip:  # clipping leaves no negative value (NaN stays NaN, and is flagged)
        assert ((out["pools"] >= 0) | torch.isnan(out["pools"])).all()


def test_corner_vectors_have_finite_states():
    """At exact corners the steady state is finite; SOC-weighted processes may be 0/0 there
    (e.g. no carbon reaches the SOM pools) and are then flagged."""
    for preset in ("proda2023", "binn2025"):
        model = CLM5Model(preset)
        forcing = random_forcing(2, seed=3)
        p = torch.stack([torch.zeros(model.space.n), torch.ones(model.space.n)]).double()
        out = model(p, forcing)
        assert torch.isfinite(out["pools"]).all() and (out["pools"] >= 0).all()
        proc = model.processes(p, forcing, out)
        for name, v in proc.items():
            if name != "implausible" and name != "input_allocation":
                assert bool((torch.isfinite(v) | proc["implausible"]).all()), name


def test_huge_states_give_finite_weighted_processes():
    """Ratios such as CUE do not depend on the pools' scale: no inf/inf NaN for huge states."""
    model = CLM5Model("binn2025")
    forcing = random_forcing(4, seed=5)
    p = _unit_cube(4, model.space.n, seed=1)[2:].repeat(2, 1)
    prepared = model.prepare(forcing.select(torch.arange(4)))
    from soilbinn.process.diagnostics import bulk_processes

    out = model(p, prepared)
    small = bulk_processes(model, p, prepared, out["pools"])
    huge = bulk_processes(model, p, prepared, out["pools"] * 1e300)
    for name in ("cue", "baseline_decomposition", "environmental_modifier", "vertical_transport"):
        torch.testing.assert_close(huge[name], small[name], rtol=1e-12, atol=0)


def test_flag_is_written_with_the_results():
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.process.outputs import results_to_dataset

    ds = make_synthetic(3, seed=0, simulate=False)
    model = CLM5Model("binn2025")
    forcing = random_forcing(3, seed=0)
    p = torch.full((3, model.space.n), 0.5, dtype=torch.float64)
    out = model(p, forcing)
    proc = model.processes(p, forcing, out)
    res = results_to_dataset(ds, out, proc)
    assert (
        res["implausible"].dtype.kind == "i"
        and "1000 kg m-2" in res["implausible"].attrs["long_name"]
    )
    assert "implausible" not in res["cue"].dims


def test_absurd_litter_alone_is_flagged():
    """No decomposition at all (efolding = w_scaling = 0 at the unit-cube corner) piles
    litter up to ~1e301 g m-3 while SOC stays ~0: flagged although the SOC stock is tiny."""
    pools = _pools([1e4, 1e4])
    pools[1, 1] = 1e301
    flags = implausible_state(pools, stocks(pools)["soc_stock"])
    assert flags.tolist() == [False, True]
    model = CLM5Model("proda2023")
    forcing = random_forcing(1, seed=3)
    out = model(torch.zeros(1, model.space.n, dtype=torch.float64), forcing)
    assert out["soc_stock"][0] < 1.0 and out["pools"].amax() > 1e100
    assert bool(out["implausible"][0])
