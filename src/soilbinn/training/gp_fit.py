"""Fit the Gaussian-process prior of :mod:`soilbinn.nn.gp_prior` after the network's training.

``train.gp_prior.iterations > 0`` (BINN only): starting from the trained network's
parameters at the training sites, (1) the GP hyperparameters (length scales, the
covariance between parameters and, with ``mean = evidence``, the mean) maximise the
Laplace evidence of the local
quadratic model of the SOC misfit on a random subset of training sites (``subset`` sites,
at most 1,600 / learned parameters; L-BFGS, ``hyper_steps`` iterations); (2)
``iterations`` damped Newton steps move the posterior mode of all training sites (in the
kernel's leading eigenbasis: eigenvalues above 1e-8 of the largest, at most ``rank`` of
them, twice as many up to ``rank_max`` when with them a round's first step cannot fit as
well as the network, and then at most half the ``rounds`` per start, since each round
costs two to three times as much), each accepted only if it lowers the negative log posterior (the first only if it
raises the misfit by less than one unit of chi-square per learned value, since the
network's own fit has no GP prior term to compare with); each accepted step is followed by
up to ``chord_steps`` chord steps (the same Hessians and damping, so the same factorised
system, with the gradient at the new point: one pass through the process model each
instead of the Hessian's ``1 + learned`` and a new factorisation), each kept (else half
of it) only if it lowers the negative log posterior. A trial point's backward pass through
the process model is taken only if the point is kept, and the gradient at the last point
kept is the next Hessian's first pass. A round's steps end early once a step with its
chord steps lowers the negative log posterior by less than ``tolerance``. The final
posterior mode must
pass the same test against the network's misfit, else it is rejected and the network kept:
on one of 20 training runs measured the evidence at the network's fit gave
hyperparameters whose posterior mode doubled the misfit. With ``rounds`` > 1, (1) and (2)
are repeated from the last posterior mode (hyperparameters warm-started): where a site's
SOC says little the network's parameters are compressed toward the well-informed ones,
the evidence read there describes a prior too narrow and too smooth to undo that, and at
the GP's own mode it widens (type-II maximum likelihood by alternation). Of the rounds
the one with the highest Laplace evidence at its own mode is kept; a round whose mode
fails the misfit test ends the rounds. The likelihood is the log-SOC
misfit read as Gaussian with the variance the network's fit leaves (``sigma^2`` = its
misfit), so its gradient and Hessian are the misfit's times ``n_obs / (2 sigma^2)``.

Which sites the evidence reads is a random draw (``subset`` sites, ``train.seed``), and
the draw changes the hyperparameters and the recovery as much as any setting measured:
with three draws, held-out tau4s3 ranged over 0.69-0.88 on one truth (hinge 335)
(``docs/recovery_ablation.md``, stop 42). With ``evidence_blocks`` > 1 the evidence is
the sum of the Laplace evidences of that many disjoint random blocks of ``subset`` sites
(as many as the training sites fill), each block read as independent of the others (a
product of experts); with ``subset_draw = per_round`` each round after the first draws its
sites anew. Neither is the default: on 16 lab truths each met the target about as often
as the single subset's own draws. With ``draws`` > 1 the stage reads that many draws
of those sites, and the draw whose kept round has the highest Laplace evidence at all
training sites is kept: the evidence of all sites tells the draws apart where the subset's
cannot (``docs/recovery_ablation.md``, stop 43). Each draw runs as its own starts (phases):
with ``select_after`` every draw's phases run that many rounds and the one of highest
evidence of all goes on; without it every draw runs all its rounds, as if the stage were
run once per draw, and the highest evidence is kept. Once the kernel basis is doubled
(``rank_max``) no further draw is begun, and the phase chosen after ``select_after`` rounds
goes on only while its next round fits in the work the stage's rounds take at the base
rank, a round in the doubled basis counting as two: with ``demo``'s three kernels doubled
in their first round, none goes on (the first rounds keep the choice among the kernels; a
stepped truth's training had taken 158-170 CPU s of the 180 the issue allows, stop 58).

The prior's mean of each parameter's logits is fitted with the rest (``mean = evidence``)
or, with ``mean = modes`` (``demo`` since stop 52), set each round to the mean of the
logits the round starts from (the network's in the first round, the last posterior mode
after) and not fitted; with ``mean = start`` it stays the mean of the start's logits in
every round (stop 69). Fitted, it can drift far from the logits' own mean (a mean logit
of -1.28 for tau4s3 where the posterior mode's averaged +0.13, hinge 335): the constant is
confounded with the kernels' slowest directions and the categories' offsets, and it
centres the sites the SOC resolves weakly low, which biases efolding and tau4s3 low
with the noise (stop 51). Taken from the logits, the target was met on 38 of 50 truths
against 37 and on 19 of 24 drawn afterwards against 16 (``docs/recovery_ablation.md``,
stops 41, 51 and 52; with the GP stage of stop 41 it had met it on one truth fewer).

With ``variance_scale`` c != 1 each evidence fit's kernel variances are multiplied by c
before the Newton steps read them (the length scales and the mean as fitted; the next
round's fit starts from the widened values). On 7 of 11 misses of stop 70 the training
sites' SOC prefers the truth to the posterior mode (``benchmarks/recovery_errors.py
--simulated``): there the evidence, read on ``subset`` sites, picks a prior narrower than
the SOC of all training sites supports. Not the default: with c = 2 the target was met on
16 of 26 fresh truths against 15, gaining two and losing one, and the lowest held-out
R2 fell on 13 of the 26 (``docs/recovery_ablation.md``, stop 70).

With ``temper`` the first rounds weight the SOC log likelihood by a factor each (``demo``:
0.3 in round 1): such a round fits the hyperparameters and the posterior mode as if the
observation error variance were larger, so its mode leans on the prior and forgets what
of the start's pattern the prior does not hold; it is the next round's start and is never
kept (its evidence is the tempered model's, recorded as -inf); the last round is never
tempered. With ``temper_from_start`` a tempered round after untempered ones starts again
from the phase's start, with fresh hyperparameters and support: the rounds before it stay
candidates (``temper: [1, 0.3]``: the network's first round against the tempered path).
The rounds otherwise climb
from the network's solution to the nearest posterior mode and hyperparameters that
describe it: started from the true parameters, the stage reached a higher evidence than
from the network on 5 of the 6 misses of stop 71's first 13 truths, and met the target on
all five (``docs/recovery_ablation.md``, stop 71). With ``temper_paths = both`` every
start runs the untempered rounds too, as a phase of its own; with ``select_after`` (more
rounds than the tempered ones) the path of higher evidence goes on. Neither path is
better on every truth, and where one misses the evidence often prefers the other by
hundreds of log units (stop 72).

With several starts (``starts``, or several correlation functions) and ``select_after``, every
start runs that many rounds, and only the one whose rounds reached the highest evidence
runs the rest (successive halving); without it every start runs all rounds.

``correlation`` names the kernels' correlation function, or a list of them: the squared
exponential, the rougher Matern 5/2, with which a parameter may change faster along a
covariate (stop 38), or the additive kernel of one and two features at a time, whose
functions are sums (:func:`soilbinn.nn.gp_prior.additive`; the categories' one-hot columns
are in its sum whatever ``categories`` says), or the same sums of one-dimensional
exponential correlations (``additive_exponential``, rougher: functions that may step
along a covariate). With several, every start's rounds run with
each, and the round with the highest evidence of all is kept; ``demo`` runs the squared
exponential and the additive kernel two rounds each, the higher evidence the other two
(``docs/recovery_ablation.md``, stop 47).

With ``kernel = per_parameter`` each learned parameter has its own length scales and
variance (a block-diagonal prior; ``lengthscale_spread`` ties the log length scales to
their mean over the parameters), the evidence fit reads them all on the same subset and
the Newton steps work in one pivoted-Cholesky eigenbasis per parameter
(``docs/recovery_ablation.md``, stop 33). When no round is kept with them, the stage is
run again with the shared kernel before the network is kept.

With ``steps`` > 0 (per-parameter kernels) a parameter's prior may also step where a
covariate crosses a value: a smooth kernel must blur a threshold over a length scale, and
on a stepped truth the information is lost at the training sites, not in the
extrapolation (stop 73). At the start of each phase's first untempered round, after its
evidence fit, candidate steps (centred indicators ``[x > e]``, ``e`` every 0.04 quantile
of each numeric covariate and of lon, lat) are scored jointly over the parameters by the
fast marginal likelihood in the round's Newton system
(:func:`soilbinn.nn.gp_prior.select_steps`): a step with its own variance is a rank-one
term of one parameter's prior covariance, outside the kernel's features. The best are
added while each raises the evidence of all training sites by more than ``step_bar``
(default the log of the number of candidates), the evidence is fitted again with them,
and they stay only if the evidence at the round's start is then higher than without
them. They are in every later round of the phase and in the prediction
(:meth:`soilbinn.nn.gp_prior.GPPrior.step_logits`).

With ``cells`` (per-parameter kernels) the lon/lat cells of each size add an offset shared
by their sites, one variance per size and parameter; so do the regions of each categorical
covariate named in ``regions``, which the network does not read. A gate at each phase's start sets the
variances alone, after the phase's first evidence fit and on its sites, and keeps them
only if they pass AIC's price there and then raise the evidence of all training sites by
``cells_bar``; the later fits and the support search leave them out, and a dropped gate
gives the phase without cells to the last bit (``docs/recovery_ablation.md``, stops 75 and
76).

The covariance between the parameters is diagonal unless ``correlated``: the evidence
at the network's solution reads the network's errors along the SOC's trade-off ridges
(parameters that compensate each other) as a correlation of the parameters themselves,
and a prior holding that correlation keeps those errors. Measured in
``docs/recovery_ablation.md``, "A Gaussian-process prior" and "Parameters that vary
independently a priori (stop 24)".
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from soilbinn.nn.gp_prior import (
    CELL_HELD,
    SUMS,
    GPPrior,
    LowRankLaplace,
    SeparateLowRankLaplace,
    cell_blocks,
    cell_keys,
    kernel_basis,
    laplace_evidence_gradients,
    laplace_evidence_gradients_separate,
    lengthscale_width,
    pivoted_kernel_basis,
    rbf_stack,
    region_keys,
    select_steps,
    site_kernel,
    step_candidates,
    step_indicators,
)
from soilbinn.training.config import correlation_names
from soilbinn.training.gp_support import estimate_support
from soilbinn.training.polish import site_gradient_hessian

#: the evidence fit's dense system has at most this many rows (subset sites x learned)
HYPER_VALUES = 1600

#: a length scale (training standard deviations) at which a feature no longer matters
IRRELEVANT_LENGTHSCALE = 1e4


def site_features(
    net: torch.nn.Module,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    use_lonlat: bool = True,
    cells: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The GP's features of the training sites, standardised over them.

    Parameters
    ----------
    net : ParamNet
        The trained network; its input scaling makes the features.
    inputs : (numeric (n, c), categorical (n, m), lonlat (n, 2))
        Inputs of the training sites.
    use_lonlat : bool
        Whether (lon, lat) / 10 are features.
    cells : Tensor (m, 3), optional
        The lon/lat cells whose one-hot columns are features
        (:func:`soilbinn.nn.gp_prior.cell_keys`; with ``use_lonlat``).

    Returns
    -------
    x : Tensor (n, d)
        :meth:`GPPrior.raw_features` minus ``mean`` over ``std`` (float64).
    mean, std : Tensor (d,)
        The training sites' feature means and standard deviations (1 where constant).
    """
    with torch.no_grad():
        raw = GPPrior.raw_features(net, *inputs, use_lonlat, cells)
    mean, std = raw.mean(0), raw.std(0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return (raw - mean) / std, mean, std


def evidence_subsets(
    n: int,
    k: int,
    cfg,
    seed: int,
    round_: int,
    draw: int = 0,
    features: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """The training sites the evidence fit reads in a round.

    Parameters
    ----------
    n, k : int
        Training sites and learned parameters.
    cfg : GPPriorConfig
        ``subset`` (sites per block), ``evidence_blocks`` and ``subset_draw``.
    seed : int
        The training seed.
    round_ : int
        The round, from 0: with ``subset_draw = per_round`` each round after the first
        draws anew, else every round reads round 0's sites.
    draw : int
        Which of ``train.gp_prior.draws`` independent draws (0: the one without ``draws``).
    features : Tensor (n, d), optional
        The sites' standardised features, for ``subset_sampling = stratified``: ``strata``
        k-means clusters of them, each given its share of the sites by largest remainders
        and drawn at random within (the random stream also seeds the clustering). Without
        them, or with ``random``, a uniform draw.

    Returns
    -------
    list of ndarray
        Disjoint index arrays of ``min(subset, n, HYPER_VALUES // k)`` sites each (at
        least 2), ``evidence_blocks`` of them or as many as the ``n`` sites fill.
    """
    m = min(cfg.subset, n, max(2, HYPER_VALUES // k))
    blocks = max(1, min(cfg.evidence_blocks, n // m))  # as many full blocks as the sites fill
    first = cfg.subset_draw == "fixed" or round_ == 0
    if draw == 0:
        gen = np.random.default_rng(seed if first else [seed, round_])
    else:  # a stream of its own for each further draw
        gen = np.random.default_rng([seed, 0 if first else round_, draw])
    if cfg.subset_sampling == "stratified" and features is not None:
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        f = np.asarray(features.detach().cpu(), dtype=np.float64)
        n_strata = min(cfg.strata, n)
        labels = KMeans(n_clusters=n_strata, n_init=1, random_state=int(gen.integers(2**31)))
        with threadpool_limits(1):  # the same strata whatever the machine's threads
            labels = labels.fit(f).labels_
        quota = m * blocks * np.bincount(labels, minlength=n_strata) / n
        take = np.floor(quota).astype(int)
        take[np.argsort(-(quota - take), kind="stable")[: m * blocks - take.sum()]] += 1
        chosen = np.concatenate([
            gen.choice(np.flatnonzero(labels == c), size=take[c], replace=False)
            for c in range(n_strata) if take[c]
        ])  # fmt: skip
        return np.split(gen.permutation(chosen), blocks)
    return np.split(gen.choice(n, size=m * blocks, replace=False), blocks)


#: where ``train.gp_prior.w_pattern`` moves w_scaling, as a factor of each site's saturation
#: threshold: every cell's water scalar saturated (as ``w_margin`` 1.02)
W_PATTERN_ABOVE = 1.02


def saturation_pattern(
    z: torch.Tensor, z_net: torch.Tensor, j: int, threshold: torch.Tensor, factor: float
) -> torch.Tensor:
    """Logits with w_scaling moved above its saturation threshold where it is near it.

    Parameters
    ----------
    z, z_net : Tensor (n, k)
        The mode's logits of the learned parameters at the training sites, and the
        network's.
    j : int
        w_scaling's column.
    threshold : Tensor (n,)
        Each site's saturation threshold of w_scaling on the unit scale
        (:func:`soilbinn.process.rates.water_saturation_threshold`, scaled to the bounds).
    factor : float
        Sites whose w_scaling is at least ``factor * threshold`` are moved.

    Returns
    -------
    Tensor (n, k)
        A copy of ``z``: at the moved sites w_scaling at :data:`W_PATTERN_ABOVE` of the
        threshold (capped just below the top of its range) and the other columns
        ``z_net``'s. ``saturation_pattern.moved`` counts the sites.
    """
    thr = threshold.to(z)
    near = torch.sigmoid(z[:, j]) >= factor * thr
    out = z.clone()
    out[near] = z_net.to(z)[near]
    out[near, j] = torch.logit((W_PATTERN_ABOVE * thr[near]).clamp(1e-6, 1 - 1e-6))
    saturation_pattern.moved = int(near.sum())
    return out


saturation_pattern.moved = 0


def probe_limitation(
    z: torch.Tensor,
    j: int,
    threshold: torch.Tensor,
    site_loss: Callable[[torch.Tensor], torch.Tensor],
    factors: Sequence[float],
    bar: float,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits with w_scaling moved below its saturation threshold where the SOC asks for it.

    At a site whose w_scaling is at or above its threshold the SOC does not depend on it,
    so the Newton steps never find a water limitation there. Each such site's w_scaling is
    tried at each of ``factors`` times its threshold, the other parameters held, and moved
    to the one of highest likelihood where that is more than ``bar`` log units above the
    likelihood where it was (``train.gp_prior.w_probe``).

    Parameters
    ----------
    z : Tensor (n, k)
        The mode's logits of the learned parameters at the training sites.
    j : int
        w_scaling's column.
    threshold : Tensor (n,)
        Each site's saturation threshold of w_scaling on the unit scale
        (:func:`soilbinn.process.rates.water_saturation_threshold`, scaled to the bounds).
    site_loss : callable
        ``(n, k) unit-scale parameters -> (n,)`` each site's term of the training misfit.
    factors : sequence of float
        The trial values of w_scaling as factors of the threshold, each in (0, 1).
    bar : float
        Log likelihood units a move must gain.
    scale : float
        Log likelihood units per unit of misfit.

    Returns
    -------
    z : Tensor (n, k)
        A copy of ``z`` with the moved sites' w_scaling logits changed.
    gain : Tensor (n,)
        Each site's gain in log likelihood units, 0 where it did not move.
    """
    thr = threshold.to(z)
    q = torch.sigmoid(z)
    saturated = q[:, j] >= thr
    base = site_loss(q).to(z)
    best, w_best = torch.zeros_like(base), q[:, j].clone()
    for factor in factors:
        trial = q.clone()
        trial[:, j] = (factor * thr).clamp(1e-6, 1 - 1e-6)
        gain = scale * (base - site_loss(trial).to(z))
        better = saturated & (gain > best)
        best = torch.where(better, gain, best)
        w_best = torch.where(better, trial[:, j], w_best)
    move = saturated & (best > bar)
    out = z.clone()
    out[move, j] = torch.logit(w_best[move])
    return out, torch.where(move, best, torch.zeros_like(best))


def fit_gp_prior(
    net: torch.nn.Module,
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor],
    n_obs: int,
    cfg,
    use_lonlat: bool = True,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    blend: float | list[float] | None = None,
    starts: Sequence[Callable[[torch.Tensor], torch.Tensor] | None] = (None,),
    hyperparameters: Mapping[str, torch.Tensor] | None = None,
    draw: int = 0,
    irrelevant: torch.Tensor | None = None,
    support_exempt: Sequence[int] = (),
    w_pattern: tuple[int, torch.Tensor] | None = None,
    w_probe: tuple[int, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> tuple[GPPrior | None, dict[str, float]]:
    """Fit a :class:`GPPrior` to the training sites; the network is not changed.

    Parameters
    ----------
    net : ParamNet
        The trained network (its outputs at the training sites are the starting point).
    inputs : (numeric (n, c), categorical (n, m), lonlat (n, 2))
        Inputs of the training sites.
    loss_of_outputs : callable
        ``(n, k) unit-scale parameters -> scalar`` training misfit (site-separable).
    n_obs : int
        Number of training observations (scales the misfit to a log likelihood).
    cfg : GPPriorConfig
        ``iterations``, ``hyper_steps``, ``subset``, ``lengthscale``, ``blend``.
    starts : sequence of callable or None
        Starting points of the Newton steps, each ``(n, k) -> (n, k)`` unit-scale from the
        network's outputs, ``None`` for those outputs themselves (the default, one start).
        Every start (with several correlation functions, every start with each correlation
        function) runs its own rounds from fresh hyperparameters; the likelihood's scale
        and the misfit test stay the network's, so the evidences of all rounds of all
        starts compare, and the highest is kept. With ``cfg.select_after``, each start
        runs that many rounds and only the best goes on (``continued``, its index in the
        phases: starts, then for each draw, kernel and categories).
    blend : float or list of float (k,), optional
        The GP's weight in the prediction, one or per learned parameter (default
        ``cfg.blend``).
    hyperparameters : mapping, optional
        Fixed hyperparameters used in every round instead of the evidence fit (a diagnosis:
        ``benchmarks/gp_oracle_hyperparameters.py`` reads them off a synthetic truth):
        ``log_lengthscale`` ((k, d) with ``kernel = per_parameter``, else (d,); in units of
        :func:`site_features`' standardised features), ``variance`` (k,) and ``mean`` (k,)
        of the logits. Needs ``correlated = false``.
    draw : int
        Which draw of the evidence's sites this stage reads (see :func:`evidence_subsets`);
        with ``cfg.draws`` > 1 it reads draws ``draw`` to ``draw + draws - 1``, each run as
        its own starts (phases): with ``select_after`` the draws compete with the other
        phases after that many rounds, without it each runs all rounds. ``draw`` in the
        dict is the kept round's draw, ``draw_evidence`` each draw's highest log evidence
        (NaN where none of its phases completed a round).
    irrelevant : Tensor (k, d) bool, optional
        Per learned parameter, the features the evidence fit leaves out: their length
        scales (both of a sum's) are held at :data:`IRRELEVANT_LENGTHSCALE` and the tie
        (``lengthscale_spread``) reads only the others. A diagnosis
        (``benchmarks/gp_oracle_hyperparameters.py --support``: the features a synthetic
        truth depends on); needs ``kernel = per_parameter``.
    support_exempt : sequence of int
        With ``cfg.support = "sbl"`` (per-parameter kernels, no ``irrelevant``), the
        learned parameters whose kernels keep every feature
        (:func:`soilbinn.training.gp_support.estimate_support`).
    w_pattern : (int, Tensor (n,)), optional
        w_scaling's column among the learned parameters and each training site's
        saturation threshold on the unit scale, for ``cfg.w_pattern``: when the phase that
        goes on after ``cfg.select_after`` rounds is chosen, at the sites where its mode
        has w_scaling at ``cfg.w_pattern`` of the threshold or more, w_scaling moves to
        :data:`W_PATTERN_ABOVE` of it and the other learned parameters back to the
        network's outputs (``info["w_pattern_sites"]``: how many).
    w_probe : (int, Tensor (n,), callable), optional
        w_scaling's column, each training site's saturation threshold on the unit scale
        and ``(n, k) unit-scale parameters -> (n,)`` each site's term of
        ``loss_of_outputs``, for ``cfg.w_probe``: when the phase that goes on after
        ``cfg.select_after`` rounds is chosen and it began from a raised start (a
        ``w_margin`` above 1, every cell saturated), :func:`probe_limitation` moves
        w_scaling below its threshold where the SOC asks for a water limitation, after
        ``w_pattern`` (``info["w_probe_sites"]``: how many).

    Returns
    -------
    (GPPrior or None, dict)
        The prior holding the posterior mean (None when no step was accepted or the
        posterior mode was rejected: keep the network), and ``misfit_before`` (the
        network's), ``misfit_after`` (the kept posterior mode's), ``log_evidence`` (its
        Laplace log evidence, up to a constant), ``round_evidence`` (every completed
        round's), ``round`` (the one kept, from 1), ``accepted`` and ``tried`` (Newton
        steps, all rounds), ``chord`` (chord steps kept, all rounds), ``rank`` (eigenpairs kept), ``rejected``, ``hyper_seconds``
        (the evidence fits), ``seconds`` (all), ``kernel`` (the one used) and
        ``correlation`` (the kept round's correlation function, None without one); ``start``
        is the kept round's index in ``starts``; ``continued`` the phase that ran on after
        ``select_after`` rounds (None when every phase ran all rounds);
        ``offset_variance`` the kept round's offset variance per parameter (k,), logits^2
        (fitted with ``cfg.offset_fit``; absent when the network is kept).
    """
    t0 = time.perf_counter()
    f64 = torch.float64
    numeric, categorical, lonlat = inputs
    with torch.no_grad():
        p = net(numeric, categorical, lonlat).detach().to(f64)
    n, k = p.shape
    # the lon/lat cells of the training sites (train.gp_prior.cells) and their regions
    # (train.gp_prior.regions: the columns of categorical after the network's), one-hot
    # features
    cells = torch.cat([
        cell_keys(lonlat, cfg.cells) if use_lonlat and cfg.cells else torch.zeros(0, 3, dtype=f64),
        region_keys(categorical[:, len(net.inputs.n_categories):]) if cfg.regions
        else torch.zeros(0, 3, dtype=f64)]).to(f64)  # fmt: skip
    x, mean_x, std_x = site_features(net, inputs, use_lonlat, cells)
    # the categories' one-hot columns by train.gp_prior.categories (see site_kernel)
    onehots = {"product": None, "additive": GPPrior.onehot_columns(net, x.shape[1])}
    # the cells' columns: offsets of their own in every kernel (see site_kernel)
    cell_mask = GPPrior.cell_columns(net, x.shape[1], len(cells)) if len(cells) else None
    first = int(net.inputs.numeric_min.numel())  # the one-hot columns of each category
    ends = torch.cumsum(net.inputs.n_categories, 0).tolist()
    blocks = [list(range(first + e - c, first + e))
              for c, e in zip(net.inputs.n_categories.tolist(), ends)]  # fmt: skip
    by_size = cell_blocks(cells, first + int(net.inputs.n_categories.sum()))
    # the cells and regions as the log names them: (description, short name) of each present
    n_reg = int((cells[:, 0] < 0).sum())
    named = [(f"{len(cells) - n_reg} lon/lat cells of sizes {list(cfg.cells)} deg", "cells")
             ] * bool(len(cells) - n_reg) + [(f"{n_reg} regions of {list(cfg.regions)}",
                                              "regions")] * bool(n_reg)  # fmt: skip
    cells_name = " and ".join(short for _, short in named)
    if log is not None and named:
        log(f"gp_prior: {' and '.join(long for long, _ in named)} as features")
    z = torch.logit(p.clamp(1e-6, 1 - 1e-6))

    def unit_loss(zz: torch.Tensor) -> float:
        with torch.no_grad():
            return float(loss_of_outputs(torch.sigmoid(zz)))

    misfit0 = unit_loss(z)
    # the misfit as a Gaussian log likelihood: n_obs / 2 log units per unit of relative misfit
    # at the network's; a tempered round (``cfg.temper``) weights it by its factor
    base_scale = n_obs / (2 * max(misfit0, 1e-12))
    scale, beta = base_scale, 1.0

    # the likelihood's weights per round: the ``temper`` path, and with ``temper_paths =
    # both`` the untempered one beside it (each start runs both, as phases of their own)
    schedules = [list(cfg.temper)]
    if cfg.temper_paths == "both" and min(len(cfg.temper), cfg.rounds - 1) > 0:
        schedules.append([])

    def weight_of(round_: int, schedule: Sequence[float]) -> float:
        # the last round is never tempered
        tempered = round_ < min(len(schedule), cfg.rounds - 1)
        return float(schedule[round_]) if tempered else 1.0

    def unit_point(zz: torch.Tensor) -> tuple[float, tuple[torch.Tensor, torch.Tensor]]:
        # the misfit at logits zz, its graph kept: the backward pass is taken only for a
        # point that is kept (gradient_at)
        q = torch.sigmoid(zz).clamp(1e-9, 1 - 1e-9).detach().requires_grad_(True)
        with torch.enable_grad():
            loss = loss_of_outputs(q)
        return float(loss.detach()), (q, loss)

    def gradient_at(point: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # the misfit's gradient on the unit scale and the likelihood's in logits
        q, loss = point
        with torch.enable_grad():
            (gq,) = torch.autograd.grad(loss, q)
        gq, q = torch.nan_to_num(gq, nan=0.0), q.detach()
        return gq, scale * gq * q * (1 - q)

    def likelihood_terms(
        zz: torch.Tensor, known: tuple[float, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # known: the misfit and its unit-scale gradient at zz, when a step has them
        q = torch.sigmoid(zz).clamp(1e-9, 1 - 1e-9)
        with torch.enable_grad():
            _, gq, hq = site_gradient_hessian(loss_of_outputs, q, known=known)
        dq = q * (1 - q)  # chain rule to logits; Gauss-Newton: the curvature of sigmoid dropped
        return scale * gq * dq, scale * hq * dq[:, :, None] * dq[:, None, :]

    dev = p.device
    eye = torch.eye(k, dtype=f64, device=dev)
    separate = cfg.kernel == "per_parameter"  # one kernel per learned parameter
    # each parameter's constant offset, marginalised: its variance added to every kernel
    # entry; with offset_fit one variance per parameter, fitted by the evidence (log scale)
    offset = cfg.offset_variance if separate else 0.0
    offset_fit = separate and offset > 0 and cfg.offset_fit and hyperparameters is None
    log_off = torch.full((k,), math.log(offset) if offset > 0 else 0.0, dtype=f64,
                         device=dev, requires_grad=offset_fit)  # fmt: skip

    # steps along the covariates (``steps``): the candidates' centred indicators (n, m),
    # and per phase the steps its rounds have (see the round's end)
    use_steps = separate and cfg.steps > 0 and hyperparameters is None
    step_state: dict[int, dict] = {}
    cur_steps: list[tuple[int, int, float, float]] = []
    if use_steps:
        ll_ = lonlat if use_lonlat else None
        cand_var, cand_edge = step_candidates(numeric, ll_)
        ind_ = step_indicators(numeric, ll_, cand_var, cand_edge).to(dev)
        cand_center = ind_.mean(0)
        cand_cols = ind_ - cand_center
        step_bar = (cfg.step_bar if cfg.step_bar is not None
                    else math.log(max(k * cand_cols.shape[1], 2)))  # fmt: skip
        if log is not None:
            log(f"gp_prior: {cand_cols.shape[1]} candidate steps per parameter, "
                f"bar {step_bar:.2f} log units")  # fmt: skip
        use_steps = cand_cols.shape[1] > 0
        # not the parameters whose logits follow the covariates where the SOC does not see
        # them (support_exempt: w_scaling at its saturated sites)
        step_params = [j for j in range(k) if j not in set(support_exempt)]

    def step_matrix(j: int, rows: torch.Tensor | None = None) -> torch.Tensor | None:
        # parameter j's steps' prior covariance among the sites rows (all when None)
        mine = [(c, v) for jj, c, v, _ in cur_steps if jj == j]
        if not mine:
            return None
        cols = cand_cols if rows is None else cand_cols[rows]
        cols = cols[:, [c for c, _ in mine]]
        return (cols * torch.tensor([v for _, v in mine], dtype=f64, device=dev)) @ cols.T

    def steps_times(a: torch.Tensor) -> torch.Tensor:
        # the steps' prior covariance times coefficients a (n, k)
        out = torch.zeros_like(a)
        for j, c, v, _ in cur_steps:
            out[:, j] += v * cand_cols[:, c] * (cand_cols[:, c] @ a[:, j])
        return out

    def off() -> torch.Tensor:
        # (k,) the offsets' variances, logits^2 (bounded: 1e-8 to 100)
        if not offset_fit:
            return torch.full((k,), offset, dtype=f64, device=dev)
        return torch.exp(log_off.clamp(math.log(1e-8), math.log(100.0)))

    ls_shape = (k, x.shape[1]) if separate else (x.shape[1],)
    # a sum of two correlation functions has two sets of length scales (SUMS); the other
    # kernels read the first
    width = max(lengthscale_width(c, x.shape[1]) for c in correlation_names(cfg.correlation))
    log_ls = torch.empty((*ls_shape[:-1], width), dtype=f64, device=dev, requires_grad=True)

    def ls_of(ls_: torch.Tensor, kern: tuple[str, str]) -> torch.Tensor:
        return ls_[..., : lengthscale_width(kern[0], x.shape[1])]

    chol_b = torch.empty(k, k, dtype=f64, device=dev, requires_grad=True)
    mu = torch.empty(k, dtype=f64, device=dev, requires_grad=True)
    fixed = None
    if hyperparameters is not None:
        if cfg.correlated:
            raise ValueError("fit_gp_prior: fixed hyperparameters need correlated = false")
        if width > x.shape[1]:
            raise ValueError("fit_gp_prior: fixed hyperparameters are one kernel's length "
                             f"scales; correlation {cfg.correlation} has a sum of two")  # fmt: skip
        fixed = {key: torch.as_tensor(hyperparameters[key], dtype=f64, device=dev)
                 for key in ("log_lengthscale", "variance", "mean")}  # fmt: skip
        for key, shape in (("log_lengthscale", ls_shape), ("variance", (k,)), ("mean", (k,))):
            if tuple(fixed[key].shape) != tuple(shape):
                raise ValueError(f"fit_gp_prior: hyperparameters[{key!r}] has shape "
                                 f"{tuple(fixed[key].shape)}, expected {tuple(shape)}")  # fmt: skip
        if not bool((fixed["variance"] > 0).all()):
            raise ValueError("fit_gp_prior: hyperparameters['variance'] must be > 0")

    def reset_hyperparameters(zz: torch.Tensor) -> None:
        # a start's first values: the configured length scale, the logits' own spread/mean
        cov = torch.cov(zz.T) + 1e-3 * eye if n > 1 else eye.clone()
        if not cfg.correlated:
            cov = torch.diag(torch.diagonal(cov))
        if fixed is not None:
            cov = torch.diag(fixed["variance"])
        with torch.no_grad():
            log_ls.fill_(math.log(cfg.lengthscale))
            log_ls[..., 2 * x.shape[1] :] = 0.0  # a sum's two terms weighted equally
            chol_b.copy_(torch.linalg.cholesky(cov))
            mu.copy_(zz.mean(0))
            if offset_fit:
                log_off.fill_(math.log(offset))
            if fixed is not None:
                log_ls[..., : x.shape[1]].copy_(fixed["log_lengthscale"])
                mu.copy_(fixed["mean"])
            if held is not None:
                log_ls[held] = math.log(IRRELEVANT_LENGTHSCALE)

    def b_cov() -> torch.Tensor:
        low = torch.tril(chol_b) if cfg.correlated else torch.diag(torch.diagonal(chol_b))
        return low @ low.T + 1e-8 * eye

    subsets_read: dict[tuple[int, int], list[torch.Tensor]] = {}

    def subsets_of(round_: int, draw_: int) -> list[torch.Tensor]:
        # evidence_subsets of the round and draw, computed once (a stratified draw clusters
        # the sites; with subset_draw fixed every round reads round 0's)
        key = (round_ if cfg.subset_draw == "per_round" else 0, draw_)
        if key not in subsets_read:
            subsets_read[key] = [torch.as_tensor(b, device=dev) for b in
                                 evidence_subsets(n, k, cfg, seed, key[0], draw_, x)]  # fmt: skip
        return subsets_read[key]

    sub = subsets_of(0, draw)
    if log is not None and cfg.subset_sampling == "stratified":
        log(
            f"gp_prior: the evidence reads {sum(len(b) for b in sub)} sites drawn in "
            f"proportion from {min(cfg.strata, n)} k-means strata of the site features"
        )

    held = None  # (k, width) the log length scales held at IRRELEVANT_LENGTHSCALE
    # support: sbl estimates each parameter's features (per-parameter kernels only; a
    # given ``irrelevant`` or fixed hyperparameters take its place)
    search = (cfg.support == "sbl" and separate and irrelevant is None
              and hyperparameters is None)  # fmt: skip
    if irrelevant is not None:
        irrelevant = torch.as_tensor(irrelevant, dtype=torch.bool, device=dev)
        if not separate or tuple(irrelevant.shape) != (k, x.shape[1]):
            raise ValueError(f"fit_gp_prior: irrelevant must be ({k}, {x.shape[1]}) with "
                             "kernel = per_parameter")  # fmt: skip
        held = torch.zeros(log_ls.shape, dtype=torch.bool, device=dev)
        held[:, : x.shape[1]] = irrelevant
        if width > x.shape[1]:  # a sum: the second term's length scales too
            held[:, x.shape[1] : 2 * x.shape[1]] = irrelevant

    # the log length scales of the cells' one-hot columns (of each term of a sum): one
    # offset variance per size and parameter, set by each phase's gate alone
    # (gate_cells), so the evidence fits leave them out (rest_cols: the others, each
    # term's, then a sum's weight); the spread ties the first tie_cols of those fitted
    d_ = x.shape[1]
    cell_all, rest_cols = None, None
    tie_cols = torch.arange(min(width, 2 * d_), device=dev)
    if by_size:
        cell_all = torch.as_tensor([c + t * d_ for cols in by_size for c in cols
                                    for t in range(width // d_)], device=dev)  # fmt: skip
        rest_cols = torch.ones(width, dtype=torch.bool, device=dev)
        rest_cols[cell_all] = False
        rest_cols = torch.nonzero(rest_cols).ravel()
        d_rest = d_ - len(cell_all) // (width // d_)
        tie_cols = torch.arange(min(len(rest_cols), 2 * d_rest), device=dev)
    # the least rise in the start evidence for a phase to keep them (default: BIC's price
    # of the variances, one per size and parameter)
    cells_bar = (cfg.cells_bar if cfg.cells_bar is not None
                 else 0.5 * len(by_size) * k * math.log(n))  # fmt: skip
    # held at no offset (a phase's gate dropped them, or it has not run)
    cells_held = [False]

    def fit_hyperparameters(
        zz: torch.Tensor, g: torch.Tensor, h: torch.Tensor, kern: tuple[str, str], steps: int
    ) -> None:
        # L-BFGS on the Laplace evidence at zz, warm-started from the current values
        held_mean = cfg.mean in ("modes", "start") and fixed is None  # not fitted
        if cfg.mean == "modes" and fixed is None:  # the current logits' own
            with torch.no_grad():
                mu.copy_(zz.mean(0))
        # (mean: start keeps the start's, set by reset_hyperparameters, in every round)
        # with cells, the other log length scales alone are fitted, as a tensor of their
        # own (held cells: the fit is the one without them to the last bit)
        leaf, held_ = log_ls, held
        if cell_all is not None:
            leaf = log_ls.detach()[..., rest_cols].clone().requires_grad_(True)
            held_ = None if held is None else held[..., rest_cols]
        fitted = [leaf, chol_b] if held_mean else [leaf, chol_b, mu]
        if offset_fit:
            fitted.append(log_off)
        opt = torch.optim.LBFGS(fitted, lr=1.0, max_iter=max(steps, 1),
                                history_size=20, tolerance_grad=1e-9, tolerance_change=1e-12,
                                line_search_fn="strong_wolfe")  # fmt: skip

        def closure() -> torch.Tensor:
            # the evidence's exact gradients with respect to the kernel, B and the logits
            # (no backward pass through the factorisation), chained to the hyperparameters;
            # summed over the blocks of sites, read as independent
            opt.zero_grad()
            evidence, surrogate = 0.0, 0.0
            ls_all = log_ls
            if leaf is not log_ls:  # the cells' log length scales around the fitted
                ls_all = log_ls.detach().clone()
                ls_all[..., rest_cols] = leaf
            for sb in sub:
                if separate:  # each parameter's kernel times its variance
                    ks = (
                        torch.diagonal(b_cov())[:, None, None]
                        * rbf_stack(
                            x[sb], x[sb], ls_of(ls_all, kern), kern[0], onehots[kern[1]], cell_mask
                        )
                        + off()[:, None, None]
                    )
                    if cur_steps:  # the steps' covariance (their variances as chosen)
                        ks = ks + torch.stack([
                            torch.zeros(len(sb), len(sb), dtype=f64, device=dev)
                            if (sj := step_matrix(j, sb)) is None else sj for j in range(k)
                        ])  # fmt: skip
                    ev_b, _, d_ks, d_c = laplace_evidence_gradients_separate(
                        ks.detach(), zz[sb] - mu.detach(), g[sb], h[sb]
                    )
                    surrogate = surrogate + (d_ks * ks).sum()
                else:
                    kx_sub = site_kernel(x[sb], x[sb], ls_of(ls_all, kern), kern[0],
                                         onehots[kern[1]], cell_mask)  # fmt: skip
                    bc = b_cov()
                    ev_b, d_kx, d_b, d_c = laplace_evidence_gradients(
                        kx_sub.detach(), bc.detach(), zz[sb] - mu.detach(), g[sb], h[sb]
                    )
                    surrogate = surrogate + (d_kx * kx_sub).sum() + (d_b * bc).sum()
                evidence = evidence + ev_b
                surrogate = surrogate - (d_c.sum(0) * mu).sum()
            tie = torch.zeros((), dtype=f64, device=dev)
            if separate and cfg.lengthscale_spread is not None:  # log length scales near their mean
                tied = leaf[..., tie_cols]  # not a sum's weights
                if held_ is None:
                    spread = tied - tied.mean(0)
                else:  # among the features each parameter keeps
                    kept_ = (~held_[..., tie_cols]).to(f64)
                    centre = (tied * kept_).sum(0) / kept_.sum(0).clamp_min(1.0)
                    spread = (tied - centre) * kept_
                tie = 0.5 * (spread**2).sum() / cfg.lengthscale_spread**2
            (tie - surrogate).backward()
            if held_ is not None and leaf.grad is not None:
                leaf.grad[held_] = 0.0
            return -evidence + tie.detach()

        if steps and fixed is None:
            saved = [t.detach().clone() for t in fitted]
            try:
                with torch.enable_grad():
                    opt.step(closure)
                ok = all(bool(torch.isfinite(t).all()) for t in fitted)
            except torch.linalg.LinAlgError:  # a trial point where B or K is not a covariance
                ok = False
            if not ok:  # the line search left the hyperparameters' valid region
                with torch.no_grad():
                    for t, v in zip(fitted, saved):
                        t.copy_(v)
                if log is not None:
                    log("gp_prior: the evidence fit reached non-finite hyperparameters; "
                        "this round keeps the ones it started from")  # fmt: skip
        if leaf is not log_ls:
            with torch.no_grad():
                log_ls[..., rest_cols] = leaf
        if cfg.variance_scale != 1.0 and fixed is None:  # the fitted variances widened
            with torch.no_grad():
                chol_b.mul_(math.sqrt(cfg.variance_scale))

    def estimated_support(zz, g_, h_, before):
        # the (k, width) mask of estimate_support's irrelevant features, both terms of a
        # sum; the log length scales of features held out are set to the irrelevant one,
        # those of features back in to the mean of that parameter's kept ones
        d_ = x.shape[1]
        if cell_mask is not None:  # the cells out of the search (their gate decides)
            rest = ~cell_mask.to(dev)
            out = torch.zeros(k, d_, dtype=torch.bool, device=dev)
            out[:, rest] = estimate_support(x[:, rest], zz, g_, h_, blocks,
                                            cfg.support_precision, support_exempt)  # fmt: skip
        else:
            out = estimate_support(x, zz, g_, h_, blocks, cfg.support_precision, support_exempt)
        mask = torch.zeros(log_ls.shape, dtype=torch.bool, device=dev)
        mask[:, :d_] = out
        if log_ls.shape[1] > d_:
            mask[:, d_ : 2 * d_] = out
        with torch.no_grad():
            if before is not None:
                kept = (~before).to(f64)
                centre = (log_ls * kept).sum(0) / kept.sum(0).clamp_min(1.0)
                back = before & ~mask
                log_ls[back] = centre.expand_as(log_ls)[back]
            log_ls[mask] = math.log(IRRELEVANT_LENGTHSCALE)
        if log is not None:
            searched = out if cell_mask is None else out[:, ~cell_mask.to(dev)]
            log("gp_prior: features kept per parameter "
                f"{(~searched).sum(1).tolist()} of {searched.shape[1]} (support: sbl)")  # fmt: skip
        return mask

    def prior_times(
        kx: torch.Tensor, a: torch.Tensor, bc_: torch.Tensor, off_: torch.Tensor
    ) -> torch.Tensor:
        # the prior covariance times coefficients a (n, k): kron(Kx, B), or per parameter
        # with its offset's variance off_ (k,)
        if separate:
            out = torch.einsum("jil,lj->ij", kx, a) * torch.diagonal(bc_) + off_ * a.sum(0)
            return out + steps_times(a) if cur_steps else out
        return kx @ a @ bc_

    last_kernel: list = []  # (kern, log length scales, kernel) of the last kernel_of

    def kernel_of(ls_: torch.Tensor, kern: tuple[str, str]) -> torch.Tensor:
        # kern: (correlation function, categories); the last kernel again if its length
        # scales are (the cells' gate computes the round's kernel)
        if last_kernel and last_kernel[0] == kern and torch.equal(last_kernel[1], ls_):
            return last_kernel[2]
        if separate:
            out = rbf_stack(x, x, ls_of(ls_, kern), kern[0], onehots[kern[1]], cell_mask)
        else:
            out = site_kernel(x, x, ls_of(ls_, kern), kern[0], onehots[kern[1]], cell_mask)
        remember_kernel(kern, ls_, out)
        return out

    def remember_kernel(kern: tuple[str, str], ls_: torch.Tensor, kx_: torch.Tensor) -> None:
        last_kernel[:] = [kern, ls_.detach().clone(), kx_]

    def new_system(basis, h_: torch.Tensor) -> LowRankLaplace | SeparateLowRankLaplace:
        # the Newton system in the kernel eigenbasis: (lam, u, B), or one basis per parameter
        return SeparateLowRankLaplace(basis, h_) if separate else LowRankLaplace(*basis, h_)

    def fits_as_well(m_new: float) -> bool:
        # a misfit above the network's by less than one unit of chi-square per learned value
        return n_obs * (m_new - misfit0) / max(misfit0, 1e-12) < n * k

    # (alpha, log_ls, mu, b_cov, (correlation, categories), misfit) of the round of highest
    # evidence (its misfit is the stage's: no kernel recomputed for it)
    kept = None
    accepted, tried, hyper_seconds, evidence, rank, rounds = 0, 0, 0.0, -math.inf, 0, 0
    chords, cap = 0, cfg.rank
    # a doubled basis makes every later round two to three times dearer (a system of twice
    # the rows per Newton step): the stage then runs at most half its rounds per start
    n_draws = cfg.draws if hyperparameters is None else 1
    rounds_cap, draws_cap = cfg.rounds, draw + n_draws
    info: dict = {"misfit_before": misfit0, "rejected": False, "round_evidence": [], "draw": None}
    info["start_evidence"] = []  # per start, correlation function and categories
    correlations = correlation_names(cfg.correlation)
    if not separate:
        # one kernel for all parameters has one weight for a sum's two terms, where the sum
        # is there to weight them per parameter: its terms run as kernels of their own, the
        # evidence choosing (a shared sum can settle on one term at a lower evidence than
        # that term reaches alone: tests/test_gp_prior.py, the fallback below)
        correlations = list(dict.fromkeys(t for c in correlations for t in SUMS.get(c, (c,))))
    categories = ["product", "additive"] if cfg.categories == "both" else [cfg.categories]
    member = x[:, onehots["additive"].to(x.device)] > 0  # sites in each category
    if not bool((member.any(0) & ~member.all(0)).any()):
        categories = categories[:1]  # no category splits the sites: the kernels are the same
    # each draw of the evidence's sites runs every start, correlation and categories
    # (the additive kernel takes the one-hot columns into its sum whatever ``categories``
    # says: one term per category, an offset of its sites, and, with the pairs, a slope of
    # each covariate per category; a separate offset would repeat the first)
    kerns = list(dict.fromkeys((corr, "product" if corr.startswith("additive") else cat)
                               for cat in categories for corr in correlations))  # fmt: skip
    # with later_starts "chosen" only the first start's phases run first; each later start
    # joins with the kernel and draw they chose (below)
    later = list(enumerate(starts))[1:] if cfg.later_starts == "chosen" else []

    def runs_path(i: int, sched: list) -> bool:
        # ``start_paths``: the paths start i runs (both when not given)
        paths = cfg.start_paths[i] if cfg.start_paths and i < len(cfg.start_paths) else "both"
        return (len(schedules) == 1 or paths == "both"
                or (paths == "tempered") == (sched is schedules[0]))  # fmt: skip

    phases = [(i, start, kern, draw + d, sched) for d in range(n_draws) for kern in kerns
              for i, start in enumerate(starts[:1] if later else starts)
              for sched in schedules if runs_path(i, sched)]  # fmt: skip
    # legs of rounds (phase, first round, end): with several phases and ``select_after``,
    # every phase runs that many rounds, then only the one of highest evidence runs on
    first_end = cfg.rounds
    if len(phases) > 1 and cfg.select_after is not None:
        first_end = min(cfg.select_after, cfg.rounds)
    legs = [(ph, 0, first_end) for ph in range(len(phases))]
    # the work the stage may spend: the rounds its phases run at the base rank (those
    # begun: no draw is begun after a doubling); a round in the doubled basis spends two.
    # Every phase's first rounds run whatever they spend (the choice among them needs them
    # all); the chosen phase goes on only while its next round fits in what is left
    spent = 0

    def planned() -> int:
        return len(info["start_evidence"]) * first_end + cfg.rounds - first_end

    def start_evidence(zz, g_, h_, kern, kx_=None):
        # the Laplace evidence of the quadratic model at zz with the current hyperparameters
        # and steps (all training sites), its Newton system and posterior coefficients;
        # kx_: the kernel, when known
        kx_ = kernel_of(log_ls.detach(), kern) if kx_ is None else kx_
        bc_, off_ = b_cov().detach(), off().detach()
        basis_ = []
        for j in range(k):
            cov_j = bc_[j, j] * kx_[j] + off_[j]
            if (sj := step_matrix(j)) is not None:
                cov_j = cov_j + sj
            basis_.append(pivoted_kernel_basis(cov_j, cap))
        system_ = new_system(basis_, h_)
        ev_, alpha_ = system_.step(zz - mu.detach(), g_)
        return float(ev_), system_, alpha_, kx_

    def search_steps(ph_: int, round_: int, zz, g_, h_, kern):
        # at the start of a phase's first untempered round, after its evidence fit: steps
        # chosen by the fast marginal likelihood (gp_prior.select_steps), each with the
        # variance it chose, and the evidence fit again with them. Returns the gate the round applies
        # once its Newton system is built: (the evidence at the start without the steps,
        # the hyperparameters and kernel without them), or None when none was chosen
        t_s = time.perf_counter()
        with torch.no_grad():
            ev0, system_, alpha_, kx0 = start_evidence(zz, g_, h_, kern)
            new = select_steps(system_, alpha_, cand_cols, step_bar, cfg.steps, step_params)
        del system_
        if not new:
            if log is not None:
                log(f"gp_prior: round {round_ + 1}, no step raises the evidence by "
                    f"{step_bar:.2f} log units ({time.perf_counter() - t_s:.1f} s)")  # fmt: skip
            return None
        before = [t.detach().clone() for t in (log_ls, chol_b, mu, log_off)]
        cur_steps[:] = new
        fit_hyperparameters(zz, g_, h_, kern, cfg.hyper_steps)
        step_state[ph_]["steps"] = list(cur_steps)
        if log is not None:
            log(f"gp_prior: round {round_ + 1}, steps (parameter, variable, quantile, gain) "
                + ", ".join(f"({j}, {int(cand_var[c])}, {1 - float(cand_center[c]):.2f}, "
                            f"{gain:.1f})" for j, c, _, gain in new)
                + f" ({time.perf_counter() - t_s:.1f} s)")  # fmt: skip
        return ev0, before, kx0

    def gate_cells(zz, g_, h_, kern) -> bool:
        # at a phase's start, after its first evidence fit (without the cells): the cells'
        # variances (one per size and parameter) fitted alone on the fit's sites, the rest
        # held. Unless they raise the evidence of those sites by more than AIC's price
        # there, they are dropped; else they stay if the evidence of all training sites at
        # the start rises by more than the bar. The rest of the kernel does not change, so
        # it is computed once (on each evidence subset, and on all sites, where it is the
        # round's kernel if they are dropped) and the cells' offsets added to it
        before = log_ls.detach().clone()
        with torch.no_grad():
            kx_rest = kernel_of(log_ls.detach(), kern)  # the cells held: no offset
            bc_d, off_ = torch.diagonal(b_cov()).detach(), off().detach()
            ls_ = ls_of(log_ls.detach(), kern)
            subsets = []
            for sb in sub:  # (the rest of each parameter's prior, the sizes' same-cell masks)
                ks = (bc_d[:, None, None]
                      * rbf_stack(x[sb], x[sb], ls_, kern[0], onehots[kern[1]], cell_mask)
                      + off_[:, None, None])  # fmt: skip
                for j in range(k):
                    if (sj := step_matrix(j, sb)) is not None:
                        ks[j] += sj
                same = torch.stack([(x[sb][:, cols] > 0).to(f64) @ (x[sb][:, cols] > 0).to(f64).T
                                    for cols in by_size])  # fmt: skip
                subsets.append((sb, ks, same))
        l_c = torch.full((k, len(by_size)), math.log(cfg.lengthscale), dtype=f64, device=dev,
                         requires_grad=True)  # fmt: skip
        # (it stops once a step changes the evidence by less than 1e-4 nats: a decision
        # against a price of ten nats or more needs no more)
        opt = torch.optim.LBFGS([l_c], lr=1.0, max_iter=max(cfg.hyper_steps, 1),
                                history_size=20, tolerance_grad=1e-6, tolerance_change=1e-4,
                                line_search_fn="strong_wolfe")  # fmt: skip

        def subset_evidence(var: torch.Tensor, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
            # the evidence of the fit's sites with the cells' variances var (k, sizes), and
            # the surrogate whose gradient is the evidence's
            evidence = surrogate = torch.zeros((), dtype=f64, device=dev)
            for sb, ks_rest, same in subsets:
                ks = ks_rest + torch.einsum("jz,zab->jab", var, same)
                ev_b, _, d_ks, _ = laplace_evidence_gradients_separate(
                    ks.detach(), zz[sb] - mu.detach(), g_[sb], h_[sb]
                )
                evidence = evidence + ev_b
                if grad:
                    surrogate = surrogate + (d_ks * ks).sum()
            return evidence, surrogate

        def closure() -> torch.Tensor:
            opt.zero_grad()
            evidence, surrogate = subset_evidence(bc_d[:, None] * torch.exp(-2 * l_c), True)
            tie = torch.zeros((), dtype=f64, device=dev)
            if cfg.lengthscale_spread is not None:  # as the other log length scales
                tie = 0.5 * ((l_c - l_c.mean(0)) ** 2).sum() / cfg.lengthscale_spread**2
            (tie - surrogate).backward()
            return -evidence + tie.detach()

        try:
            with torch.enable_grad():
                opt.step(closure)
            ok = bool(torch.isfinite(l_c).all())
        except torch.linalg.LinAlgError:
            ok = False
        n_fit = sum(len(sb) for sb, _, _ in subsets)
        price = float(len(by_size) * k)  # AIC's: a nat per variance (a cell's offset is seen
        # by the sites of its cell, few of them in the fit's subset)
        gain_fit, gain = -math.inf, None
        with torch.no_grad():
            if ok:
                on_ = torch.exp(-2 * l_c) * (l_c < CELL_HELD)  # relative to each variance
                var_fit = bc_d[:, None] * on_
                gain_fit = float(subset_evidence(var_fit, False)[0]
                                 - subset_evidence(torch.zeros_like(var_fit), False)[0])  # fmt: skip
            keep = gain_fit > price
            if keep:  # the evidence of all training sites, without and with them
                ev_without = start_evidence(zz, g_, h_, kern, kx_rest)[0]
                add = torch.zeros_like(kx_rest)
                for z_, cols in enumerate(by_size):
                    in_ = (x[:, cols] > 0).to(f64)
                    add += on_[:, z_, None, None] * (in_ @ in_.T)
                kx_with = kx_rest + add
                gain = start_evidence(zz, g_, h_, kern, kx_with)[0] - ev_without
                keep = gain > cells_bar
            if keep:
                for z_, cols in enumerate(by_size):
                    for t in range(width // d_):
                        log_ls[:, [c + t * d_ for c in cols]] = l_c[:, z_ : z_ + 1]
                remember_kernel(kern, log_ls, kx_with)
            else:
                log_ls.copy_(before)
        cells_held[0] = not keep
        info.setdefault("cells_kept", []).append(keep)
        info.setdefault("cells_gain_fit", []).append(gain_fit)
        info.setdefault("cells_gain", []).append(gain)
        info["cells_bar"] = cells_bar
        if log is not None:
            log(f"gp_prior: the {cells_name} raise the log evidence of the fit's {n_fit} sites by "
                f"{gain_fit:.1f} (AIC's price {price:.1f})"
                + ("" if gain is None else f", of all training sites by {gain:.1f} (bar "
                   f"{cells_bar:.1f})") + (": kept" if keep else ": dropped"))  # fmt: skip
        return keep

    saved: dict[int, tuple] = {}  # a phase's state after its last leg, while it may go on
    z_starts: dict[int, torch.Tensor] = {}  # each phase's starting logits (temper_from_start)
    held_of: dict[int, torch.Tensor | None] = {}  # and its support (support: sbl)
    info["continued"] = None
    leg, selected = 0, False
    while leg < len(legs):
        ph, first_round, end_round = legs[leg]
        leg += 1
        i_start, start, kern, phase_draw, schedule = phases[ph]
        if first_round == 0:
            if search:  # each start estimates its own support
                held = None
            with torch.no_grad():
                z = torch.logit((p if start is None else start(p)).to(f64).clamp(1e-6, 1 - 1e-6))
            reset_hyperparameters(z)
            z_starts[ph] = z.clone()
            step_state[ph] = {"steps": [], "searched": False}
            info["start_evidence"].append([])
            beta = weight_of(0, schedule)
            scale = base_scale * beta
            g, h = likelihood_terms(z)
        else:  # the phase chosen to go on: its mode, likelihood terms and hyperparameters
            z, g, h, hyper, beta = saved.pop(ph)
            if w_pattern is not None and cfg.w_pattern is not None:
                z = saturation_pattern(z, torch.logit(p.to(f64).clamp(1e-6, 1 - 1e-6)),
                                       *w_pattern, cfg.w_pattern)  # fmt: skip
                info["w_pattern_sites"] = saturation_pattern.moved
                g, h = likelihood_terms(z)
                if log is not None:
                    log(f"gp_prior: w_scaling moved above its saturation threshold, the other "
                        f"parameters back to the network's, at {saturation_pattern.moved} of "
                        f"{n} sites (the mode at {cfg.w_pattern:g} of the threshold or more)")  # fmt: skip
            if w_probe is not None and cfg.w_probe and getattr(start, "margin", 0.0) > 1:
                z, gain = probe_limitation(z, *w_probe, cfg.w_probe, cfg.w_probe_bar, base_scale)
                moved = int((gain > 0).sum())
                info["w_probe_sites"] = moved
                g, h = likelihood_terms(z)
                if log is not None:
                    log(f"gp_prior: w_scaling moved below its saturation threshold at {moved} "
                        f"of {n} sites, where the SOC asks for a water limitation (log "
                        f"likelihood +{float(gain.sum()):.1f})")  # fmt: skip
            if search:
                held = held_of.pop(ph)
            with torch.no_grad():
                for tensor, value in zip((log_ls, chol_b, mu, log_off), hyper, strict=True):
                    tensor.copy_(value)
        going_on = True
        for round_ in range(first_round, end_round):
            if round_ >= rounds_cap:
                break
            if first_round > 0 and spent + (2 if cap > cfg.rank else 1) > planned():
                if log is not None:
                    log(
                        f"gp_prior: round {round_ + 1} not begun: the doubled basis has spent "
                        f"the work of {spent} of the stage's {planned()} rounds"
                    )
                going_on = False
                break
            weight = weight_of(round_, schedule)
            restarted = cfg.temper_from_start and round_ > 0 and beta == 1.0 != weight
            if restarted:  # a tempered round after untempered ones: the phase's start again
                beta, held = weight, None
                scale = base_scale * beta
                z = z_starts[ph].clone()
                reset_hyperparameters(z)
                step_state[ph] = {"steps": [], "searched": False}
                g, h = likelihood_terms(z)
                if log is not None:
                    log(f"gp_prior: round {round_ + 1} starts again from the phase's start")
            elif weight != beta:  # the likelihood's terms at the new weight
                beta = weight
                scale = base_scale * beta
                g, h = likelihood_terms(z)
            scale = base_scale * beta
            tempered = beta != 1.0
            cur_steps = list(step_state[ph]["steps"]) if use_steps else []
            th = time.perf_counter()
            sub = subsets_of(round_, phase_draw)
            fresh = round_ == 0 and cfg.hyper_steps_first is not None
            # the cells are held until the phase's gate has run (its first fit is without them)
            cells_held[0] = cell_all is not None and step_state[ph].get("cells_off", True)
            if cells_held[0]:
                with torch.no_grad():
                    log_ls[..., cell_all] = math.log(IRRELEVANT_LENGTHSCALE)
            fit_hyperparameters(z, g, h, kern, cfg.hyper_steps_first if fresh else cfg.hyper_steps)
            if search and round_ >= 1 and not restarted:  # features at the last round's mode
                held = estimated_support(z, g, h, held)
                fit_hyperparameters(z, g, h, kern, cfg.hyper_steps)
            if cell_all is not None and separate and "cells_off" not in step_state[ph]:
                step_state[ph]["cells_off"] = not gate_cells(z, g, h, kern)
            gate = None
            if use_steps and not tempered and not step_state[ph]["searched"]:
                step_state[ph]["searched"] = True
                gate = search_steps(ph, round_, z, g, h, kern)
            hyper_seconds += time.perf_counter() - th
            ls_r, mu_r, bc = log_ls.detach().clone(), mu.detach().clone(), b_cov().detach()
            off_r = off().detach().clone()
            if offset_fit and log is not None:
                log(f"gp_prior: round {round_ + 1}, offset variances "
                    f"{[float(f'{v:.3g}') for v in off_r.tolist()]}")  # fmt: skip
            kx = kernel_of(ls_r, kern)
            # Newton steps in the kernel's leading eigenbasis: ``cap`` eigenpairs, more (up to
            # rank_max) only when the round's first step cannot fit as well as the network
            if not separate:
                lam_all, u_all = kernel_basis(kx, max_rank=max(cfg.rank_max, cap))
            while True:
                if separate:  # one basis per parameter (pivoted Cholesky), variance included
                    basis = []
                    for j in range(k):
                        cov_j = bc[j, j] * kx[j] + off_r[j]
                        if (sj := step_matrix(j)) is not None:  # and the steps'
                            cov_j = cov_j + sj
                        basis.append(pivoted_kernel_basis(cov_j, cap))
                    lam = torch.cat([lm for lm, _ in basis])
                    complete = cap >= min(cfg.rank_max, n)
                else:
                    lam, u = lam_all[-cap:], u_all[:, -cap:]
                    basis, complete = (lam, u, bc), len(lam) == len(lam_all)
                system0 = None  # the first Newton step's system, when the gate built it
                if gate is not None:
                    # the steps are kept if with them the evidence of all training sites at
                    # the round's start is higher than without (the first step's system)
                    ev_without, before, kx0 = gate
                    gate = None
                    with torch.no_grad():
                        system0 = new_system(basis, h)
                        ev_with = float(system0.step(z - mu_r, g)[0])
                    if log is not None:
                        log(f"gp_prior: round {round_ + 1}, log evidence at the start "
                            f"{ev_without:.1f} without the steps, {ev_with:.1f} with them: "
                            + ("kept" if ev_with > ev_without else "dropped"))  # fmt: skip
                    if not ev_with > ev_without:  # the round as it was without them
                        system0, kx = None, kx0
                        cur_steps.clear()
                        step_state[ph]["steps"] = []
                        with torch.no_grad():
                            for t, v in zip((log_ls, chol_b, mu, log_off), before, strict=True):
                                t.copy_(v)
                        ls_r, mu_r = log_ls.detach().clone(), mu.detach().clone()
                        bc, off_r = b_cov().detach(), off().detach().clone()
                        basis = [pivoted_kernel_basis(bc[j, j] * kx[j] + off_r[j], cap)
                                 for j in range(k)]  # fmt: skip
                        lam = torch.cat([lm for lm, _ in basis])
                    del kx0
                alpha, psi, z_r, damp = None, math.inf, z, 0.0
                m_r = unit_loss(z_r)
                with torch.no_grad():
                    for _ in range(cfg.iterations):
                        current, psi_before = m_r, psi
                        hscale = float(torch.diagonal(h, dim1=1, dim2=2).mean().clamp_min(1e-12))
                        system = new_system(basis, h) if system0 is None else system0
                        system0 = None
                        for _ in range(12):  # Levenberg-Marquardt damping until a step is accepted
                            ev, a_new = system.step(z_r - mu_r, g, damp)
                            tried += 1
                            z_new = mu_r + prior_times(kx, a_new, bc, off_r)
                            m_new, point = unit_point(z_new)
                            psi_new = scale * m_new + 0.5 * float((a_new * (z_new - mu_r)).sum())
                            # a round's first step has no prior term to compare with: it must fit
                            # about as well as the network (a tempered round's need not)
                            first = alpha is None and not tempered
                            ok = fits_as_well(m_new) if first else psi_new < psi
                            if ok and math.isfinite(m_new):
                                alpha, psi, z_r, m_r, used = a_new, psi_new, z_new, m_new, damp
                                gq_r, g_r = gradient_at(point)
                                accepted += 1
                                damp /= 3
                                break
                            damp = max(4 * damp, 1e-3 * hscale)
                        else:
                            break
                        # chord steps: the same Hessians and damping (the factor reused), the
                        # gradient at each new point; each kept (else half of it) only if it
                        # lowers psi
                        n_chord = 0
                        for _ in range(cfg.chord_steps):
                            _, a_full = system.step(z_r - mu_r, g_r, used)
                            for t in (1.0, 0.5):  # the chord step, else half of it
                                a_c = alpha + t * (a_full - alpha)
                                z_c = mu_r + prior_times(kx, a_c, bc, off_r)
                                m_c, point = unit_point(z_c)
                                psi_c = scale * m_c + 0.5 * float((a_c * (z_c - mu_r)).sum())
                                if math.isfinite(psi_c) and psi_c < psi:
                                    break
                            else:
                                break
                            alpha, psi, z_r, m_r = a_c, psi_c, z_c, m_c
                            gq_r, g_r = gradient_at(point)
                            n_chord += 1
                        chords += n_chord
                        point = None  # the last try's graph
                        g, h = likelihood_terms(z_r, (m_r, gq_r))  # the gradient at z_r reused
                        if log is not None:
                            log(f"gp_prior: round {round_ + 1}, step {accepted}, misfit {current:.5g} "
                                f"-> {m_r:.5g}" + (f" ({n_chord} chord steps)" if n_chord else ""))  # fmt: skip
                        # converged (inf - psi on a first step)
                        if psi_before - psi < cfg.tolerance:
                            break
                if alpha is not None or complete:
                    break
                old, cap = cap, min(2 * cap, min(cfg.rank_max, n) if separate else len(lam_all))
                rounds_cap = max(round_ + 1, cfg.rounds // 2)
                draws_cap = min(draws_cap, phase_draw + 1)
                # no further draw is begun (the phases are in order of draws)
                legs[leg:] = [lg for lg in legs[leg:] if phases[lg[0]][3] < draws_cap]
                if log is not None:
                    log(f"gp_prior: round {round_ + 1}, no step fits as well as the network "
                        f"with {old} kernel eigenpairs" + (" per parameter" if separate else "")
                        + f"; again with {cap}, at most {rounds_cap} rounds per start")  # fmt: skip
            spent += 2 if cap > cfg.rank else 1
            if alpha is None:  # no step accepted: keep the previous round's
                going_on = False
                break
            misfit = m_r
            if not tempered and not fits_as_well(misfit):
                # the posterior mode trades the SOC fit for the prior: these hyperparameters do
                # not describe the parameters; keep the previous round's (round 1: the network)
                if round_ == 0:
                    info["rejected"] = True
                if log is not None:
                    log(f"gp_prior: round {round_ + 1} rejected, the posterior mode's misfit "
                        f"{misfit:.5g} exceeds the network's {misfit0:.5g} by more than one "
                        "chi-square unit per learned value")  # fmt: skip
                going_on = False
                break
            # the Laplace log evidence at the round's mode (g, h are there), up to a constant
            # common to all rounds: the quadratic model's plus the log likelihood at the mode
            with torch.no_grad():
                ev, _ = new_system(basis, h).step(z_r - mu_r, g)
            ev_r = float(ev) - scale * misfit
            if tempered:  # its mode starts the next round; its evidence is not the model's
                if log is not None:
                    log(f"gp_prior: round {round_ + 1}, likelihood weighted by {beta:g}, misfit "
                        f"{misfit:.5g}: the next round's start, not kept")  # fmt: skip
                ev_r = -math.inf
            elif log is not None:
                log(f"gp_prior: round {round_ + 1}, misfit {misfit:.5g}, log evidence {ev_r:.1f}")
            info["start_evidence"][ph].append(ev_r)
            z = z_r
            steps_r = list(cur_steps)
            if ev_r > evidence:
                kept = (alpha, ls_r, mu_r, bc, kern, misfit, off_r, steps_r)
                rank, rounds, evidence = len(lam), round_ + 1, ev_r
                info["start"], info["phase"], info["draw"] = i_start, ph, phase_draw
                if len(schedules) > 1:  # which path the kept round is on
                    info["tempered"] = bool(schedule)
        if going_on and end_round < rounds_cap:
            saved[ph] = (z, g, h, tuple(t.detach().clone() for t in (log_ls, chol_b, mu, log_off)),
                         beta)  # fmt: skip
            held_of[ph] = held
        if leg == len(legs) and not selected:
            # every phase has run its first rounds: the highest evidence goes on
            selected, best = True, None
            if first_end < rounds_cap and saved:
                best = max(saved, key=lambda q: max(info["start_evidence"][q]))
                room = spent + (2 if cap > cfg.rank else 1) <= planned()
                if room:
                    info["continued"] = best
                    legs.append((best, first_end, rounds_cap))
                if log is not None:
                    log(f"gp_prior: log evidence after {first_end} rounds by start "
                        f"{[round(max(e), 1) if e else None for e in info['start_evidence']]}; "
                        + (f"start {best + 1} goes on" if room else
                           f"the doubled basis has spent the work of {spent} of the stage's "
                           f"{planned()} rounds: start {best + 1} does not go on"))  # fmt: skip
            if later:  # later starts: the first start's chosen kernel and draw, all rounds
                done = [q for q, e in enumerate(info["start_evidence"]) if e]
                if best is None and done:
                    best = max(done, key=lambda q: max(info["start_evidence"][q]))
                _, _, kern_c, draw_c, sched_c = phases[0 if best is None else best]
                for i, start in later:
                    phases.append((i, start, kern_c, draw_c, sched_c))
                    legs.append((len(phases) - 1, 0, rounds_cap))
                later = []
    if kept is not None:
        info["round_evidence"] = info["start_evidence"][info["phase"]]
    # the highest evidence each draw reached (NaN: none of its phases kept a round)
    info["draw_evidence"] = [
        max((e for q, ev_q in enumerate(info["start_evidence"]) if phases[q][3] == draw + d
             for e in ev_q), default=math.nan)
        for d in range(n_draws)
    ]  # fmt: skip
    if n_draws > 1 and log is not None:
        log(f"gp_prior: log evidence by draw of the evidence's sites "
            f"{[round(e, 1) for e in info['draw_evidence']]}"
            + (f"; draw {info['draw'] - draw + 1} kept" if kept is not None else ""))  # fmt: skip
    info["correlation"] = kept[4][0] if kept is not None else None
    info["categories"] = kept[4][1] if kept is not None else None
    info["rejected"] = info["rejected"] and kept is None
    info.update({
        "misfit_after": kept[5] if kept is not None else misfit0,
        "log_evidence": evidence if kept is not None else math.nan, "accepted": accepted,
        "chord": chords,
        "tried": tried, "rank": rank, "round": rounds, "hyper_seconds": hyper_seconds,
    })  # fmt: skip
    info["kernel"] = cfg.kernel
    if kept is None and separate and fixed is None:
        # no round kept with per-parameter kernels (a start their smooth priors cannot hold,
        # e.g. parameters that vary at random between sites): the shared kernel, whose
        # length scales the least smooth parameter sets, is tried before the network
        if log is not None:
            log("gp_prior: no round kept with per-parameter kernels; again with one shared kernel")
        prior, again = fit_gp_prior(net, inputs, loss_of_outputs, n_obs,
                                    dataclasses.replace(cfg, kernel="shared", offset_variance=0.0,
                                                        steps=0, cells=[], regions=[]),
                                    use_lonlat, seed,
                                    log, blend, starts, None, draw)  # fmt: skip
        again["seconds"] = time.perf_counter() - t0  # both attempts
        again["kernel"] = "shared (per_parameter kept no round)"
        return prior, again
    if kept is None:  # no step accepted or rejected: keep the network
        info["seconds"] = time.perf_counter() - t0
        return None, info
    alpha, log_ls, mu, bc, (correlation, cats), _, off_kept, steps_kept = kept
    info["offset_variance"] = off_kept.tolist()
    prior = GPPrior(net, n, x.shape[1], k, use_lonlat, cfg.blend if blend is None else blend,
                    cfg.kernel, correlation, cats, off_kept.tolist(), len(steps_kept),
                    len(cells))  # fmt: skip
    info["steps"] = []
    with torch.no_grad():
        for t, (j, c, v, gain) in enumerate(steps_kept):  # each step's posterior mean
            prior.step_param[t], prior.step_var[t] = j, cand_var[c]
            prior.step_edge[t], prior.step_center[t] = cand_edge[c], cand_center[c]
            prior.step_weight[t] = v * (cand_cols[:, c] @ alpha[:, j])
            info["steps"].append({"param": j, "variable": int(cand_var[c]),
                                  "edge": float(cand_edge[c]), "variance": v, "gain": gain})  # fmt: skip
        if len(cells):
            prior.cell_keys.copy_(cells)
        prior.x_train.copy_(x)
        prior.alpha.copy_(alpha)
        prior.log_lengthscale.copy_(ls_of(log_ls, kept[4]))
        prior.chol_b.copy_(torch.linalg.cholesky(bc))
        prior.mean.copy_(mu)
        prior.feature_mean.copy_(mean_x)
        prior.feature_std.copy_(std_x)
    if len(cells):  # whether the kept prior adds the cells' (regions') offsets
        ls_cells = prior.log_lengthscale[..., : x.shape[1]][..., prior.cell_mask]
        info["cells_in_prior"] = bool((ls_cells < CELL_HELD).any())
    info["seconds"] = time.perf_counter() - t0
    return prior, info
