"""Covariates available everywhere on the grid, computed identically for training sites,
prediction sites and grid cells (one function: :func:`covariate_arrays`).

Numeric covariates (name: units)
    BIOME4 climate: ``mat`` (degC, annual mean air temperature), ``t_warmest`` /
    ``t_coldest`` (degC, warmest / coldest month), ``t_seasonality`` (degC, standard
    deviation of the 12 monthly means), ``tmin_abs`` (degC, absolute minimum),
    ``map`` (mm yr-1), ``p_wettest`` / ``p_driest`` (mm month-1), ``p_seasonality``
    (1, coefficient of variation of monthly precipitation), ``sunshine`` (percent of
    possible), ``pet`` (mm yr-1, Thornthwaite), ``aridity`` (1, MAP / PET capped at 10),
    ``gdd0`` (degC month, sum of positive monthly temperatures), ``whc_top`` /
    ``whc_sub`` (mm m-1, BIOME4 soil layers) and ``bucket_capacity`` (mm, top metre).
    CESM2: ``npp_mean`` / ``npp_std`` (gC m-2 yr-1, mean and standard deviation of the
    monthly NPP climatology expressed as annual rates), ``gpp_mean`` (gC m-2 yr-1),
    ``totvegc`` (gC m-2), ``woody_fraction`` (1, see :mod:`soilbinn.inputs.forcing`),
    ``altmax_mean`` (m), ``nbedrock`` (1).
    Soil, terrain and vegetation (fine grids: a site's own cell, a grid cell's mean):
    ``topsoil_clay`` / ``topsoil_sand`` / ``topsoil_silt`` (%, HWSD 0-30 cm),
    ``topsoil_ph`` (1, HWSD pH in water), ``topsoil_oc`` (%, HWSD organic carbon; only
    with ``hwsd_oc=True``, see :func:`covariate_arrays`), ``elevation`` (m, 1/12 degree),
    ``elevation_roughness`` (m, standard deviation of elevation over the 3 x 3 cells of
    1/12 degree around a cell, i.e. the relief within about 25 km), ``ndvi_max`` /
    ``ndvi_min`` (1, annual MODIS NDVI extremes), ``lc_<group>`` (1, fraction of the
    MODIS IGBP land cover in each group of
    :data:`~soilbinn.inputs.sampling.LANDCOVER_GROUPS`; 0 or 1 at a site, the share of
    0.05 degree cells in a grid cell).
Categorical covariates
    ``koppen``: main Koppen-Geiger climate group A/B/C/D/E from BIOME4 monthly temperature
    and precipitation (criteria of Peel et al. 2007: E if the warmest month < 10 C; B if
    MAP < 10 P_th with P_th = 2 MAT, + 28 if >= 70% of precipitation falls in the summer
    half-year, + 14 otherwise unless >= 70% falls in winter; A if the coldest month
    >= 18 C; C if the coldest month > 0 C; else D).
    ``igbp_class``: MODIS IGBP land-cover class (0-16) of the site's cell, or the
    majority class of a grid cell.
    ``land_use`` (optional, only when the user has it for every row, e.g. RaCA or SoDaH
    sites or a ``land_use`` column of a sites CSV): see :data:`LAND_USE_CLASSES`. It is
    left out by default because it does not exist on the prediction grid.
"""

from __future__ import annotations

import numpy as np

from soilbinn.inputs import forcing as fx
from soilbinn.inputs.sampling import IGBP_CLASSES, LANDCOVER_GROUPS, GriddedInputs

SECONDS_PER_YEAR = fx.SECONDS_PER_YEAR

