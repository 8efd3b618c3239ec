"""Depth-integrated stock observations in training: increments, the stock loss term, scores.

How stocks enter the loss
-------------------------
* **Increments.** Cumulative stocks of one pedon (0-5, 0-30, 0-100 cm) share their upper
  layers and are not independent observations; :func:`stock_increments` turns every chain
  of intervals that share their top into increments (0-5, 5-30, 30-100 cm). Intervals that
  do not share a top with a shallower one (e.g. a table of 0-30 and 30-100 cm) are used as
  they are. Partly overlapping intervals with different tops are treated as independent.
* **Same scale as the layers.** Each increment is compared as its mean SOC density,
  ``stock / thickness`` (g m-3), with the layer misfit of ``loss.kind`` (smooth L1, MSE,
  log-MSE, NSE, ...): an increment counts like one layer observation of the same soil,
  whatever misfit is chosen, and no separate stock scale has to be tuned.
* **Weighting.** ``loss = (sum_layers w l + sum_increments v_s l) / (sum_layers w +
  sum_increments v_s)`` with a per-site weight ``v_s``: ``loss.stock_weight`` (default 1:
  an increment weighs as much as one layer observation; a RaCA stock pedon gives three
  increments, a layered pedon on average ~5 layers) at sites without layer observations,
  ``loss.stock_weight_with_layers`` (default 0) at sites that also have layers. Depth
  weighting applies to layers.
* **Sites with both kinds.** ``prepare real`` attaches a RaCA pedon's published stocks
  to the layered site of the same pedon. RaCA computes those stocks from the very layers
  the site carries (our layer targets follow RaCA's definition: stocks from our layers
  match RaCA's at r >= 0.98, median ratio 1.00), so they are the same measurement twice;
  by default they do not enter the loss (nor the early-stopping score) and are only
  scored in evaluation, which gives every RaCA pedon a stock metric. Set
  ``loss.stock_weight_with_layers`` > 0 for stocks measured independently of the
  site's layers. The rule is per site, not per interval: RaCA counts no carbon below a
  pedon's last sample, so an interval below the layers adds no measurement either.

The model's stock over an interval is
:func:`soilbinn.process.observation.stocks_over_intervals` (exact over the CLM5 layers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import torch
import xarray as xr

from soilbinn.evaluation.metrics import stock_metrics
from soilbinn.process.observation import stocks_over_intervals
from soilbinn.training.losses import LOSSES


def stock_increments(
    stock: torch.Tensor, top: torch.Tensor, bottom: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Turn cumulative stocks into increments.

    For each interval ``[t, b]`` the deepest other interval of the same site with the same
    top ``t`` and a shallower bottom ``b' < b`` is its predecessor; the increment is
    ``[b', b]`` with stock ``S(t, b) - S(t, b')``. Intervals without a predecessor stay.

    Parameters
    ----------
    stock : Tensor (n, k), g m-2; top, bottom : Tensor (n, k), m. NaN-padded.

    Returns
    -------
    (increment, inc_top, inc_bottom) : Tensors (n, k) in g m-2, m, m; NaN where the input
    interval is missing.
    """
    ok = torch.isfinite(stock) & torch.isfinite(top) & torch.isfinite(bottom)
    t = torch.where(ok, top, torch.zeros_like(top))
    b = torch.where(ok, bottom, torch.zeros_like(bottom))
    # cand[i, k, j]: interval j precedes interval k
    cand = (
        ok[:, :, None]
        & ok[:, None, :]
        & (t[:, :, None] == t[:, None, :])
        & (b[:, None, :] < b[:, :, None])
    )
    bj = torch.where(
        cand, b[:, None, :].expand_as(cand), torch.full_like(cand, -1.0, dtype=b.dtype)
    )
    best, idx = bj.max(dim=-1)
    has = best >= 0
    s = torch.where(ok, stock, torch.zeros_like(stock))
    prev = torch.gather(s, 1, idx)
    nan = torch.full_like(stock, float("nan"))
    inc = torch.where(ok, torch.where(has, s - prev, s), nan)
    inc_top = torch.where(ok, torch.where(has, best, t), nan)
    inc_bottom = torch.where(ok, b, nan)
    return inc, inc_top, inc_bottom


