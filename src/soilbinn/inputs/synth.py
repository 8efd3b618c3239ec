"""Synthetic CONUS datasets with known true parameters (demo, tests, recovery experiment).

Everything spatial is a deterministic function of (lon, lat, seed), so a site dataset
(:func:`make_synthetic`) and a grid (:func:`make_synthetic_grid`) made with the same seed
share the same covariate fields and the same true-parameter maps.

Sites
    On CONUS land (:mod:`soilbinn.inputs.regions`): 70% uniform in lon/lat, 30% in clusters
    of 0.5 deg spread (as real surveys cluster around research sites).
Covariate fields (smooth; ``rf`` is a seeded random Fourier field, wavelengths 4-25 deg)
    * ``elevation`` (m): Rockies, Sierra-Cascades and Appalachian ridges, a Great Plains
      ramp, coastal lowlands, + 150 m rf.
    * ``mat`` (degC) = 26 - 0.75 (lat - 25) - 5 elevation_km + 3 (Pacific coast) + rf.
    * ``temp_range`` (degC): July-January difference, small on the Pacific coast, large
      in the continental interior.
    * ``map`` (mm yr-1): dry west, wet east and Gulf coast, very wet Pacific Northwest
      coast, orographic increases, + rf.
    * ``pet`` (mm yr-1) = 400 + 50 max(mat, 0); ``moisture_index`` = map / pet.
    * ``clay``, ``sand``, ``silt`` (%): softmax of three fields (sum 100) with a loess belt
      (silt) in the Midwest and sandy Atlantic and Gulf coastal plains.
    * ``npp`` (g C m-2 yr-1): the Miami model (Lieth 1975) on mat and map, x 0.45 g C per
      g dry matter, x (1 + 0.1 rf).
    * ``bedrock_depth`` (m): log-normal, shallow in mountains; ``nbedrock`` (1) from it.
    * ``ph`` (1): alkaline in dry, acid in wet climates, + rf.
    Categorical: ``land_cover`` (forest, grassland, shrubland, cropland, wetland),
    ``texture_class`` (sand, sandy_loam, loam, silt_loam, clay_loam, clay), ``climate_zone``
    (arid, mediterranean, temperate, continental, highland).
Forcing (:func:`forcing_fields`; soil temperature and litter split by :mod:`soilbinn.inputs.forcing`)
    Soil temperature from mat and temp_range damped with depth (damping depth 2.2 m x
    0.85-1.15 by wetness, soil 1 K warmer than air, 2 K under snow); water scalar from the
    moisture index (summer drying on the Pacific side); oxygen scalar < 1 at depth in
    wetlands and very wet sites; nitrogen scalar 0.3-1 from a smooth field and npp;
    litter inputs = npp (forests send 25% to CWD, shrublands 5%) with an autumn peak;
    altmax = 41.998 m (no permafrost) except cold high sites (mat < -4 degC), which get a
    0.5-1.8 m active layer; nbedrock 5-20 (mostly 20).
True parameters
    ``p_i = 0.15 + 0.7 sigmoid(g_i(z) + o_i)`` on the unit scale (efolding:
    ``0.3 + 0.55 sigmoid(...)``, so efolding >= 0.37 m under binn2025), with ``g_i`` listed
    in :data:`TRUTH_FUNCTIONS` below (also stored in the file) over standardised
    covariates ``T = (mat - 12)/6``, ``P = ln(moisture_index)/0.6``, ``C = (clay - 25)/10``,
    ``S = (sand - 40)/15``, ``N = (npp - 450)/200``, ``H = (ph - 6.8)/0.8``,
    ``E = (elevation - 800)/700``, ``B = ln(bedrock_depth/10)/0.8``, and ``o_i`` a seeded
    per-parameter offset ~ N(0, 0.25^2).
Observations
    3-12 horizons per site from the surface to 1-2 m (or bedrock), thicknesses 5-40 cm
    growing with depth; ``obs_depth`` is the horizon midpoint. ``soc_true`` is the
    simulated steady-state SOC (CLM5Model, float64) interpolated linearly to
    ``obs_depth``; ``soc = soc_true * exp(noise * eps)``, eps ~ N(0, 1) (median-unbiased
    log-normal noise). Forcing is rounded to float32 (the storage precision) *before*
    simulation, so re-simulating the stored true parameters with the stored forcing
    reproduces ``soc_true`` to float64 round-off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import xarray as xr

from soilbinn.data.schema import (
    add_categories,
    add_covariates,
    add_forcing,
    base_coords,
    forcing_from_dataset,
)
from soilbinn.inputs import forcing as fx
from soilbinn.inputs.regions import OUTLINE_ENVELOPE, is_conus_land
from soilbinn.process.grid import NO_PERMAFROST_ALT, ZISOI, ZSOI
from soilbinn.process.parameters import PARAM_NAMES, ParameterSpace


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------- fields


def random_field(lat: np.ndarray, lon: np.ndarray, seed: int, key: int, n_waves: int = 24,
                 wavelength: tuple[float, float] = (4.0, 25.0)) -> np.ndarray:  # fmt: skip
    """Smooth seeded random field (unit variance) at (lat, lon): a sum of ``n_waves`` plane
    waves with random directions, wavelengths (deg) log-uniform in ``wavelength``."""
    rng = np.random.default_rng([seed, 9173, key])
    lam = np.exp(rng.uniform(np.log(wavelength[0]), np.log(wavelength[1]), n_waves))
    ang = rng.uniform(0, np.pi, n_waves)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    k = 2 * np.pi / lam
    arg = np.outer(lon, k * np.cos(ang)) + np.outer(lat, k * np.sin(ang)) + phase
    return np.sqrt(2.0 / n_waves) * np.cos(arg).sum(axis=1)


LAND_COVER = ("forest", "grassland", "shrubland", "cropland", "wetland")
TEXTURE_CLASS = ("sand", "sandy_loam", "loam", "silt_loam", "clay_loam", "clay")
CLIMATE_ZONE = ("arid", "mediterranean", "temperate", "continental", "highland")

COVARIATE_UNITS: dict[str, str] = {
    "elevation": "m", "mat": "degC", "temp_range": "degC", "map": "mm yr-1",
    "pet": "mm yr-1", "moisture_index": "1", "clay": "%", "sand": "%", "silt": "%",
    "npp": "g m-2 yr-1", "bedrock_depth": "m", "nbedrock": "1", "ph": "1",
}  # fmt: skip
COVARIATE_LONG_NAMES: dict[str, str] = {
    "elevation": "elevation above sea level", "mat": "mean annual air temperature",
    "temp_range": "July minus January air temperature", "map": "mean annual precipitation",
    "pet": "potential evapotranspiration", "moisture_index": "precipitation / PET",
    "clay": "clay content", "sand": "sand content", "silt": "silt content",
    "npp": "net primary production (carbon)", "bedrock_depth": "depth to bedrock",
    "nbedrock": "CLM5 bedrock level index", "ph": "topsoil pH (water)",
}  # fmt: skip


def covariate_fields(lat: np.ndarray, lon: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """All numeric covariates and hidden fields at (lat, lon) (see module docstring)."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)

    def rf(key: int, wl: tuple[float, float] = (4.0, 25.0)) -> np.ndarray:
        return random_field(lat, lon, seed, key, wavelength=wl)

    rockies = 1300 * np.exp(-(((lon + 107.5) / 4.5) ** 2)) * _sigmoid((lat - 31.5) / 1.5)
    sierra = 900 * np.exp(-(((lon + 119.8) / 1.6) ** 2)) * _sigmoid((lat - 35.0) / 1.0)
    app_lon = -84.5 + (lat - 34.0) * 1.15
    app = 700 * np.exp(-(((lon - app_lon) / 1.4) ** 2)) * _sigmoid(lat - 33.5) * _sigmoid(45 - lat)
    plains = 1400 * np.clip((-lon - 94.0) / 11.0, 0, 1) * _sigmoid((lon + 121.0) / 1.0)
    elev = np.clip(rockies + sierra + app + plains + 150 * rf(1, (3.0, 12.0)) + 100, 0, 4200)
    ekm = elev / 1000.0

    pac = np.exp(-(((lon + 123.5) / 2.5) ** 2))
    mat = 26.0 - 0.75 * (lat - 25.0) - 5.0 * ekm + 3.0 * pac + 1.0 * rf(2)
    cont = _sigmoid((lon + 118.0) / 2.5) * (1 - 0.3 * _sigmoid((lon + 75.0) / 2.0))
    amp = np.clip(4.0 + 0.55 * (lat - 25.0) * cont + 0.8 * rf(3), 3.0, 20.0)

    east = 1000 * _sigmoid((lon + 97.0) / 3.5)
    gulf = 500 * np.exp(-(((lat - 30.0) / 3.0) ** 2)) * _sigmoid((lon + 97.0) / 2.0)
    pnw = 1800 * np.exp(-(((lon + 123.8) / 1.2) ** 2)) * _sigmoid((lat - 39.0) / 1.5)
    oro = 500 * np.exp(-(((lon + 121.0) / 1.0) ** 2)) * _sigmoid(lat - 36.0) + 0.15 * elev
    desert = 1 - 0.45 * np.exp(-(((lon + 114.0) / 4.0) ** 2) - ((lat - 34.0) / 4.0) ** 2)
    precip = np.clip((180 + east + gulf + pnw + oro + 120 * rf(4)) * desert, 100, 4000)
    pet = 400.0 + 50.0 * np.maximum(mat, 0.0)
    mi = precip / pet

    loess = 1.0 * np.exp(-(((lon + 92.0) / 6.0) ** 2) - ((lat - 41.0) / 3.0) ** 2)
    coastal = 0.9 * _sigmoid((lon + 90.0) / 1.5) * _sigmoid((33.5 - lat) / 1.0)
    logits = np.stack([
        np.log(25) + 0.45 * rf(5, (3.0, 15.0)) + 0.3 * _sigmoid((mi - 1.0) * 3),
        np.log(40) + 0.5 * rf(6, (3.0, 15.0)) + coastal,
        np.log(35) + 0.45 * rf(7, (3.0, 15.0)) + loess,
    ])  # fmt: skip
    frac = np.exp(logits - logits.max(axis=0))
    frac = 100 * frac / frac.sum(axis=0)
    clay, sand, silt = frac

    npp_t = 3000.0 / (1.0 + np.exp(1.315 - 0.119 * mat))
    npp_p = 3000.0 * (1.0 - np.exp(-0.000664 * precip))
    npp = np.clip(0.45 * np.minimum(npp_t, npp_p) * (1 + 0.1 * rf(8)), 30, 1500)

    bedrock = np.exp(np.log(25.0) - 0.9 * ekm + 0.6 * rf(9, (2.0, 10.0)))
    ph = np.clip(8.6 - 3.4 * mi / (mi + 0.5) + 0.3 * rf(10), 4.0, 9.5)
    return {
        "elevation": elev, "mat": mat, "temp_range": 2 * amp, "map": precip, "pet": pet,
        "moisture_index": mi, "clay": clay, "sand": sand, "silt": silt, "npp": npp,
        "bedrock_depth": bedrock, "nbedrock": fx.nbedrock_from_depth(bedrock, minimum=5),
        "ph": ph,
        # hidden fields used by the categories and the forcing
        "_amp": amp, "_rf_lc": rf(11, (2.0, 8.0)), "_rf_wet": rf(12, (1.0, 4.0)),
        "_rf_n": rf(13), "_rf_crop": rf(14, (3.0, 10.0)),
    }  # fmt: skip