NUMERIC_UNITS: dict[str, str] = {
    "mat": "degC", "t_warmest": "degC", "t_coldest": "degC", "t_seasonality": "degC",
    "tmin_abs": "degC", "map": "mm yr-1", "p_wettest": "mm month-1", "p_driest": "mm month-1",
    "p_seasonality": "1", "sunshine": "percent", "pet": "mm yr-1", "aridity": "1",
    "gdd0": "degC month", "whc_top": "mm m-1", "whc_sub": "mm m-1", "bucket_capacity": "mm",
    "npp_mean": "gC m-2 yr-1", "npp_std": "gC m-2 yr-1", "gpp_mean": "gC m-2 yr-1",
    "totvegc": "gC m-2", "woody_fraction": "1", "altmax_mean": "m", "nbedrock": "1",
    "topsoil_clay": "%", "topsoil_sand": "%", "topsoil_silt": "%", "topsoil_ph": "1",
    "topsoil_oc": "%", "elevation": "m", "elevation_roughness": "m", "ndvi_max": "1",
    "ndvi_min": "1", **{f"lc_{g}": "1" for g in LANDCOVER_GROUPS},
}  # fmt: skip
LONG_NAMES: dict[str, str] = {
    "mat": "mean annual air temperature (BIOME4)",
    "t_warmest": "mean temperature of the warmest month (BIOME4)",
    "t_coldest": "mean temperature of the coldest month (BIOME4)",
    "t_seasonality": "standard deviation of monthly mean temperature (BIOME4)",
    "tmin_abs": "annual absolute minimum temperature (BIOME4)",
    "map": "mean annual precipitation (BIOME4)",
    "p_wettest": "precipitation of the wettest month (BIOME4)",
    "p_driest": "precipitation of the driest month (BIOME4)",
    "p_seasonality": "coefficient of variation of monthly precipitation (BIOME4)",
    "sunshine": "mean percent of possible sunshine (BIOME4)",
    "pet": "Thornthwaite potential evapotranspiration",
    "aridity": "MAP / PET, capped at 10",
    "gdd0": "sum of positive monthly mean temperatures",
    "whc_top": "water-holding capacity, upper soil layer (BIOME4)",
    "whc_sub": "water-holding capacity, lower soil layer (BIOME4)",
    "bucket_capacity": "bucket capacity of the top metre",
    "npp_mean": "CESM2 NPP, annual mean",
    "npp_std": "CESM2 NPP, standard deviation of the monthly climatology",
    "gpp_mean": "CESM2 GPP, annual mean",
    "totvegc": "CESM2 total vegetation carbon",
    "woody_fraction": "woody fraction from vegetation carbon",
    "altmax_mean": "CESM2 maximum active layer thickness, annual mean",
    "nbedrock": "CESM2 index of the deepest soil layer above bedrock",
    "topsoil_clay": "topsoil (0-30 cm) clay content (HWSD v1.2)",
    "topsoil_sand": "topsoil (0-30 cm) sand content (HWSD v1.2)",
    "topsoil_silt": "topsoil (0-30 cm) silt content (HWSD v1.2)",
    "topsoil_ph": "topsoil (0-30 cm) pH in water (HWSD v1.2)",
    "topsoil_oc": "topsoil (0-30 cm) organic carbon content (HWSD v1.2)",
    "elevation": "elevation above sea level (1/12 degree)",
    "elevation_roughness": "standard deviation of elevation over 3 x 3 cells of 1/12 degree",
    "ndvi_max": "annual maximum NDVI (MODIS)",
    "ndvi_min": "annual minimum NDVI (MODIS)",
    **{f"lc_{g}": f"fraction of {g} in MODIS IGBP land cover 2019" for g in LANDCOVER_GROUPS},
}
KOPPEN_CLASSES: tuple[str, ...] = (
    "A_tropical",
    "B_arid",
    "C_temperate",
    "D_continental",
    "E_polar",
)
#: harmonised land-use classes (code = position)
LAND_USE_CLASSES: tuple[str, ...] = (
    "forest", "grassland", "shrubland", "cropland", "wetland", "urban",
)  # fmt: skip
#: source label (lower case) -> harmonised class
LAND_USE_ALIASES: dict[str, str] = {
    # SoDaH / NLCD
    "forest": "forest", "deciduousforest": "forest", "evergreenforest": "forest",
    "mixedforest": "forest", "woodywetlands": "wetland",
    "rangeland/grassland": "grassland", "grasslandherbaceous": "grassland",
    "pasturehay": "grassland", "shrubscrub": "shrubland", "shrubland": "shrubland",
    "cultivated": "cropland", "cultivatedcrops": "cropland", "urban": "urban",
    "emergentherbaceouswetlands": "wetland",
    # RaCA land-use letter of the site id
    "f": "forest", "r": "grassland", "p": "grassland", "x": "grassland", "c": "cropland",
    "w": "wetland",
    # plain words users may write
    "grassland": "grassland", "rangeland": "grassland", "pasture": "grassland",
    "crop": "cropland", "cropland": "cropland", "wetland": "wetland", "shrub": "shrubland",
}  # fmt: skip


#: labels of the categorical covariates computed everywhere
CATEGORY_LABELS: dict[str, tuple[str, ...]] = {"koppen": KOPPEN_CLASSES, "igbp_class": IGBP_CLASSES}


def land_use_codes(labels) -> np.ndarray:
    """Harmonised land-use codes (n,) int32 from free labels; -1 where unknown/missing."""
    idx = {c: i for i, c in enumerate(LAND_USE_CLASSES)}
    out = np.full(len(labels), -1, dtype=np.int32)
    for i, lab in enumerate(labels):
        if isinstance(lab, str) and lab.strip():
            cls = LAND_USE_ALIASES.get(lab.strip().lower().replace(" ", ""))
            if cls is not None:
                out[i] = idx[cls]
    return out


