"""CLM5 soil grid (levels 1-20 are simulated, 21-25 only serve as neighbours).

All depths in metres, from CLM5 (Lawrence et al. 2019) as used by PRODA and BINN.
"""

from __future__ import annotations

import torch

N_LAYERS = 20
N_POOLS = 7
N_MONTHS = 12
DAYS_PER_YEAR = 365.0

POOLS: tuple[str, ...] = ("cwd", "litter1", "litter2", "litter3", "som1", "som2", "som3")
POOL_LONG_NAMES: dict[str, str] = {
    "cwd": "coarse woody debris",
    "litter1": "metabolic litter",
    "litter2": "cellulose litter",
    "litter3": "lignin litter",
    "som1": "fast soil organic matter",
    "som2": "slow soil organic matter",
    "som3": "passive soil organic matter",
}
LITTER_POOLS = (0, 1, 2, 3)  # pools that receive direct input
SOM_POOLS = (4, 5, 6)

#: node depth of levels 1-25 (m)
ZSOI_ALL: tuple[float, ...] = (
    0.01, 0.04, 0.09, 0.16, 0.26, 0.40, 0.58, 0.80, 1.06, 1.36, 1.70, 2.08, 2.50, 2.99,
    3.58, 4.27, 5.06, 5.95, 6.94, 8.03,
    9.795, 13.3277669529664, 19.4831291701244, 28.8707244343160, 41.9984368640029,
)  # fmt: skip
#: layer thickness of levels 1-25 (m)
DZ_ALL: tuple[float, ...] = (
    0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32, 0.36, 0.40, 0.44, 0.54,
    0.64, 0.74, 0.84, 0.94, 1.04, 1.14,
    2.39, 4.67553390593274, 7.63519052838329, 11.14, 15.1154248593737,
)  # fmt: skip
#: lower interface depth of levels 1-25 (m); the top of level 1 is 0
ZISOI_ALL: tuple[float, ...] = (
    0.02, 0.06, 0.12, 0.20, 0.32, 0.48, 0.68, 0.92, 1.20, 1.52, 1.88, 2.28, 2.72, 3.26,
    3.90, 4.64, 5.48, 6.42, 7.46, 8.60,
    10.99, 15.6655339059327, 23.3007244343160, 34.4407244343160, 49.5561492936897,
)  # fmt: skip

ZSOI = ZSOI_ALL[:N_LAYERS]
DZ = DZ_ALL[:N_LAYERS]
ZISOI = ZISOI_ALL[:N_LAYERS]
ZTOP = (0.0,) + ZISOI[:-1]
#: distance between node j and node j-1 (node 0 at the surface), levels 1-25 (m)
DZ_NODE_ALL: tuple[float, ...] = tuple(z - zp for z, zp in zip(ZSOI_ALL, (0.0,) + ZSOI_ALL[:-1]))
#: permafrost-free active-layer depth CLM reports (m)
NO_PERMAFROST_ALT = ZSOI_ALL[-1]
#: deepest active layer for which cryoturbation applies, and its maximum depth (m)
MAX_ALTDEPTH_CRYOTURBATION = 2.0
MAX_DEPTH_CRYOTURB = 3.0


def as_tensor(values, device=None, dtype=torch.float64) -> torch.Tensor:
    """Return a grid constant as a tensor on ``device``."""
    return torch.tensor(values, dtype=dtype, device=device)


def interval_weights(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """Thickness of each of the 20 layers lying within ``[top, bottom]`` (batched).

    Layers span their interfaces (``ZTOP``, ``ZISOI``), so a partial layer contributes
    only the part inside the interval.

    Parameters
    ----------
    top, bottom : Tensor (...), m
        Interval limits (same shape); NaN gives zero weights.

    Returns
    -------
    Tensor (..., 20), m
        Multiply by concentrations (g m-3) and sum over the last axis to get a stock
        (g m-2).
    """
    dtype = top.dtype if top.is_floating_point() else torch.float64
    upper = as_tensor(ZTOP, top.device, dtype)
    lower = as_tensor(ZISOI, top.device, dtype)
    t = torch.nan_to_num(top.to(dtype), nan=0.0)[..., None]
    b = torch.nan_to_num(bottom.to(dtype), nan=0.0)[..., None]
    return torch.clamp(torch.minimum(lower, b) - torch.maximum(upper, t), min=0.0)


def depth_bin_stock_weights(top: float, bottom: float) -> torch.Tensor:
    """Thickness of each of the 20 layers lying within ``[top, bottom]`` m.

    Returns
    -------
    torch.Tensor, shape (20,), m
        Multiply by concentrations (g m-3) and sum to get a stock (g m-2).
    """
    return interval_weights(
        torch.tensor(top, dtype=torch.float64), torch.tensor(bottom, dtype=torch.float64)
    )
