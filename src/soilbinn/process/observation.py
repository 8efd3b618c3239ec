"""Observation operator: simulated SOC at the 20 CLM5 nodes -> observed depths.

``linear`` (BINN) interpolates linearly between nodes and holds the end values above
0.01 m and below 8.03 m; ``pchip`` (PRODA's MCMC, MATLAB ``interp1(..., 'pchip')``) uses
the shape-preserving piecewise cubic Hermite interpolant (Fritsch and Carlson 1980, with
MATLAB's weighted harmonic-mean slopes), also held constant outside the nodes.

:func:`stocks_over_intervals` is the observation operator of depth-integrated stocks: the
integral of the modelled SOC density over a depth interval, exact over the CLM5 layer
thicknesses.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from soilbinn.process import grid


class ObservationDepthError(ValueError):
    """Observation depths outside the model grid (names the sites)."""


def _check_depths(depths: torch.Tensor, site_ids=None) -> None:
    with torch.no_grad():
        bad = ~torch.isnan(depths) & ((depths < 0) | (depths > grid.ZISOI[-1]))
        if bool(bad.any()):
            rows = torch.nonzero(bad.any(dim=1)).flatten().tolist()
            names = [str(site_ids[r]) if site_ids is not None else f"#{r}" for r in rows[:10]]
            raise ObservationDepthError(
                f"observation depths must lie within 0-{grid.ZISOI[-1]} m (the CLM5 grid); "
                f"{len(rows)} site(s) have depths outside: {', '.join(names)}"
            )


def _locate(depths: torch.Tensor, nodes: torch.Tensor):
    d = torch.nan_to_num(depths, nan=float(nodes[0])).clamp(nodes[0], nodes[-1])
    k = torch.searchsorted(nodes, d.contiguous(), right=True) - 1
    k = k.clamp(0, nodes.numel() - 2)
    h = nodes[k + 1] - nodes[k]
    t = (d - nodes[k]) / h
    return d, k, h, t


def _linear(soc: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    nodes = grid.as_tensor(grid.ZSOI, soc.device, soc.dtype)
    _, k, _, t = _locate(depths.to(soc.dtype), nodes)
    y0 = torch.gather(soc, 1, k)
    y1 = torch.gather(soc, 1, k + 1)
    return y0 + t * (y1 - y0)


def pchip_slopes(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Derivatives of MATLAB's pchip at the nodes; y (n, m), x (m,) -> (n, m)."""
    h = x[1:] - x[:-1]
    delta = (y[:, 1:] - y[:, :-1]) / h
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    d0, d1 = delta[:, :-1], delta[:, 1:]
    same = (torch.sign(d0) * torch.sign(d1)) > 0
    safe0 = torch.where(same, d0, torch.ones_like(d0))
    safe1 = torch.where(same, d1, torch.ones_like(d1))
    interior = torch.where(same, (w1 + w2) / (w1 / safe0 + w2 / safe1), torch.zeros_like(d0))

    def end(h0, h1, del0, del1):
        d = ((2 * h0 + h1) * del0 - h0 * del1) / (h0 + h1)
        d = torch.where(torch.sign(d) != torch.sign(del0), torch.zeros_like(d), d)
        flip = (torch.sign(del0) != torch.sign(del1)) & (d.abs() > (3 * del0).abs())
        return torch.where(flip, 3 * del0, d)

    first = end(h[0], h[1], delta[:, 0], delta[:, 1])
    last = end(h[-1], h[-2], delta[:, -1], delta[:, -2])
    return torch.cat([first[:, None], interior, last[:, None]], dim=1)


