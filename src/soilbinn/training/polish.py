"""Reaching the noise floor: water-scalar relaxation schedule and L-BFGS polishing.

Two additions to the Adam epochs of :mod:`soilbinn.training.trainer`, both configured in
``train`` (``water_relaxation`` and ``polish``; off in the paper config, on in ``demo``):

- **Water-scalar relaxation.** ``xiw = min(W w_scaling, 1)`` has zero gradient in
  ``w_scaling`` wherever it saturates (most (layer, month) cells at the starting value
  0.5 of the unit scale, i.e. 2.5), so minibatch training never leaves that region.
  During the first ``fraction`` of the Adam epochs the process model uses the smooth
  ``1 - softplus(k (1 - x)) / k`` instead, with the sharpness ``k`` growing geometrically
  from ``sharpness_start`` to ``sharpness_end``; afterwards (and always in validation,
  polishing, evaluation and prediction) the exact min. The model equations at the end are
  exactly the process model's.
- **Polishing.** After the Adam epochs, full-batch L-BFGS (strong Wolfe line search) on the
  network weights with the exact training objective (misfit of all training sites plus
  the parameter regulariser), BatchNorm in inference mode so that the objective is the one
  used at prediction. A minibatch optimiser stalls at an SOC misfit well above the noise;
  a quasi-Newton method on the whole training set is affordable (one forward + backward
  over 2,000 sites takes ~0.2 s) and converges to it. The network is polished in float64
  (float32 gradients stall the line search near the optimum) and returned in its dtype;
  with validation sites the weights of the lowest validation objective (checked every 10
  iterations) are kept, and only if lower than that of Adam's best epoch.
- **Newton polishing** (``train.polish.method = newton``, :func:`newton_polish`; the demo's
  default): Newton steps in the space of the network outputs, per-site gradient and
  Hessian of the misfit, the network fitted to the local quadratic model. It follows the
  parameter trade-off ridges that L-BFGS on the weights crawls along (measured in
  ``docs/recovery_ablation.md``). ``train.polish.start`` chooses the Adam checkpoint it
  starts from, ``train.polish.monitor`` whether the validation objective picks the step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn


def water_sharpness(epoch: int, n_epochs: int, cfg) -> float | None:
    """Sharpness ``k`` of the smooth water scalar in (1-based) ``epoch``; None: exact.

    Parameters
    ----------
    epoch, n_epochs : int
        Current epoch (1-based) and the number of Adam epochs (``train.epochs``).
    cfg : WaterRelaxationConfig
        ``sharpness_start`` (None: no relaxation), ``sharpness_end``, ``fraction``.
    """
    if cfg.sharpness_start is None:
        return None
    n_relaxed = int(math.floor(cfg.fraction * n_epochs))
    if epoch > n_relaxed or n_relaxed < 1:
        return None
    t = (epoch - 1) / max(n_relaxed - 1, 1)
    return float(cfg.sharpness_start * (cfg.sharpness_end / cfg.sharpness_start) ** t)


def _cast(model: nn.Module, names: set[str] | None, dtype: torch.dtype) -> set[str]:
    """Cast float32 parameters and buffers (or those in ``names``) in place; their names."""
    done = set()
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if (names is None and t.dtype == torch.float32) or (names is not None and name in names):
            t.data = t.data.to(dtype)
            done.add(name)
    return done


class _BestWeights:
    """Early stopping of a polishing run on ``monitor`` (higher is better).

    Holds the best score so far, the iteration it came at and a copy of the weights;
    :meth:`check` after each accepted iteration says whether ``patience`` iterations
    in a row brought no improvement, :meth:`restore` puts the best weights back. With
    ``monitor=None`` it never stops and restores nothing.
    """

    def __init__(self, model, params, monitor, patience, start_score, backup) -> None:
        self.model, self.params, self.monitor, self.patience = model, params, monitor, patience
        self.score, self.iteration, self.weights, self.bad = start_score, 0, backup, 0

    def check(self, done: int) -> bool:
        if self.monitor is None:
            return False
        score = self.monitor()
        self.model.eval()
        if score > self.score:
            self.score, self.iteration, self.bad = score, done, 0
            self.weights = [q.detach().clone() for q in self.params]
            return False
        self.bad += 1
        return bool(self.patience and self.bad >= self.patience)

    def restore(self) -> None:
        if self.monitor is not None:
            for q, b in zip(self.params, self.weights):
                q.copy_(b)


def lbfgs_polish(
    model: nn.Module,
    objective: Callable[[], torch.Tensor],
    iterations: int,
    history_size: int = 20,
    max_seconds: float | None = None,
    monitor: Callable[[], float] | None = None,
    patience: int = 0,
) -> dict[str, float]:
    """Minimise ``objective()`` (full batch) over the model's trainable weights with L-BFGS.

    Parameters
    ----------
    model : nn.Module
        Its ``requires_grad`` parameters are optimised in place; set to eval mode (BatchNorm
        uses its running statistics, so the objective is deterministic).
    objective : callable
        Returns the scalar loss (a tensor with a graph) of the current weights.
    iterations : int
        Maximum L-BFGS iterations (each with one or more objective evaluations).
    max_seconds : float, optional
        Stop after this wall time (checked between groups of 10 iterations).
    monitor : callable, optional
        Score to maximise (validation NSE), checked every 10 iterations: the weights with
        the best score are returned (early stopping of the polishing).
    patience : int
        Stop after this many checks without improvement of ``monitor`` (0: never).

    Returns
    -------
    dict
        ``loss_before``, ``loss_after``, ``iterations`` (done), ``evaluations``,
        ``seconds``. When the objective becomes non-finite the weights are restored and
        ``loss_after`` equals ``loss_before``.
    """
    # float32 gradients stall the line search near the optimum: polish in float64
    narrow = _cast(model, None, torch.float64)
    params = [p for p in model.parameters() if p.requires_grad]
    backup = [p.detach().clone() for p in params]
    model.eval()
    evals = 0

    def closure() -> torch.Tensor:
        nonlocal evals
        evals += 1
        opt.zero_grad(set_to_none=True)
        loss = objective()
        if not torch.isfinite(loss):  # steer the line search away from it
            return torch.as_tensor(math.inf, dtype=loss.dtype)
        loss.backward()
        return loss

    def new_optimizer() -> torch.optim.LBFGS:
        return torch.optim.LBFGS(
            params, lr=1.0, max_iter=chunk, history_size=history_size,
            tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe",
        )  # fmt: skip

    with torch.no_grad():
        before = float(objective())
    t0 = time.perf_counter()
    done = 0
    chunk = 10
    opt = new_optimizer()
    last = before
    best = _BestWeights(model, params, monitor, patience,
                        monitor() if monitor is not None else -before, backup)  # fmt: skip
    model.eval()
    while done < iterations:
        n0 = opt.state[params[0]].get("n_iter", 0)
        opt.param_groups[0]["max_iter"] = min(chunk, iterations - done)
        opt.step(closure)
        n_done = opt.state[params[0]].get("n_iter", 0) - n0
        done += max(n_done, 1)
        with torch.no_grad():
            now = float(objective())
        if n_done < opt.param_groups[0]["max_iter"]:  # stalled: restart or stop
            if not now < last * (1 - 1e-6):
                break
            opt = new_optimizer()  # curvature pairs of a stalled search: drop them
        last = now
        if best.check(done):
            break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    with torch.no_grad():
        best.restore()
        after = float(objective())
        if not math.isfinite(after) or (monitor is None and after > before):
            for p, b in zip(params, backup):
                p.copy_(b)
            after = before
    opt.zero_grad(set_to_none=True)
    _cast(model, narrow, torch.float32)
    return {
        "loss_before": before, "loss_after": after, "iterations": done,
        "evaluations": evals, "seconds": time.perf_counter() - t0,
        "best_iteration": best.iteration if monitor is not None else done,
    }  # fmt: skip


def site_gradient_hessian(
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor],
    p: torch.Tensor,
    step: float = 1e-4,
    known: tuple[float, torch.Tensor] | None = None,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Loss, per-site gradient (n, k) and per-site Hessian (n, k, k) of a site-separable loss.

    ``loss_of_outputs(p)`` is a sum over sites of terms that depend on row ``p[i]`` only (the
    training misfit as a function of the network outputs), so one backward pass gives every
    site's gradient and ``k`` more (forward differences of the gradient, step ``step`` on
    the unit scale) every site's ``k x k`` Hessian. The Hessian is symmetrised and its
    eigenvalues replaced by their absolute values (a positive semi-definite model).
    ``known = (loss, gradient)`` at ``p``, when the caller has them, saves the first pass.
    """

    def grad(q: torch.Tensor) -> tuple[float, torch.Tensor]:
        q = q.detach().requires_grad_(True)
        loss = loss_of_outputs(q)
        (g,) = torch.autograd.grad(loss, q)
        return float(loss.detach()), g.detach()

    loss, g = grad(p) if known is None else (known[0], known[1].detach())
    n, k = p.shape
    hess = torch.empty(n, k, k, dtype=p.dtype)
    for j in range(k):
        h = torch.where(p[:, j] + step <= 1.0, step, -step)
        q = p.clone()
        q[:, j] += h
        _, gj = grad(q)
        hess[:, :, j] = (gj - g) / h[:, None]
    hess = 0.5 * (hess + hess.transpose(1, 2))
    hess = torch.nan_to_num(hess, nan=0.0, posinf=0.0, neginf=0.0)
    lam, vec = torch.linalg.eigh(hess)
    hess = vec @ torch.diag_embed(lam.abs()) @ vec.transpose(1, 2)
    return loss, torch.nan_to_num(g, nan=0.0), hess


