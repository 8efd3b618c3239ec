"""Decomposition rates, environmental scalars, transfer fractions and inputs.

Equations follow process_model.md (CLM5 decomposition cascade in matrix form, Lu et al.
2020; PRODA, Tao et al. 2023). Everything is batched over sites and runs in float64.
"""

from __future__ import annotations

import torch

from soilbinn.process import grid

#: reference temperature of the Q10 function (K)
T_REF = 298.15
#: floors keeping rates finite at the lower bound 0 of proda2023 (yr and m)
TAU_FLOOR = 1e-6
EFOLDING_FLOOR = 1e-6
#: floor of the decomposition rates (d-1): an e-folding depth near 0 underflows
#: exp(-z/efolding) to exactly 0, which leaves no steady state; with the floor the solution
#: stays finite (and is flagged ill-conditioned) instead of becoming inf/NaN
K_FLOOR = 1e-300
#: transfer-fraction names in the order of :func:`transfer_fractions`
TRANSFER_NAMES = (
    "fcwdl2", "fl1s1", "fl2s1", "fl3s2", "fs1s2", "fs1s3", "fs2s1", "fs2s3", "fs3s1",
)  # fmt: skip


def turnover_times(P: dict[str, torch.Tensor]) -> torch.Tensor:
    """Turnover times (n, 7) in yr of CWD, L1, L2, L3 (= L2, as in CLM5/PRODA), S1-S3."""
    return torch.stack(
        [P["taucwd"], P["taul1"], P["taul2"], P["taul2"], P["tau4s1"], P["tau4s2"], P["tau4s3"]],
        dim=1,
    )


def temperature_scalar(q10: torch.Tensor, soil_temperature: torch.Tensor) -> torch.Tensor:
    """``xit = q10^((T - 298.15)/10)``; (n,) x (n, 20, 12) -> (n, 20, 12)."""
    return torch.exp(torch.log(q10)[:, None, None] * (soil_temperature - T_REF) / 10.0)


def water_scalar(
    w_scaling: torch.Tensor, water: torch.Tensor, sharpness: float | None = None
) -> torch.Tensor:
    """``xiw = min(W * w_scaling, 1)``; (n,) x (n, 20, 12) -> (n, 20, 12).

    ``sharpness = k`` replaces the min by the smooth ``1 - softplus(k (1 - x)) / k``
    (below the min everywhere, equal to it as ``k -> inf``) whose gradient in
    ``w_scaling`` is not zero where ``x = W w_scaling >= 1``. Only for training
    (see :mod:`soilbinn.training.schedule`); ``None`` (the default) is the model's min.
    """
    x = water * w_scaling[:, None, None]
    if sharpness is None:
        return torch.clamp(x, max=1.0)
    return 1.0 - torch.nn.functional.softplus(sharpness * (1.0 - x)) / sharpness


def water_saturation_threshold(water: torch.Tensor) -> torch.Tensor:
    """The smallest ``w_scaling`` at which :func:`water_scalar` is 1 in every cell.

    ``min(W w, 1) = 1`` wherever ``W > 0`` once ``w >= 1 / min(W > 0)``; above it the SOC
    does not depend on ``w_scaling`` at all (cells with ``W = 0`` stay 0 whatever it is).

    Parameters
    ----------
    water : Tensor (n, 20, 12)
        Water scalar ``W`` per layer and month, 1.

    Returns
    -------
    Tensor (n,)
        Physical ``w_scaling`` threshold, 1; ``inf`` at a site with no cell ``W > 0``.
    """
    positive = torch.where(water > 0, water, torch.full_like(water, torch.inf))
    smallest = positive.flatten(1).min(1).values
    return torch.where(torch.isfinite(smallest), 1.0 / smallest, smallest)


def depth_scalar(efolding: torch.Tensor) -> torch.Tensor:
    """``exp(-zsoi / efolding)`` for the 20 layers; (n,) m -> (n, 20)."""
    zsoi = grid.as_tensor(grid.ZSOI, efolding.device, efolding.dtype)
    return torch.exp(-zsoi / torch.clamp(efolding, min=EFOLDING_FLOOR)[:, None])