def _pchip(soc: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    nodes = grid.as_tensor(grid.ZSOI, soc.device, soc.dtype)
    _, k, h, t = _locate(depths.to(soc.dtype), nodes)
    slopes = pchip_slopes(soc, nodes)
    y0, y1 = torch.gather(soc, 1, k), torch.gather(soc, 1, k + 1)
    m0, m1 = torch.gather(slopes, 1, k), torch.gather(slopes, 1, k + 1)
    t2, t3 = t * t, t * t * t
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + t
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    return h00 * y0 + h10 * h * m0 + h01 * y1 + h11 * h * m1


class DepthInterpolator:
    """:func:`interpolate_to_depths` for fixed ``depths``, with the setup done once.

    The interval of every depth and the Hermite basis weights depend only on the depths,
    so repeated calls (an MCMC evaluating the same sites at every step) only compute the
    slopes and the weighted sum. Gives the same floating-point result as
    :func:`interpolate_to_depths` (same operations in the same order).

    Parameters
    ----------
    depths : Tensor (n, obs), m, NaN-padded
    method : {"linear", "pchip"}
    """

    def __init__(
        self, depths: torch.Tensor, method: str = "linear", dtype=torch.float64, site_ids=None
    ) -> None:
        if method not in INTERPOLATORS:
            raise ValueError(
                f"unknown interpolation {method!r}; choose from {sorted(INTERPOLATORS)}"
            )
        if depths.ndim != 2:
            raise ValueError(f"depths must be (n, obs), got {tuple(depths.shape)}")
        _check_depths(depths, site_ids)
        self.method = method
        self.nan = torch.isnan(depths)
        self.nodes = grid.as_tensor(grid.ZSOI, depths.device, dtype)
        _, k, h, t = _locate(depths.to(dtype), self.nodes)
        self.k, self.k1 = k, k + 1
        if method == "linear":
            self.t = t
        else:
            t2, t3 = t * t, t * t * t
            self.h00 = 2 * t3 - 3 * t2 + 1
            self.h10h = (t3 - 2 * t2 + t) * h
            self.h01 = -2 * t3 + 3 * t2
            self.h11h = (t3 - t2) * h

    def __call__(self, soc: torch.Tensor) -> torch.Tensor:
        """SOC (n, 20) at the depths (n, obs); NaN where a depth is NaN."""
        if soc.shape[0] != self.k.shape[0]:
            raise ValueError(f"soc has {soc.shape[0]} rows, the depths {self.k.shape[0]}")
        y0, y1 = torch.gather(soc, 1, self.k), torch.gather(soc, 1, self.k1)
        if self.method == "linear":
            out = y0 + self.t * (y1 - y0)
        else:
            slopes = pchip_slopes(soc, self.nodes)
            m0, m1 = torch.gather(slopes, 1, self.k), torch.gather(slopes, 1, self.k1)
            out = self.h00 * y0 + self.h10h * m0 + self.h01 * y1 + self.h11h * m1
        return out.masked_fill(self.nan, float("nan"))


#: registry of interpolation methods
INTERPOLATORS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": _linear,
    "pchip": _pchip,
}


def interpolate_to_depths(
    soc_layer: torch.Tensor,
    depths: torch.Tensor,
    method: str = "linear",
    site_ids=None,
) -> torch.Tensor:
    """SOC at observation depths.

    Parameters
    ----------
    soc_layer : Tensor (n, 20), g m-3
        SOC at the CLM5 node depths.
    depths : Tensor (n, obs), m
        Observation (node) depths, NaN-padded.
    method : {"linear", "pchip"}

    Returns
    -------
    Tensor (n, obs), g m-3; NaN where ``depths`` is NaN. Differentiable in ``soc_layer``.
    """
    if method not in INTERPOLATORS:
        raise ValueError(f"unknown interpolation {method!r}; choose from {sorted(INTERPOLATORS)}")
    if depths.ndim != 2 or soc_layer.ndim != 2 or depths.shape[0] != soc_layer.shape[0]:
        raise ValueError(
            f"soc_layer (n, 20) and depths (n, obs) disagree: {tuple(soc_layer.shape)} vs "
            f"{tuple(depths.shape)}"
        )
    depths = depths.to(soc_layer.device)
    _check_depths(depths, site_ids)
    out = INTERPOLATORS[method](soc_layer, depths)
    return torch.where(torch.isnan(depths), torch.full_like(out, float("nan")), out)


