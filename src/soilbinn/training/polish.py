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
    best = (monitor() if monitor is not None else -before, 0, backup)
    model.eval()
    bad = 0
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
        if monitor is not None:
            score = monitor()
            model.eval()
            if score > best[0]:
                best, bad = (score, done, [p.detach().clone() for p in params]), 0
            else:
                bad += 1
                if patience and bad >= patience:
                    break
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    with torch.no_grad():
        if monitor is not None:
            for p, b in zip(params, best[2]):
                p.copy_(b)
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
        "best_iteration": best[1] if monitor is not None else done,
    }  # fmt: skip
