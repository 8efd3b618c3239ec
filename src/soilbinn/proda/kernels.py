"""Batched adaptive Metropolis kernels with PRODA's schedule (Tao et al. 2020, 2023).

Every chain of every site is one row of a flat batch of ``B = sites x chains`` rows; the
state is explicit (:class:`AMState`, a bag of tensors) and all randomness comes from an
explicit :class:`torch.Generator`, so a run is reproducible and can be checkpointed and
resumed bit for bit. The kernel is ``init(...) -> state`` and
``step(state, cost_fn, config, generator) -> (state, info)`` (the state is updated in
place); ``cost_fn`` is called once per step on all active rows (one batched process-model
call).

Schedule of one chain (PRODA's, read from its public code; see binn_and_proda.md):

1. **Uniform phase** (``n_uniform`` = 20,000 steps): ``x' = x + (u - 1/2) / allow`` per
   parameter with ``allow = 5`` (steps of +-0.1 on the unit scale). If fewer than
   ``min_accept_uniform`` (50; by default scaled by ``n_uniform / 20,000`` for shorter
   runs) proposals were accepted, the phase restarts from the
   current point with ``allow *= 1.1``; the ``max_uniform_restarts``-th (3rd) failure
   restarts the chain from ``p0`` with ``allow = 5`` and no further check of its uniform
   phase (PRODA; ``uniform_exhausted="continue"`` keeps the next phase instead).
2. **Adaptive Gaussian phase** (``n_gaussian`` = 50,000 steps): ``x' ~ N(x, s C)`` with
   ``C`` the covariance of the uniform phase's history (one record per step), replaced
   after ``adapt_start`` (4,000) steps by the covariance of the Gaussian phase's own
   history, updated every ``adapt_every`` steps. ``s = sd_factor / d``: PRODA uses
   ``2.4 / d`` (``faithful``); the Haario et al. (2001) optimal scaling
   ``2.38**2 / d`` is used in ``metropolis`` mode.
3. If the Gaussian phase's acceptance rate ends outside ``[0.1, 0.5]`` the chain restarts
   from ``p0`` (uniform phase included) with ``sd_factor`` times 0.7 (too few) or 2 (too
   many), at most ``max_gaussian_restarts`` (5) times (PRODA aborts the site after that;
   here the chain ends and is flagged).

Acceptance rules (:data:`ACCEPTANCE_RULES`):

- ``faithful``: ``u < min(1, (k + 2) ** (-dJ))`` with ``k`` the 1-based step number within
  the phase (PRODA's tempering; not a posterior sampler, the target sharpens with ``k``).
- ``metropolis``: ``u < min(1, exp(-dJ))``, i.e. Metropolis-Hastings on
  ``exp(-J)`` with a uniform prior on the unit box.

Out-of-box proposals (:data:`BOUNDARY_RULES`): PRODA redraws them (``redraw``, used in
``faithful`` mode; after ``max_redraws`` tries the chain restarts if its Gaussian phase
has accepted nothing yet, as PRODA does, else the step is rejected). A redraw makes
the proposal density position-dependent, which breaks detailed balance, so ``metropolis``
mode rejects them instead (``reject``: the prior density is zero outside the box).

Every difference from the MATLAB original is listed in ``soilbinn/proda/README.md``
(e.g. a failed evaluation costs ``+inf`` instead of ``J_old + 100``; restarts are per chain).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch

Tensor = torch.Tensor

#: phase codes stored in :attr:`AMState.phase`
DONE, UNIFORM, GAUSSIAN = 0, 1, 2


# --------------------------------------------------------------------------- acceptance
def faithful_acceptance(delta_cost: Tensor, step_number: Tensor, u: Tensor) -> Tensor:
    """PRODA's rule ``u < min(1, (step_number + 2) ** (-delta_cost))``.

    Parameters
    ----------
    delta_cost : Tensor (B,)
        ``J_new - J_old`` (``+inf`` for failed proposals, ``nan`` never accepts).
    step_number : Tensor (B,)
        1-based step number within the current phase (PRODA's ``simu``).
    u : Tensor (B,)
        Uniform(0, 1) draws.
    """
    prob = torch.exp(-delta_cost * torch.log(step_number.to(delta_cost.dtype) + 2.0))
    return u < torch.clamp(prob, max=1.0)


def metropolis_acceptance(delta_cost: Tensor, step_number: Tensor, u: Tensor) -> Tensor:
    """Metropolis-Hastings rule ``u < min(1, exp(-delta_cost))`` (target ``exp(-J)``)."""
    del step_number
    return u < torch.clamp(torch.exp(-delta_cost), max=1.0)


AcceptanceRule = Callable[[Tensor, Tensor, Tensor], Tensor]

#: name -> acceptance rule
ACCEPTANCE_RULES: dict[str, AcceptanceRule] = {
    "faithful": faithful_acceptance,
    "metropolis": metropolis_acceptance,
}

#: out-of-box handling per acceptance mode
BOUNDARY_RULES: dict[str, str] = {"faithful": "redraw", "metropolis": "reject"}

#: proposal scale numerator per mode: PRODA's 2.4 (meant as 2.4**2) and Haario's 2.38**2
SD_FACTORS: dict[str, float] = {"faithful": 2.4, "metropolis": 2.38**2}


# --------------------------------------------------------------------------- config/state
@dataclass(frozen=True)
class KernelConfig:
    """Settings of the adaptive Metropolis schedule (defaults: PRODA's).

    ``uniform_exhausted``: after ``max_uniform_restarts`` failed uniform phases,
    ``restart_chain`` (PRODA) restarts the chain from ``p0`` with step divisor ``allow0``
    and no further acceptance check of its uniform phase; ``continue`` keeps the next
    uniform phase whatever its acceptance. ``stuck_redraw``: when ``max_redraws``
    proposals in a row fall outside the box, ``restart_chain`` (PRODA, which restarts
    after a minute of redrawing if the Gaussian phase has accepted nothing yet) restarts
    the chain from ``p0`` (at most ``max_stuck_restarts`` times; otherwise the step is
    rejected); ``reject`` rejects the step. ``gaussian_start_cost``: ``current`` (the cost
    of the Gaussian phase's starting point) or ``p0`` (PRODA's code, which starts the
    phase with the cost of ``p0``).
    """

    mode: str = "faithful"
    n_uniform: int = 20_000
    n_gaussian: int = 50_000
    allow0: float = 5.0
    allow_growth: float = 1.1
    min_accept_uniform: int | None = None  # None: 50 per 20,000 steps (PRODA's 50)
    max_uniform_restarts: int = 3
    adapt_start: int | None = None  # None: 8% of n_gaussian (PRODA's 4,000 of 50,000)
    adapt_every: int = 1
    accept_low: float = 0.1
    accept_high: float = 0.5
    shrink: float = 0.7
    grow: float = 2.0
    max_gaussian_restarts: int = 5
    max_redraws: int = 1000
    jitter: float = 1e-12
    uniform_exhausted: str = "restart_chain"
    stuck_redraw: str = "restart_chain"
    max_stuck_restarts: int = 10
    gaussian_start_cost: str = "current"

    def __post_init__(self) -> None:
        if self.mode not in ACCEPTANCE_RULES:
            raise ValueError(
                f"unknown acceptance mode {self.mode!r}; choose from {sorted(ACCEPTANCE_RULES)}"
            )
        for name, allowed in (
            ("uniform_exhausted", ("restart_chain", "continue")),
            ("stuck_redraw", ("restart_chain", "reject")),
            ("gaussian_start_cost", ("current", "p0")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.n_uniform < 2 or self.n_gaussian < 2:
            raise ValueError("n_uniform and n_gaussian must both be >= 2")
        if self.adapt_every < 1:
            raise ValueError("adapt_every must be >= 1")

    @property
    def adapt_after(self) -> int:
        if self.adapt_start is not None:
            return int(self.adapt_start)
        return max(2, round(0.08 * self.n_gaussian))

    @property
    def min_accept(self) -> int:
        if self.min_accept_uniform is not None:
            return int(self.min_accept_uniform)
        return max(1, round(50 * self.n_uniform / 20_000))

    @property
    def sd_factor0(self) -> float:
        return SD_FACTORS[self.mode]


@dataclass
class AMState:
    """Batched state of ``B`` chains in ``d`` dimensions (all tensors, leading dim B).

    Attributes
    ----------
    position : (B, d) float64, unit scale in (0, 1)
    cost : (B,) float64, cost J at ``position``
    phase : (B,) int64, DONE / UNIFORM / GAUSSIAN
    step : (B,) int64, steps completed in the current phase
    accepted : (B,) int64, acceptances in the current phase
    allow : (B,) float64, uniform step divisor (half-width ``0.5 / allow``)
    sd_factor : (B,) float64, Gaussian scale numerator (``s = sd_factor / d``)
    hist_n : (B,) float64, number of history records in the current phase
    hist_mean : (B, d), hist_m2 : (B, d, d), Welford running mean and co-moment
    chol : (B, d, d), Cholesky factor of the current Gaussian proposal covariance
    uniform_restarts, gaussian_restarts : (B,) int64
    p0 : (B, d), restart point; cost0 : (B,), its cost
    uniform_checked : (B,) bool, the uniform phase's acceptance is checked (PRODA drops
        the check after ``max_uniform_restarts`` failures)
    stuck_restarts : (B,) int64, chain restarts after a stuck redraw
    """

    position: Tensor
    cost: Tensor
    phase: Tensor
    step: Tensor
    accepted: Tensor
    allow: Tensor
    sd_factor: Tensor
    hist_n: Tensor
    hist_mean: Tensor
    hist_m2: Tensor
    chol: Tensor
    uniform_restarts: Tensor
    gaussian_restarts: Tensor
    p0: Tensor
    cost0: Tensor
    uniform_checked: Tensor
    stuck_restarts: Tensor

    def to_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Tensor]) -> AMState:
        return cls(**{f.name: d[f.name] for f in fields(cls)})

    @property
    def dim(self) -> int:
        return int(self.position.shape[-1])


CostFn = Callable[[Tensor, Tensor], Tensor]
"""``cost_fn(position (m, d), rows (m,)) -> cost (m,)``; ``+inf`` for failed evaluations."""


def init(p0: Tensor, cost_fn: CostFn, config: KernelConfig) -> tuple[AMState, int]:
    """Start ``B`` chains at ``p0`` (B, d); returns the state and the evaluations used (B)."""
    p0 = p0.to(torch.float64)
    if p0.ndim != 2:
        raise ValueError(f"p0 must be (B, d), got shape {tuple(p0.shape)}")
    if not bool(((p0 > 0) & (p0 < 1)).all()):
        raise ValueError("p0 must lie strictly inside the unit box (0, 1)")
    b, d = p0.shape
    rows = torch.arange(b)
    cost = cost_fn(p0, rows).to(torch.float64)
    zi = torch.zeros(b, dtype=torch.int64)
    eye = torch.eye(d, dtype=torch.float64).expand(b, d, d).clone()
    state = AMState(
        position=p0.clone(),
        cost=cost,
        phase=torch.full((b,), UNIFORM, dtype=torch.int64),
        step=zi.clone(),
        accepted=zi.clone(),
        allow=torch.full((b,), config.allow0, dtype=torch.float64),
        sd_factor=torch.full((b,), config.sd_factor0, dtype=torch.float64),
        hist_n=torch.zeros(b, dtype=torch.float64),
        hist_mean=torch.zeros(b, d, dtype=torch.float64),
        hist_m2=torch.zeros(b, d, d, dtype=torch.float64),
        chol=eye * 0.01,
        uniform_restarts=zi.clone(),
        gaussian_restarts=zi.clone(),
        p0=p0.clone(),
        cost0=cost.clone(),
        uniform_checked=torch.ones(b, dtype=torch.bool),
        stuck_restarts=zi.clone(),
    )
    return state, b


# --------------------------------------------------------------------------- proposals
def _inside(x: Tensor) -> Tensor:
    return ((x > 0) & (x < 1)).all(dim=-1)


def _gaussian(state: AMState, rows: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``k`` Gaussian proposals per row (m, k, d)."""
    x = state.position[rows]
    z = torch.randn(x.shape[0], k, x.shape[1], generator=generator, dtype=torch.float64)
    return x[:, None, :] + torch.einsum("mij,mkj->mki", state.chol[rows], z)


def propose(
    state: AMState, active: Tensor, config: KernelConfig, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Proposals for the ``active`` rows (m, d) and a mask of those inside the box (m,).

    Uniform phase: ``x + (u - 1/2) / allow``. With PRODA's ``redraw`` rule a proposal
    outside the unit box is drawn again until it lies inside; for the uniform proposal
    that is the same as drawing each coordinate uniformly on the intersection of its
    interval with (0, 1), which is done directly. Gaussian phase: ``x + L z`` with the
    factor ``L`` of the proposal covariance; redraws are drawn in batches (the first
    inside candidate of i.i.d. draws has the same law as sequential redraws), at most
    ``max_redraws`` per step; rows still outside are returned with ``inside = False``.
    """
    x = state.position[active]
    m, d = x.shape
    redraw = BOUNDARY_RULES[config.mode] == "redraw"
    u = torch.rand(m, d, generator=generator, dtype=torch.float64)
    half = 0.5 / state.allow[active, None]
    if redraw:
        lo = torch.clamp(x - half, min=0.0)
        hi = torch.clamp(x + half, max=1.0)
        prop = lo + u * (hi - lo)
    else:
        prop = x + (u - 0.5) * 2.0 * half
    g = torch.nonzero(state.phase[active] == GAUSSIAN).flatten()
    if g.numel():
        prop[g] = _gaussian(state, active[g], 1, generator)[:, 0]
    inside = _inside(prop)
    if redraw and g.numel():
        tries, k = 1, 4
        while tries < config.max_redraws and not bool(inside.all()):
            out = torch.nonzero(~inside).flatten()
            k = min(k, config.max_redraws - tries)
            cand = _gaussian(state, active[out], k, generator)  # (o, k, d)
            ok = _inside(cand)  # (o, k)
            hit = ok.any(1)
            if bool(hit.any()):
                first = ok.to(torch.int8).argmax(1)
                h = torch.nonzero(hit).flatten()
                prop[out[h]] = cand[h, first[h]]
                inside[out[h]] = True
            tries += k
            k = min(4 * k, 256)
    return prop, inside


# --------------------------------------------------------------------------- adaptation
def _proposal_cholesky(c: Tensor, jitter: float, out: Tensor | None = None) -> Tensor:
    """Cholesky factor of the proposal covariance ``c`` (m, d, d), written to ``out``.

    Where ``c`` is not positive definite, jitter is added (growing 100x per try, relative
    to the mean variance); a degenerate history (chain never moved) gets small isotropic
    steps.
    """
    d = c.shape[-1]
    eye = torch.eye(d, dtype=c.dtype)
    if out is None:
        out = torch.empty_like(c)
    _, info = torch.linalg.cholesky_ex(c, out=(out, torch.empty(0, dtype=torch.int32)))
    bad = info != 0
    eps = jitter
    for _ in range(12):
        if not bool(bad.any()):
            return out
        idx = torch.nonzero(bad).flatten()
        level = torch.diagonal(c[idx], dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1e-8)
        cf, inf = torch.linalg.cholesky_ex(c[idx] + (eps * level)[:, None, None] * eye)
        out[idx] = cf
        bad[idx] = inf != 0
        eps *= 100.0
    if bool(bad.any()):
        out[bad] = 1e-3 * eye
    return out


def _history_cov(state: AMState, rows: Tensor | slice, scale: Tensor | float = 1.0) -> Tensor:
    """``scale * cov`` of the phase's history (one record per step) for ``rows``."""
    n = state.hist_n[rows].clamp_min(2.0)
    return state.hist_m2[rows] * (scale / (n - 1.0))[:, None, None]


def _reset_history(state: AMState, rows: Tensor) -> None:
    state.hist_n[rows] = 0.0
    state.hist_mean[rows] = 0.0
    state.hist_m2[rows] = 0.0


def _refactor(state: AMState, rows: Tensor | slice, config: KernelConfig) -> None:
    """Proposal factor ``chol(sd_factor / d * cov(history))`` of ``rows`` (PRODA's)."""
    c = _history_cov(state, rows, state.sd_factor[rows] / state.dim)
    if isinstance(rows, slice):
        _proposal_cholesky(c, config.jitter, out=state.chol)
    else:
        state.chol[rows] = _proposal_cholesky(c, config.jitter)


def _restart_chain(state: AMState, rows: Tensor, config: KernelConfig) -> None:
    """Restart chains from ``p0`` in the uniform phase with step divisor ``allow0``."""
    state.position[rows] = state.p0[rows]
    state.cost[rows] = state.cost0[rows]
    state.phase[rows] = UNIFORM
    state.step[rows] = 0
    state.accepted[rows] = 0
    state.allow[rows] = config.allow0
    state.uniform_restarts[rows] = 0
    _reset_history(state, rows)


# --------------------------------------------------------------------------- step
def step(
    state: AMState, cost_fn: CostFn, config: KernelConfig, generator: torch.Generator
) -> tuple[AMState, dict[str, Tensor]]:
    """Advance every active chain by one step of its phase, then apply the schedule.

    ``state`` is updated in place and returned. ``info`` holds (B,) tensors:
    ``evaluated`` (bool, a model evaluation was spent on this row), ``accepted`` (bool),
    ``phase`` (phase of this step), ``step_number`` (1-based step within that phase),
    ``started_gaussian``, ``restarted_uniform``, ``restarted_chain``, ``stuck`` and
    ``finished`` (bool events).
    """
    b = state.position.shape[0]
    active_mask = state.phase != DONE
    all_active = bool(active_mask.all())
    active = torch.arange(b) if all_active else torch.nonzero(active_mask).flatten()
    sel = slice(None) if all_active else active
    info_phase = state.phase.clone()
    evaluated = torch.zeros(b, dtype=torch.bool)
    accepted = torch.zeros(b, dtype=torch.bool)
    stuck = torch.zeros(b, dtype=torch.bool)
    u = torch.rand(b, generator=generator, dtype=torch.float64)
    step_number = state.step + 1
    if active.numel():
        prop, inside = propose(state, active, config, generator)
        evaluated[active] = True
        new_cost = cost_fn(prop.clamp(0.0, 1.0), active).to(torch.float64)
        new_cost = torch.where(inside, new_cost, torch.full_like(new_cost, math.inf))
        if BOUNDARY_RULES[config.mode] == "redraw":
            stuck[active] = ~inside
        delta = new_cost - state.cost[sel]
        acc = ACCEPTANCE_RULES[config.mode](delta, step_number[sel], u[sel])
        rows = active[acc]
        state.position[rows] = prop[acc]
        state.cost[rows] = new_cost[acc]
        state.accepted[rows] += 1
        accepted[rows] = True
        state.step[sel] += 1
        # Welford update of the phase's history (one record per step, the current point)
        x = state.position[sel]
        n = state.hist_n[sel] + 1.0
        dx = x - state.hist_mean[sel]
        state.hist_mean[sel] += dx / n[:, None]
        w = (n - 1.0) / n
        if all_active:
            state.hist_m2.baddbmm_((dx * w[:, None])[:, :, None], dx[:, None, :])
        else:
            state.hist_m2[sel] += (dx * w[:, None])[:, :, None] * dx[:, None, :]
        state.hist_n[sel] = n
        # adaptation of the Gaussian proposal within the Gaussian phase
        s = state.step[sel]
        adapt = (
            (state.phase[sel] == GAUSSIAN)
            & (s > config.adapt_after)
            & (s % config.adapt_every == 0)
        )
        if bool(adapt.any()):
            _refactor(state, sel if bool(adapt.all()) else active[adapt], config)
        # a stuck redraw: PRODA restarts the chain if its Gaussian phase accepted nothing yet
        if config.stuck_redraw == "restart_chain" and bool(stuck.any()):
            st = (
                stuck
                & (info_phase == GAUSSIAN)
                & (state.accepted == 0)
                & (state.stuck_restarts < config.max_stuck_restarts)
            )
            if bool(st.any()):
                r = torch.nonzero(st).flatten()
                state.stuck_restarts[r] += 1
                _restart_chain(state, r, config)
        else:
            st = torch.zeros(b, dtype=torch.bool)
    else:
        st = torch.zeros(b, dtype=torch.bool)
    events = _schedule(state, config)
    events["restarted_chain"] = events["restarted_chain"] | st
    info = {
        "evaluated": evaluated,
        "accepted": accepted,
        "phase": info_phase,
        "step_number": step_number,
        "stuck": stuck,
        **events,
    }
    return state, info


def _schedule(state: AMState, config: KernelConfig) -> dict[str, Tensor]:
    """Phase ends: uniform restarts, start of the Gaussian phase, chain restarts, done."""
    b = state.position.shape[0]
    started = torch.zeros(b, dtype=torch.bool)
    restarted_uniform = torch.zeros(b, dtype=torch.bool)
    restarted_chain = torch.zeros(b, dtype=torch.bool)
    finished = torch.zeros(b, dtype=torch.bool)

    end_u = (state.phase == UNIFORM) & (state.step >= config.n_uniform)
    if bool(end_u.any()):
        failed = end_u & state.uniform_checked & (state.accepted < config.min_accept)
        if config.uniform_exhausted == "restart_chain":
            # PRODA: the 3rd failure restarts the chain from p0 without the check
            exhausted = failed & (state.uniform_restarts + 1 >= config.max_uniform_restarts)
        else:
            exhausted = failed & (state.uniform_restarts >= config.max_uniform_restarts)
        low = failed & ~exhausted
        r = torch.nonzero(low).flatten()
        if r.numel():  # restart the uniform phase with smaller steps, from where it is
            state.allow[r] *= config.allow_growth
            state.uniform_restarts[r] += 1
            state.step[r] = 0
            state.accepted[r] = 0
            _reset_history(state, r)
            restarted_uniform[r] = True
        if config.uniform_exhausted == "restart_chain":
            r = torch.nonzero(exhausted).flatten()
            if r.numel():
                _restart_chain(state, r, config)
                state.uniform_checked[r] = False
                restarted_chain[r] = True
            go = end_u & ~failed
        else:
            go = end_u & ~low
        g = torch.nonzero(go).flatten()
        if g.numel():  # start the Gaussian phase from the uniform phase's covariance
            _refactor(state, g, config)
            state.phase[g] = GAUSSIAN
            state.step[g] = 0
            state.accepted[g] = 0
            if config.gaussian_start_cost == "p0":
                state.cost[g] = state.cost0[g]
            _reset_history(state, g)
            started[g] = True

    end_g = (state.phase == GAUSSIAN) & (state.step >= config.n_gaussian)
    if bool(end_g.any()):
        rate = state.accepted.to(torch.float64) / state.step.clamp_min(1).to(torch.float64)
        too_low = end_g & (rate < config.accept_low)
        too_high = end_g & (rate > config.accept_high)
        can = state.gaussian_restarts < config.max_gaussian_restarts
        redo = (too_low | too_high) & can
        r = torch.nonzero(redo).flatten()
        if r.numel():  # restart the whole chain from p0 with a new proposal scale
            factor = torch.where(too_low[r], config.shrink, config.grow).to(torch.float64)
            state.sd_factor[r] *= factor
            state.gaussian_restarts[r] += 1
            _restart_chain(state, r, config)
            restarted_chain[r] = True
        f = torch.nonzero(end_g & ~redo).flatten()
        state.phase[f] = DONE
        finished[f] = True
    return {
        "started_gaussian": started,
        "restarted_uniform": restarted_uniform,
        "restarted_chain": restarted_chain,
        "finished": finished,
    }
