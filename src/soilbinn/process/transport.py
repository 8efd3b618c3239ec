"""Vertical transport of soil carbon: CLM5's diffusion scheme and BINN's simple alternative.

Both return the month-averaged 20x20 tridiagonal transport operator ``V`` (per day) as
three diagonals, with CLM5's sign convention: ``dC/dt = ... - V C``, so ``V`` has a
non-negative diagonal, non-positive off-diagonals and rows that sum to zero in the
interior. The same operator applies to the six non-CWD pools (CWD does not move).

CLM5 scheme (SoilBiogeochemLittVertTransp, Koven et al. 2013; as in PRODA's matrix model):
per month, with ``ALT = max(altmax, altmax_lastyear)``, diffusivities at levels 1-21 are
``cryo`` through the active layer and decreasing linearly below it to zero at
``min(3 m, zisoi(nbedrock + 1))`` when ``0 < ALT <= 2 m`` (cryoturbation), else
``diffus`` everywhere (bioturbation) when ``ALT > 0``, else zero; levels deeper than
``nbedrock + 1`` get zero. Interface diffusivities are harmonic means weighted by the
node/interface distances, divided by the node spacing (Patankar 1980), and for layers
below ``nbedrock`` the lower-interface conductance reuses the upper one (PRODA's
bottom treatment, ``bedrock="proda"``); ``bedrock="conservative"`` computes it from the
diffusivities instead, which conserves mass exactly. Advection is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from soilbinn.process import grid


@dataclass
class TransportBasis:
    """Month-averaged transport operators per unit diffusivity (precomputed from forcing).

    ``V = diffus * bio + cryo * cryo_op`` where each operator is (n, 3, 20) holding the
    lower, main and upper diagonals in d-1 per (m2 d-1) of diffusivity, i.e. m-2.
    """

    bio: torch.Tensor
    cryo: torch.Tensor

    def select(self, index) -> TransportBasis:
        return TransportBasis(self.bio[index], self.cryo[index])


def _level_constants(device, dtype):
    zsoi = grid.as_tensor(grid.ZSOI_ALL[:21], device, dtype)
    zisoi = grid.as_tensor(grid.ZISOI_ALL[:21], device, dtype)
    dz_node = grid.as_tensor(grid.DZ_NODE_ALL[:21], device, dtype)
    dz = grid.as_tensor(grid.DZ, device, dtype)
    return zsoi, zisoi, dz_node, dz


def diffusivity_shapes(
    altmax: torch.Tensor, altmax_lastyear: torch.Tensor, nbedrock: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative diffusivity at CLM levels 1-21 for each month, per regime.

    Parameters
    ----------
    altmax, altmax_lastyear : Tensor (n, 12), m
    nbedrock : Tensor (n, 12), int (1-20)

    Returns
    -------
    bio, cryo : Tensor (n, 12, 21)
        Diffusivity divided by ``diffus`` (resp. ``cryo``); zero in months of the other
        regime, so that ``D = diffus * bio + cryo * cryo``.
    """
    dtype = altmax.dtype if altmax.is_floating_point() else torch.float64
    _, zisoi, _, _ = _level_constants(altmax.device, dtype)
    alt = torch.maximum(altmax, altmax_lastyear).to(dtype).unsqueeze(-1)  # (n,12,1)
    nb = nbedrock.to(torch.int64).unsqueeze(-1)  # (n,12,1)
    levels = torch.arange(1, 22, device=altmax.device).view(1, 1, 21)
    is_cryo = (alt > 0) & (alt <= grid.MAX_ALTDEPTH_CRYOTURBATION)
    is_bio = (alt > 0) & ~is_cryo
    zisoi_all = grid.as_tensor(grid.ZISOI_ALL, altmax.device, dtype)
    z_bedrock = zisoi_all[nb.clamp(1, 20)]  # bottom of layer nbedrock + 1 (0-based index nb)
    z_end = torch.clamp(z_bedrock, max=grid.MAX_DEPTH_CRYOTURB)
    lin = 1.0 - (zisoi - alt) / (z_end - alt)
    # fmax(x, 0) with NaN -> 0 (ALT may equal the end depth: 0/0)
    lin = torch.where(torch.isnan(lin) | (lin < 0), torch.zeros_like(lin), lin)
    cryo_shape = torch.where(zisoi < alt, torch.ones_like(lin), lin)
    above_rock = levels <= nb + 1
    bio = (is_bio & above_rock).to(dtype).expand(-1, -1, 21)
    cryo = torch.where(is_cryo & above_rock, cryo_shape, torch.zeros_like(cryo_shape))
    return bio, cryo


