"""PRODA's batched adaptive Metropolis on analytic targets (no process model needed)."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest
import torch

from soilbinn.proda import diagnostics
from soilbinn.proda.kernels import (
    ACCEPTANCE_RULES,
    DONE,
    GAUSSIAN,
    KernelConfig,
    init,
    step,
)
from soilbinn.proda.sampler import CheckpointError, run_chains

pytestmark = pytest.mark.usefixtures("one_thread")


S, C, D = 24, 3, 3
MU = torch.rand(S, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.4 + 0.3
SD = torch.tensor([0.03, 0.05, 0.08], dtype=torch.float64)


def gauss_cost(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return 0.5 * (((x - MU[rows // C]) / SD) ** 2).sum(-1)


def _draws(res, n_sites=S, n_chains=C):
    halves = res.second_half()
    n = min(h.shape[0] for h in halves)
    dr = torch.stack([h[h.shape[0] - n :] for h in halves])
    return dr.reshape(n_sites, n_chains, n, -1)  # (S, C, n, d)


@pytest.mark.slow
def test_metropolis_recovers_gaussian_mean_and_std():
    cfg = KernelConfig(mode="metropolis", n_uniform=400, n_gaussian=3000)
    p0 = torch.full((S * C, D), 0.5, dtype=torch.float64)
    res = run_chains(p0, gauss_cost, cfg, seed=3, n_keep=1000, progress=False)
    dr = _draws(res)
    mean = dr.mean((1, 2))
    std = dr.reshape(S, -1, D).std(1)
    # Monte Carlo error of the mean ~ sd / sqrt(ESS ~ 300): < 0.01 for every site
    assert torch.all((mean - MU).abs() < 4 * SD / math.sqrt(200))
    # std averaged over sites within 10%
    assert torch.allclose(std.mean(0), SD, rtol=0.1)
    rh = diagnostics.rhat(dr.permute(0, 3, 1, 2).numpy())
    assert np.nanmax(rh) < 1.1
    acc = res.acceptance_rate
    assert bool(((acc > 0.1) & (acc < 0.5)).all())
    assert bool((res.state.phase == DONE).all())


def test_faithful_rule_matches_prodas_formula():
    rng = np.random.default_rng(0)
    delta = rng.normal(0, 2, 5000)
    delta[:10] = [np.inf, -np.inf, 0.0, np.nan, 1e-9, -1e-9, 50, -50, 0.5, 3]
    it = rng.integers(1, 50_000, 5000)
    u = rng.uniform(size=5000)
    got = ACCEPTANCE_RULES["faithful"](torch.tensor(delta), torch.tensor(it), torch.tensor(u))
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.minimum(1.0, (it + 2.0) ** (-delta)) > u
    assert np.array_equal(got.numpy(), expected)
    got_m = ACCEPTANCE_RULES["metropolis"](torch.tensor(delta), torch.tensor(it), torch.tensor(u))
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.array_equal(got_m.numpy(), np.minimum(1.0, np.exp(-delta)) > u)


def test_faithful_mode_tempers_the_posterior():
    """PRODA's rule sharpens the target: its spread is well below the posterior's."""
    cfg = KernelConfig(mode="faithful", n_uniform=200, n_gaussian=1200, max_gaussian_restarts=0)
    p0 = torch.full((S * C, D), 0.5, dtype=torch.float64)
    res = run_chains(p0, gauss_cost, cfg, seed=1, n_keep=500, progress=False)
    dr = _draws(res)
    assert torch.all((dr.mean((1, 2)) - MU).abs() < 0.02)
    assert torch.all(dr.reshape(S, -1, D).std(1).mean(0) < 0.6 * SD)


@pytest.mark.parametrize("exhausted", ["restart_chain", "continue"])
def test_schedule_uniform_restart_then_gaussian_phase(exhausted):
    cfg = KernelConfig(mode="metropolis", n_uniform=20, n_gaussian=10, min_accept_uniform=50,
                       uniform_exhausted=exhausted)  # fmt: skip
    p0 = torch.full((2, D), 0.5, dtype=torch.float64)
    rows_c = torch.tensor([0, 0])
    gen = torch.Generator().manual_seed(0)
    state, _ = init(p0, lambda x, r: gauss_cost(x, rows_c[r]), cfg)
    allow0 = state.allow.clone()
    restarted = chain = 0
    for i in range(20 * 4):
        state, info = step(state, lambda x, r: gauss_cost(x, rows_c[r]), cfg, gen)
        restarted += int(info["restarted_uniform"].sum())
        chain += int(info["restarted_chain"].sum())
        if exhausted == "restart_chain" and i == 20 * 3 - 1:
            # PRODA: the third failed uniform phase restarts the chain from p0 at step
            # size allow0, and the restarted chain's uniform phase is not checked again
            assert torch.equal(state.position, p0) and torch.equal(state.allow, allow0)
            assert not bool(state.uniform_checked.any())
    # fewer than 50 acceptances in 20 steps
    if exhausted == "restart_chain":
        assert (restarted, chain) == (2 * 2, 2)
        assert torch.equal(state.allow, allow0)
    else:  # 3 restarts with 1.1x smaller steps, then on
        assert (restarted, chain) == (2 * 3, 0)
        assert torch.allclose(state.allow, allow0 * 1.1**3)
    assert bool((state.phase == GAUSSIAN).all())


def test_stuck_redraw_restarts_the_chain():
    """PRODA restarts a chain whose Gaussian phase accepted nothing and cannot propose."""

    def far(x, rows):
        return 0.5 * (((x - 0.5) / 0.05) ** 2).sum(-1)

    cfg = KernelConfig(n_uniform=10, n_gaussian=50, max_redraws=8, max_stuck_restarts=2,
                       min_accept_uniform=0)  # fmt: skip
    state, _ = init(torch.full((2, 2), 0.5, dtype=torch.float64), far, cfg)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        state, _ = step(state, far, cfg, gen)
    assert bool((state.phase == GAUSSIAN).all())
    state.chol[:] = 50.0 * torch.eye(2, dtype=torch.float64)  # every proposal leaves the box
    state, info = step(state, far, cfg, gen)
    assert bool(info["stuck"].all()) and bool(info["restarted_chain"].all())
    assert bool((state.phase == 1).all()) and torch.equal(
        state.stuck_restarts, torch.ones(2).long()
    )
    state.phase[:] = GAUSSIAN
    state.stuck_restarts[:] = 2  # cap reached: the step is rejected instead
    state.chol[:] = 50.0 * torch.eye(2, dtype=torch.float64)
    before = state.position.clone()
    state, info = step(state, far, cfg, gen)
    assert bool(info["stuck"].all()) and not bool(info["restarted_chain"].any())
    assert torch.equal(state.position, before)
    cfg_r = KernelConfig(n_uniform=10, n_gaussian=50, max_redraws=8, stuck_redraw="reject")
    state.chol[:] = 50.0 * torch.eye(2, dtype=torch.float64)
    state.stuck_restarts[:] = 0
    state, info = step(state, far, cfg_r, gen)
    assert bool(info["stuck"].all()) and not bool(info["restarted_chain"].any())


def test_uniform_proposals_inside_the_box_are_uniform():
    """Redrawn uniform proposals = uniform on the box's intersection (PRODA's redraw)."""
    from soilbinn.proda.kernels import propose

    cfg = KernelConfig()
    x = torch.tensor([[0.05, 0.5]], dtype=torch.float64).expand(20000, 2).contiguous()
    state, _ = init(x, lambda p, r: torch.zeros(len(r), dtype=torch.float64), cfg)
    prop, inside = propose(state, torch.arange(20000), cfg, torch.Generator().manual_seed(0))
    assert bool(inside.all())
    # coordinate 0: uniform on (0, 0.15); coordinate 1: uniform on (0.4, 0.6)
    assert abs(float(prop[:, 0].mean()) - 0.075) < 0.002 and float(prop[:, 0].max()) < 0.15
    assert abs(float(prop[:, 0].std()) - 0.15 / 12**0.5) < 0.002
    assert abs(float(prop[:, 1].mean()) - 0.5) < 0.002


def test_adaptive_factor_is_prodas_history_covariance():
    """In the adaptive phase the proposal is N(x, sd_factor / d * cov(phase history))."""
    cfg = KernelConfig(mode="metropolis", n_uniform=50, n_gaussian=10_000, adapt_start=20)
    state, _ = init(torch.full((S * C, D), 0.5, dtype=torch.float64), gauss_cost, cfg)
    gen = torch.Generator().manual_seed(0)
    hist = []
    for i in range(50 + 200):
        state, _ = step(state, gauss_cost, cfg, gen)
        if i >= 50:
            hist.append(state.position.clone())
    h = torch.stack(hist, 1)  # (B, 200, d): every step's state of the Gaussian phase
    cov = torch.einsum("bni,bnj->bij", h - h.mean(1, keepdim=True), h - h.mean(1, keepdim=True))
    want = state.sd_factor[:, None, None] / D * cov / (h.shape[1] - 1)
    got = state.chol @ state.chol.transpose(1, 2)
    scale = want.abs().amax((1, 2), keepdim=True)
    assert torch.allclose(got / scale, want / scale, rtol=0, atol=1e-9)


def test_checkpoint_resume_gives_identical_chains(tmp_path):
    cfg = KernelConfig(mode="faithful", n_uniform=60, n_gaussian=120, adapt_start=20)
    p0 = torch.full((S * C, D), 0.5, dtype=torch.float64)
    full = run_chains(p0, gauss_cost, cfg, seed=7, n_keep=20, progress=False)
    ck = tmp_path / "chains.pt"
    part = run_chains(
        p0, gauss_cost, cfg, seed=7, n_keep=20, checkpoint=ck, checkpoint_every=25,
        stop_after=97, progress=False,
    )  # fmt: skip
    assert part is None and ck.exists()
    resumed = run_chains(p0, gauss_cost, cfg, seed=7, n_keep=20, checkpoint=ck, progress=False)
    assert torch.equal(resumed.n_recorded, full.n_recorded)
    assert torch.allclose(resumed.samples, full.samples, equal_nan=True, rtol=0, atol=0)
    assert torch.equal(resumed.n_evaluations, full.n_evaluations)
    with pytest.raises(CheckpointError, match="different settings"):
        run_chains(p0, gauss_cost, cfg, seed=8, n_keep=20, checkpoint=ck, progress=False)


def test_rhat_and_ess_known_cases():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(4, 4, 2000))
    assert np.allclose(diagnostics.rhat(iid), 1.0, atol=0.01)
    assert np.all(np.abs(diagnostics.ess(iid) / 8000 - 1) < 0.15)
    shifted = iid.copy()
    shifted[:, 0] += 2.0
    assert np.all(diagnostics.rhat(shifted) > 1.3)
    trend = iid + np.linspace(0, 3, 2000)  # within-chain drift: only split R-hat sees it
    assert np.all(diagnostics.rhat(trend) > 1.2)
    assert np.all(diagnostics.rhat(trend, split=False) < diagnostics.rhat(trend))
    rho, n = 0.8, 4000
    ar = np.zeros((2, 4, n))
    e = rng.normal(size=(2, 4, n))
    for t in range(1, n):
        ar[..., t] = rho * ar[..., t - 1] + e[..., t]
    expected = 4 * n * (1 - rho) / (1 + rho)
    assert np.all(np.abs(diagnostics.ess(ar) / expected - 1) < 0.25)
    assert np.all(diagnostics.ess(np.ones((2, 3, 10))) == 30)
    assert np.allclose(diagnostics.acceptance_rate([1, 0], [4, 0]), [0.25, np.nan], equal_nan=True)


def test_progress_counts_stay_within_total_and_log_without_terminal(capsys):
    from soilbinn.proda.sampler import Progress

    seen = []

    class Spy(Progress):
        def update(self, done, total, force=False):
            seen.append((done, total))
            super().update(done, total, force)

    # restarts (acceptance outside 10-50% in short phases) make the total grow
    cfg = KernelConfig(mode="faithful", n_uniform=30, n_gaussian=40, adapt_start=5)
    p0 = torch.full((S * C, D), 0.5, dtype=torch.float64)
    run_chains(p0, gauss_cost, cfg, seed=2, n_keep=20, progress=Spy("t", every=0.0, bar=False))
    done, total = np.array(seen).T
    assert np.all(done <= total) and np.all(np.diff(done) >= 0)
    assert done[-1] == total[-1] >= S * C * 70
    err = capsys.readouterr().err
    assert "chain-steps" in err and "ETA" in err and "steps/s" in err


def test_interrupt_writes_checkpoint_and_says_how_to_resume(tmp_path):
    from soilbinn.proda.sampler import Interrupted

    cfg = KernelConfig(mode="faithful", n_uniform=30, n_gaussian=60, adapt_start=10)
    p0 = torch.full((S * C, D), 0.5, dtype=torch.float64)
    full = run_chains(p0, gauss_cost, cfg, seed=4, n_keep=20, progress=False)
    calls = [0]

    def flaky(x, rows):
        calls[0] += 1
        if calls[0] == 50:  # Ctrl-C in the middle of a step
            os.kill(os.getpid(), signal.SIGINT)
        return gauss_cost(x, rows)

    ck = tmp_path / "c.pt"
    with pytest.raises(Interrupted, match="rerun the same command"):
        run_chains(p0, flaky, cfg, seed=4, n_keep=20, checkpoint=ck, progress=False)
    assert ck.exists()
    resumed = run_chains(p0, gauss_cost, cfg, seed=4, n_keep=20, checkpoint=ck, progress=False)
    assert torch.allclose(resumed.samples, full.samples, equal_nan=True, rtol=0, atol=0)