def categorical_fields(
    f: dict[str, np.ndarray], lat: np.ndarray, lon: np.ndarray
) -> dict[str, np.ndarray]:
    """Integer codes of land_cover, texture_class and climate_zone (first matching rule)."""
    mi, elev, mat = f["moisture_index"], f["elevation"], f["mat"]
    wet = (mi > 1.0) & (f["_rf_wet"] > 1.5) | ((elev < 60) & (mi > 1.0) & (f["_rf_wet"] > 0.7))
    crop = (
        (lat > 37)
        & (lat < 46.5)
        & (lon > -101)
        & (lon < -82)
        & (f["_rf_crop"] > -0.4)
        & (mi > 0.55)
    )
    forest = (mi > 0.9 + 0.15 * f["_rf_lc"]) | ((elev > 1800) & (mi > 0.45))
    shrub = mi < 0.33 + 0.05 * f["_rf_lc"]
    land = np.select([wet, crop, forest, shrub], [4, 3, 0, 2], default=1)

    clay, sand, silt = f["clay"], f["sand"], f["silt"]
    texture = np.select(
        [clay >= 40, clay >= 27, sand >= 70, silt >= 50, sand >= 52], [5, 4, 0, 3, 1], default=2
    )
    coldest = mat - f["_amp"]
    climate = np.select(
        [mat < 2.0, mi < 0.4, (lon < -117.0) & (f["_amp"] < 8.0), coldest > -3.0],
        [4, 0, 1, 2],
        default=3,
    )
    return {"land_cover": land, "texture_class": texture, "climate_zone": climate}


