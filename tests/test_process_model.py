"""Invariants, solver equivalence, gradients and error paths of the process model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from soilbinn.process import grid
from soilbinn.process.examples import random_forcing, random_parameters
from soilbinn.process.forcing import ForcingError
from soilbinn.process.model import CLM5Model, ParameterError
from soilbinn.process.parameters import PARAM_NAMES, PRESETS, ParameterSpace
from soilbinn.process.solvers import solve_dense, solve_structured

TRANSPORTS = ["clm5", "simple", "simple2"]


@pytest.fixture(scope="module")
def forcing():
    return random_forcing(64, seed=3)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_structured_equals_dense(forcing, transport, preset):
    m = CLM5Model(preset, transport=transport)
    p = random_parameters(len(forcing), m.space, seed=5)
    prepared = m.prepare(forcing)
    system = m.assemble(p, prepared)
    xs, xd = solve_structured(system), solve_dense(system)
    rc = m(p, prepared)["rcond"]
    ok = rc > 1e-10  # well-conditioned systems
    assert ok.sum() > len(forcing) // 2
    rel = (xs - xd).abs().amax(dim=(1, 2)) / xs.abs().amax(dim=(1, 2))
    assert rel[ok].max() < 1e-8


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_steady_state_residual(forcing, transport):
    m = CLM5Model("proda2023", transport=transport)
    p = random_parameters(len(forcing), m.space, seed=6)
    system = m.assemble(p, m.prepare(forcing))
    x = solve_structured(system)
    r = system.apply(x) - system.rhs()
    flux = (system.K * x).amax(dim=(1, 2), keepdim=True)
    assert (r.abs() / flux).max() < 1e-10
    assert (x >= 0).all()


def _respiration(system, x):
    """Heterotrophic respiration (n,) in g m-2 d-1: the fraction of each decomposition
    flux that is not passed on to another pool."""
    dz = grid.as_tensor(grid.DZ)
    flux = system.K * x * dz
    passed = torch.zeros_like(system.K[:, :, 0])
    for i, (_idx, _r, d) in enumerate(
        [
            (0, 2, 0),
            (1, 4, 1),
            (2, 4, 2),
            (3, 5, 3),
            (4, 5, 4),
            (5, 6, 4),
            (6, 4, 5),
            (7, 6, 5),
            (8, 4, 6),
        ]
    ):
        passed[:, d] += system.f[:, i]
    passed[:, 0] = 1.0  # CWD: fcwdl2 to L2 and the rest to L3
    return ((1.0 - passed)[:, :, None] * flux).sum(dim=(1, 2))


@pytest.mark.parametrize(
    "transport,bedrock",
    [("clm5", "proda"), ("clm5", "conservative"), ("simple", "proda"), ("simple2", "proda")],
)
def test_mass_balance(transport, bedrock):
    f = random_forcing(48, seed=11, shallow_bedrock_fraction=0.0 if bedrock == "proda" else 0.5)
    if transport == "clm5" and bedrock == "proda":
        assert (f.nbedrock == 20).all()  # PRODA's bottom treatment conserves mass only here
    m = CLM5Model("binn2025", transport=transport, bedrock=bedrock)
    p = random_parameters(len(f), m.space, seed=12)
    system = m.assemble(p, m.prepare(f))
    x = solve_structured(system)
    dz = grid.as_tensor(grid.DZ)
    total_input = (system.u * dz).sum(dim=(1, 2))
    np.testing.assert_allclose(_respiration(system, x).numpy(), total_input.numpy(), rtol=1e-10)
    # and the input is the forcing's litter input (g m-2 yr-1 -> d-1)
    np.testing.assert_allclose(total_input.numpy() * 365, f.litter_input.sum(1).numpy(), rtol=1e-12)


def test_proda_bedrock_treatment_leaks_and_conservative_does_not():
    f = random_forcing(32, seed=2, shallow_bedrock_fraction=1.0, permafrost_fraction=0.0)
    for bedrock, leaks in (("proda", True), ("conservative", False)):
        m = CLM5Model("binn2025", bedrock=bedrock)
        p = random_parameters(len(f), m.space, seed=3)
        system = m.assemble(p, m.prepare(f))
        x = solve_structured(system)
        dz = grid.as_tensor(grid.DZ)
        total_input = (system.u * dz).sum(dim=(1, 2))
        rel = (_respiration(system, x) - total_input).abs() / total_input
        assert (rel.max() > 1e-8) == leaks


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gradcheck_all_parameters(transport):
    f = random_forcing(2, seed=21)
    m = CLM5Model("proda2023", transport=transport, check_conditioning=False)
    p = random_parameters(2, m.space, seed=22).requires_grad_()
    depths = torch.tensor([[0.05, 0.3, 0.9], [0.02, 0.5, 1.5]], dtype=torch.float64)
    from soilbinn.process.observation import interpolate_to_depths

    weights = torch.randn(7, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def fn(q):
        out = m(q, f)
        soc = interpolate_to_depths(out["soc_layer"], depths)
        # scale to O(1) so gradcheck's absolute tolerance is meaningful
        return torch.cat([soc.flatten() / 1e4, (out["pools"] * weights).sum(dim=(1, 2)) / 1e5])

    assert torch.autograd.gradcheck(fn, (p,), eps=1e-7, atol=1e-6, rtol=1e-4)


def test_gradients_structured_equal_dense():
    f = random_forcing(8, seed=31)
    ms = CLM5Model("binn2025", check_conditioning=False)
    md = CLM5Model("binn2025", solver="dense", check_conditioning=False)
    p = random_parameters(8, ms.space, seed=32)
    grads = []
    for m in (ms, md):
        q = p.clone().requires_grad_()
        out = m(q, f)
        (out["soc_stock"].sum() + out["pools"][:, 1:4].sum()).backward()
        grads.append(q.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-7, atol=1e-6)


def test_chunk_size_and_order_do_not_change_results(forcing):
    m1 = CLM5Model("binn2025", chunk_size=100000)
    m2 = CLM5Model("binn2025", chunk_size=7)
    p = random_parameters(len(forcing), m1.space, seed=41)
    a = m1(p, forcing)["pools"]
    b = m2(p, forcing)["pools"]
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)
    perm = torch.randperm(len(forcing), generator=torch.Generator().manual_seed(1))
    c = m1(p[perm], forcing.select(perm))["pools"]
    torch.testing.assert_close(c, a[perm], rtol=1e-13, atol=0)


@pytest.mark.parametrize("chunk_size", [100000, 7])
def test_steady_state_is_forward_without_summaries(forcing, chunk_size):
    m = CLM5Model("proda2023", chunk_size=chunk_size)
    p = random_parameters(len(forcing), m.space, seed=43)
    full, lean = m(p, forcing), m.steady_state(p, forcing)
    assert set(lean) == {"pools", "rcond", "ill_conditioned"}
    for k, v in lean.items():
        assert torch.equal(v, full[k]), k
    with pytest.raises(ParameterError):
        m.steady_state(p[:3], forcing)


def test_stocks_are_consistent(forcing):
    m = CLM5Model("binn2025")
    out = m(random_parameters(len(forcing), m.space, seed=1), forcing)
    dz = grid.as_tensor(grid.DZ)
    torch.testing.assert_close(out["soc_stock"], (out["soc_layer"] * dz).sum(1))
    assert (out["soc_stock_0_30cm"] < out["soc_stock_0_100cm"]).all()
    assert (out["soc_stock_0_100cm"] < out["soc_stock"]).all()
    # 0-30 cm = layers 1-4 plus 0.10 m of layer 5 (0.20-0.32 m)
    manual = (out["soc_layer"][:, :4] * dz[:4]).sum(1) + out["soc_layer"][:, 4] * 0.10
    torch.testing.assert_close(out["soc_stock_0_30cm"], manual)


def test_processes_are_finite_and_in_range(forcing):
    m = CLM5Model("binn2025")
    p = random_parameters(len(forcing), m.space, seed=2)
    pr = m.processes(p, forcing)
    for k, v in pr.items():
        assert torch.isfinite(v).all(), k
    assert ((pr["cue"] > 0) & (pr["cue"] < 1)).all()
    assert (pr["residence_time_baseline"] < pr["residence_time"]).all()
    torch.testing.assert_close(pr["carbon_input"], forcing.litter_input.sum(1))


def test_presets_and_space():
    assert ParameterSpace.from_preset("proda2023").names == PARAM_NAMES
    b = ParameterSpace.from_preset("binn2025")
    assert b.lower[b.index("tau4s3")] == 20.0 and b.upper[b.index("tau4s3")] == 400.0
    s = ParameterSpace.from_preset("binn2025", "simple2")
    assert s.n == 22 and s.names[:2] == ("transport_slope", "transport_intercept")
    c = b.with_bounds(q10=(1.0, 4.0))
    assert c.preset == "custom" and c.lower[c.index("q10")] == 1.0
    v = torch.rand(5, 21, dtype=torch.float64)
    torch.testing.assert_close(b.to_unit(b.to_physical(v)), v)
    with pytest.raises(ValueError, match="unknown parameter preset"):
        ParameterSpace.from_preset("nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        b.with_bounds(nope=(0, 1))


# ----------------------------------------------------------------- bad input
def test_parameters_outside_unit_interval_name_the_site(forcing):
    m = CLM5Model("binn2025")
    p = random_parameters(len(forcing), m.space, seed=1)
    p[3, 2] = 1.5
    p[5, 0] = float("nan")
    with pytest.raises(ParameterError, match=r"site site00003: q10=1\.5"):
        m(p, forcing)
    with pytest.raises(ParameterError, match="shape"):
        m(p[:, :20], forcing)
    with pytest.raises(ParameterError, match="rows"):
        m(p[:10], forcing)


@pytest.mark.parametrize(
    "var,index,value,pattern",
    [
        ("soil_temperature", (4, 2, 3), float("nan"), "soil_temperature"),
        ("soil_temperature", (4, 2, 3), 20.0, "soil_temperature"),  # Celsius, not K
        ("water_scalar", (4, 0, 0), 1.7, "water_scalar"),
        ("nbedrock", (4, 0), 0, "nbedrock"),
        ("nbedrock", (4, 0), 21, "nbedrock"),
        ("litter_input", (4, 1), -3.0, "litter_input"),
        ("altmax", (4, 0), float("inf"), "altmax"),
    ],
)
def test_bad_forcing_names_variable_and_site(var, index, value, pattern):
    f = random_forcing(8, seed=1)
    getattr(f, var)[index] = value
    m = CLM5Model("binn2025")
    with pytest.raises(ForcingError, match=rf"{pattern}.*site00004"):
        m(random_parameters(8, m.space), f)


def test_wrong_forcing_shape():
    f = random_forcing(8, seed=1)
    f.soil_temperature = f.soil_temperature[:, :19]
    with pytest.raises(ForcingError, match=r"soil_temperature.*shape"):
        f.validate()


def test_unknown_options():
    with pytest.raises(ValueError, match="transport"):
        CLM5Model(transport="nope")
    with pytest.raises(ValueError, match="solver"):
        CLM5Model(solver="nope")


def test_float32_parameters_are_computed_in_float64(forcing):
    m = CLM5Model("binn2025")
    p = random_parameters(len(forcing), m.space, seed=4)
    a = m(p.float(), forcing)["soc_layer"]
    assert a.dtype == torch.float64 and (a >= 0).all()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_whole_unit_cube_gives_finite_nonnegative_flagged_states(preset):
    """Any parameters in [0, 1] (bounds included) give a finite, non-negative steady state;
    the nearly singular ones (small e-folding depth) are flagged, as PRODA's solve warns."""
    n = 600
    f = random_forcing(n, seed=8)
    m = CLM5Model(preset)
    p = torch.rand(n, 21, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    p[:5] = 0.0
    p[5:10] = 1.0
    out = m(p, f)
    assert torch.isfinite(out["pools"]).all() and (out["pools"] >= 0).all()
    assert torch.isfinite(out["soc_stock"]).all()
    efold = m.physical(p)["efolding"]
    ill = out["ill_conditioned"]
    assert 0.05 < ill.float().mean() < 0.5
    assert not ill[efold >= 0.5].any()
    assert ill[efold <= 0.05].all()
    for name, v in m.processes(p, f, out).items():
        assert torch.isfinite(v[~ill]).all(), name
