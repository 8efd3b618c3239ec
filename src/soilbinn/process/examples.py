"""Random but physically plausible forcing and parameters (tests, benchmarks, docs).

Not a synthetic dataset (see :mod:`soilbinn.inputs.synth` for that): just independent sites
with seasonal soil temperature, scalars in [0, 1] and litter inputs, for exercising the
process model.
"""

from __future__ import annotations

import math

import torch

from soilbinn.process import grid
from soilbinn.process.forcing import Forcing
from soilbinn.process.parameters import ParameterSpace


def random_forcing(
    n: int,
    seed: int = 0,
    permafrost_fraction: float = 0.2,
    shallow_bedrock_fraction: float = 0.2,
    device=None,
) -> Forcing:
    """Forcing for ``n`` random sites (float64).

    Soil temperature follows a damped seasonal wave (damping depth 2 m); a fraction of
    sites has permafrost (active layer 0.3-2.5 m) and a fraction shallow bedrock (5-19).
    """
    g = torch.Generator().manual_seed(seed)
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    z = torch.tensor(grid.ZSOI, dtype=torch.float64)
    month = torch.arange(12, dtype=torch.float64)
    tmean = 273.15 + (-5 + 25 * u(n))
    amp = 3 + 12 * u(n)
    damp = torch.exp(-z / 2.0)
    phase = 2 * math.pi * (month - 6.5) / 12
    temp = tmean[:, None, None] + amp[:, None, None] * damp[None, :, None] * torch.cos(
        phase[None, None, :] - z[None, :, None] / 2.0
    )
    water = (0.3 + 0.6 * u(n, 1, 1)) * (0.8 + 0.2 * u(n, 20, 12))
    oxygen = 0.7 + 0.3 * u(n, 20, 12)
    nitrogen = 0.3 + 0.7 * u(n, 20, 12)
    npp = 200 + 800 * u(n)
    frac = torch.stack(
        [0.1 + 0.2 * u(n), 0.25 + 0.1 * u(n), 0.3 + 0.1 * u(n), 0.15 + 0.1 * u(n)], 1
    )
    litter = npp[:, None] * frac
    alt = torch.full((n, 12), grid.NO_PERMAFROST_ALT, dtype=torch.float64)
    pf = u(n) < permafrost_fraction
    alt_pf = (0.3 + 2.2 * u(n))[:, None].expand(n, 12)
    alt = torch.where(pf[:, None], alt_pf, alt)
    nb = torch.full((n, 12), 20, dtype=torch.int64)
    shallow = u(n) < shallow_bedrock_fraction
    nb_sh = (5 + (15 * u(n)).floor().to(torch.int64))[:, None].expand(n, 12)
    nb = torch.where(shallow[:, None], nb_sh, nb)
    f = Forcing(
        litter_input=litter,
        altmax=alt.clone(),
        altmax_lastyear=alt.clone(),
        nbedrock=nb,
        soil_temperature=temp,
        water_scalar=water.clamp(0, 1),
        oxygen_scalar=oxygen,
        nitrogen_scalar=nitrogen,
        site_ids=[f"site{i:05d}" for i in range(n)],
    )
    return f.to(device)


def random_parameters(
    n: int, space: ParameterSpace, seed: int = 0, min_efolding_m: float = 0.4, margin=0.02
) -> torch.Tensor:
    """Unit-scale parameters (n, space.n) uniform in [margin, 1 - margin].

    ``efolding`` is kept at or above ``min_efolding_m`` so the steady state is well
    conditioned (smaller e-folding depths make decomposition vanish at depth).
    """
    g = torch.Generator().manual_seed(seed + 1)
    p = margin + (1 - 2 * margin) * torch.rand(n, space.n, generator=g, dtype=torch.float64)
    if "efolding" in space.names:
        i = space.index("efolding")
        lo, hi = space.lower[i], space.upper[i]
        pmin = min(max((min_efolding_m - lo) / (hi - lo), 0.0), 1.0)
        p[:, i] = pmin + (1 - pmin) * p[:, i] * (1 - margin)
    return p