#: month (fractional) at which the synthetic annual air-temperature wave crosses its mean
#: going up (surface maximum in mid-July)
TEMPERATURE_PHASE = 4.2
#: damping depth (m) of the synthetic soil temperature wave before the wetness factor
DAMPING_DEPTH = 2.2
MONTHS = np.arange(1, 13, dtype=np.float64)
ZSOI_NP = np.asarray(ZSOI)


def air_temperature_cycle(mean_air_c: np.ndarray, amplitude_c: np.ndarray) -> np.ndarray:
    """Monthly air temperature (degC), shape (n, 12): a sine wave peaking in mid-July."""
    return mean_air_c[:, None] + amplitude_c[:, None] * np.sin(
        2 * np.pi * (MONTHS - TEMPERATURE_PHASE) / 12
    )


def _water_scalar(moisture_index: np.ndarray, summer_drying: np.ndarray) -> np.ndarray:
    """Synthetic water scalar in [0.2, 1], (n, 20, 12): ``0.2 + 0.8 mi / (mi + 0.5)``,
    up to 15% wetter with depth, reduced by ``summer_drying`` at the July peak."""
    mi = np.clip(np.asarray(moisture_index, dtype=np.float64), 0.0, None)
    base = 0.2 + 0.8 * mi / (mi + 0.5)
    depth_gain = 1.0 + 0.15 * (1.0 - np.exp(-ZSOI_NP / 1.0))
    sd = np.asarray(summer_drying, dtype=np.float64)[:, None, None]
    season = 1.0 - sd * np.clip(np.sin(2 * np.pi * (MONTHS - 4.5) / 12), 0, None)[None, None, :]
    return np.clip(base[:, None, None] * depth_gain[None, :, None] * season, 0.2, 1.0)


