"""The 21 biogeochemical parameters of the CLM5 matrix model, their units and ranges.

Parameters are learned and sampled on the unit scale ``p in [0, 1]`` and mapped linearly
to physical values, ``value = lo + p * (hi - lo)``. Two published range presets exist:
``proda2023`` (Tao et al. 2023, PRODA) and ``binn2025`` (Xu et al. 2025, BINN). Custom
ranges are built with :meth:`ParameterSpace.with_bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

#: parameter names in model order (process_model.md, data_schema.md)
PARAM_NAMES: tuple[str, ...] = (
    "diffus", "cryo", "q10", "efolding", "taucwd", "taul1", "taul2", "tau4s1", "tau4s2",
    "tau4s3", "fl1s1", "fl2s1", "fl3s2", "fs1s2", "fs1s3", "fs2s1", "fs2s3", "fs3s1",
    "fcwdl2", "w_scaling", "beta",
)  # fmt: skip
N_PARAMS = len(PARAM_NAMES)

PARAM_UNITS: dict[str, str] = {
    "diffus": "m2 yr-1", "cryo": "m2 yr-1", "q10": "1", "efolding": "m", "taucwd": "yr",
    "taul1": "yr", "taul2": "yr", "tau4s1": "yr", "tau4s2": "yr", "tau4s3": "yr",
    "fl1s1": "1", "fl2s1": "1", "fl3s2": "1", "fs1s2": "1", "fs1s3": "1", "fs2s1": "1",
    "fs2s3": "1", "fs3s1": "1", "fcwdl2": "1", "w_scaling": "1", "beta": "1",
    "transport_slope": "1", "transport_intercept": "log10(d-1)",
    "leaching_intercept": "log10(d-1)",
}  # fmt: skip

PARAM_LONG_NAMES: dict[str, str] = {
    "diffus": "bioturbation diffusivity",
    "cryo": "cryoturbation diffusivity",
    "q10": "temperature sensitivity of decomposition",
    "efolding": "e-folding depth of decomposition",
    "taucwd": "turnover time of coarse woody debris",
    "taul1": "turnover time of metabolic litter",
    "taul2": "turnover time of cellulose and lignin litter",
    "tau4s1": "turnover time of fast SOM",
    "tau4s2": "turnover time of slow SOM",
    "tau4s3": "turnover time of passive SOM",
    "fl1s1": "transfer fraction metabolic litter to fast SOM",
    "fl2s1": "transfer fraction cellulose litter to fast SOM",
    "fl3s2": "transfer fraction lignin litter to slow SOM",
    "fs1s2": "transfer fraction fast to slow SOM",
    "fs1s3": "transfer fraction fast to passive SOM",
    "fs2s1": "transfer fraction slow to fast SOM",
    "fs2s3": "transfer fraction slow to passive SOM",
    "fs3s1": "transfer fraction passive to fast SOM",
    "fcwdl2": "transfer fraction CWD to cellulose litter",
    "w_scaling": "multiplier on the water scalar",
    "beta": "shape of the vertical input profile (Jackson et al. 1996)",
    "transport_slope": "slope of log10 transport rate against log10 depth in cm",
    "transport_intercept": "log10 transport rate at 1 cm depth",
    "leaching_intercept": "log10 downward (leaching) transport rate at 1 cm depth",
}

#: PRODA process groups (used when comparing retrieved processes)
PROCESS_GROUPS: dict[str, tuple[str, ...]] = {
    "A": ("fl1s1", "fl2s1", "fl3s2", "fs1s2", "fs1s3", "fs2s1", "fs2s3", "fs3s1", "fcwdl2"),
    "K": ("taucwd", "taul1", "taul2", "tau4s1", "tau4s2", "tau4s3"),
    "Xi": ("q10", "efolding", "w_scaling"),
    "V": ("diffus", "cryo"),
    "I": ("beta",),
}

_PRODA2023: dict[str, tuple[float, float]] = {
    "diffus": (3e-5, 5e-4), "cryo": (3e-5, 1.6e-3), "q10": (1.2, 3.0), "efolding": (0.0, 1.0),
    "taucwd": (1.0, 6.0), "taul1": (0.0, 0.11), "taul2": (0.1, 0.3), "tau4s1": (0.0, 1.0),
    "tau4s2": (1.0, 50.0), "tau4s3": (200.0, 1000.0), "fl1s1": (0.1, 0.8),
    "fl2s1": (0.2, 0.8), "fl3s2": (0.2, 0.8), "fs1s2": (0.0, 0.4), "fs1s3": (0.0, 0.05),
    "fs2s1": (0.1, 0.74), "fs2s3": (0.0, 0.1), "fs3s1": (0.0, 0.9), "fcwdl2": (0.5, 1.0),
    "w_scaling": (0.0, 5.0), "beta": (0.5, 0.9999),
}  # fmt: skip
_BINN2025: dict[str, tuple[float, float]] = dict(
    _PRODA2023,
    efolding=(0.1, 1.0), taul1=(1e-4, 0.11), tau4s1=(1e-4, 0.5), tau4s2=(1.0, 10.0),
    tau4s3=(20.0, 400.0), fs1s2=(1e-4, 0.4), fs1s3=(1e-4, 0.1), fs2s3=(1e-4, 0.1),
    fs3s1=(1e-4, 0.9), w_scaling=(1e-4, 5.0),
)  # fmt: skip

#: ranges of the parameters of BINN's "simple" transport, replacing diffus and cryo
SIMPLE_TRANSPORT_BOUNDS: dict[str, tuple[float, float]] = {
    "transport_slope": (-3.0, 0.0),
    "transport_intercept": (-12.0, -2.0),
    "leaching_intercept": (-12.0, -2.0),
}

#: registry of named range presets
PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "proda2023": _PRODA2023,
    "binn2025": _BINN2025,
}


@dataclass(frozen=True)
class ParameterSpace:
    """Names, units and linear bounds of the process-model parameters.

    Attributes
    ----------
    names : tuple of str
        Parameter names in model order (21, or 22 for the two-intercept simple transport).
    lower, upper : tuple of float
        Physical bounds; ``value = lower + p * (upper - lower)`` for ``p`` in [0, 1].
    preset : str
        Name of the range preset the bounds came from (``"custom"`` when modified).
    """

    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    preset: str = "custom"
    units: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.lower) == len(self.upper)):
            raise ValueError("ParameterSpace: names, lower and upper differ in length")
        for n, lo, hi in zip(self.names, self.lower, self.upper):
            if not hi >= lo:
                raise ValueError(f"ParameterSpace: parameter {n!r} has upper {hi} < lower {lo}")
        if not self.units:
            object.__setattr__(self, "units", tuple(PARAM_UNITS.get(n, "1") for n in self.names))

    @classmethod
    def from_preset(cls, preset: str = "proda2023", transport: str = "clm5") -> ParameterSpace:
        """Build the space of a named preset for a transport scheme.

        Parameters
        ----------
        preset : {"proda2023", "binn2025"}
        transport : {"clm5", "simple", "simple2"}
            ``simple`` replaces diffus, cryo by transport_slope, transport_intercept;
            ``simple2`` adds a 22nd parameter, leaching_intercept.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown parameter preset {preset!r}; choose from {sorted(PRESETS)}")
        bounds = dict(PRESETS[preset])
        names = list(PARAM_NAMES)
        if transport in ("simple", "simple2"):
            names[0], names[1] = "transport_slope", "transport_intercept"
            if transport == "simple2":
                names.append("leaching_intercept")
            bounds.update(SIMPLE_TRANSPORT_BOUNDS)
        elif transport != "clm5":
            raise ValueError(f"unknown transport {transport!r}; choose clm5, simple or simple2")
        return cls(
            names=tuple(names),
            lower=tuple(bounds[n][0] for n in names),
            upper=tuple(bounds[n][1] for n in names),
            preset=preset,
        )

    def with_bounds(self, **bounds: tuple[float, float]) -> ParameterSpace:
        """Return a copy with some bounds replaced, e.g. ``with_bounds(q10=(1.0, 4.0))``."""
        unknown = set(bounds) - set(self.names)
        if unknown:
            raise ValueError(f"with_bounds: unknown parameter(s) {sorted(unknown)}")
        lo = [bounds[n][0] if n in bounds else v for n, v in zip(self.names, self.lower)]
        hi = [bounds[n][1] if n in bounds else v for n, v in zip(self.names, self.upper)]
        return ParameterSpace(self.names, tuple(lo), tuple(hi), preset="custom")

    @property
    def n(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def bounds_tensors(self, device=None, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.tensor(self.lower, dtype=dtype, device=device)
        hi = torch.tensor(self.upper, dtype=dtype, device=device)
        return lo, hi

    def to_physical(self, p: torch.Tensor) -> torch.Tensor:
        """Map unit-scale parameters ``p`` (..., n) to physical values (..., n)."""
        lo, hi = self.bounds_tensors(p.device, p.dtype)
        return lo + p * (hi - lo)

    def to_unit(self, values: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_physical` (degenerate ranges map to 0.5)."""
        lo, hi = self.bounds_tensors(values.device, values.dtype)
        span = hi - lo
        safe = torch.where(span > 0, span, torch.ones_like(span))
        return torch.where(span > 0, (values - lo) / safe, torch.full_like(values, 0.5))

    def as_dict(self, values: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split (..., n) values into a dict of (...) tensors by name."""
        return {n: values[..., i] for i, n in enumerate(self.names)}
