"""Forcing of the CLM5 soil carbon model derived from monthly climate and CESM2 fields.

CESM2 soil temperature (TSOI), water scalar (W_SCALAR), litter input vectors and the
nitrogen scalar (FPI_vr) are not available, so they are derived here from fields that are
(BIOME4 monthly air temperature, precipitation and water-holding capacity; CESM2 NPP and
vegetation carbon). The synthetic generator (:mod:`soilbinn.inputs.synth`) uses the
same soil-temperature and litter functions on its own smooth climate fields. Every function is pure NumPy on arrays of ``n`` sites (or grid cells:
any lat/lon works), so the same code builds training and prediction forcing.

Summary of the methods (the README repeats it)
----------------------------------------------
Soil temperature, :func:`soil_temperature`
    Analytic damped-wave (heat-conduction) solution for a periodic surface temperature
    in a homogeneous half-space: the annual cycle of monthly air temperature is reduced
    to its mean and first harmonic (amplitude ``A``, month of maximum ``m_max``), and
    ``T(z, m) = Tmean + dT_surf + A exp(-z/d) cos(2 pi (m - m_max)/12 - z/d)`` with the
    damping depth ``d = sqrt(2 kappa / omega) = sqrt(kappa P / pi)``, ``P`` = 1 yr.
    ``kappa`` = 5e-7 m2 s-1 (a mid-range thermal diffusivity of moist mineral soil,
    typical values 2e-7 to 8e-7) gives d = 2.24 m. ``dT_surf`` (default 0 K) is an
    optional surface offset (snow insulation / radiation), left at 0 by default.
Water scalar, :func:`bucket_relative_water` and :func:`water_scalar`
    Monthly single-bucket (Thornthwaite-Mather type) water balance: precipitation falls
    as snow in months with mean air temperature below 0 C and the whole snowpack melts
    in the first month above 0 C; potential evapotranspiration from Thornthwaite (1948)
    with day length from latitude; storage ``W <- clip(W + rain + melt - PET, 0, C)``
    with capacity ``C`` = water-holding capacity over the top metre (BIOME4 ``whc``,
    mm/m, top 0.3 m and the next 0.7 m), iterated to a periodic steady cycle. The
    monthly relative storage ``r`` (mean of start and end of month, 0-1) is mapped to a
    W_SCALAR-like factor ``w = w_min + (1 - w_min) r`` (w_min = 0.05: CLM5's scalar,
    based on soil water potential down to -10 MPa, seldom reaches 0), the same in all
    20 layers. Its magnitude is calibrated by the learned ``w_scaling`` parameter.
Oxygen scalar, active layer, bedrock
    Taken from CESM2 (O_SCALAR by layer and month, ALTMAX, ALTMAX_LASTYEAR, nbedrock),
    clipped to their valid ranges; nbedrock is rounded and held constant over months.
Litter inputs, :func:`litter_inputs`
    At steady state litterfall equals NPP. CESM2 NPP (gC m-2 s-1, negative values set
    to 0) times the seconds of each month gives gC m-2 month-1. A woody fraction
    ``phi = clip((TOTVEGC - 500) / (8000 - 500), 0, 1)`` (gC m-2: grassland ~ <500,
    closed forest > 8000) decides how much goes to coarse woody debris:
    ``f_cwd = phi * 0.545``, where 0.545 is the wood share (stem + coarse root) of NPP
    allocation of a CLM5 temperate tree (clm5_params.c190829: stem_leaf 2.3,
    croot_stem 0.3, froot_leaf 1.5: (2.3 + 0.69) / (1 + 1.5 + 2.3 + 0.69)). The
    non-woody rest is split 0.25 / 0.50 / 0.25 into metabolic / cellulose / lignin
    litter (the CLM5 lf_flab / lf_fcel / lf_flig and fr_* values of every vegetated PFT).
Nitrogen scalar, :func:`nitrogen_scalar`
    Assumed constant 0.7 in every layer and month (a typical CLM5 FPI of temperate
    ecosystems). In the matrix model N multiplies only the litter decomposition rates, so
    it is collinear with the learned litter turnover times taul1/taul2 and mostly affects
    litter stocks, not SOC; it is a stated assumption, not an estimate.
"""

from __future__ import annotations

import numpy as np

from soilbinn.process.grid import N_LAYERS, NO_PERMAFROST_ALT, ZISOI, ZSOI

