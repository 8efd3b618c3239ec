"""Process-model results as xarray variables with units (the schema's output names)."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from soilbinn.process.diagnostics import PROCESS_ATTRS
from soilbinn.process.grid import POOL_LONG_NAMES, POOLS

OUTPUT_ATTRS: dict[str, tuple[str, str]] = {
    "soc_layer": ("g m-3", "soil organic carbon density at the CLM5 nodes"),
    "pools": ("g m-3", "steady-state carbon density by pool and layer"),
    "soc_stock": ("g m-2", "SOC stock 0-8.6 m"),
    "soc_stock_0_30cm": ("g m-2", "SOC stock 0-30 cm"),
    "soc_stock_0_100cm": ("g m-2", "SOC stock 0-100 cm"),
    "ill_conditioned": ("1", "steady state numerically unreliable (rcond < machine epsilon)"),
    "implausible": (
        "1",
        "steady state no real soil has: non-finite, carbon stock > 1000 kg m-2, "
        "negative pools, or a non-finite process (soilbinn.process.model)",
    ),
    "rcond": ("1", "1-norm reciprocal condition number of the steady-state system"),
    "params_physical": ("various", "parameters in physical units (see units_<name> attrs)"),
    "params": ("1", "parameters used in the simulation (unit scale)"),
    "soc_sim": ("g m-3", "simulated SOC density at the observation depths (obs_depth)"),
    **PROCESS_ATTRS,
}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


#: input variables that a simulation's output must not carry over (they would contradict it)
NOT_COPIED: tuple[str, ...] = ("params", "true_params", "soc", "soc_true", "soc_layer_true")


def results_to_dataset(
    ds: xr.Dataset,
    out: dict[str, torch.Tensor],
    processes: dict[str, torch.Tensor] | None = None,
    params_physical: torch.Tensor | None = None,
    space=None,
    params: torch.Tensor | None = None,
    soc_obs: torch.Tensor | None = None,
) -> xr.Dataset:
    """Simulation outputs on the coordinates, forcing and covariates of ``ds``.

    The input's parameters and observations (:data:`NOT_COPIED`) are dropped: the result
    holds what was simulated, ``params`` (site, param) the unit-scale parameters used,
    ``params_physical`` the same in physical units, and ``soc_sim`` (site, obs) g m-3 the
    simulated SOC at ``obs_depth`` (NaN where there is no depth).
    """
    res = ds.drop_vars([v for v in NOT_COPIED if v in ds.variables])
    dims = {
        "soc_layer": ("site", "layer"),
        "pools": ("site", "pool", "layer"),
        "soc_stock": ("site",),
        "soc_stock_0_30cm": ("site",),
        "soc_stock_0_100cm": ("site",),
        "rcond": ("site",),
    }
    for name, d in dims.items():
        if name in out:
            units, long = OUTPUT_ATTRS[name]
            res[name] = (d, _np(out[name]), {"units": units, "long_name": long})
    flags = {**out, **{k: v for k, v in (processes or {}).items() if k == "implausible"}}
    for name in ("ill_conditioned", "implausible"):
        if name in flags:
            units, long = OUTPUT_ATTRS[name]
            res[name] = (("site",), _np(flags[name]).astype(np.int8),
                         {"units": units, "long_name": long})  # fmt: skip
    if "pool" not in res.coords:
        res = res.assign_coords(pool=("pool", list(POOLS)))
        res["pool"].attrs["long_name"] = "; ".join(f"{p}: {POOL_LONG_NAMES[p]}" for p in POOLS)
    for name, value in (processes or {}).items():
        if name not in PROCESS_ATTRS:  # the implausible flag, written above
            continue
        units, long = PROCESS_ATTRS[name]
        res[name] = (("site",), _np(value), {"units": units, "long_name": long})
    if soc_obs is not None:
        units, long = OUTPUT_ATTRS["soc_sim"]
        res["soc_sim"] = (("site", "obs"), _np(soc_obs), {"units": units, "long_name": long})
    if params is not None and space is not None:
        units, long = OUTPUT_ATTRS["params"]
        res["params"] = (("site", "param"), _np(params),
                         {"units": units, "long_name": long, "preset": space.preset})  # fmt: skip
    if params_physical is not None and space is not None:
        attrs = {
            "long_name": "parameters in physical units",
            "units": "see param_units",
            "preset": space.preset,
        }
        res["params_physical"] = (("site", "param"), _np(params_physical), attrs)
        res = res.assign_coords(param_units=("param", list(space.units)))
    return res


def with_observations(res: xr.Dataset, sigma: float, seed: int, source: str = "") -> xr.Dataset:
    """A simulation's output made a training dataset with a known truth (a recovery study).

    Adds ``soc`` (site, obs) g m-3, ``soc_sim`` with multiplicative log-normal noise of
    log-sd ``sigma`` (:func:`soilbinn.process.observation.lognormal_observations`, seeded by
    ``seed``), ``soc_true`` (the noise-free ``soc_sim``) and ``true_params`` (the unit-scale
    parameters used), so that ``soilbinn train --set model.fixed_from=true_params`` and the
    recovery scores read them. ``res`` must hold ``soc_sim`` and ``params``.
    """
    from soilbinn.process.observation import lognormal_observations

    soc_true = res["soc_sim"].values
    soc = lognormal_observations(soc_true, sigma, np.random.default_rng([int(seed), 3]))
    attrs = {"units": "g m-3", "long_name": "soil organic carbon density"}
    out = res.copy()
    out["soc"] = (("site", "obs"), soc, {**attrs, "noise": f"log-normal, sigma={sigma}"})
    out["soc_true"] = (("site", "obs"), soc_true,
                       {**attrs, "long_name": "noise-free simulated SOC density"})  # fmt: skip
    out["true_params"] = res["params"].copy()
    out["true_params"].attrs.update({"long_name": "true process parameters (unit scale)",
                                     "truth": f"soilbinn simulate {source}".strip()})  # fmt: skip
    out.attrs.update({"noise": float(sigma), "noise_seed": int(seed)})
    return out
