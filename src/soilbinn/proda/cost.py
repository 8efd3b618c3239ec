"""PRODA's cost function and layer weights (Tao et al. 2020, 2023).

``J = sum_i w_i (m_i - o_i)**2 / (2 (0.6 o_i)**2)`` over a profile's valid observations,
with the model's SOC interpolated to the observed depths by pchip and 60% relative
observation error. Layer weights (from PRODA's public code): rank every observation by
the absolute deviation of its SOC from the profile's mean SOC (rank 1 = farthest), rank it
the same way by depth, average the two ranks ``r`` and set ``w = max(10 exp(-(r - 1)), 1)``
(ties keep the observation order, as MATLAB's stable sort does). PRODA drops
observations that are zero or NaN before all this; so does :func:`prepare_observations`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Tensor = torch.Tensor

#: PRODA's relative observation error (WoSIS)
OBS_RELATIVE_ERROR = 0.6


class ObservationError(ValueError):
    """Observations that PRODA cannot use: names the site(s) and the problem."""


def layer_weights(soc: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """PRODA's layer weights for one profile.

    Parameters
    ----------
    soc, depth : array (k,)
        Valid (finite, positive) observations of one profile, g m-3 and m.

    Returns
    -------
    array (k,): weights in [1, 10].
    """
    soc = np.asarray(soc, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)

    def rank(v: np.ndarray) -> np.ndarray:
        order = np.argsort(-np.abs(v - v.mean()), kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        return r

    r = 0.5 * (rank(soc) + rank(depth))
    return np.maximum(10.0 * np.exp(-(r - 1.0)), 1.0)


@dataclass
class Observations:
    """Observations ready for PRODA's cost (NaN-padded, one row per site).

    Attributes
    ----------
    soc : Tensor (n, obs) float64, g m-3 (NaN where unused)
    depth : Tensor (n, obs) float64, m (NaN where unused)
    weights : Tensor (n, obs) float64, PRODA's layer weights (0 where unused)
    n_valid : Tensor (n,) int64
    """

    soc: Tensor
    depth: Tensor
    weights: Tensor
    n_valid: Tensor

    def select(self, index: Tensor) -> Observations:
        return Observations(
            self.soc[index], self.depth[index], self.weights[index], self.n_valid[index]
        )


def prepare_observations(
    soc: Tensor, depth: Tensor, site_ids: list[str] | None = None
) -> Observations:
    """Drop zero/NaN observations, compute weights; raise for sites with none left.

    Parameters
    ----------
    soc, depth : Tensor (n, obs)
        Observed SOC density (g m-3) and node depth (m), NaN padded.
    site_ids : list of str, optional
        For error messages.
    """
    s = np.asarray(soc, dtype=np.float64)
    z = np.asarray(depth, dtype=np.float64)
    if s.shape != z.shape or s.ndim != 2:
        raise ObservationError(f"soc {s.shape} and obs_depth {z.shape} must both be (site, obs)")
    valid = np.isfinite(s) & np.isfinite(z) & (s > 0)
    negative = np.isfinite(s) & (s < 0)
    names = site_ids if site_ids is not None else [f"#{i}" for i in range(s.shape[0])]
    if negative.any():
        bad = [names[i] for i in np.nonzero(negative.any(1))[0][:10]]
        raise ObservationError(f"negative SOC observations (soc, g m-3) at site(s) {bad}")
    empty = ~valid.any(1)
    if empty.any():
        bad = [names[i] for i in np.nonzero(empty)[0][:10]]
        raise ObservationError(
            f"{int(empty.sum())} site(s) have no positive, finite SOC observation "
            f"(variables soc, obs_depth): {bad}"
        )
    k = int(valid.sum(1).max())
    n = s.shape[0]
    soc_out = np.full((n, k), np.nan)
    depth_out = np.full((n, k), np.nan)
    w_out = np.zeros((n, k))
    for i in range(n):
        v = valid[i]
        m = int(v.sum())
        soc_out[i, :m] = s[i, v]
        depth_out[i, :m] = z[i, v]
        w_out[i, :m] = layer_weights(s[i, v], z[i, v])
    return Observations(
        torch.from_numpy(soc_out),
        torch.from_numpy(depth_out),
        torch.from_numpy(w_out),
        torch.from_numpy(valid.sum(1).astype(np.int64)),
    )


def proda_cost(
    model_at_obs: Tensor, obs: Observations, relative_error: float = OBS_RELATIVE_ERROR
) -> Tensor:
    """PRODA's cost per row.

    Parameters
    ----------
    model_at_obs : Tensor (n, obs)
        Simulated SOC at the observed depths, g m-3 (NaN only where obs is padding).
    obs : Observations
        Matching rows.
    relative_error : float
        Observation error as a fraction of the observation (PRODA: 0.6).

    Returns
    -------
    Tensor (n,) float64; ``+inf`` where the simulation is not finite at a valid obs.
    """
    valid = torch.isfinite(obs.soc)
    o = torch.where(valid, obs.soc, torch.ones_like(obs.soc))
    m = model_at_obs.to(torch.float64)
    bad = (valid & ~torch.isfinite(m)).any(-1)
    m = torch.where(valid & torch.isfinite(m), m, o)
    terms = obs.weights * (m - o) ** 2 / (2.0 * (relative_error * o) ** 2)
    cost = torch.where(valid, terms, torch.zeros_like(terms)).sum(-1)
    return torch.where(bad, torch.full_like(cost, torch.inf), cost)