def _tridiagonal_from_diffusivity(
    diff: torch.Tensor, nbedrock: torch.Tensor, bedrock: str
) -> torch.Tensor:
    """Monthly tridiagonal operator from level diffusivities.

    Parameters
    ----------
    diff : Tensor (n, m, 21)
        Diffusivity at levels 1-21 (any unit; result scales linearly with it).
    nbedrock : Tensor (n, m) int
    bedrock : {"proda", "conservative"}

    Returns
    -------
    Tensor (n, m, 3, 20): lower, diag, upper of V (per m2 of diffusivity).
    """
    zsoi, zisoi, dz_node, dz = _level_constants(diff.device, diff.dtype)
    # interface between level k and k+1 (k = 0..19, 0-based)
    w = (zsoi[1:21] - zisoi[0:20]) / dz_node[1:21]  # weight of the lower level
    d_up, d_dn = diff[..., 0:20], diff[..., 1:21]
    both = (d_up > 0) & (d_dn > 0)
    safe_up = torch.where(both, d_up, torch.ones_like(d_up))
    safe_dn = torch.where(both, d_dn, torch.ones_like(d_dn))
    hm = torch.where(both, 1.0 / ((1.0 - w) / safe_up + w / safe_dn), torch.zeros_like(d_up))
    g = hm / dz_node[1:21]  # conductance across the interface below layer k (k = 0..19)
    zero = torch.zeros_like(g[..., :1])
    a = torch.cat([zero, g[..., :19]], dim=-1)  # to the layer above
    c = g.clone()  # to the layer below
    if bedrock == "proda":
        j = torch.arange(1, 21, device=diff.device)
        below = j > nbedrock.to(torch.int64).unsqueeze(-1)
        c = torch.where(below, a, c)
    elif bedrock != "conservative":
        raise ValueError(f"unknown bedrock treatment {bedrock!r}; use 'proda' or 'conservative'")
    c = torch.cat([c[..., :19], zero], dim=-1)  # no flux through the bottom of layer 20
    lower = -a / dz
    upper = -c / dz
    diag = (a + c) / dz
    return torch.stack([lower, diag, upper], dim=-2)


def clm5_basis(
    altmax: torch.Tensor,
    altmax_lastyear: torch.Tensor,
    nbedrock: torch.Tensor,
    bedrock: str = "proda",
) -> TransportBasis:
    """Precompute the month-averaged CLM5 transport operators per unit diffusivity.

    Returns a :class:`TransportBasis` with ``bio`` and ``cryo`` of shape (n, 3, 20) in
    m-2, so that ``V = (diffus/365) * bio + (cryo/365) * cryo_op`` in d-1 with
    diffusivities in m2 yr-1.
    """
    bio_s, cryo_s = diffusivity_shapes(altmax, altmax_lastyear, nbedrock)
    bio = _tridiagonal_from_diffusivity(bio_s, nbedrock, bedrock).mean(dim=1)
    cryo = _tridiagonal_from_diffusivity(cryo_s, nbedrock, bedrock).mean(dim=1)
    return TransportBasis(bio=bio, cryo=cryo)


def clm5_operator(basis: TransportBasis, diffus: torch.Tensor, cryo: torch.Tensor) -> torch.Tensor:
    """CLM5 transport operator (n, 3, 20) in d-1 from diffusivities in m2 yr-1 (n,)."""
    return (diffus / grid.DAYS_PER_YEAR)[:, None, None] * basis.bio + (cryo / grid.DAYS_PER_YEAR)[
        :, None, None
    ] * basis.cryo


def simple_operator(
    slope: torch.Tensor,
    intercept: torch.Tensor,
    nbedrock: torch.Tensor,
    leaching_intercept: torch.Tensor | None = None,
) -> torch.Tensor:
    """BINN's "simple" transport: exchange rates that are a power law of depth.

    The exchange rate across the interface below layer j is
    ``r_j = 10^(intercept + slope * log10(100 * zsoi_j))`` in d-1 (upward and, with one
    intercept, downward; ``leaching_intercept`` sets a separate downward rate). Carbon
    moved is ``r_j * C_j * dz_j`` (g m-2 d-1) downward and ``r_up_j * C_{j+1} * dz_{j+1}``
    upward, so the dz-weighted column total is conserved. No exchange across or below
    bedrock (month-averaged over the 12 bedrock indices).

    Parameters
    ----------
    slope, intercept : Tensor (n,)
    nbedrock : Tensor (n, 12) int
    leaching_intercept : Tensor (n,), optional

    Returns
    -------
    Tensor (n, 3, 20), d-1
    """
    dtype = slope.dtype
    zsoi = grid.as_tensor(grid.ZSOI, slope.device, dtype)
    dz = grid.as_tensor(grid.DZ, slope.device, dtype)
    logz = torch.log10(100.0 * zsoi)
    r_up = torch.pow(10.0, intercept[:, None] + slope[:, None] * logz)  # (n, 20)
    r_dn = (
        r_up
        if leaching_intercept is None
        else torch.pow(10.0, leaching_intercept[:, None] + slope[:, None] * logz)
    )
    j = torch.arange(1, 21, device=slope.device)
    # interface below layer j is open when j < nbedrock (fraction of months)
    open_frac = (j.view(1, 1, 20) < nbedrock.to(torch.int64).unsqueeze(-1)).to(dtype).mean(1)
    open_frac = torch.cat([open_frac[:, :19], torch.zeros_like(open_frac[:, :1])], dim=1)
    down = r_dn * open_frac  # leaves layer j downward, per unit C_j (d-1)
    up = r_up * open_frac  # leaves layer j+1 upward, per unit C_{j+1}, across interface j
    zero = torch.zeros_like(down[:, :1])
    # row j: loses down_j + up_{j-1}; gains down_{j-1} C_{j-1} dz_{j-1}/dz_j and up C_{j+1}
    diag = down + torch.cat([zero, up[:, :19]], dim=1)
    lower = -torch.cat([zero, down[:, :19] * dz[:19] / dz[1:]], dim=1)
    upper = -torch.cat([up[:, :19] * dz[1:] / dz[:19], zero], dim=1)
    return torch.stack([lower, diag, upper], dim=1)
