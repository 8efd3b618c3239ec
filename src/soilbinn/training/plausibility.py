"""The plausibility term of BINN's training loss: keep steady states where real soils are.

A learned parameter set can make CLM5's steady state near-singular: with strong transfers
back to the fast pool (``fs2s1``, ``fs3s1``) and a slow passive pool, the carbon that
enters hardly leaves, and the stock grows without bound (1.9e6 kg m-2 at a held-out urban
pedon after 30 epochs; docs/real_data_evaluation.md, "A plausibility term in training").
The misfit cannot prevent it where no observation is: at covariate combinations between
or beyond the training sites. This term (``loss.plausibility``, BINN only) adds

    weight * scale * sum_i h_i**2 / n,    h_i = max(0, log(C_i / ceiling)),

over the n sites of a batch *and* ``anchors`` unlabeled covariate vectors, where ``C_i``
is the carbon of all seven pools over the whole 0-8.6 m column (g m-2; the quantity
:func:`soilbinn.process.model.implausible_state` flags above 1,000 kg m-2) and
``ceiling`` is in kg m-2. ``h`` is zero, and so is its gradient, wherever the steady state
stays below the ceiling: the term changes nothing for a plausible model. ``scale`` puts
the term on the misfit's own scale (:data:`LOSS_SCALES`: the variance of the training
observations for a squared error in g m-3), so ``weight = 1`` makes one e-fold above the
ceiling at one site cost as much as a one-standard-deviation error at one observation.

**Anchors** (:class:`AnchorSampler`) are drawn afresh for every batch: each numeric and
each categorical covariate is taken from an independently chosen training site (a sample
of the product of the training marginals: every value is one the network has seen, the
combination often is not, as on a map), lon/lat from one more site, and forcing (and
per-site fixed parameters) from one more, so the learned parameters are judged under real
forcing. Anchors go through the network in eval mode (BatchNorm's running statistics, as
at prediction). They are first solved without gradients; only those above the ceiling
are solved again with gradients, so a plausible model pays one gradient-free forward of
``anchors`` sites per batch. Anchors whose steady state is not finite give no gradient
and are counted. Under DDP each rank draws its own anchors. The term acts in the Adam
epochs only, not in the optional L-BFGS polishing (``train.polish``, off in ``real``), and
is ignored by the pure NN, which has no steady state. Each epoch's ``metrics.csv`` row
gets ``plausibility_excess`` (mean ``h**2``), ``sites_above_ceiling``,
``anchors_above_ceiling`` and ``anchors_nonfinite``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from soilbinn.process import grid

#: scale of one observation's misfit per loss kind, from the training statistics
LOSS_SCALES: dict[str, Callable[[dict], float]] = {
    "mse": lambda stats: float(stats["obs_variance"]),
    "smooth_l1": lambda stats: math.sqrt(float(stats["obs_variance"])),
    "l1": lambda stats: math.sqrt(float(stats["obs_variance"])),
    "log_mse": lambda stats: 1.0,
    "nse": lambda stats: 1.0,
}


def column_carbon(pools: torch.Tensor) -> torch.Tensor:
    """Carbon of all pools over the whole column, (n,) g m-2, from pools (n, 7, 20) g m-3."""
    dz = grid.as_tensor(grid.DZ, pools.device, pools.dtype)
    return (pools.sum(dim=1) * dz).sum(dim=1)


def stock_excess(pools: torch.Tensor, ceiling_kg_m2: float) -> torch.Tensor:
    """``h = max(0, log(C / ceiling))`` per site, (n,); 0 (with zero gradient) below it.

    Non-finite stocks give ``inf``/NaN; callers keep such sites out of the loss.
    """
    c = column_carbon(pools)
    log_ratio = torch.log(c.clamp_min(1e-30)) - math.log(ceiling_kg_m2 * 1000.0)
    return torch.relu(log_ratio)


class AnchorSampler:
    """Unlabeled covariate vectors from the product of the training sites' marginals.

    Parameters
    ----------
    train : SiteData
        The training sites (their forcing may be the process model's PreparedForcing).
    seed : int
        Seed of this sampler's own generator (the global torch RNG is not touched).
    """

    def __init__(self, train, seed: int) -> None:
        self.train = train
        self.generator = torch.Generator().manual_seed(int(seed))

    def sample(self, n: int):
        """``n`` anchor sites as a SiteData without observations."""
        tr = self.train
        N = len(tr)
        g = self.generator
        device = tr.numeric.device

        def draw(cols: int) -> torch.Tensor:
            return torch.randint(N, (n, max(cols, 1)), generator=g)[:, :cols].to(device)

        numeric = tr.numeric.gather(0, draw(tr.numeric.shape[1]))
        categorical = tr.categorical.gather(0, draw(tr.categorical.shape[1]))
        lonlat = tr.lonlat[draw(1)[:, 0]]
        base = tr.select(draw(1)[:, 0])  # forcing and per-site fixed parameters
        return replace(base, site_ids=[f"anchor{i}" for i in range(n)], numeric=numeric,
                       categorical=categorical, lonlat=lonlat, soc=None, depth=None,
                       stocks=None)  # fmt: skip


def anchor_excess(model: nn.Module, anchors, ceiling_kg_m2: float) -> tuple[torch.Tensor, dict]:
    """Sum of ``h**2`` over the anchors above the ceiling (with gradients), and counts.

    The network runs in eval mode (restored afterwards). Returns ``(sum, info)`` with
    ``info = {"above": int, "nonfinite": int}``.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(anchors)
            h = stock_excess(out["pools"], ceiling_kg_m2)
            finite = torch.isfinite(h) & ~out["nonfinite"]
            sel = torch.nonzero(finite & (h > 0)).flatten()
        info = {"above": int(len(sel)), "nonfinite": int((~finite).sum())}
        if len(sel) == 0:
            return out["pools"].new_zeros(()), info
        out = model(anchors.select(sel))
        h = stock_excess(out["pools"], ceiling_kg_m2)
        h = torch.where(torch.isfinite(h), h, torch.zeros_like(h))
        return (h**2).sum(), info
    finally:
        model.train(was_training)


__all__ = ["LOSS_SCALES", "AnchorSampler", "anchor_excess", "column_carbon", "stock_excess"]