def lognormal_observations(soc_true, sigma: float, rng):
    """Noisy observations ``soc_true * exp(sigma * eps)``, eps ~ N(0, 1) independently.

    The observation error model BINN's ``log_mse`` loss assumes (multiplicative, median
    unbiased). Used by ``soilbinn synth`` and ``soilbinn simulate --noise``.

    Parameters
    ----------
    soc_true : ndarray (n, obs), g m-3
        Noise-free SOC at the observation depths, NaN-padded (NaN stays NaN).
    sigma : float
        Standard deviation of log SOC's error (0.1 is about 10%), >= 0.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n, obs), g m-3
    """
    import numpy as np

    if not sigma >= 0:
        raise ValueError(f"the noise sigma must be >= 0, got {sigma}")
    return soc_true * np.exp(sigma * rng.standard_normal(np.shape(soc_true)))


def _check_intervals(top: torch.Tensor, bottom: torch.Tensor, site_ids=None) -> None:
    with torch.no_grad():
        both = torch.isfinite(top) & torch.isfinite(bottom)
        bad = both & ((top < 0) | (bottom > grid.ZISOI[-1] + 1e-9) | (top >= bottom))
        bad |= torch.isfinite(top) ^ torch.isfinite(bottom)
        if bool(bad.any()):
            rows = torch.nonzero(bad.any(dim=1)).flatten().tolist()
            names = [str(site_ids[r]) if site_ids is not None else f"#{r}" for r in rows[:10]]
            raise ObservationDepthError(
                f"stock intervals must satisfy 0 <= top < bottom <= {grid.ZISOI[-1]} m (the "
                f"CLM5 soil column) with both limits given; {len(rows)} site(s) violate it: "
                f"{', '.join(names)}"
            )


def stocks_over_intervals(
    soc_layer: torch.Tensor,
    top: torch.Tensor,
    bottom: torch.Tensor,
    site_ids=None,
) -> torch.Tensor:
    """SOC stocks over depth intervals: the integral of the modelled SOC density.

    SOC density is taken as constant within each CLM5 layer between its interfaces
    (``ZTOP`` to ``ZISOI``), CLM5's own convention for layer stocks (``soc * dz``), so the
    integral is exact: each layer contributes its density times the thickness of its part
    inside ``[top, bottom]`` (partial layers included). Over ``[0, 0.3]`` and ``[0, 1]`` m it
    equals the model's ``soc_stock_0_30cm`` and ``soc_stock_0_100cm``.

    Parameters
    ----------
    soc_layer : Tensor (n, 20), g m-3
        SOC density of the CLM5 layers.
    top, bottom : Tensor (n, k), m
        Interval limits below the surface, NaN-padded (both NaN for no interval);
        0 <= top < bottom <= 8.6 m.
    site_ids : sequence of str, optional
        Named in the error message about invalid intervals.

    Returns
    -------
    Tensor (n, k), g m-2
        NaN where the interval is NaN. Linear (so differentiable) in ``soc_layer``.

    Raises
    ------
    ObservationDepthError
        An interval outside the soil column, with ``top >= bottom`` or half given.
    """
    if (
        soc_layer.ndim != 2
        or top.shape != bottom.shape
        or top.ndim != 2
        or top.shape[0] != soc_layer.shape[0]
    ):
        raise ValueError(
            f"soc_layer (n, 20), top and bottom (n, k) disagree: {tuple(soc_layer.shape)}, "
            f"{tuple(top.shape)}, {tuple(bottom.shape)}"
        )
    top = top.to(device=soc_layer.device, dtype=soc_layer.dtype)
    bottom = bottom.to(device=soc_layer.device, dtype=soc_layer.dtype)
    _check_intervals(top, bottom, site_ids)
    w = grid.interval_weights(top, bottom)  # (n, k, 20) m
    out = torch.einsum("nkl,nl->nk", w, soc_layer)
    missing = torch.isnan(top) | torch.isnan(bottom)
    return torch.where(missing, torch.full_like(out, float("nan")), out)
