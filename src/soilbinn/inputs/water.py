"""Depth-resolved decomposition water scalar in CLM5's form, from a monthly soil water balance.

CLM5 computes its decomposition water scalar ``W_SCALAR`` per layer from the soil water
potential ``psi`` of the liquid water in that layer (Andren & Paustian 1987; Orchard &
Cook 1983, as implemented in CLM4.5/CLM5 ``decomp_rate_constants_bgc``)::

    w = log(psi_min / psi) / log(psi_min / psi_sat)    for psi_min < psi < psi_sat
    w = 1                                              for psi >= psi_sat
    w = 0 in CLM5 (here: the floor ``w_floor``)        for psi <= psi_min

with ``psi_min = -10 MPa`` and ``psi_sat`` the (negative) saturated matric potential of the
layer. CESM2's W_SCALAR is not available, so this module derives it from the monthly
climatology with a documented, deliberately simple soil water balance on the 20 CLM5 soil
layers. Everything is pure NumPy, vectorised over sites (or grid cells); sites leave the
spin-up as soon as they are periodic (0.1 mm per layer and year, at most 200 years).

Hydraulic parameters: :func:`pedotransfer`
    Clapp & Hornberger (1978) retention curve ``psi = psi_sat s^-b`` (``s = theta /
    theta_sat``) with Cosby et al. (1984, Table 5) pedotransfer from sand and clay (%),
    exactly as CLM5 ``SoilStateInitTimeConst`` (mineral soil; no organic-matter mixing)::

        theta_sat = 0.489 - 0.00126 sand                    (m3 m-3)
        b         = 2.91 + 0.159 clay                       (1)
        sucsat    = 10 * 10^(1.88 - 0.0131 sand)            (mm of water suction)
        k_sat     = 0.0070556 * 10^(-0.884 + 0.0153 sand)   (mm s-1)

    ``psi_sat = -sucsat * 9.8e-6`` MPa (CLM's conversion). Conductivity ``K = k_sat
    s^(2b + 3)`` (Clapp & Hornberger 1978). Texture is the HWSD topsoil value used for all
    layers (no subsoil texture is available).
Water potential: :func:`soil_water_potential`
    As CLM5 ``HydrologyNoDrainage``: ``s`` floored at 0.001 and ``psi`` clamped to
    [-15, 0] MPa. Frozen soil: CLM5 uses the potential of the *liquid* water only, and
    its supercooled-water scheme (Niu & Yang 2006) caps the liquid water of a layer at
    temperature ``T < T_f`` at the freezing-point-depression potential ``psi_fpd =
    L_f (T - T_f) / (g T)`` (m of water; in MPa ``1e-3 L_f (T - T_f) / T``, about -1.2 MPa
    at -1 C and below -10 MPa under about -8.5 C). Here ``psi = min(psi(theta),
    psi_fpd(T))`` with ``T`` the monthly soil temperature of the layer.
Water balance: :func:`soil_water_balance`
    Monthly climatology split into ``n_sub`` equal sub-steps per month (default 4), on the
    20 CLM5 layers above bedrock (CESM2 ``nbedrock``), spun up until the end-of-year state
    repeats (periodic steady state). Per sub-step:

    1. snow: precipitation in months with air temperature below 0 C accumulates as snow;
       melt is a degree-day rate ``3 mm C-1 d-1 * T`` (mm per day above 0 C); a month's
       precipitation falls in ``clip(round(P / 20 mm), 1, n_sub)`` equal events in its
       first sub-steps (an assumption standing in for daily data);
    2. infiltration: rain + melt fill the layers from the top to saturation
       (``theta_sat dz``); what no layer can hold is surface runoff;
    3. drainage: every layer drains under unit gradient, ``d theta / dt = -K(theta) / dz``,
       solved exactly over the sub-step (``s(t) = [s0^(1-c) + (c - 1) k_sat t /
       (theta_sat dz)]^(1/(1-c))``, ``c = 2b + 3``), top to bottom, into the layer
       below as far as it has room; the bottom layer above bedrock drains out of the
       column (free drainage; CLM's lateral drainage / water table are not modelled);
    4. evapotranspiration: Thornthwaite PET (:func:`soilbinn.inputs.forcing.thornthwaite_pet`)
       is split into a soil-evaporation demand ``f_evap PET`` (default f_evap = 0.25)
       taken from the layers above 0.1 m with ``beta_e = (theta - theta_air) /
       (theta_fc - theta_air)`` (theta at -0.033 MPa and at -100 MPa), and a transpiration
       demand ``(1 - f_evap) PET`` taken from layer ``j`` in proportion to ``r_j beta_j``
       (CLM4.5 ``btran`` form): root fractions ``r_j`` of Jackson et al. (1996) with
       ``beta_root = 0.966`` (cumulative ``1 - beta_root^(z / 1 cm)``), and
       ``beta_j = (psi_c - psi_j) / (psi_c - psi_o)`` clipped to [0, 1] with CLM4.5 tree
       values ``psi_o = -0.66 MPa`` (smpso -66000 mm) and ``psi_c = -2.5 MPa`` (smpsc
       -255000 mm): roots cannot dry a layer below -2.5 MPa, only evaporation dries the
       top 0.1 m further.

    The spin-up starts with every layer at ``psi_c`` (the driest state roots leave), so a
    layer that no drainage ever reaches stays there. The monthly scalar is the mean of
    ``w`` over the sub-step end states (CLM's history files average W_SCALAR over time
    steps in the same way). Layers below bedrock carry the value of the deepest soil layer
    (the process model puts no input there).

Floor
    CLM5 sets ``w = 0`` below -10 MPa. Here ``w`` is floored at ``w_floor = 0.01`` (default)
    so that a layer that is dry all year keeps a finite steady state (a zero decomposition
    rate in every month makes the steady-state matrix singular for non-diffusing pools).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soilbinn.process.grid import DZ, N_LAYERS, ZISOI, ZTOP

#: CLM's conversion of mm of water to MPa (``sucsat * -9.8e-6``)
MPA_PER_MM = 9.8e-6
#: CLM5 lower limit of the water scalar (MPa)
PSI_MIN = -10.0
#: CLM5 clamp of soil water potential (MPa)
PSI_CLAMP = -15.0
#: default floor of the scalar (CLM5 uses 0; see the module docstring)
W_FLOOR = 0.01
#: latent heat of fusion (J kg-1) and freezing point (K), CLM clm_varcon values
HFUS, T_FREEZE = 3.337e5, 273.15
#: CLM4.5 tree stomata fully open / closed soil water potential (MPa)
PSI_OPEN, PSI_CLOSE = -66000.0 * MPA_PER_MM, -255000.0 * MPA_PER_MM
#: field capacity and air-dry potentials for the soil evaporation factor (MPa)
PSI_FIELD_CAPACITY, PSI_AIR_DRY = -0.033, -100.0
#: share of PET that is soil-evaporation demand (1)
EVAP_SHARE = 0.25
#: depth from which soil evaporation takes water (m)
EVAP_DEPTH = 0.1
#: Jackson et al. (1996) root-profile parameter (1)
ROOT_BETA = 0.966
#: degree-day snowmelt factor (mm C-1 d-1)
MELT_FACTOR = 3.0
#: sub-steps per month of the water balance
N_SUB = 4
#: typical rain event (mm) that sets how many sub-steps of a month get rain
RAIN_EVENT_MM = 20.0
#: loam texture used where no HWSD value is found (clay, sand in %; USDA loam centre)
LOAM_CLAY, LOAM_SAND = 20.0, 40.0
#: default search radius for the nearest valid HWSD cell (km)
TEXTURE_MAX_KM = 30.0

DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)


@dataclass(frozen=True)
class Hydraulics:
    """Clapp-Hornberger parameters per site (arrays of shape (n,)).

    Attributes
    ----------
    theta_sat : m3 m-3, porosity
    b : 1, retention-curve exponent
    psi_sat : MPa (< 0), saturated matric potential
    k_sat : mm s-1, saturated hydraulic conductivity
    """

    theta_sat: np.ndarray
    b: np.ndarray
    psi_sat: np.ndarray
    k_sat: np.ndarray

    def theta_at(self, psi: float | np.ndarray) -> np.ndarray:
        """Volumetric water content (m3 m-3) at potential ``psi`` (MPa, < 0): (n,)."""
        s = (np.asarray(psi) / self.psi_sat) ** (-1.0 / self.b)
        return self.theta_sat * np.clip(s, 0.0, 1.0)


def pedotransfer(clay_pct, sand_pct) -> Hydraulics:
    """Cosby et al. (1984) / CLM5 hydraulic parameters from clay and sand (%).

    Parameters
    ----------
    clay_pct, sand_pct : array_like (n,), percent of the mineral fine earth (0-100)

    Returns
    -------
    Hydraulics
        ``theta_sat = 0.489 - 0.00126 sand``, ``b = 2.91 + 0.159 clay``,
        ``psi_sat = -9.8e-6 * 10 * 10^(1.88 - 0.0131 sand)`` MPa,
        ``k_sat = 0.0070556 * 10^(-0.884 + 0.0153 sand)`` mm s-1.
    """
    clay = np.asarray(clay_pct, dtype=np.float64)
    sand = np.asarray(sand_pct, dtype=np.float64)
    if np.any(~np.isfinite(clay) | ~np.isfinite(sand)):
        raise ValueError("pedotransfer: clay and sand must be finite (fill missing texture first)")
    if np.any((clay < 0) | (clay > 100) | (sand < 0) | (sand > 100)):
        raise ValueError("pedotransfer: clay and sand must be percentages in [0, 100]")
    sucsat_mm = 10.0 * 10.0 ** (1.88 - 0.0131 * sand)
    return Hydraulics(
        theta_sat=0.489 - 0.00126 * sand,
        b=2.91 + 0.159 * clay,
        psi_sat=-MPA_PER_MM * sucsat_mm,
        k_sat=0.0070556 * 10.0 ** (-0.884 + 0.0153 * sand),
    )


def freezing_potential(soil_temperature_k) -> np.ndarray:
    """Potential (MPa) of liquid water in equilibrium with ice, ``1e-3 L_f (T - T_f) / T``.

    Parameters
    ----------
    soil_temperature_k : array_like, K

    Returns
    -------
    ndarray, MPa: ``-inf``-free, 0 at and above freezing, negative below.
    """
    t = np.asarray(soil_temperature_k, dtype=np.float64)
    return np.where(t < T_FREEZE, 1e-3 * HFUS * (t - T_FREEZE) / t, 0.0)


def soil_water_potential(theta, hyd_theta_sat, hyd_b, hyd_psi_sat, soil_temperature_k=None):
    """CLM5 soil water potential (MPa) of the liquid water.

    Parameters
    ----------
    theta : array_like, m3 m-3 (any shape broadcasting with the parameters)
    hyd_theta_sat, hyd_b, hyd_psi_sat : array_like, Clapp-Hornberger parameters
        (m3 m-3, 1, MPa < 0), broadcast against ``theta``.
    soil_temperature_k : array_like, K, optional
        Frozen layers are capped at :func:`freezing_potential`.

    Returns
    -------
    ndarray, MPa in [-15, 0]: ``psi_sat max(theta/theta_sat, 0.001)^-b`` clamped.
    """
    s = np.maximum(np.asarray(theta, dtype=np.float64) / hyd_theta_sat, 0.001)
    psi = hyd_psi_sat * s ** (-np.asarray(hyd_b, dtype=np.float64))
    if soil_temperature_k is not None:
        psi = np.minimum(psi, freezing_potential(soil_temperature_k))
    return np.clip(psi, PSI_CLAMP, 0.0)


def water_scalar_from_potential(psi, psi_sat, w_floor: float = W_FLOOR) -> np.ndarray:
    """CLM5 decomposition water scalar from water potential.

    Parameters
    ----------
    psi : array_like, MPa (<= 0)
    psi_sat : array_like, MPa (< 0), broadcast against ``psi``
    w_floor : float
        Value for ``psi <= psi_min`` (CLM5: 0).

    Returns
    -------
    ndarray in [w_floor, 1]: ``log(psi_min / psi) / log(psi_min / psi_sat)`` with
    ``psi`` capped at ``psi_sat`` (so 1 at and above saturation).
    """
    if not 0.0 <= w_floor < 1.0:
        raise ValueError(f"w_floor must be in [0, 1), got {w_floor}")
    psi_sat = np.asarray(psi_sat, dtype=np.float64)
    p = np.minimum(np.asarray(psi, dtype=np.float64), psi_sat)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.log(PSI_MIN / p) / np.log(PSI_MIN / psi_sat)
    w = np.where(p > PSI_MIN, w, w_floor)
    return np.clip(w, w_floor, 1.0)


def root_fractions(n_soil_layers: np.ndarray, root_beta: float = ROOT_BETA) -> np.ndarray:
    """Jackson et al. (1996) root fraction per layer, renormalised above bedrock: (n, 20)."""
    top = np.asarray(ZTOP) * 100.0
    bot = np.asarray(ZISOI) * 100.0
    r = root_beta**top - root_beta**bot
    active = np.arange(N_LAYERS)[None, :] < np.asarray(n_soil_layers)[:, None]
    r = np.where(active, r[None, :], 0.0)
    return r / r.sum(axis=1, keepdims=True)


@dataclass
class WaterBalance:
    """Periodic monthly soil water state and fluxes.

    Attributes
    ----------
    theta : (n, 20, 12) m3 m-3, monthly mean volumetric water content
    psi : (n, 20, 12) MPa, monthly mean liquid water potential (of the mean sub-step state)
    w : (n, 20, 12) 1, monthly mean CLM5 water scalar
    fluxes : dict of (n, 12) mm month-1 over the last (periodic) year:
        ``precipitation, et, evaporation, transpiration, drainage, runoff``, and
        ``storage_change`` (n,) mm (end minus start of that year, soil + snow)
    years : int, spin-up years used; converged : (n,) bool
    """

    theta: np.ndarray
    psi: np.ndarray
    w: np.ndarray
    fluxes: dict
    years: int
    converged: np.ndarray


def soil_water_balance(
    precipitation,
    pet,
    air_temperature_c,
    soil_temperature_k,
    clay_pct,
    sand_pct,
    nbedrock=None,
    *,
    evap_share: float = EVAP_SHARE,
    root_beta: float = ROOT_BETA,
    max_layers: int | None = None,
    n_sub: int = N_SUB,
    rain_event_mm: float = RAIN_EVENT_MM,
    w_floor: float = W_FLOOR,
    max_years: int = 200,
    tol_mm: float = 0.1,
) -> WaterBalance:
    """Spin the monthly multi-layer water balance up to its periodic cycle.

    Parameters
    ----------
    precipitation, pet : array_like (n, 12), mm month-1
    air_temperature_c : array_like (n, 12), degC (snow below 0 C, degree-day melt above)
    soil_temperature_k : array_like (n, 20, 12), K (frozen-soil cap of the potential)
    clay_pct, sand_pct : array_like (n,), percent
    nbedrock : array_like (n,) int in 1..20, optional
        Number of soil layers above bedrock (default 20).
    evap_share : float
        Share of PET that is soil-evaporation demand.
    root_beta : float
        Jackson et al. (1996) root-profile parameter.
    max_layers : int, optional
        Cap on the soil depth in layers (a sensitivity knob: bucket depth).
    n_sub : int
        Sub-steps per month.
    rain_event_mm : float
        Typical size of a rain event (mm): a month's precipitation falls in
        ``clip(round(P / rain_event_mm), 1, n_sub)`` equal events.
    w_floor : float
        Floor of the water scalar.
    max_years, tol_mm : spin-up limit and tolerance (largest change of the end-of-year
        water of any layer, mm).

    Returns
    -------
    WaterBalance
    """
    p = np.asarray(precipitation, dtype=np.float64)
    e = np.asarray(pet, dtype=np.float64)
    ta = np.asarray(air_temperature_c, dtype=np.float64)
    ts = np.asarray(soil_temperature_k, dtype=np.float64)
    n = p.shape[0]
    if p.shape != (n, 12) or e.shape != (n, 12) or ta.shape != (n, 12):
        raise ValueError("precipitation, pet and air temperature must have shape (n, 12)")
    if ts.shape != (n, N_LAYERS, 12):
        raise ValueError(f"soil temperature must have shape ({n}, {N_LAYERS}, 12)")
    if np.any(~np.isfinite(p) | (p < 0)) or np.any(~np.isfinite(e) | (e < 0)):
        raise ValueError("precipitation and PET must be finite and >= 0")
    hyd = pedotransfer(clay_pct, sand_pct)
    nb = np.full(n, N_LAYERS) if nbedrock is None else np.asarray(nbedrock).astype(np.int64)
    nb = np.clip(nb, 1, N_LAYERS)
    if max_layers is not None:
        nb = np.minimum(nb, int(max_layers))
    L = N_LAYERS
    dz_mm = np.asarray(DZ)[None, :] * 1000.0
    active = np.arange(L)[None, :] < nb[:, None]  # (n, L)
    cap = np.where(active, hyd.theta_sat[:, None] * dz_mm, 0.0)  # (n, L) mm at saturation
    inv_cap = np.where(active, 1.0 / np.maximum(cap, 1e-12), 0.0)
    overlap = np.clip(np.minimum(np.asarray(ZISOI), EVAP_DEPTH) - np.asarray(ZTOP), 0.0, None)
    evap_w = np.where(active, overlap[None, :], 0.0)
    c = 2.0 * hyd.b[:, None] + 3.0  # (n, 1)
    # (c - 1) k_sat dt / (theta_sat dz) of the exact drainage solution, per month
    dt_sub = DAYS_IN_MONTH * 86400.0 / n_sub
    prm = {
        "p": p, "e": e, "ta": ta, "ts": ts, "cap": cap, "inv_cap": inv_cap,
        "theta_sat": hyd.theta_sat[:, None], "b": hyd.b[:, None], "psi_sat": hyd.psi_sat[:, None],
        "w_close": np.where(active, hyd.theta_at(PSI_CLOSE)[:, None] * dz_mm, 0.0),
        "w_fc": hyd.theta_at(PSI_FIELD_CAPACITY)[:, None] * dz_mm,
        "w_air": hyd.theta_at(PSI_AIR_DRY)[:, None] * dz_mm,
        "evap_w": evap_w / np.maximum(evap_w.sum(axis=1, keepdims=True), 1e-12),
        "roots": root_fractions(nb, root_beta), "c": c,
        "rate": (c - 1.0)[:, :, None] * hyd.k_sat[:, None, None] * inv_cap[:, :, None]
        * dt_sub[None, None, :],
        "bottom": (np.arange(L)[None, :] == (nb[:, None] - 1)).astype(np.float64),
    }  # fmt: skip
    opts = {"n_sub": n_sub, "evap_share": evap_share, "w_floor": w_floor,
            "rain_event_mm": rain_event_mm}  # fmt: skip

    # spin-up from the driest state roots leave; converged sites leave the loop
    water = prm["w_close"].copy()
    snow = np.zeros(n)
    conv = np.zeros(n, dtype=bool)
    todo = np.arange(n)
    years = 0
    while years < max_years:
        years += 1
        sub = {k: v[todo] for k, v in prm.items()}
        w_new, s_new, _ = _water_year(water[todo], snow[todo], sub, record=False, **opts)
        done = (np.abs(w_new - water[todo]).max(axis=1) < tol_mm) & (
            np.abs(s_new - snow[todo]) < tol_mm
        )
        water[todo], snow[todo] = w_new, s_new
        conv[todo[done]] = True
        todo = todo[~done]
        if todo.size == 0:
            break
    # one recorded year from the (periodic) state
    end_w, end_s, rec = _water_year(water, snow, prm, record=True, **opts)
    flux = rec["flux"]
    flux["storage_change"] = (end_w.sum(axis=1) + end_s) - (water.sum(axis=1) + snow)
    theta, w = rec["theta"], rec["w"]
    psi = soil_water_potential(
        theta, prm["theta_sat"][:, :, None], prm["b"][:, :, None], prm["psi_sat"][:, :, None], ts
    )
    # below bedrock: the deepest soil layer's values
    idx = np.minimum(np.arange(L)[None, :], nb[:, None] - 1)[:, :, None].repeat(12, 2)
    theta, w, psi = (np.take_along_axis(a, idx, 1) for a in (theta, w, psi))
    return WaterBalance(theta, psi, w, flux, years, conv)


def _water_year(water, snow, prm, *, n_sub, evap_share, w_floor, rain_event_mm, record):
    """One year of the water balance from state (water (n, L) mm, snow (n,) mm)."""
    n, L = water.shape
    water, snow = water.copy(), snow.copy()
    cap, inv_cap, c, bottom = prm["cap"], prm["inv_cap"], prm["c"], prm["bottom"]
    t_sat, tb, tpsi = prm["theta_sat"], prm["b"], prm["psi_sat"]
    w_air, w_fc, w_close = prm["w_air"], prm["w_fc"], prm["w_close"]
    dz_mm = np.asarray(DZ)[None, :] * 1000.0
    rec = None
    if record:
        keys = ("precipitation", "et", "evaporation", "transpiration", "drainage", "runoff")
        rec = {
            "flux": {k: np.zeros((n, 12)) for k in keys},
            "w": np.zeros((n, L, 12)),
            "theta": np.zeros((n, L, 12)),
        }
    for m in range(12):
        days = DAYS_IN_MONTH[m] / n_sub
        ta = prm["ta"][:, m]
        frozen = ta < 0.0
        # precipitation falls in k = clip(round(P / event size), 1, n_sub) equal events, in
        # the first k sub-steps (dry months get few, larger events; wet months one per step)
        n_ev = np.clip(np.rint(prm["p"][:, m] / rain_event_mm), 1, n_sub)
        p_ev = prm["p"][:, m] / n_ev
        pet_sub = prm["e"][:, m] / n_sub
        ts_m = prm["ts"][:, :, m]
        rate = prm["rate"][:, :, m]
        e_dem = (evap_share * pet_sub)[:, None] * prm["evap_w"]
        t_dem = ((1.0 - evap_share) * pet_sub)[:, None] * prm["roots"]
        for k in range(n_sub):
            p_sub = np.where(k < n_ev, p_ev, 0.0)
            # 1. snow
            snow = snow + np.where(frozen, p_sub, 0.0)
            melt = np.minimum(snow, MELT_FACTOR * np.maximum(ta, 0.0) * days)
            snow = snow - melt
            inflow = np.where(frozen, 0.0, p_sub) + melt
            # 2. infiltration: fill the layers from the top to saturation
            room = cap - water
            before = np.cumsum(room, axis=1) - room
            add = np.clip(inflow[:, None] - before, 0.0, room)
            water = water + add
            # 3. drainage: exact unit-gradient solution per layer, all layers at once; a
            # layer passes down what the layer below has room for after its own drainage;
            # the layer above bedrock drains out of the column
            s0 = np.clip(water * inv_cap, 1e-6, 1.0)
            s1 = (s0 ** (1.0 - c) + rate) ** (1.0 / (1.0 - c))
            d = np.maximum(s0 - s1, 0.0) * cap
            down = np.minimum(d[:, :-1], (cap - water + d)[:, 1:]) * (1.0 - bottom[:, :-1])
            out = d * bottom
            water = water - out
            water[:, :-1] -= down
            water[:, 1:] += down
            # 4. evapotranspiration; stress factors of the state before it
            psi = soil_water_potential(water / dz_mm, t_sat, tb, tpsi, ts_m)
            if record:
                w_before = water_scalar_from_potential(psi, tpsi, w_floor)
                th_before = water / dz_mm
            beta_e = np.clip((water - w_air) / (w_fc - w_air), 0.0, 1.0)
            evap = np.minimum(e_dem * beta_e, np.maximum(water - w_air, 0.0))
            beta_t = np.clip((PSI_CLOSE - psi) / (PSI_CLOSE - PSI_OPEN), 0.0, 1.0)
            tran = np.minimum(t_dem * beta_t, np.maximum(water - evap - w_close, 0.0))
            water = water - evap - tran
            if record:
                theta = water / dz_mm
                psi = soil_water_potential(theta, t_sat, tb, tpsi, ts_m)
                w_after = water_scalar_from_potential(psi, tpsi, w_floor)
                # scalar: mean of the states before and after evapotranspiration
                rec["w"][:, :, m] += 0.5 * (w_before + w_after) / n_sub
                rec["theta"][:, :, m] += 0.5 * (th_before + theta) / n_sub
                fl = rec["flux"]
                ev, tr = evap.sum(axis=1), tran.sum(axis=1)
                fl["precipitation"][:, m] += p_sub
                fl["evaporation"][:, m] += ev
                fl["transpiration"][:, m] += tr
                fl["et"][:, m] += ev + tr
                fl["drainage"][:, m] += out.sum(axis=1)
                fl["runoff"][:, m] += inflow - add.sum(axis=1)
    return water, snow, rec


def fill_texture(clay, sand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace missing clay/sand with the loam texture (20 % clay, 40 % sand).

    Returns
    -------
    clay, sand : (n,) percent; filled : (n,) bool, True where loam was used
    """
    clay = np.asarray(clay, dtype=np.float64)
    sand = np.asarray(sand, dtype=np.float64)
    filled = ~(np.isfinite(clay) & np.isfinite(sand))
    return np.where(filled, LOAM_CLAY, clay), np.where(filled, LOAM_SAND, sand), filled
