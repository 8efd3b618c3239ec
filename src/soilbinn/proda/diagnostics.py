"""Convergence diagnostics of batched MCMC draws: split R-hat, effective sample size.

Draws are arrays ``(..., chains, draws)``; every leading dimension (sites, parameters) is
independent. Formulas follow Gelman et al. (2013, BDA3, ch. 11) and Vehtari et al.
(2021): split R-hat without rank normalisation, and a multi-chain effective sample size
with Geyer's initial monotone positive sequence on FFT autocorrelations.
"""

from __future__ import annotations

import numpy as np


def _check(draws: np.ndarray) -> np.ndarray:
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"draws must be (..., chains, draws), got shape {x.shape}")
    return x


def split_chains(draws: np.ndarray) -> np.ndarray:
    """Split each chain in two halves (the middle draw of an odd chain is dropped).

    (..., m, n) -> (..., 2m, n // 2)
    """
    x = _check(draws)
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], x[..., x.shape[-1] - half :]], axis=-2)


def rhat(draws: np.ndarray, split: bool = True) -> np.ndarray:
    """Potential scale reduction factor (split R-hat by default).

    Parameters
    ----------
    draws : array (..., chains, draws)
    split : bool
        Split every chain in halves first (detects trends within chains too).

    Returns
    -------
    array (...): ``sqrt(((n - 1) / n W + B / n) / W)``; NaN with fewer than 4 draws
    per chain, and 1 where all draws are identical.
    """
    x = split_chains(draws) if split else _check(draws)
    m, n = x.shape[-2], x.shape[-1]
    if n < 2 or m < 2:
        return np.full(x.shape[:-2], np.nan)
    chain_mean = x.mean(-1)
    chain_var = x.var(-1, ddof=1)
    w = chain_var.mean(-1)
    b = n * chain_mean.var(-1, ddof=1)
    var_plus = (n - 1) / n * w + b / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / w)
    return np.where((w == 0) & (b == 0), 1.0, r)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance along the last axis via FFT (biased, lag 0..n-1)."""
    n = x.shape[-1]
    xc = x - x.mean(-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(xc, n=size, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=-1)[..., :n]
    return acov / n


def ess(draws: np.ndarray) -> np.ndarray:
    """Effective sample size of the pooled draws (Vehtari et al. 2021, eq. 10-11).

    Parameters
    ----------
    draws : array (..., chains, draws)

    Returns
    -------
    array (...): ESS, between ~0 and ``chains * draws`` (can exceed it for
    antithetic chains); NaN with fewer than 4 draws per chain.
    """
    x = _check(draws)
    m, n = x.shape[-2], x.shape[-1]
    lead = x.shape[:-2]
    if n < 4:
        return np.full(lead, np.nan)
    acov = _autocovariance(x)  # (..., m, n)
    chain_mean = x.mean(-1)
    w = (acov[..., 0] * n / (n - 1)).mean(-1)  # mean within-chain variance
    var_plus = w * (n - 1) / n
    if m > 1:
        var_plus = var_plus + chain_mean.var(-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (w[..., None] - acov.mean(-2)) / var_plus[..., None]  # (..., n)
    rho[..., 0] = 1.0
    flat = rho.reshape(-1, n)
    constant = (var_plus == 0).reshape(-1)
    out = np.empty(flat.shape[0])
    for i, r in enumerate(flat):
        if not np.all(np.isfinite(r)):
            out[i] = float(m * n) if constant[i] else np.nan  # identical draws: no noise
            continue
        # Geyer: sums of adjacent pairs, truncated at the first negative, made monotone
        npairs = n // 2
        pairs = r[: 2 * npairs].reshape(npairs, 2).sum(-1)
        neg = np.nonzero(pairs < 0)[0]
        k = neg[0] if neg.size else npairs
        p = np.minimum.accumulate(pairs[:k]) if k > 0 else np.zeros(1)
        tau = -1.0 + 2.0 * p.sum()
        tau = max(tau, 1.0 / np.log10(m * n))
        out[i] = m * n / tau
    return out.reshape(lead)


def acceptance_rate(accepted: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Acceptance rate = accepted / steps, NaN where no step was taken."""
    a = np.asarray(accepted, dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, a / s, np.nan)


def gelman_rubin_proda(draws: np.ndarray) -> np.ndarray:
    """PRODA's (non-split) Gelman-Rubin statistic on equal-length chains (..., m, n)."""
    return rhat(draws, split=False)