#: days in each month of a 365-day year (CLM's no-leap calendar)
DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
#: day of year of the middle of each month
MID_MONTH_DOY = np.cumsum(DAYS_IN_MONTH) - DAYS_IN_MONTH / 2.0
SECONDS_PER_DAY = 86400.0
SECONDS_PER_YEAR = 365.0 * SECONDS_PER_DAY
#: soil thermal diffusivity (m2 s-1)
THERMAL_DIFFUSIVITY = 5e-7
#: 0 C in kelvin
T_FREEZE = 273.15
#: W_SCALAR-like floor of the water scalar (1)
WATER_SCALAR_MIN = 0.05
#: vegetation carbon (gC m-2) at which the woody fraction starts / saturates
VEGC_NONWOODY, VEGC_FOREST = 500.0, 8000.0
#: wood share of NPP allocation of a CLM5 temperate tree (see module docstring)
WOOD_ALLOCATION = (2.3 + 2.3 * 0.3) / (1.0 + 1.5 + 2.3 + 2.3 * 0.3)
#: CLM5 metabolic / cellulose / lignin fractions of leaf and fine-root litter
LITTER_FRACTIONS = (0.25, 0.50, 0.25)
#: assumed nitrogen scalar (FPI)
NITROGEN_SCALAR = 0.7
#: thickness (m) of the two BIOME4 soil layers counted in the 1 m bucket
BUCKET_LAYER_THICKNESS = (0.3, 0.7)


def damping_depth(kappa=THERMAL_DIFFUSIVITY, period_s: float = SECONDS_PER_YEAR):
    """Damping depth ``d = sqrt(kappa P / pi)`` (m) of a periodic temperature wave
    (float for a float ``kappa``, else an array)."""
    d = np.sqrt(np.asarray(kappa, dtype=np.float64) * period_s / np.pi)
    return float(d) if d.ndim == 0 else d


