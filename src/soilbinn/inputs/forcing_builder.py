"""Derive process-model forcing from simple climate and vegetation fields.

Used by the synthetic generator and by the gridded importer when a field (soil
temperature, litter inputs) is not available directly. All functions are vectorised over
sites (first axis) and return arrays in the dataset's units and layouts:
(site, month) or (site, layer, month).

Physics (documented choices, not CLM5 output):

* Soil temperature: a damped, lagged annual wave (the classical solution of heat
  conduction in a homogeneous half-space forced by a sinusoidal surface temperature,
  e.g. Hillel, *Environmental Soil Physics*)::

      T(z, m) = Tmean + A exp(-z / d) sin(2 pi (m - phase) / 12 - z / d)    [K]

  with ``d`` the annual damping depth (``sqrt(2 kappa / omega)``; ~2.2 m for a thermal
  diffusivity kappa = 5e-7 m2 s-1), ``A`` the air-temperature half-range and ``phase``
  ~4.2 months so that the surface peaks in mid-July. ``Tmean`` is the mean annual air
  temperature plus a small soil offset (snow insulation; default +1 K).
* Litter inputs: steady state means litterfall equals NPP. A fraction ``cwd_fraction``
  (woody debris; ~0.2-0.3 in forests, 0 otherwise) goes to CWD, the rest is split into
  metabolic / cellulose / lignin litter (default 0.25 / 0.50 / 0.25, CLM5's leaf litter
  fractions) and spread over months with an autumn peak.
* Water scalar: a moisture index ``mi`` (precipitation / potential evapotranspiration)
  is mapped to ``0.2 + 0.8 mi / (mi + 0.5)`` capped at 1, slightly wetter with depth and
  drier in summer.
* Oxygen scalar: 1 except at wet sites, where it decreases with depth towards a minimum.
"""

from __future__ import annotations

import numpy as np

from soilbinn.process.grid import N_MONTHS, ZISOI, ZSOI

ZSOI_NP = np.asarray(ZSOI)
MONTHS = np.arange(1, N_MONTHS + 1, dtype=np.float64)
#: days per month (non-leap year)
DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
#: default annual damping depth of soil temperature (m)
DAMPING_DEPTH = 2.2
#: month (fractional) at which the annual wave crosses its mean going up
TEMPERATURE_PHASE = 4.2
#: default split of non-woody litter into metabolic, cellulose, lignin
LITTER_SPLIT = (0.25, 0.50, 0.25)


def soil_temperature(
    mean_air_c: np.ndarray,
    amplitude_c: np.ndarray,
    damping_depth: np.ndarray | float = DAMPING_DEPTH,
    soil_offset_c: np.ndarray | float = 1.0,
    phase: float = TEMPERATURE_PHASE,
) -> np.ndarray:
    """Soil temperature by layer and month (K), shape (n, 20, 12).

    Parameters
    ----------
    mean_air_c : (n,) mean annual air temperature, degC
    amplitude_c : (n,) half of the July-January air temperature difference, degC
    damping_depth : (n,) or float, annual damping depth, m
    soil_offset_c : (n,) or float, mean soil minus mean air temperature, degC
    """
    n = np.shape(mean_air_c)[0]
    d = np.broadcast_to(np.asarray(damping_depth, dtype=np.float64), (n,))[:, None, None]
    z = ZSOI_NP[None, :, None]
    m = MONTHS[None, None, :]
    tmean = (np.asarray(mean_air_c) + soil_offset_c)[:, None, None] + 273.15
    amp = np.asarray(amplitude_c)[:, None, None]
    return tmean + amp * np.exp(-z / d) * np.sin(2 * np.pi * (m - phase) / 12.0 - z / d)


def air_temperature_cycle(mean_air_c: np.ndarray, amplitude_c: np.ndarray,
                          phase: float = TEMPERATURE_PHASE) -> np.ndarray:  # fmt: skip
    """Monthly air temperature (degC), shape (n, 12)."""
    return mean_air_c[:, None] + amplitude_c[:, None] * np.sin(2 * np.pi * (MONTHS - phase) / 12)


