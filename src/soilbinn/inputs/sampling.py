"""Raw gridded inputs at arbitrary points (sites or grid cells), and the forcing built
from them.

:func:`sample_inputs` reads the CESM2 and BIOME4 values at the nearest valid cell of
each point (within ``max_km``); :func:`forcing_arrays` turns them into the schema's
forcing variables with :mod:`soilbinn.inputs.forcing`. Points without a valid cell within
``max_km`` in either grid are flagged (``ok`` False) and never filled by guessing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from soilbinn.inputs import forcing as fx
from soilbinn.inputs import water as wt
from soilbinn.inputs.grids import (
    biome4_sampler,
    cesm2_sampler,
    read_biome4,
    read_cesm2,
    sample,
)

#: default search radius for the nearest valid grid cell (km): about one CESM2 cell
MAX_DISTANCE_KM = 60.0


@dataclass
class GriddedInputs:
    """Gridded values at ``n`` points (physical units).

    Attributes
    ----------
    lat, lon : (n,) degrees
    ok : (n,) bool, a valid cell was found in both grids within ``max_km``
    cesm2_km, biome4_km : (n,) distance to the cell used (km)
    temp : (n, 12) degC; prec : (n, 12) mm month-1; sun : (n, 12) percent;
    tmin : (n,) degC; whc : (n, 2) mm m-1;
    npp, gpp : (n, 12) gC m-2 s-1; totvegc : (n, 12) gC m-2;
    o_scalar : (n, 12, 20) 1; altmax, altmax_lastyear, nbedrock : (n, 12);
    clay, sand : (n,) percent, HWSD topsoil (NaN where no HWSD cell is near)
    """

    lat: np.ndarray
    lon: np.ndarray
    ok: np.ndarray
    cesm2_km: np.ndarray
    biome4_km: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]

    def __len__(self) -> int:
        return len(self.lat)

    def select(self, mask: np.ndarray) -> GriddedInputs:
        return GriddedInputs(
            self.lat[mask], self.lon[mask], self.ok[mask], self.cesm2_km[mask],
            self.biome4_km[mask], {k: v[mask] for k, v in self.values.items()},
        )  # fmt: skip


CESM2_KEYS = {"npp": "NPP", "gpp": "GPP", "totvegc": "TOTVEGC", "o_scalar": "O_SCALAR",
              "altmax": "ALTMAX", "altmax_lastyear": "ALTMAX_LASTYEAR", "nbedrock": "nbedrock"}  # fmt: skip
BIOME4_KEYS = ("temp", "prec", "sun", "tmin", "whc")


def sample_inputs(
    shared: str | os.PathLike, lat, lon, max_km: float = MAX_DISTANCE_KM
) -> GriddedInputs:
    """Sample every gridded input at points ``(lat, lon)`` (degrees; lon in [-180, 360)).

    Returns
    -------
    GriddedInputs
        Values are NaN where ``ok`` is False.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    lon = np.where(lon >= 180.0, lon - 360.0, lon)
    ci, cj, cd, cok = cesm2_sampler(shared).query(lat, lon, max_km)
    bi, bj, bd, bok = biome4_sampler(shared).query(lat, lon, max_km)
    ok = cok & bok
    vals: dict[str, np.ndarray] = {}
    for key, name in CESM2_KEYS.items():
        vals[key] = sample(read_cesm2(shared, name), ci, cj)
    for key in BIOME4_KEYS:
        vals[key] = sample(read_biome4(shared, key), bi, bj)
    vals["clay"], vals["sand"], _ = wt.topsoil_texture(lat, lon, shared)
    for key, v in vals.items():
        v = v.astype(np.float64, copy=True)
        v[~ok] = np.nan
        vals[key] = v
    return GriddedInputs(lat, lon, ok, cd, bd, vals)


def forcing_arrays(
    inp: GriddedInputs,
    nitrogen: float = fx.NITROGEN_SCALAR,
    kappa: float = fx.THERMAL_DIFFUSIVITY,
) -> dict[str, np.ndarray]:
    """The schema's forcing variables from sampled inputs (only meaningful where ``ok``).

    Returns
    -------
    dict
        input_cwd/litter1/litter2/litter3 (n, 12) g m-2 month-1; altmax,
        altmax_lastyear (n, 12) m; nbedrock (n,) int; soil_temperature (n, 20, 12) K;
        water_scalar (CLM5 form, :mod:`soilbinn.inputs.water`), oxygen_scalar,
        nitrogen_scalar (n, 20, 12) 1; and for diagnostics pet (n, 12) mm month-1,
        soil_water_potential (n, 20, 12) MPa, clay, sand (n,) percent, texture_filled
        (n,) bool (loam used where HWSD had no value).
    """
    n = len(inp)
    temp = np.nan_to_num(inp["temp"])
    out = fx.litter_inputs(np.nan_to_num(inp["npp"]), np.nan_to_num(inp["totvegc"]))
    out["altmax"] = fx.active_layer(np.nan_to_num(inp["altmax"], nan=fx.NO_PERMAFROST_ALT))
    out["altmax_lastyear"] = fx.active_layer(
        np.nan_to_num(inp["altmax_lastyear"], nan=fx.NO_PERMAFROST_ALT)
    )
    out["nbedrock"] = fx.bedrock_index(np.nan_to_num(inp["nbedrock"], nan=20.0))
    out["soil_temperature"] = fx.soil_temperature(temp, kappa=kappa)
    pet = fx.thornthwaite_pet(temp, inp.lat)
    nan = np.full(n, np.nan)
    clay, sand, filled = wt.fill_texture(inp.values.get("clay", nan), inp.values.get("sand", nan))
    wb = wt.soil_water_balance(np.nan_to_num(inp["prec"]), pet, temp, out["soil_temperature"],
                               clay, sand, out["nbedrock"])  # fmt: skip
    out["water_scalar"] = wb.w
    out["oxygen_scalar"] = fx.oxygen_scalar(np.nan_to_num(inp["o_scalar"], nan=1.0))
    out["nitrogen_scalar"] = fx.nitrogen_scalar(n, nitrogen)
    out["pet"] = pet
    out["soil_water_potential"] = wb.psi
    out["clay"], out["sand"], out["texture_filled"] = clay, sand, filled
    return out
