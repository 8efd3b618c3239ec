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
    **PROCESS_ATTRS,
}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def results_to_dataset(
    ds: xr.Dataset,
    out: dict[str, torch.Tensor],
    processes: dict[str, torch.Tensor] | None = None,
    params_physical: torch.Tensor | None = None,
    space=None,
) -> xr.Dataset:
    """Add simulation outputs to ``ds`` (a copy) with dims, units and long names."""
    res = ds.copy()
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
    if params_physical is not None and space is not None:
        attrs = {
            "long_name": "parameters in physical units",
            "units": "see param_units",
            "preset": space.preset,
        }
        res["params_physical"] = (("site", "param"), _np(params_physical), attrs)
        res = res.assign_coords(param_units=("param", list(space.units)))
    return res
