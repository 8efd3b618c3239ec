"""Losses: NaN-masked SOC misfits (a registry) and BINN's parameter regulariser.

Every misfit is elementwise: ``LOSSES[kind](pred, obs, cfg, stats) -> (n, obs)`` with
observations where ``obs`` is NaN giving 0; the trainer divides the weighted sum by the
(global, across DDP ranks) weighted count of valid observations, so a batch split over
ranks gives the same loss as on one process.

- ``smooth_l1`` (paper default): Huber-like on SOC in g m-3 with ``beta = smooth_l1_beta``;
- ``mse``, ``l1``: plain squared / absolute error in g m-3;
- ``log_mse``: squared error of ``log1p(SOC)``;
- ``nse``: squared error divided by the variance of the training observations, i.e. each
  batch estimates ``1 - NSE`` on the training set.

Depth weights (``DEPTH_WEIGHTS``): ``none``; ``inverse_depth``: ``w = 1 / max(z, 0.1 m)``
normalised to mean 1 over the training observations; ``bins``: every depth bin of
:data:`soilbinn.evaluation.metrics.DEPTH_BINS` gets equal total weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from soilbinn.evaluation.metrics import DEPTH_BINS


def _smooth_l1(pred, obs, cfg, stats):
    return F.smooth_l1_loss(pred, obs, reduction="none", beta=cfg.smooth_l1_beta)


def _mse(pred, obs, cfg, stats):
    return (pred - obs) ** 2


def _l1(pred, obs, cfg, stats):
    return (pred - obs).abs()


def _log_mse(pred, obs, cfg, stats):
    return (torch.log1p(pred.clamp_min(0.0)) - torch.log1p(obs.clamp_min(0.0))) ** 2


def _nse(pred, obs, cfg, stats):
    return (pred - obs) ** 2 / stats["obs_variance"]


#: misfit registry: (pred, obs, loss config, training stats) -> elementwise loss
LOSSES: dict[str, Callable] = {
    "smooth_l1": _smooth_l1,
    "mse": _mse,
    "l1": _l1,
    "log_mse": _log_mse,
    "nse": _nse,
}


def _w_none(depth, train_valid):
    return torch.ones_like(depth)


def _w_inverse_depth(depth, train_valid):
    w = 1.0 / depth.clamp_min(0.1)
    m = w[train_valid].mean() if bool(train_valid.any()) else torch.tensor(1.0)
    return w / m


def _w_bins(depth, train_valid):
    w = torch.zeros_like(depth)
    edges = DEPTH_BINS
    total = int(train_valid.sum())
    n_bins = len(edges) - 1
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (depth >= lo) & (depth < hi)
        count = int((in_bin & train_valid).sum())
        if count:
            w = torch.where(in_bin, torch.full_like(w, total / (n_bins * count)), w)
    return w


#: depth-weight registry: (depth (n, obs), valid training mask) -> weights (n, obs)
DEPTH_WEIGHTS: dict[str, Callable] = {
    "none": _w_none,
    "inverse_depth": _w_inverse_depth,
    "bins": _w_bins,
}


def masked_misfit(
    pred: torch.Tensor,
    obs: torch.Tensor,
    weight: torch.Tensor,
    cfg,
    stats: dict,
    per_site: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum of the elementwise loss over valid observations, and the weight sum.

    Parameters
    ----------
    pred, obs, weight : Tensor (n, obs); ``obs`` NaN where missing.
    per_site : bool
        Return each site's weighted sum (n,) instead of their total (the weight sum stays
        the total).
    """
    valid = torch.isfinite(obs) & torch.isfinite(pred)
    safe_obs = torch.where(valid, obs, torch.zeros_like(obs))
    safe_pred = torch.where(valid, pred, torch.zeros_like(pred))
    elem = LOSSES[cfg.kind](safe_pred, safe_obs, cfg, stats)
    w = torch.where(valid, weight, torch.zeros_like(weight))
    return (elem * w).sum(1) if per_site else (elem * w).sum(), w.sum()


def parameter_regulariser(
    p: torch.Tensor, sharpness: float = 10.0, per_site: bool = False
) -> torch.Tensor:
    """Sum of ``cosh(sharpness (p - 0.5)) - 1`` over (n, k) unit-scale parameters (each
    site's sum (n,) with ``per_site``).

    Divided by ``n k`` and multiplied by the weight (100 in the paper) it is BINN's
    penalty that keeps parameters off the bounds of their ranges.
    """
    terms = torch.cosh(sharpness * (p.to(torch.float64) - 0.5)) - 1.0
    return terms.sum(1) if per_site else terms.sum()