def _oxygen_scalar(wetness: np.ndarray, min_scalar: float = 0.35) -> np.ndarray:
    """Synthetic oxygen scalar (n, 20, 12): ``1 - wetness (1 - min) (1 - exp(-z / 0.3 m))``."""
    wet = np.clip(np.asarray(wetness, dtype=np.float64), 0.0, 1.0)
    prof = 1.0 - wet[:, None] * (1.0 - min_scalar) * (1.0 - np.exp(-ZSOI_NP / 0.3))[None, :]
    return np.repeat(prof[:, :, None], 12, axis=2)


def _nitrogen_scalar(level: np.ndarray) -> np.ndarray:
    """Synthetic nitrogen scalar (n, 20, 12) from a level in [0.3, 1], rising with depth."""
    lv = np.clip(np.asarray(level, dtype=np.float64), 0.0, 1.0)
    prof = lv[:, None] + (1.0 - lv[:, None]) * 0.2 * (1.0 - np.exp(-ZSOI_NP / 0.5))[None, :]
    return np.repeat(np.clip(prof, 0, 1)[:, :, None], 12, axis=2)


def forcing_fields(f: dict[str, np.ndarray], cats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Forcing arrays in dataset layout (see module docstring).

    Soil temperature and the litter split use :mod:`soilbinn.inputs.forcing`, the same
    functions as the real data; water, oxygen and nitrogen scalars are synthetic rules.
    """
    mi, mat, amp, land = f["moisture_index"], f["mat"], f["_amp"], cats["land_cover"]
    wetness = mi / (mi + 0.5)
    snow = _sigmoid((amp - mat) / 2.0)  # cold winters: insulating snow cover
    tsoil = fx.soil_temperature(
        air_temperature_cycle(mat, amp),
        kappa=fx.kappa_from_damping_depth(DAMPING_DEPTH * (0.85 + 0.3 * wetness)),
        surface_offset=1.0 + 1.0 * snow,
    )
    pacific = _sigmoid(-(f.get("_lon", np.zeros_like(mi)) + 115.0) / 2.0)
    water = _water_scalar(mi, summer_drying=0.05 + 0.3 * pacific)
    wet_o = np.where(land == 4, 1.0, 0.4 * _sigmoid((mi - 1.6) * 4.0))
    oxygen = _oxygen_scalar(wet_o)
    nlevel = 0.3 + 0.7 * _sigmoid(0.8 * f["_rf_n"] + 0.6 - 0.002 * (f["npp"] - 450))
    nitrogen = _nitrogen_scalar(nlevel)
    cwd = np.select([land == 0, land == 2], [0.25, 0.05], default=0.0)
    seas = np.where(land == 0, 0.5, 0.3)[:, None]
    w = 1.0 + seas * np.cos(2 * np.pi * (MONTHS[None, :] - 10.0) / 12.0)  # autumn peak
    monthly = f["npp"][:, None] * w / w.sum(axis=1, keepdims=True)
    litter = fx.litter_partition(monthly, cwd_fraction=cwd)
    alt = np.where(mat < -4.0, np.clip(1.0 + 0.3 * (mat + 6.0), 0.5, 1.8), NO_PERMAFROST_ALT)
    alt = np.repeat(alt[:, None], 12, axis=1)
    return {
        **litter, "altmax": alt, "altmax_lastyear": alt.copy(), "nbedrock": f["nbedrock"],
        "soil_temperature": tsoil, "water_scalar": water, "oxygen_scalar": oxygen,
        "nitrogen_scalar": nitrogen,
    }  # fmt: skip


# ----------------------------------------------------------------------------- truth

#: name -> (formula, g(z)) on standardised covariates (see module docstring)
TRUTH_FUNCTIONS: dict[str, tuple[str, Callable[[dict], np.ndarray]]] = {
    "diffus": ("0.8 tanh(P) + 0.5 C - 0.4 C P", lambda z: 0.8 * np.tanh(z["P"]) + 0.5 * z["C"] - 0.4 * z["C"] * z["P"]),
    "cryo": ("-tanh(T + 0.5 E) + 0.3 E", lambda z: -np.tanh(z["T"] + 0.5 * z["E"]) + 0.3 * z["E"]),
    "q10": ("-0.9 tanh(T) + 0.4 P^2 - 0.3", lambda z: -0.9 * np.tanh(z["T"]) + 0.4 * z["P"] ** 2 - 0.3),
    "efolding": ("0.8 tanh(B) + 0.6 tanh(P) - 0.3 C^2", lambda z: 0.8 * np.tanh(z["B"]) + 0.6 * np.tanh(z["P"]) - 0.3 * z["C"] ** 2),
    "taucwd": ("-0.8 tanh(T) + 0.4 sin(1.5 P)", lambda z: -0.8 * np.tanh(z["T"]) + 0.4 * np.sin(1.5 * z["P"])),
    "taul1": ("-0.7 tanh(T) - 0.4 P", lambda z: -0.7 * np.tanh(z["T"]) - 0.4 * z["P"]),
    "taul2": ("-0.6 T + 0.5 tanh(C)", lambda z: -0.6 * z["T"] + 0.5 * np.tanh(z["C"])),
    "tau4s1": ("0.7 tanh(C) - 0.5 T + 0.2 T C", lambda z: 0.7 * np.tanh(z["C"]) - 0.5 * z["T"] + 0.2 * z["T"] * z["C"]),
    "tau4s2": ("0.8 tanh(C) - 0.6 tanh(T) - 0.3 H", lambda z: 0.8 * np.tanh(z["C"]) - 0.6 * np.tanh(z["T"]) - 0.3 * z["H"]),
    "tau4s3": ("0.9 tanh(C) - 0.7 tanh(T) + 0.3 P^2 - 0.6", lambda z: 0.9 * np.tanh(z["C"]) - 0.7 * np.tanh(z["T"]) + 0.3 * z["P"] ** 2 - 0.6),
    "fl1s1": ("0.6 tanh(C) + 0.4 N", lambda z: 0.6 * np.tanh(z["C"]) + 0.4 * z["N"]),
    "fl2s1": ("0.5 C - 0.5 tanh(H)", lambda z: 0.5 * z["C"] - 0.5 * np.tanh(z["H"])),
    "fl3s2": ("-0.6 S + 0.4 tanh(P)", lambda z: -0.6 * z["S"] + 0.4 * np.tanh(z["P"])),
    "fs1s2": ("0.7 tanh(C) + 0.3 H^2 - 0.2", lambda z: 0.7 * np.tanh(z["C"]) + 0.3 * z["H"] ** 2 - 0.2),
    "fs1s3": ("0.6 C - 0.5 T + 0.3 C T", lambda z: 0.6 * z["C"] - 0.5 * z["T"] + 0.3 * z["C"] * z["T"]),
    "fs2s1": ("0.6 tanh(S) - 0.4 P", lambda z: 0.6 * np.tanh(z["S"]) - 0.4 * z["P"]),
    "fs2s3": ("0.5 tanh(C) + 0.4 N - 0.3 N^2", lambda z: 0.5 * np.tanh(z["C"]) + 0.4 * z["N"] - 0.3 * z["N"] ** 2),
    "fs3s1": ("-0.5 tanh(H) + 0.5 tanh(T)", lambda z: -0.5 * np.tanh(z["H"]) + 0.5 * np.tanh(z["T"])),
    "fcwdl2": ("0.6 tanh(N) - 0.4 P", lambda z: 0.6 * np.tanh(z["N"]) - 0.4 * z["P"]),
    "w_scaling": ("-0.9 tanh(P) + 0.3 S", lambda z: -0.9 * np.tanh(z["P"]) + 0.3 * z["S"]),
    "beta": ("-0.8 tanh(P) + 0.5 N + 0.2 T", lambda z: -0.8 * np.tanh(z["P"]) + 0.5 * z["N"] + 0.2 * z["T"]),
}  # fmt: skip
#: unit-scale range (lo, width) of each true parameter: p = lo + width sigmoid(g + o)
TRUTH_RANGE: dict[str, tuple[float, float]] = {n: (0.15, 0.7) for n in PARAM_NAMES}
TRUTH_RANGE["efolding"] = (0.3, 0.55)


def standardised(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The standardised covariates the truth functions use (fixed reference scales)."""
    return {
        "T": (f["mat"] - 12.0) / 6.0,
        "P": np.log(np.maximum(f["moisture_index"], 1e-3)) / 0.6,
        "C": (f["clay"] - 25.0) / 10.0,
        "S": (f["sand"] - 40.0) / 15.0,
        "N": (f["npp"] - 450.0) / 200.0,
        "H": (f["ph"] - 6.8) / 0.8,
        "E": (f["elevation"] - 800.0) / 700.0,
        "B": np.log(f["bedrock_depth"] / 10.0) / 0.8,
    }


def truth_offsets(seed: int) -> np.ndarray:
    """Per-parameter offsets o_i (21,) of the truth functions for a seed."""
    return 0.25 * np.random.default_rng([seed, 4242]).standard_normal(len(PARAM_NAMES))


def true_parameters(f: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """True unit-scale parameters (n, 21) from covariate fields (module docstring)."""
    z = standardised(f)
    off = truth_offsets(seed)
    cols = []
    for i, name in enumerate(PARAM_NAMES):
        lo, width = TRUTH_RANGE[name]
        cols.append(lo + width * _sigmoid(TRUTH_FUNCTIONS[name][1](z) + off[i]))
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------- sites


def sample_sites(
    n: int, rng: np.random.Generator, cluster_fraction: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` site locations (lat, lon) on CONUS land; ``cluster_fraction`` are clustered."""
    lon0, lat0, lon1, lat1 = OUTLINE_ENVELOPE
    n_cl = int(round(n * cluster_fraction))
    lats, lons = [], []
    need = n - n_cl
    while need > 0:
        m = int(need * 1.8) + 16
        la, lo = rng.uniform(lat0, lat1, m), rng.uniform(lon0, lon1, m)
        ok = is_conus_land(la, lo)
        lats.append(la[ok][:need])
        lons.append(lo[ok][:need])
        need -= int(min(ok.sum(), need))
    uni_lat, uni_lon = np.concatenate(lats), np.concatenate(lons)
    if n_cl:
        n_centres = max(1, n_cl // 40)
        centres = rng.choice(len(uni_lat), size=n_centres)
        cl_lat, cl_lon = [], []
        need = n_cl
        while need > 0:
            m = int(need * 1.5) + 16
            c = rng.choice(centres, size=m)
            la = uni_lat[c] + 0.5 * rng.standard_normal(m)
            lo = uni_lon[c] + 0.5 * rng.standard_normal(m)
            ok = is_conus_land(la, lo)
            cl_lat.append(la[ok][:need])
            cl_lon.append(lo[ok][:need])
            need -= int(min(ok.sum(), need))
        uni_lat = np.concatenate([uni_lat, *cl_lat])
        uni_lon = np.concatenate([uni_lon, *cl_lon])
    order = rng.permutation(n)
    return uni_lat[order], uni_lon[order]


def observation_horizons(
    nbedrock: np.ndarray, rng: np.random.Generator, max_obs: int = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Horizon tops and bottoms (n, max_obs) m, NaN padded: 3-12 horizons, 5-40 cm thick,
    thinner near the surface, from 0 to a depth of 1-2 m (less above shallow bedrock)."""
    n = nbedrock.shape[0]
    total = rng.uniform(1.0, 2.0, n)
    total = np.minimum(total, np.asarray(ZISOI)[np.asarray(nbedrock) - 1])
    lo_n = np.maximum(3, np.ceil(total / 0.4)).astype(int)
    hi_n = np.minimum(max_obs, np.floor(total / 0.05)).astype(int)
    k = rng.integers(lo_n, np.maximum(hi_n, lo_n) + 1)
    col = np.arange(max_obs)[None, :]
    active = col < k[:, None]
    raw = rng.uniform(0.6, 1.4, (n, max_obs)) * (1.0 + 1.5 * col / np.maximum(k[:, None] - 1, 1))
    raw = np.where(active, raw, 0.0)
    thick = raw / raw.sum(axis=1, keepdims=True) * total[:, None]
    for _ in range(10):  # keep within 5-40 cm while preserving the total depth
        thick = np.where(active, np.clip(thick, 0.05, 0.40), 0.0)
        thick *= total[:, None] / thick.sum(axis=1, keepdims=True)
    thick = np.round(thick, 2)
    bottom = np.cumsum(thick, axis=1)
    top = bottom - thick
    top = np.where(active, top, np.nan)
    bottom = np.where(active, bottom, np.nan)
    return np.round(top, 2), np.round(bottom, 2)


# ----------------------------------------------------------------------------- build


def _fields_dataset(
    lat: np.ndarray, lon: np.ndarray, site_ids, seed: int
) -> tuple[xr.Dataset, dict]:
    f = covariate_fields(lat, lon, seed)
    f["_lon"] = np.asarray(lon, dtype=np.float64)
    cats = categorical_fields(f, lat, lon)
    forcing = forcing_fields(f, cats)
    ds = base_coords(site_ids, lat, lon)
    ds = add_forcing(ds, forcing, dtype=np.float32)
    ds = add_covariates(
        ds, {k: f[k] for k in COVARIATE_UNITS}, COVARIATE_UNITS, COVARIATE_LONG_NAMES
    )
    labels = {
        "land_cover": LAND_COVER,
        "texture_class": TEXTURE_CLASS,
        "climate_zone": CLIMATE_ZONE,
    }
    ds = add_categories(ds, cats, labels)
    return ds, f


def _param_var(p: np.ndarray, preset: str, long_name: str) -> xr.Variable:
    return xr.Variable(("site", "param"), p, {"units": "1", "long_name": long_name, "preset": preset,
                                              "transport": "clm5"})  # fmt: skip


def _truth_attrs(ds: xr.Dataset, seed: int) -> None:
    off = truth_offsets(seed)
    for i, name in enumerate(PARAM_NAMES):
        lo, width = TRUTH_RANGE[name]
        ds["true_params"].attrs[f"function_{name}"] = (
            f"{lo} + {width} sigmoid({TRUTH_FUNCTIONS[name][0]} + ({off[i]:.6f}))"
        )
    ds["true_params"].attrs["standardised_covariates"] = (
        "T=(mat-12)/6, P=ln(moisture_index)/0.6, C=(clay-25)/10, S=(sand-40)/15, "
        "N=(npp-450)/200, H=(ph-6.8)/0.8, E=(elevation-800)/700, B=ln(bedrock_depth/10)/0.8"
    )


def simulate_soc_layer(
    p_unit: np.ndarray, ds: xr.Dataset, preset: str, chunk: int = 4096
) -> np.ndarray:
    """Steady-state SOC (n, 20) g m-3 from unit-scale parameters and the dataset's forcing."""
    from soilbinn.process.model import CLM5Model

    model = CLM5Model(preset=preset, transport="clm5")
    forcing = forcing_from_dataset(ds)
    p = torch.as_tensor(p_unit, dtype=torch.float64)
    out = []
    with torch.no_grad():
        for i in range(0, p.shape[0], chunk):
            sl = slice(i, min(i + chunk, p.shape[0]))
            out.append(model(p[sl], forcing.select(sl))["soc_layer"].to(torch.float64))
    return torch.cat(out).numpy()


def make_synthetic(n_sites: int, seed: int = 0, noise: float = 0.1, preset: str = "binn2025",
                   simulate: bool = True, max_obs: int = 12) -> xr.Dataset:  # fmt: skip
    """A synthetic CONUS dataset with known true parameters (see the module docstring).

    Parameters
    ----------
    n_sites : number of sites
    seed : seed of everything (fields, sites, truth, observation depths, noise)
    noise : sigma of the multiplicative log-normal observation noise (0 = none)
    preset : parameter range preset of the true parameters
    simulate : run the process model to make ``soc``/``soc_true`` (False: forcing,
        covariates, truth and observation depths only, for quick tests)

    Returns
    -------
    xarray.Dataset
        Full schema: forcing, covariates, categories, ``params`` and ``true_params``
        (site, param) unit scale, ``obs_depth``/``obs_top``/``obs_bottom`` (site, obs) m,
        ``soc``/``soc_true`` (site, obs) g m-3, ``soc_layer_true`` (site, layer) g m-3.
    """
    if n_sites < 1:
        raise ValueError(f"make_synthetic: n_sites must be >= 1 (got {n_sites})")
    if noise < 0:
        raise ValueError(f"make_synthetic: noise must be >= 0 (got {noise})")
    ParameterSpace.from_preset(preset)  # validates the preset name
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, 1])
    lat, lon = sample_sites(n_sites, rng)
    ids = [f"S{i:06d}" for i in range(n_sites)]
    ds, f = _fields_dataset(lat, lon, ids, seed)
    p_true = true_parameters(f, seed)
    ds = ds.assign_coords(param=("param", np.asarray(PARAM_NAMES, dtype=str)))
    ds["true_params"] = _param_var(p_true, preset, "true process parameters (unit scale)")
    ds["params"] = _param_var(p_true.copy(), preset, "process parameters (unit scale)")
    _truth_attrs(ds, seed)

    top, bottom = observation_horizons(
        ds["nbedrock"].values, np.random.default_rng([seed, 2]), max_obs
    )
    depth = np.round((top + bottom) / 2.0, 3)
    obs_attrs = {"units": "m", "positive": "down"}
    ds["obs_depth"] = (
        ("site", "obs"),
        depth,
        {**obs_attrs, "long_name": "observation (horizon midpoint) depth"},
    )
    ds["obs_top"] = (
        ("site", "obs"),
        top,
        {**obs_attrs, "long_name": "top of the observed horizon"},
    )
    ds["obs_bottom"] = (
        ("site", "obs"),
        bottom,
        {**obs_attrs, "long_name": "bottom of the observed horizon"},
    )
    if simulate:
        from soilbinn.process.observation import interpolate_to_depths, lognormal_observations

        soc_layer = simulate_soc_layer(p_true, ds, preset)
        soc_true = interpolate_to_depths(
            torch.from_numpy(soc_layer), torch.from_numpy(depth), method="linear"
        ).numpy()
        soc = lognormal_observations(soc_true, noise, np.random.default_rng([seed, 3]))
        soc_attrs = {"units": "g m-3", "long_name": "soil organic carbon density"}
        ds["soc"] = (("site", "obs"), soc, {**soc_attrs, "noise": f"log-normal, sigma={noise}"})
        ds["soc_true"] = (
            ("site", "obs"),
            soc_true,
            {**soc_attrs, "long_name": "noise-free simulated SOC density"},
        )
        ds["soc_layer_true"] = (("site", "layer"), soc_layer,
                                {**soc_attrs, "long_name": "noise-free simulated SOC at the layer nodes"})  # fmt: skip
    ds.attrs.update({
        "title": "soilbinn synthetic CONUS dataset",
        "source": "soilbinn.inputs.synth.make_synthetic",
        "seed": int(seed), "noise": float(noise), "preset": preset, "n_sites": int(n_sites),
        "simulated": int(bool(simulate)),
        "soilbinn_version": __import__("soilbinn").__version__,
        "generation_seconds": round(time.perf_counter() - t0, 3),
    })  # fmt: skip
    return ds


def conus_grid(
    resolution_deg: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centres (lat, lon) of CONUS land cells at ``resolution_deg`` and their (i, j) indices."""
    lon0, lat0, lon1, lat1 = OUTLINE_ENVELOPE
    lat_c = np.arange(np.floor(lat0), lat1, resolution_deg) + resolution_deg / 2
    lon_c = np.arange(np.floor(lon0), lon1, resolution_deg) + resolution_deg / 2
    gi, gj = np.meshgrid(np.arange(len(lat_c)), np.arange(len(lon_c)), indexing="ij")
    lat, lon = lat_c[gi.ravel()], lon_c[gj.ravel()]
    ok = is_conus_land(lat, lon)
    return lat[ok], lon[ok], gi.ravel()[ok], gj.ravel()[ok]


def make_synthetic_grid(
    resolution_deg: float = 1.0, seed: int = 0, preset: str = "binn2025"
) -> xr.Dataset:
    """Covariates, forcing and true parameters on CONUS land cells (no observations).

    Sites are grid cells (ids ``G<i>_<j>``) with ``lat``/``lon`` at cell centres and
    ``grid_i(site)``/``grid_j(site)`` row/column indices into the regular grid described
    by the attributes ``grid_lat0``, ``grid_lon0`` (first centres) and
    ``grid_resolution_deg``, ``grid_nlat``, ``grid_nlon``.
    """
    if not resolution_deg > 0:
        raise ValueError(f"make_synthetic_grid: resolution_deg must be > 0 (got {resolution_deg})")
    lat, lon, gi, gj = conus_grid(resolution_deg)
    ids = [f"G{i}_{j}" for i, j in zip(gi, gj)]
    ds, f = _fields_dataset(lat, lon, ids, seed)
    ds = ds.assign_coords(param=("param", np.asarray(PARAM_NAMES, dtype=str)))
    ds["true_params"] = _param_var(
        true_parameters(f, seed), preset, "true process parameters (unit scale)"
    )
    _truth_attrs(ds, seed)
    ds["grid_i"] = ("site", gi.astype(np.int32), {"long_name": "grid row (latitude index)"})
    ds["grid_j"] = ("site", gj.astype(np.int32), {"long_name": "grid column (longitude index)"})
    lon0, lat0, lon1, lat1 = OUTLINE_ENVELOPE
    ds.attrs.update({
        "title": "soilbinn synthetic CONUS grid", "source": "soilbinn.inputs.synth.make_synthetic_grid",
        "seed": int(seed), "preset": preset, "grid_resolution_deg": float(resolution_deg),
        "grid_lat0": float(np.floor(lat0) + resolution_deg / 2),
        "grid_lon0": float(np.floor(lon0) + resolution_deg / 2),
        "grid_nlat": int(len(np.arange(np.floor(lat0), lat1, resolution_deg))),
        "grid_nlon": int(len(np.arange(np.floor(lon0), lon1, resolution_deg))),
    })  # fmt: skip
    return ds