def annual_wave_fit(
    monthly_c: np.ndarray, phase: float = TEMPERATURE_PHASE
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and amplitude of a (n, 12) monthly temperature series (least squares on the wave)."""
    mean = monthly_c.mean(axis=1)
    s = np.sin(2 * np.pi * (MONTHS - phase) / 12)
    amp = ((monthly_c - mean[:, None]) * s).sum(axis=1) / (s * s).sum()
    return mean, amp


def litter_inputs(
    npp: np.ndarray,
    cwd_fraction: np.ndarray | float = 0.0,
    split: tuple[float, float, float] = LITTER_SPLIT,
    seasonality: np.ndarray | float = 0.5,
) -> dict[str, np.ndarray]:
    """Monthly litter inputs (g m-2 month-1), each (n, 12), whose annual sum is ``npp``.

    Parameters
    ----------
    npp : (n,) net primary production, g C m-2 yr-1
    cwd_fraction : (n,) or float, share of NPP entering coarse woody debris
    split : fractions of the remaining input to metabolic, cellulose, lignin litter
    seasonality : (n,) or float in [0, 1), relative amplitude of the autumn peak
    """
    npp = np.asarray(npp, dtype=np.float64)
    n = npp.shape[0]
    s = np.broadcast_to(np.asarray(seasonality, dtype=np.float64), (n,))[:, None]
    w = 1.0 + s * np.cos(2 * np.pi * (MONTHS[None, :] - 10.0) / 12.0)
    w = w / w.sum(axis=1, keepdims=True)
    fc = np.broadcast_to(np.asarray(cwd_fraction, dtype=np.float64), (n,))
    rest = npp * (1.0 - fc)
    total = sum(split)
    return {
        "input_cwd": (npp * fc)[:, None] * w,
        "input_litter1": (rest * split[0] / total)[:, None] * w,
        "input_litter2": (rest * split[1] / total)[:, None] * w,
        "input_litter3": (rest * split[2] / total)[:, None] * w,
    }


def water_scalar(moisture_index: np.ndarray, summer_drying: np.ndarray | float = 0.1) -> np.ndarray:
    """Water scalar (1) in [0.2, 1], shape (n, 20, 12), from a moisture index (P / PET).

    ``summer_drying`` is the relative reduction at the July peak of the annual wave.
    """
    mi = np.clip(np.asarray(moisture_index, dtype=np.float64), 0.0, None)
    base = 0.2 + 0.8 * mi / (mi + 0.5)
    n = base.shape[0]
    depth_gain = 1.0 + 0.15 * (1.0 - np.exp(-ZSOI_NP / 1.0))  # deeper soil dries less
    sd = np.broadcast_to(np.asarray(summer_drying, dtype=np.float64), (n,))[:, None, None]
    season = 1.0 - sd * np.clip(np.sin(2 * np.pi * (MONTHS - 4.5) / 12), 0, None)[None, None, :]
    w = base[:, None, None] * depth_gain[None, :, None] * season
    return np.clip(w, 0.2, 1.0)


def oxygen_scalar(wetness: np.ndarray, min_scalar: float = 0.35) -> np.ndarray:
    """Oxygen scalar (1), shape (n, 20, 12); ``wetness`` in [0, 1] (0 = well drained).

    ``O(z) = 1 - wetness (1 - min_scalar) (1 - exp(-z / 0.3 m))``, constant over months.
    """
    wet = np.clip(np.asarray(wetness, dtype=np.float64), 0.0, 1.0)
    prof = 1.0 - wet[:, None] * (1.0 - min_scalar) * (1.0 - np.exp(-ZSOI_NP / 0.3))[None, :]
    return np.repeat(prof[:, :, None], N_MONTHS, axis=2)


def nitrogen_scalar(level: np.ndarray) -> np.ndarray:
    """Nitrogen limitation (1), shape (n, 20, 12): ``level`` (n,) in [0.3, 1] with a mild
    increase with depth (less competition for N below the root zone)."""
    lv = np.clip(np.asarray(level, dtype=np.float64), 0.0, 1.0)
    prof = lv[:, None] + (1.0 - lv[:, None]) * 0.2 * (1.0 - np.exp(-ZSOI_NP / 0.5))[None, :]
    return np.repeat(np.clip(prof, 0, 1)[:, :, None], N_MONTHS, axis=2)


def nbedrock_from_depth(bedrock_depth_m: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Index (1-20) of the deepest CLM5 level whose bottom lies above ``bedrock_depth_m``."""
    idx = np.searchsorted(np.asarray(ZISOI), np.asarray(bedrock_depth_m), side="right")
    return np.clip(idx, minimum, len(ZISOI)).astype(np.int32)