@dataclass
class StockObs:
    """Stock observations of ``n`` sites, as observed and as increments (all (n, k)).

    Attributes
    ----------
    obs, top, bottom : Tensor float64, g m-2 and m (as observed, e.g. cumulative)
    inc, inc_top, inc_bottom : Tensor float64, g m-2 and m (used by the loss)
    """

    obs: torch.Tensor
    top: torch.Tensor
    bottom: torch.Tensor
    inc: torch.Tensor
    inc_top: torch.Tensor
    inc_bottom: torch.Tensor

    @classmethod
    def from_tensors(cls, obs, top, bottom) -> StockObs:
        return cls(obs, top, bottom, *stock_increments(obs, top, bottom))

    def select(self, index: torch.Tensor) -> StockObs:
        return StockObs(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def to(self, device) -> StockObs:
        return replace(self, **{f: getattr(self, f).to(device) for f in self.__dataclass_fields__})

    def mean_densities(self) -> torch.Tensor:
        """Observed increments as mean SOC densities (n, k), g m-3."""
        return self.inc / (self.inc_bottom - self.inc_top)


def stock_obs_from_dataset(ds: xr.Dataset) -> StockObs | None:
    """:class:`StockObs` from a schema dataset (None without ``stock_obs``)."""
    from soilbinn.data.schema import stocks_from_dataset

    t = stocks_from_dataset(ds)
    return None if t is None else StockObs.from_tensors(*t)


def stock_site_weights(has_layers: torch.Tensor, cfg) -> torch.Tensor:
    """Weight (n,) of one stock increment at each site (module docstring).

    Parameters
    ----------
    has_layers : Tensor bool (n,), the site has at least one valid layer observation
    cfg : the loss config (``stock_weight``, ``stock_weight_with_layers``)
    """
    w = torch.full(has_layers.shape, float(cfg.stock_weight), dtype=torch.float64)
    return torch.where(has_layers.cpu(), float(cfg.stock_weight_with_layers), w)


def has_layer_observations(soc) -> torch.Tensor:
    """Bool (n,): the site has a valid layer observation (``soc`` (n, obs), NaN = none)."""
    soc = torch.as_tensor(soc)
    return (
        torch.isfinite(soc).any(dim=1)
        if soc.ndim == 2 and soc.shape[1]
        else torch.zeros(soc.shape[0], dtype=torch.bool)
    )


def stock_misfit(
    soc_layer: torch.Tensor,
    stocks: StockObs,
    cfg,
    stats: dict,
    site_weight=None,
    per_site: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted sum of the elementwise ``cfg.kind`` misfit over valid increments, and the
    sum of their weights.

    Parameters
    ----------
    soc_layer : Tensor (n, 20), g m-3
    stocks : StockObs of the same n sites
    cfg : the loss config (``kind``, ``smooth_l1_beta``)
    site_weight : Tensor (n,), optional
        Weight of each site's increments (default 1: the sum and count of increments).
    per_site : bool
        Return each site's weighted sum (n,) instead of their total.
    """
    valid = torch.isfinite(stocks.inc)
    thick = torch.where(valid, stocks.inc_bottom - stocks.inc_top, torch.ones_like(stocks.inc))
    pred = stocks_over_intervals(soc_layer, stocks.inc_top, stocks.inc_bottom) / thick
    obs = torch.where(valid, stocks.inc / thick, torch.zeros_like(stocks.inc))
    pred = torch.where(valid, pred, torch.zeros_like(pred))
    elem = LOSSES[cfg.kind](pred, obs.to(pred.dtype), cfg, stats)
    w = torch.ones(valid.shape[0], dtype=torch.float64) if site_weight is None else site_weight
    w = torch.where(valid, w.to(elem.device, elem.dtype)[:, None], torch.zeros_like(elem))
    elem = torch.where(valid & (w > 0), w * elem, torch.zeros_like(elem))
    return elem.sum(1) if per_site else elem.sum(), w.sum().to(torch.float64)


def add_stock_misfit(
    num, den, soc_layer, stocks: StockObs | None, has_layers, cfg, stats, per_site=False
):
    """Layer misfit ``(num, den)`` plus the stock misfit weighted per site.

    ``has_layers`` (bool (n,)) says which sites also carry layer observations; their
    increments weigh ``cfg.stock_weight_with_layers``, the others ``cfg.stock_weight``.
    With ``per_site`` ``num`` is each site's (n,) and so is the sum returned.
    """
    if stocks is None:
        return num, den
    w = stock_site_weights(has_layers, cfg)
    if not bool((w > 0).any()):
        return num, den
    s_num, s_den = stock_misfit(soc_layer, stocks, cfg, stats, site_weight=w,
                                per_site=per_site)  # fmt: skip
    return num + s_num, den + s_den.to(den.device)


def observed_densities(
    soc: torch.Tensor, stocks: StockObs | None, site_weight=None
) -> torch.Tensor:
    """All observations the loss uses on its scale (g m-3), flat: layers and stock
    increments (only at sites whose ``site_weight`` (n,) is > 0, when given)."""
    parts = [soc[torch.isfinite(soc)]]
    if stocks is not None:
        d = stocks.mean_densities()
        ok = torch.isfinite(d)
        if site_weight is not None:
            ok = ok & (site_weight > 0).to(ok.device)[:, None]
        parts.append(d[ok].to(soc.dtype))
    return torch.cat(parts)


def validation_score(
    layer_table, flat: dict, stock_weight: float, stock_weight_with_layers: float
) -> float:
    """NSE over all validation observations on the loss's scale (early stopping).

    Layers only (or all stock weights 0): the layer table's ``all`` NSE. With stocks: NSE
    over layer densities (weight 1) and stock increments as mean densities (weight
    ``stock_weight`` at sites without layers, ``stock_weight_with_layers`` at sites with
    layers), pooled as in the loss, so stock-only sites count too.
    """
    if "stock_obs" not in flat or not np.isfinite(flat["stock_obs"]).any():
        return float(layer_table.loc["all", "nse"])
    cfg = SimpleNamespace(
        stock_weight=stock_weight, stock_weight_with_layers=stock_weight_with_layers
    )
    site_w = stock_site_weights(has_layer_observations(flat["obs"]), cfg).numpy()
    if not (site_w[np.isfinite(flat["stock_obs"]).any(axis=1)] > 0).any():
        return float(layer_table.loc["all", "nse"])
    args = [torch.as_tensor(flat[k]) for k in ("stock_pred", "stock_top", "stock_bottom")]
    p_inc, p_top, p_bot = stock_increments(*args)
    o_inc, _, _ = stock_increments(*(torch.as_tensor(flat[k]) for k in
                                     ("stock_obs", "stock_top", "stock_bottom")))  # fmt: skip
    thick = (p_bot - p_top).numpy()
    pred = np.concatenate([flat["pred"].ravel(), (p_inc.numpy() / thick).ravel()])
    obs = np.concatenate([flat["obs"].ravel(), (o_inc.numpy() / thick).ravel()])
    w = np.concatenate(
        [np.ones(flat["pred"].size), np.broadcast_to(site_w[:, None], thick.shape).ravel()]
    )
    ok = np.isfinite(pred) & np.isfinite(obs)
    if not ok.any():
        return float("nan")
    p, o, w = pred[ok], obs[ok], w[ok]
    mean = np.average(o, weights=w)
    ss = float((w * (o - mean) ** 2).sum())
    return 1.0 - float((w * (p - o) ** 2).sum()) / ss if ss > 0 else float("nan")


def stock_tables(flats: dict[str, dict]) -> dict:
    """Per-split stock metrics (see :func:`soilbinn.evaluation.metrics.stock_metrics`)."""
    return {
        s: stock_metrics(f["stock_pred"], f["stock_obs"], f["stock_top"], f["stock_bottom"])
        for s, f in flats.items()
        if "stock_obs" in f and np.isfinite(f["stock_obs"]).any()
    }
