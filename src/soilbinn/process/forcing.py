"""Climate and litter forcing of the CLM5 matrix model, batched over sites.

:class:`Forcing` holds float64 tensors (plus integer bedrock indices) for ``n`` sites.
It is the only thing the process model needs besides parameters; building it from a
dataset (xarray) is the data layer's job (:mod:`soilbinn.data`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch

from soilbinn.process.grid import N_LAYERS, N_MONTHS


class ForcingError(ValueError):
    """Invalid forcing: names the variable, the site(s) and the problem."""


#: name -> (expected trailing shape, units, lower bound, upper bound)
FORCING_SPEC: dict[str, tuple[tuple[int, ...], str, float, float]] = {
    "litter_input": ((4,), "g m-2 yr-1", 0.0, float("inf")),
    "altmax": ((N_MONTHS,), "m", 0.0, float("inf")),
    "altmax_lastyear": ((N_MONTHS,), "m", 0.0, float("inf")),
    "nbedrock": ((N_MONTHS,), "1", 1, N_LAYERS),
    "soil_temperature": ((N_LAYERS, N_MONTHS), "K", 150.0, 350.0),
    "water_scalar": ((N_LAYERS, N_MONTHS), "1", 0.0, 1.0),
    "oxygen_scalar": ((N_LAYERS, N_MONTHS), "1", 0.0, 1.0),
    "nitrogen_scalar": ((N_LAYERS, N_MONTHS), "1", 0.0, 1.0),
}


def _describe_sites(bad: torch.Tensor, site_ids: Sequence[str] | None, limit: int = 10) -> str:
    idx = torch.nonzero(bad).flatten().tolist()
    names = [str(site_ids[i]) if site_ids is not None else f"#{i}" for i in idx[:limit]]
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{len(idx)} site(s): {', '.join(names)}{more}"


@dataclass
class Forcing:
    """Forcing for ``n`` sites (monthly climatology, CLM5 levels 1-20).

    Attributes
    ----------
    litter_input : Tensor (n, 4), g m-2 yr-1
        Annual carbon input to CWD, metabolic, cellulose and lignin litter (the sum of
        the monthly inputs; the model only uses the annual total).
    altmax, altmax_lastyear : Tensor (n, 12), m
        Maximum active-layer thickness this and last year (~42 m without permafrost).
    nbedrock : Tensor (n, 12), int64
        Index (1-20) of the deepest soil layer above bedrock.
    soil_temperature : Tensor (n, 20, 12), K
    water_scalar, oxygen_scalar, nitrogen_scalar : Tensor (n, 20, 12), 1
        CLM5 W_SCALAR, O_SCALAR and FPI_vr, in [0, 1].
    site_ids : sequence of str, optional
        Used in error messages only.
    """

    litter_input: torch.Tensor
    altmax: torch.Tensor
    altmax_lastyear: torch.Tensor
    nbedrock: torch.Tensor
    soil_temperature: torch.Tensor
    water_scalar: torch.Tensor
    oxygen_scalar: torch.Tensor
    nitrogen_scalar: torch.Tensor
    site_ids: Sequence[str] | None = None

    @classmethod
    def tensor_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "site_ids")

    def __len__(self) -> int:
        return int(self.litter_input.shape[0])

    @property
    def device(self) -> torch.device:
        return self.litter_input.device

    def to(self, device=None, dtype=torch.float64) -> Forcing:
        """Move to ``device``; floating fields are cast to ``dtype`` (float64 by default)."""
        out = {}
        for name in self.tensor_fields():
            t = getattr(self, name)
            out[name] = t.to(device=device, dtype=torch.int64 if name == "nbedrock" else dtype)
        return replace(self, **out)

    def select(self, index) -> Forcing:
        """Subset of sites by index tensor, slice or boolean mask."""
        out = {name: getattr(self, name)[index] for name in self.tensor_fields()}
        ids = self.site_ids
        if ids is not None:
            if isinstance(index, slice):
                ids = list(ids)[index]
            else:
                ix = torch.as_tensor(index)
                if ix.dtype == torch.bool:
                    ix = torch.nonzero(ix).flatten()
                ids = [ids[i] for i in ix.tolist()]
        return replace(self, site_ids=ids, **out)

    @classmethod
    def concat(cls, parts: Sequence[Forcing]) -> Forcing:
        out = {n: torch.cat([getattr(p, n) for p in parts]) for n in cls.tensor_fields()}
        ids = None
        if all(p.site_ids is not None for p in parts):
            ids = [i for p in parts for i in p.site_ids]
        return cls(site_ids=ids, **out)

    def invalid_sites(self) -> dict[str, torch.Tensor]:
        """Per-variable boolean masks (n,) of sites with missing or out-of-range values."""
        n = len(self)
        masks = {}
        for name, (shape, _units, lo, hi) in FORCING_SPEC.items():
            t = getattr(self, name)
            if tuple(t.shape) != (n, *shape):
                raise ForcingError(
                    f"forcing variable {name!r} has shape {tuple(t.shape)}; expected {(n, *shape)}"
                )
            flat = t.reshape(n, -1).to(torch.float64)
            tol = 1e-9 if hi <= 1.0 else 0.0
            bad = ~torch.isfinite(flat) | (flat < lo - tol) | (flat > hi + tol)
            masks[name] = bad.any(dim=1)
        return masks

    def validate(self) -> Forcing:
        """Raise :class:`ForcingError` naming variable and sites if anything is invalid."""
        problems = []
        for name, bad in self.invalid_sites().items():
            if bool(bad.any()):
                shape, units, lo, hi = FORCING_SPEC[name]
                problems.append(
                    f"{name} ({units}) is missing (NaN/inf) or outside [{lo}, {hi}] at "
                    f"{_describe_sites(bad, self.site_ids)}"
                )
        if problems:
            raise ForcingError("invalid forcing:\n  " + "\n  ".join(problems))
        return self