def annual_harmonic(monthly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and first harmonic of a monthly cycle.

    Parameters
    ----------
    monthly : ndarray (n, 12)
        Values for Jan..Dec (month m = 1..12 at phase 2 pi m / 12).

    Returns
    -------
    mean, amplitude, m_max : ndarray (n,)
        ``x(m) ~ mean + amplitude cos(2 pi (m - m_max) / 12)``; ``m_max`` in (0, 12].
    """
    x = np.asarray(monthly, dtype=np.float64)
    m = np.arange(1, 13, dtype=np.float64)
    ang = 2.0 * np.pi * m / 12.0
    mean = x.mean(axis=-1)
    a = 2.0 / 12.0 * (x * np.cos(ang)).sum(axis=-1)
    b = 2.0 / 12.0 * (x * np.sin(ang)).sum(axis=-1)
    amp = np.hypot(a, b)
    m_max = np.mod(np.arctan2(b, a) * 12.0 / (2.0 * np.pi), 12.0)
    m_max = np.where(m_max <= 0, m_max + 12.0, m_max)
    return mean, amp, m_max


def soil_temperature(
    air_temperature_c: np.ndarray,
    depths: np.ndarray | None = None,
    kappa: np.ndarray | float = THERMAL_DIFFUSIVITY,
    surface_offset: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Damped-wave soil temperature by layer and month (the one soil-temperature model).

    Parameters
    ----------
    air_temperature_c : ndarray (n, 12), degC
        Monthly mean air temperature.
    depths : ndarray (L,), m, optional
        Node depths (default: the 20 CLM5 nodes).
    kappa : float or ndarray (n,), m2 s-1
        Soil thermal diffusivity.
    surface_offset : float or ndarray (n,), K
        Added to the mean (soil surface minus air temperature).

    Returns
    -------
    ndarray (n, L, 12), K
    """
    z = np.asarray(ZSOI if depths is None else depths, dtype=np.float64)
    mean, amp, m_max = annual_harmonic(air_temperature_c)
    n = mean.shape[0]
    d = np.broadcast_to(damping_depth(np.asarray(kappa, dtype=np.float64)), (n,))[:, None, None]
    off = np.broadcast_to(np.asarray(surface_offset, dtype=np.float64), (n,))[:, None, None]
    m = np.arange(1, 13, dtype=np.float64)
    zz = z[None, :, None]
    phase = 2.0 * np.pi * (m[None, None, :] - m_max[:, None, None]) / 12.0 - zz / d
    wave = amp[:, None, None] * np.exp(-zz / d) * np.cos(phase)
    return T_FREEZE + mean[:, None, None] + off + wave


def kappa_from_damping_depth(depth_m, period_s: float = SECONDS_PER_YEAR) -> np.ndarray:
    """Thermal diffusivity (m2 s-1) giving damping depth ``depth_m``: ``pi d^2 / P``."""
    return np.pi * np.asarray(depth_m, dtype=np.float64) ** 2 / period_s


def day_length_hours(lat: np.ndarray, doy: np.ndarray = MID_MONTH_DOY) -> np.ndarray:
    """Astronomical day length (h), shape (n, len(doy)); declination after Cooper (1969)."""
    phi = np.deg2rad(np.asarray(lat, dtype=np.float64))[:, None]
    decl = np.deg2rad(23.44) * np.sin(2.0 * np.pi * (284.0 + np.asarray(doy)) / 365.0)[None, :]
    cos_w = np.clip(-np.tan(phi) * np.tan(decl), -1.0, 1.0)
    return 24.0 * np.arccos(cos_w) / np.pi


def thornthwaite_pet(air_temperature_c: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Thornthwaite (1948) potential evapotranspiration (mm month-1), shape (n, 12).

    ``PET = 16 (L/12) (N/30) (10 T / I)^a`` for 0 < T < 26.5 C (``L`` day length in h,
    ``N`` days in the month, heat index ``I = sum (T/5)^1.514`` over months with T > 0,
    ``a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239``); above 26.5 C the
    unadjusted rate is ``-415.85 + 32.24 T - 0.43 T^2`` (Willmott et al. 1985); 0 when
    T <= 0.
    """
    t = np.asarray(air_temperature_c, dtype=np.float64)
    tp = np.clip(t, 0.0, None)
    heat = ((tp / 5.0) ** 1.514).sum(axis=-1, keepdims=True)
    a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.where(heat > 0, 16.0 * (10.0 * tp / np.where(heat > 0, heat, 1.0)) ** a, 0.0)
    hot = -415.85 + 32.24 * t - 0.43 * t**2
    base = np.where(t >= 26.5, hot, base)
    base = np.where(t > 0, base, 0.0)
    return base * day_length_hours(lat) / 12.0 * DAYS_IN_MONTH / 30.0


def bucket_relative_water(
    precipitation: np.ndarray,
    pet: np.ndarray,
    air_temperature_c: np.ndarray,
    capacity: np.ndarray,
    max_years: int = 50,
    tol: float = 1e-6,
) -> np.ndarray:
    """Relative storage of a monthly bucket at its periodic steady cycle.

    Parameters
    ----------
    precipitation, pet : ndarray (n, 12), mm month-1
    air_temperature_c : ndarray (n, 12), degC (snow below 0 C; melt in the first month >= 0)
    capacity : ndarray (n,), mm (> 0)

    Returns
    -------
    ndarray (n, 12) in [0, 1]: mean of start- and end-of-month storage over capacity.
    """
    p = np.asarray(precipitation, dtype=np.float64)
    e = np.asarray(pet, dtype=np.float64)
    t = np.asarray(air_temperature_c, dtype=np.float64)
    cap = np.asarray(capacity, dtype=np.float64)
    if np.any(~(cap > 0)):
        raise ValueError("bucket capacity must be > 0 mm at every site")
    w = cap.copy()  # start full
    snow = np.zeros_like(cap)
    rel = np.zeros_like(p)
    for _ in range(max_years):
        w0 = w.copy()
        for m in range(12):
            frozen = t[:, m] < 0.0
            snow = snow + np.where(frozen, p[:, m], 0.0)
            water_in = np.where(frozen, 0.0, p[:, m] + snow)
            snow = np.where(frozen, snow, 0.0)
            w_new = np.clip(w + water_in - e[:, m], 0.0, cap)
            rel[:, m] = 0.5 * (w + w_new) / cap
            w = w_new
        if np.max(np.abs(w - w0) / cap) < tol:
            break
    return rel


def water_scalar(relative_water: np.ndarray, n_layers: int = N_LAYERS,
                 w_min: float = WATER_SCALAR_MIN) -> np.ndarray:  # fmt: skip
    """W_SCALAR-like factor ``w_min + (1 - w_min) r`` broadcast to layers: (n, L, 12)."""
    r = np.clip(np.asarray(relative_water, dtype=np.float64), 0.0, 1.0)
    w = w_min + (1.0 - w_min) * r
    return np.repeat(w[:, None, :], n_layers, axis=1)


def bucket_capacity(whc_mm_per_m: np.ndarray) -> np.ndarray:
    """Bucket capacity (mm) over the top metre from BIOME4 ``whc`` (n, 2) in mm/m."""
    w = np.asarray(whc_mm_per_m, dtype=np.float64)
    return w[:, 0] * BUCKET_LAYER_THICKNESS[0] + w[:, 1] * BUCKET_LAYER_THICKNESS[1]


def woody_fraction(totvegc: np.ndarray) -> np.ndarray:
    """Woody share of the vegetation from total vegetation carbon (gC m-2): (n,) in [0, 1]."""
    v = np.asarray(totvegc, dtype=np.float64)
    return np.clip((v - VEGC_NONWOODY) / (VEGC_FOREST - VEGC_NONWOODY), 0.0, 1.0)


def litter_partition(
    monthly_input: np.ndarray, cwd_fraction: np.ndarray | float = 0.0
) -> dict[str, np.ndarray]:
    """Split monthly carbon input into CWD and the three litter pools.

    Parameters
    ----------
    monthly_input : ndarray (n, 12), gC m-2 month-1
    cwd_fraction : float or ndarray (n,)
        Share entering coarse woody debris; the rest is split by
        :data:`LITTER_FRACTIONS` into metabolic / cellulose / lignin litter.

    Returns
    -------
    dict input_cwd, input_litter1, input_litter2, input_litter3 -> (n, 12), gC m-2 month-1
    """
    monthly = np.asarray(monthly_input, dtype=np.float64)
    f_cwd = np.broadcast_to(np.asarray(cwd_fraction, dtype=np.float64), monthly.shape[:1])
    f_cwd = f_cwd[:, None]
    rest = monthly * (1.0 - f_cwd)
    fl, fc, fg = LITTER_FRACTIONS
    return {
        "input_cwd": monthly * f_cwd,
        "input_litter1": rest * fl,
        "input_litter2": rest * fc,
        "input_litter3": rest * fg,
    }


def litter_inputs(npp_gc_m2_s: np.ndarray, totvegc: np.ndarray) -> dict[str, np.ndarray]:
    """Monthly carbon inputs to CWD and the three litter pools from CESM2 NPP.

    Parameters
    ----------
    npp_gc_m2_s : ndarray (n, 12), gC m-2 s-1
        Monthly mean NPP (negative values are set to 0).
    totvegc : ndarray (n,) or (n, 12), gC m-2
        Vegetation carbon (annual mean used) deciding the woody share.

    Returns
    -------
    dict input_cwd, input_litter1, input_litter2, input_litter3 -> (n, 12), gC m-2 month-1
    """
    npp = np.clip(np.asarray(npp_gc_m2_s, dtype=np.float64), 0.0, None)
    monthly = npp * DAYS_IN_MONTH[None, :] * SECONDS_PER_DAY
    v = np.asarray(totvegc, dtype=np.float64)
    v = v.mean(axis=-1) if v.ndim == 2 else v
    return litter_partition(monthly, woody_fraction(v) * WOOD_ALLOCATION)


def nitrogen_scalar(
    n_sites: int, value: float = NITROGEN_SCALAR, n_layers: int = N_LAYERS
) -> np.ndarray:
    """Constant nitrogen scalar (FPI) assumption: (n, L, 12) filled with ``value``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"nitrogen scalar must be in [0, 1], got {value}")
    return np.full((n_sites, n_layers, 12), float(value))


def oxygen_scalar(o_scalar: np.ndarray) -> np.ndarray:
    """CESM2 O_SCALAR sampled as (n, 12, 20) (month, layer) -> (n, 20, 12) clipped to [0, 1]."""
    o = np.asarray(o_scalar, dtype=np.float64)
    return np.clip(np.swapaxes(o, 1, 2), 0.0, 1.0)


def active_layer(altmax: np.ndarray) -> np.ndarray:
    """CESM2 ALTMAX / ALTMAX_LASTYEAR (n, 12) in m, clipped to [0, 41.998] (no permafrost)."""
    return np.clip(np.asarray(altmax, dtype=np.float64), 0.0, NO_PERMAFROST_ALT)


def nbedrock_from_depth(bedrock_depth_m: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Index (1-20) of the deepest CLM5 level whose bottom lies above ``bedrock_depth_m`` (m)."""
    idx = np.searchsorted(np.asarray(ZISOI), np.asarray(bedrock_depth_m), side="right")
    return np.clip(idx, minimum, len(ZISOI)).astype(np.int32)


def bedrock_index(nbedrock: np.ndarray) -> np.ndarray:
    """CESM2 nbedrock (n, 12) -> int (n,) in 1..20 (first month, rounded)."""
    nb = np.asarray(nbedrock, dtype=np.float64)
    nb = nb[:, 0] if nb.ndim == 2 else nb
    return np.clip(np.rint(nb), 1, N_LAYERS).astype(np.int64)