def decomposition_rates(
    taus: torch.Tensor,
    q10: torch.Tensor,
    efolding: torch.Tensor,
    w_scaling: torch.Tensor,
    soil_temperature: torch.Tensor,
    water: torch.Tensor,
    oxygen: torch.Tensor,
    nitrogen: torch.Tensor,
    water_sharpness: float | None = None,
) -> torch.Tensor:
    """Month-averaged decomposition rates ``K[p, j]`` (d-1).

    Parameters
    ----------
    taus : Tensor (n, 7), yr
        Turnover times of CWD, L1, L2, L3 (= L2), S1, S2, S3.
    q10, efolding, w_scaling : Tensor (n,)
    soil_temperature : Tensor (n, 20, 12), K
    water, oxygen, nitrogen : Tensor (n, 20, 12), 1
    water_sharpness : float, optional
        Smooth relaxation of the water scalar's min (training only; see :func:`water_scalar`).

    Returns
    -------
    Tensor (n, 7, 20), d-1
        ``mean_t(k_p xit xiw O d_j (N for the three litter pools))``.
    """
    base = (
        temperature_scalar(q10, soil_temperature)
        * water_scalar(w_scaling, water, water_sharpness)
        * oxygen
    )
    env = base.mean(dim=-1)  # (n, 20)
    env_n = (base * nitrogen).mean(dim=-1)
    d = depth_scalar(efolding)
    k = 1.0 / (grid.DAYS_PER_YEAR * torch.clamp(taus, min=TAU_FLOOR))  # (n, 7)
    scal = torch.stack([env, env_n, env_n, env_n, env, env, env], dim=1)  # (n, 7, 20)
    return torch.clamp(k[:, :, None] * scal * d[:, None, :], min=K_FLOOR)


def input_profile(beta: torch.Tensor, altmax_lastyear: torch.Tensor | None, rule: str = "proda"):
    """Fraction of litter input entering each layer (Jackson et al. 1996 profile).

    ``prof_j = (beta^(100 ztop_j) - beta^(100 zbot_j)) / dz_j`` (depths in cm in the
    exponent), normalised so that ``sum_j v_j = 1`` with ``v_j = dz_j prof_j / sum(dz prof)``.

    Parameters
    ----------
    beta : Tensor (n,)
    altmax_lastyear : Tensor (n, 12), m
        With ``rule="proda"`` all input goes to layer 1 unless it is > 0 in all months.
    rule : {"proda", "beta"}

    Returns
    -------
    Tensor (n, 20), 1
    """
    dz = grid.as_tensor(grid.DZ, beta.device, beta.dtype)
    ztop = grid.as_tensor(grid.ZTOP, beta.device, beta.dtype)
    zbot = grid.as_tensor(grid.ZISOI, beta.device, beta.dtype)
    logb = torch.log(beta)[:, None]
    prof = (torch.exp(100.0 * ztop * logb) - torch.exp(100.0 * zbot * logb)) / dz
    v = dz * prof
    v = v / v.sum(dim=1, keepdim=True)
    if rule == "proda":
        first = torch.zeros_like(v)
        first[:, 0] = 1.0
        frozen = ~(altmax_lastyear > 0).all(dim=1)
        v = torch.where(frozen[:, None], first, v)
    elif rule != "beta":
        raise ValueError(f"unknown input rule {rule!r}; use 'proda' or 'beta'")
    return v


def litter_input_rates(litter_input: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
    """Input to the four litter pools per layer ``u = I_p v_j / (dz_j 365)``.

    (n, 4) g m-2 yr-1 x (n, 20) -> (n, 4, 20) g m-3 d-1.
    """
    dz = grid.as_tensor(grid.DZ, profile.device, profile.dtype)
    return litter_input[:, :, None] * (profile / (dz * grid.DAYS_PER_YEAR))[:, None, :]