def newton_polish(
    model: nn.Module,
    outputs: Callable[[], torch.Tensor],
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor],
    iterations: int,
    inner_iterations: int = 400,
    history_size: int = 20,
    weight_decay: float = 0.0,
    decay_params: list[torch.Tensor] | None = None,
    max_seconds: float | None = None,
    monitor: Callable[[], float] | None = None,
    patience: int = 0,
    damping: float = 0.1,
) -> dict[str, float]:
    """Trust-region Newton steps in the space of the network outputs, fitted by the network.

    The training misfit is a sum over sites of a function of each site's few network
    outputs ``p_i`` (the learned parameters), whose per-site curvature is strongly
    anisotropic: along the trade-off ridges of the process model (e.g. efolding against
    tau4s3) it is hundreds of times flatter than across them. Minibatch Adam and L-BFGS on
    the weights crawl along those ridges. Here every outer iteration computes each site's
    gradient ``g_i`` and Hessian ``H_i`` in output space (:func:`site_gradient_hessian`, a
    handful of full-batch passes through the process model) and then fits the network to
    the local quadratic model ``sum_i g_i.d_i + d_i.(H_i + mu I).d_i / 2``, ``d_i =
    net(x_i) - p_i``, with up to ``inner_iterations`` of full-batch L-BFGS on the weights
    (in chunks of 50, stopping when a chunk gains < 0.1% of the step's total): the
    inner problem needs no process model and costs milliseconds per evaluation, so the flat
    directions are followed far more accurately per process-model evaluation. ``mu`` is a
    Levenberg-Marquardt damping adapted from the ratio of the actual to the predicted
    decrease (steps that do not lower the objective are undone). The model equations are
    unchanged; only the optimiser differs from :func:`lbfgs_polish`. The network is fitted
    in its own dtype (float32): the quadratic model's value, the per-site gradients and
    Hessians and the process model are float64, and each step is accepted on the float64
    objective. A float64 network reached the same objective (0.0099505 against 0.0099502,
    mix seed 37) in 1.4x the polishing time (``docs/recovery_ablation.md``, stop 29).

    Parameters
    ----------
    model : nn.Module
        Trainable weights optimised in place (in their dtype, eval mode).
    outputs : callable
        ``() -> (n, k)`` the network outputs of the training sites (with graph).
    loss_of_outputs : callable
        ``(n, k) -> scalar`` the training objective as a function of the outputs
        (site-separable; without weight decay).
    weight_decay, decay_params
        ``0.5 * weight_decay * sum(w ** 2)`` over ``decay_params`` is added to the
        objective (as in :func:`lbfgs_polish`'s caller).
    monitor, patience, max_seconds
        As in :func:`lbfgs_polish`; the monitor is checked after every accepted step.
    damping : float
        Initial ``mu`` relative to the mean diagonal of the per-site Hessians.

    Returns
    -------
    dict as :func:`lbfgs_polish` (``iterations``: outer iterations, ``evaluations``:
    process-model passes).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = list(decay_params or [])
    backup = [p.detach().clone() for p in params]
    model.eval()
    t0 = time.perf_counter()

    def penalty() -> torch.Tensor:
        if weight_decay <= 0 or not decay:
            return torch.zeros((), dtype=torch.float64)
        return 0.5 * weight_decay * sum((w.to(torch.float64) ** 2).sum() for w in decay)

    with torch.no_grad():
        p = outputs().detach().to(torch.float64)
    misfit, g, hess = site_gradient_hessian(loss_of_outputs, p)
    evals = 1 + p.shape[1]
    with torch.no_grad():
        total = misfit + float(penalty())
    before = total
    scale = float(torch.diagonal(hess, dim1=1, dim2=2).mean().clamp_min(1e-300))
    mu = damping * scale
    eye = torch.eye(p.shape[1], dtype=torch.float64)
    best = _BestWeights(model, params, monitor, patience,
                        monitor() if monitor is not None else -before, backup)  # fmt: skip
    model.eval()
    done = 0
    finite = math.isfinite(total)
    while done < iterations and finite:
        done += 1
        old = [q.detach().clone() for q in params]
        damped = hess + mu * eye

        def inner(h: torch.Tensor = damped, p=p, g=g) -> torch.Tensor:
            d = outputs().to(torch.float64) - p
            quad = 0.5 * (d * torch.bmm(h, d.unsqueeze(2)).squeeze(2)).sum()
            return (g * d).sum() + quad + penalty()

        opt = torch.optim.LBFGS(
            params, lr=1.0, max_iter=inner_iterations, history_size=history_size,
            tolerance_grad=1e-14, tolerance_change=1e-16, line_search_fn="strong_wolfe",
        )  # fmt: skip

        def closure(opt=opt, inner=inner) -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            value = inner()
            value.backward()
            return value

        with torch.no_grad():
            base = float(inner(hess))  # model value at the old weights: penalty only
        prev, left = base, inner_iterations
        while left > 0:  # chunks of 50; stop once a chunk gains < 0.1% of the total gain
            opt.param_groups[0]["max_iter"] = min(50, left)
            opt.step(closure)
            left -= 50
            with torch.no_grad():
                now = float(inner())
            if not prev - now > 1e-3 * (base - now):
                break
            prev = now
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            predicted = base - float(inner(hess))
            p_new = outputs().detach().to(torch.float64)
            new = float(loss_of_outputs(p_new)) + float(penalty())
        evals += 1
        rho = (total - new) / predicted if predicted > 0 else -1.0
        if math.isfinite(new) and new < total:
            p = p_new
            misfit, g, hess = site_gradient_hessian(loss_of_outputs, p)
            evals += 1 + p.shape[1]
            total = new
            mu = mu / 3 if rho > 0.75 else (mu * 2 if rho < 0.25 else mu)
            if best.check(done):
                break
        else:
            with torch.no_grad():
                for q, o in zip(params, old):
                    q.copy_(o)
            mu *= 4
            if mu > 1e8 * scale:
                break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    with torch.no_grad():
        best.restore()
        after = float(loss_of_outputs(outputs().to(torch.float64))) + float(penalty())
        if not math.isfinite(after) or (monitor is None and after > before):
            for q, b in zip(params, backup):
                q.copy_(b)
            after = before
    return {
        "loss_before": before, "loss_after": after, "iterations": done,
        "evaluations": evals, "seconds": time.perf_counter() - t0,
        "best_iteration": best.iteration if monitor is not None else done,
    }  # fmt: skip