def koppen_group(temp_c: np.ndarray, prec_mm: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Main Koppen-Geiger group code (n,) int32 (index into :data:`KOPPEN_CLASSES`).

    Parameters
    ----------
    temp_c, prec_mm : ndarray (n, 12)
        Monthly mean temperature (degC) and precipitation (mm month-1).
    lat : ndarray (n,)
        Decides which half-year (Apr-Sep north, Oct-Mar south) is summer.
    """
    t = np.asarray(temp_c, dtype=np.float64)
    p = np.asarray(prec_mm, dtype=np.float64)
    mat = t.mean(axis=1)
    total = p.sum(axis=1)
    summer_nh = np.zeros(12, bool)
    summer_nh[3:9] = True
    summer = np.where(np.asarray(lat)[:, None] >= 0, summer_nh[None, :], ~summer_nh[None, :])
    p_summer = np.where(summer, p, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac_summer = np.where(total > 0, p_summer / total, 0.5)
    p_th = 2.0 * mat + np.where(frac_summer >= 0.7, 28.0, np.where(frac_summer <= 0.3, 0.0, 14.0))
    code = np.full(len(t), 3, dtype=np.int32)  # D
    code[t.min(axis=1) > 0.0] = 2  # C
    code[t.min(axis=1) >= 18.0] = 0  # A
    code[total < 10.0 * p_th] = 1  # B
    code[t.max(axis=1) < 10.0] = 4  # E
    return code


def covariate_arrays(
    inp: GriddedInputs, hwsd_oc: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Numeric and categorical covariates at sampled points.

    Parameters
    ----------
    hwsd_oc : bool
        Add ``topsoil_oc``, HWSD's topsoil organic carbon. Off for training by default:
        it is itself a (legacy survey) map of SOC, so with it a model partly re-maps
        HWSD instead of learning from climate, soil and vegetation, and in the US it
        comes from the same soil surveys as many target pedons. Prediction datasets
        always carry it (a model uses only the covariates it was trained with).

    Returns
    -------
    numeric : dict name -> (n,) float64 (units in :data:`NUMERIC_UNITS`)
    categorical : dict name -> (n,) int32 codes (``koppen``)
    """
    t, p = inp["temp"], inp["prec"]
    pet = fx.thornthwaite_pet(np.nan_to_num(t), inp.lat)
    pet[~inp.ok] = np.nan
    pet_y = pet.sum(axis=1)
    map_ = p.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        aridity = np.minimum(np.where(pet_y > 0, map_ / pet_y, 10.0), 10.0)
        p_cv = np.where(p.mean(axis=1) > 0, p.std(axis=1) / p.mean(axis=1), 0.0)
    npp_y = inp["npp"] * SECONDS_PER_YEAR
    vegc = inp["totvegc"].mean(axis=1)
    num = {
        "mat": t.mean(axis=1),
        "t_warmest": t.max(axis=1),
        "t_coldest": t.min(axis=1),
        "t_seasonality": t.std(axis=1),
        "tmin_abs": inp["tmin"],
        "map": map_,
        "p_wettest": p.max(axis=1),
        "p_driest": p.min(axis=1),
        "p_seasonality": p_cv,
        "sunshine": inp["sun"].mean(axis=1),
        "pet": pet_y,
        "aridity": aridity,
        "gdd0": np.clip(t, 0.0, None).sum(axis=1),
        "whc_top": inp["whc"][:, 0],
        "whc_sub": inp["whc"][:, 1],
        "bucket_capacity": fx.bucket_capacity(inp["whc"]),
        "npp_mean": npp_y.mean(axis=1),
        "npp_std": npp_y.std(axis=1),
        "gpp_mean": (inp["gpp"] * SECONDS_PER_YEAR).mean(axis=1),
        "totvegc": vegc,
        "woody_fraction": fx.woody_fraction(vegc),
        "altmax_mean": inp["altmax"].mean(axis=1),
        "nbedrock": inp["nbedrock"][:, 0],
        "topsoil_clay": inp["clay"],
        "topsoil_sand": inp["sand"],
        "topsoil_silt": inp["silt"],
        "topsoil_ph": inp["ph"],
        "elevation": inp["elevation"],
        "elevation_roughness": inp["roughness"],
        "ndvi_max": inp["ndvi_max"],
        "ndvi_min": inp["ndvi_min"],
        **{f"lc_{g}": np.asarray(inp[f"lc_{g}"], np.float64) for g in LANDCOVER_GROUPS},
    }
    if hwsd_oc:
        num["topsoil_oc"] = inp["oc"]
    num = {k: np.array(v, dtype=np.float64) for k, v in num.items()}
    for v in num.values():
        v[~inp.ok] = np.nan
    cat = {"koppen": koppen_group(np.nan_to_num(t), np.nan_to_num(p), inp.lat)}
    cat["koppen"][~inp.ok] = -1
    cat["igbp_class"] = np.asarray(inp["igbp_class"], dtype=np.int32)
    return num, cat
