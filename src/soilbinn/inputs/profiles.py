"""Harmonise the observed SOC profiles of ``shared/data/profiles`` into one table.

Sources: SoDaH (``sodah_layers.csv``), RaCA western regions (``raca_layers_west.csv``)
and NEON initial characterisation (``neon_layers.csv``). The Powell Center file is a
radiocarbon database (mostly outside CONUS, sparse bulk density) and is not used.
Every rule and its measured effect is documented in ``inputs/README.md`` (Targets).

Carbon as each source defines it (``soc_source`` per layer, :data:`SOC_SOURCES`)
-------------------------------------------------------------------------------
* RaCA: SOC = lab total C ``c_tot_ncs_pct`` - 0.12 x ``caco3_pct`` (carbonate C) where
  the lab value exists, as RaCA computes its pedon stocks; ``caco3_pct`` missing counts
  as 0 (KSSL determines CaCO3 only on calcareous samples). Elsewhere the VNIR prediction
  ``SOC_pred1`` (the CSV's ``soc_pct``). Rows with neither a lab value nor a field texture
  are described but unanalysed horizons and are dropped.
* SoDaH: ``soc_var`` says whether ``soc_pct`` is organic C (``lyr_soc``) or total C
  (``lyr_c_tot``); SoDaH has no carbonate or pH column, so total C is kept uncorrected
  and flagged.
* NEON: KSSL ``estimatedOC`` = total C minus carbonate C (already corrected).

Rules, applied in this order (each dropped layer or profile is counted under its reason)
-------------------------------------------------------------------------------------
1. Layers without SOC % or depths, or with ``bot <= top`` are dropped. SoDaH's forest
   floor horizons above the mineral surface (``top < 0``, placeholder depths -0.02..0 m)
   are kept: their profile is shifted down so depths count from the top of the forest
   floor, as RaCA and NEON count them.
2. Organic horizons are kept and flagged (``organic``): horizon name starting with ``O``
   or ``L``, RaCA texture ``PM`` (peat/muck), or SOC >= 12 % (the lowest organic-carbon
   content of USDA organic soil material).
3. Layers with SOC <= 0 % (below detection, or lab total C below its carbonate C) and
   layers with >= 90 % coarse fragments (rock) are dropped; layers ending below 8.6 m
   (the bottom of CLM5 level 20) are dropped.
4. Bulk density (g cm-3): measured where available; otherwise the Adams (1973) mixing
   equation ``BD = 100 / (OM / 0.244 + (100 - OM) / 1.64)`` with ``OM = 1.724 SOC %``
   (van Bemmelen factor), organic-matter density 0.244 and mineral density 1.64 g cm-3.
   Filled layers are flagged (``bd_filled``); the fit of the function on the measured
   layers is reported.
5. SOC density (g m-3) = SOC % / 100 x BD x 1e6 x (1 - coarse fragments % / 100)
   (fragment volume %: RaCA ``fragvol_pct``; NEON's mass % of the < 20 mm sample turned
   into volume with :func:`fragment_volume_pct`; 0 assumed for SoDaH): carbon of the fine
   earth per volume of whole soil.
6. Duplicates: SoDaH's NEON subset duplicates ``neon_layers.csv`` (which adds texture,
   pH and more bulk densities): SoDaH NEON profiles within 0.001 degree of a NEON-file
   profile are dropped. Within a profile, repeated samples of the same depth interval
   (replicates) are averaged.
7. Treatments repeating a location: the CSVs carry no treatment or control flag, so
   "control only" cannot be selected. Where several SoDaH profiles share a location
   (same source, lat/lon to 4 decimals: LTER experiments and resampling years) they are
   collapsed into one composite profile, taking for each depth interval the median SOC
   density over the profiles (robust to a minority of treated plots). RaCA pedons
   (5 per generalised 0.01 degree site location) are genuine separate pedons and are
   kept separately by default (``raca="site"`` composites them the same way).
8. CONUS filter: the file's ``conus`` flag and 24.3-49.5 N, 125-66.8 W.
9. Node depth = mid-horizon ``(top + bot) / 2``; at most 200 observations per profile
   (the shallowest are kept).

``targets="legacy"`` reproduces the rules before the source definitions (RaCA VNIR
``SOC_pred1`` everywhere, organic horizons and SOC > 20 % dropped, layers above the
mineral surface dropped, unanalysed RaCA rows kept); it exists only so that
:func:`raca_stock_check` can report before and after.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.inputs.grids import require_file
from soilbinn.inputs.regions import in_conus
from soilbinn.process.grid import ZISOI

#: Adams (1973) densities of organic matter and mineral matter (g cm-3)
BD_ORGANIC, BD_MINERAL = 0.244, 1.64
#: van Bemmelen organic matter / organic carbon factor
OM_PER_OC = 1.724
#: SOC % from which a layer is flagged organic: the lowest organic-carbon content of USDA
#: organic soil material (12-18 % when saturated, 20 % otherwise; Soil Taxonomy)
ORGANIC_SOC_PCT = 12.0
#: the legacy rule dropped layers above this SOC % (``targets="legacy"`` only)
LEGACY_MAX_SOC_PCT = 20.0
#: carbonate carbon per CaCO3 mass (12.01 / 100.09), as RaCA subtracts it
CARBONATE_C_PER_CACO3 = 0.12
MAX_FRAGMENTS_PCT = 90.0
#: particle density of rock fragments (g cm-3), to turn mass fractions into volume
ROCK_DENSITY = 2.65
MAX_OBS = 200
_ORGANIC_HZN = re.compile(r"^\s*[OL](?![A-Z])")
#: RaCA field texture classes of organic material (peat / muck)
ORGANIC_TEXTURES = ("PM",)

FILES = {"sodah": "sodah_layers.csv", "raca": "raca_layers_west.csv", "neon": "neon_layers.csv"}

#: how each layer's SOC was obtained (code = position); composites take the largest code
SOC_SOURCES = (
    "measured_organic_carbon",  # SoDaH lyr_soc
    "total_carbon_minus_carbonate_carbon",  # RaCA lab, NEON/KSSL estimatedOC
    "total_carbon_no_carbonate_correction",  # SoDaH lyr_c_tot
    "vnir_prediction",  # RaCA SOC_pred1 where no lab value exists
)
SOC_MEASURED, SOC_TC_MINUS_IC, SOC_TOTAL_C, SOC_VNIR = range(len(SOC_SOURCES))
#: value of the per-observation flag variables where a site has no observation
NO_OBS = -1
TARGETS = ("source", "legacy")
RACA_VNIR = ("fallback", "drop")


def adams_bulk_density(soc_pct: np.ndarray) -> np.ndarray:
    """Adams (1973) bulk density (g cm-3) from SOC (% mass), shape preserved."""
    om = np.clip(np.asarray(soc_pct, dtype=np.float64) * OM_PER_OC, 0.0, 100.0)
    return 100.0 / (om / BD_ORGANIC + (100.0 - om) / BD_MINERAL)


def soc_density(soc_pct, bd_g_cm3, fragments_pct=0.0) -> np.ndarray:
    """SOC density (g m-3) = SOC%/100 * BD (g cm-3) * 1e6 * (1 - fragments%/100)."""
    frag = np.nan_to_num(np.asarray(fragments_pct, dtype=np.float64), nan=0.0)
    return np.asarray(soc_pct) / 100.0 * np.asarray(bd_g_cm3) * 1e6 * (1.0 - frag / 100.0)


def fragment_volume_pct(mass_pct, bd_g_cm3, rock_density: float = ROCK_DENSITY) -> np.ndarray:
    """Coarse-fragment volume % of the whole soil from their mass % (of fine earth plus
    fragments) and the fine-earth bulk density: ``(w / rho_r) / (w / rho_r + (1 - w) / BD)``.

    Parameters
    ----------
    mass_pct : array (n,), % mass (NaN = unknown, returned as NaN)
    bd_g_cm3 : array (n,), fine-earth bulk density, g cm-3
    rock_density : float, g cm-3
    """
    w = np.asarray(mass_pct, dtype=np.float64) / 100.0
    rock = w / rock_density
    return 100.0 * rock / (rock + (1.0 - w) / np.asarray(bd_g_cm3, dtype=np.float64))


def raca_soc(c_tot_pct, caco3_pct, vnir_pct) -> tuple[np.ndarray, np.ndarray]:
    """RaCA SOC (% mass) and its :data:`SOC_SOURCES` code, layer by layer.

    Lab total C minus carbonate C (``c_tot - 0.12 caco3``, ``caco3`` missing = 0: not
    calcareous, not determined) where the lab total C exists, else the VNIR prediction.

    Parameters
    ----------
    c_tot_pct, caco3_pct, vnir_pct : array (n,), % mass (NaN where missing)

    Returns
    -------
    soc_pct : array (n,), % mass (may be <= 0 where carbonate C exceeds total C)
    source : int8 array (n,)
    """
    c_tot = np.asarray(c_tot_pct, dtype=np.float64)
    caco3 = np.nan_to_num(np.asarray(caco3_pct, dtype=np.float64), nan=0.0)
    lab = np.isfinite(c_tot)
    soc = np.where(lab, c_tot - CARBONATE_C_PER_CACO3 * caco3, np.asarray(vnir_pct, float))
    return soc, np.where(lab, SOC_TC_MINUS_IC, SOC_VNIR).astype(np.int8)


@dataclass
class HarmonisedProfiles:
    """Result of :func:`harmonise_profiles`.

    Attributes
    ----------
    layers : DataFrame, one row per kept observation: site, top_m, bot_m, depth_m,
        soc_g_m3, bd_filled, soc_source (code into :data:`SOC_SOURCES`), organic (bool)
    sites : DataFrame indexed by site id: lat, lon, source, profile_ids, n_profiles,
        land_use (label or ""), n_obs
    report : dict of counts (profiles/layers read, kept, dropped by reason)
    """

    layers: pd.DataFrame
    sites: pd.DataFrame
    report: dict = field(default_factory=dict)


def _read(folder: Path, key: str) -> pd.DataFrame:
    path = require_file(folder / FILES[key], f"{key} profiles")
    df = pd.read_csv(path, low_memory=False)
    need = {"profile_id", "lat", "lon", "top_m", "bot_m", "soc_pct"}
    if key == "raca":
        need |= {"site_id", "fragvol_pct", "texture"}
    miss = need - set(df.columns)
    if miss:
        raise ValueError(f"{path}: missing columns {sorted(miss)}")
    df["source"] = key
    return df


def _standardise(key: str, df: pd.DataFrame, targets: str, raca_vnir: str) -> pd.DataFrame:
    out = pd.DataFrame({
        "source": key,
        "profile_id": df["profile_id"].astype(str),
        "lat": df["lat"].astype(float),
        "lon": df["lon"].astype(float),
        "top_m": df["top_m"].astype(float),
        "bot_m": df["bot_m"].astype(float),
        "soc_pct": df["soc_pct"].astype(float),
        "bd": df["bd_g_cm3"].astype(float) if "bd_g_cm3" in df else np.nan,
        "hzn": df["hzn"].astype("string").fillna("") if "hzn" in df else "",
        "conus": df["conus"].astype(bool) if "conus" in df else True,
        "texture": "",
        "analysed": True,
    })  # fmt: skip
    if key == "raca":
        out["frag"] = df["fragvol_pct"].astype(float)
        out["land_use"] = df["site_id"].astype(str).str[5].str.lower()
        out["group"] = df["site_id"].astype(str)
        out["texture"] = df["texture"].astype("string").fillna("")
        nan = np.full(len(df), np.nan)
        c_tot = df["c_tot_ncs_pct"].to_numpy(float) if "c_tot_ncs_pct" in df else nan
        caco3 = df["caco3_pct"].to_numpy(float) if "caco3_pct" in df else nan
        if targets == "source":
            soc, src = raca_soc(c_tot, caco3, out["soc_pct"].to_numpy())
            out["soc_pct"] = soc
            out["analysed"] = np.isfinite(c_tot) | (out["texture"] != "").to_numpy()
            if raca_vnir == "drop":
                out["vnir_only"] = src == SOC_VNIR
        else:
            src = np.full(len(df), SOC_VNIR, dtype=np.int8)
        out["soc_source"] = src
    elif key == "neon":
        out["frag"] = df["coarse_frag_pct"].astype(float)
        out["frag_by_mass"] = targets == "source"  # NEON: g kg-1 of the < 20 mm sample
        out["land_use"] = ""
        out["group"] = out["profile_id"]
        out["soc_source"] = SOC_TC_MINUS_IC
    else:
        out["frag"] = 0.0
        out["land_use"] = df["land_cover"].astype("string").fillna("")
        out["network"] = df["network"].astype(str)
        out["group"] = out["profile_id"]
        var = df["soc_var"].astype(str) if "soc_var" in df else pd.Series("lyr_soc", df.index)
        out["soc_source"] = np.where(var == "lyr_c_tot", SOC_TOTAL_C, SOC_MEASURED)
    out["soc_source"] = out["soc_source"].astype(np.int8)
    return out


def harmonise_profiles(
    folder: str | os.PathLike,
    raca: str = "pedon",
    max_profiles: int | None = None,
    seed: int = 0,
    targets: str = "source",
    raca_vnir: str = "fallback",
) -> HarmonisedProfiles:
    """Read and harmonise the profile CSVs in ``folder`` (``shared/data/profiles``).

    Parameters
    ----------
    folder : path
    raca : {"pedon", "site"}
        Keep RaCA pedons separately or composite the pedons of a site location.
    max_profiles : int, optional
        Keep a random subset of this many output profiles (tests, quick looks).
    seed : int
        Seed of that subset.
    targets : {"source", "legacy"}
        SOC as each source defines it (default), or the earlier rules (comparison only;
        see the module docstring).
    raca_vnir : {"fallback", "drop"}
        RaCA layers without a lab value: use the VNIR prediction (default) or drop them.
        VNIR ``SOC_pred1`` reads 1.3x the lab value at 5-29 cm and 1.9-2.6x below 30 cm
        (median over layers with both; ``benchmarks/raca_target_rules.py``).
    """
    if raca not in ("pedon", "site"):
        raise ValueError(f"raca must be 'pedon' or 'site', got {raca!r}")
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    if raca_vnir not in RACA_VNIR:
        raise ValueError(f"raca_vnir must be one of {RACA_VNIR}, got {raca_vnir!r}")
    folder = Path(folder)
    frames = [_standardise(k, _read(folder, k), targets, raca_vnir) for k in FILES]
    df = pd.concat(frames, ignore_index=True)
    rep: dict = {"read": {}, "dropped_layers": Counter(), "dropped_profiles": Counter()}
    for k in FILES:
        sub = df[df.source == k]
        rep["read"][k] = {"profiles": int(sub.profile_id.nunique()), "layers": int(len(sub))}
    rep["read"]["powell"] = "not used (radiocarbon database, mostly outside CONUS)"
    rep["targets"] = targets
    rep["raca_vnir"] = raca_vnir
    all_profiles = df.groupby(["source", "profile_id"]).ngroups

    def drop(mask, reason):
        nonlocal df
        mask = np.asarray(mask, bool)
        if mask.any():
            rep["dropped_layers"][reason] += int(mask.sum())
            df = df[~mask]

    # 8 first (cheap and removes most foreign rows): CONUS filter
    drop(~(df.conus.values & in_conus(df.lat, df.lon)), "outside CONUS")
    # 6: SoDaH's NEON subset duplicates the NEON file
    neon = df[df.source == "neon"][["lat", "lon"]].drop_duplicates().round(3)
    key = neon.lat.astype(str) + "," + neon.lon.astype(str)
    sod = df.source == "sodah"
    net = df.get("network", pd.Series("", index=df.index)).fillna("")
    k2 = df.lat.round(3).astype(str) + "," + df.lon.round(3).astype(str)
    drop(sod & (net == "NEON") & k2.isin(set(key)), "SoDaH NEON layer duplicating neon_layers.csv")
    # 1
    drop(~(np.isfinite(df.soc_pct) & np.isfinite(df.top_m) & np.isfinite(df.bot_m)),
         "missing SOC or depth")  # fmt: skip
    drop(~df.analysed.values, "RaCA row without lab carbon or field texture (not analysed)")
    if "vnir_only" in df:
        drop(df.vnir_only.fillna(False).values, "RaCA layer without lab value (raca_vnir='drop')")
    if targets == "legacy":
        drop(df.top_m < 0, "above the mineral surface (negative depth)")
    else:
        shift = (-df.groupby(["source", "profile_id"]).top_m.transform("min")).clip(lower=0)
        rep["forest_floor_shift"] = {
            "profiles": int(df.loc[shift > 0, ["source", "profile_id"]].drop_duplicates().shape[0]),
            "layers_above_mineral_surface": int((df.top_m < 0).sum()),
            "max_shift_m": round(float(shift.max()), 3) if len(shift) else 0.0,
        }
        df = df.assign(top_m=df.top_m + shift, bot_m=df.bot_m + shift)
    drop(df.bot_m <= df.top_m, "bottom not below top")
    # 2
    hzn_organic = df.hzn.astype(str).str.match(_ORGANIC_HZN).to_numpy(bool)
    if targets == "legacy":
        drop(hzn_organic, "organic horizon (O/L)")
        drop(df.soc_pct > LEGACY_MAX_SOC_PCT,
             f"organic material (SOC > {LEGACY_MAX_SOC_PCT:g} %)")  # fmt: skip
        hzn_organic = df.hzn.astype(str).str.match(_ORGANIC_HZN).to_numpy(bool)
    organic = (
        hzn_organic
        | df.texture.astype(str).isin(ORGANIC_TEXTURES).to_numpy()
        | (df.soc_pct >= ORGANIC_SOC_PCT).to_numpy()
    )
    df = df.assign(organic=organic)
    # 3
    drop(df.soc_pct <= 0, "SOC <= 0 % (below detection, missing, or total C < carbonate C)")
    drop(df.frag.fillna(0) >= MAX_FRAGMENTS_PCT, f"coarse fragments >= {MAX_FRAGMENTS_PCT:g} %")
    drop(df.bot_m > ZISOI[-1] + 1e-9, "deeper than 8.6 m")
    # 4-5
    measured = np.isfinite(df.bd) & (df.bd > 0)
    bd_ptf = adams_bulk_density(df.soc_pct.values)
    if measured.any():
        err = bd_ptf[measured.values] - df.bd.values[measured.values]
        rep["pedotransfer"] = {
            "function": "Adams (1973), OM = 1.724 SOC, densities 0.244 / 1.64 g cm-3",
            "layers_measured": int(measured.sum()),
            "layers_filled": int((~measured).sum()),
            "bias_g_cm3": round(float(err.mean()), 3),
            "rmse_g_cm3": round(float(np.sqrt((err**2).mean())), 3),
        }
    df = df.assign(
        bd_filled=~measured.values,
        bd_used=np.where(measured, df.bd, bd_ptf),
    )
    by_mass = df.get("frag_by_mass", pd.Series(False, index=df.index)).fillna(False).to_numpy(bool)
    if by_mass.any():
        frag_vol = fragment_volume_pct(df.frag.values, df.bd_used.values)
        rep["fragments_mass_to_volume"] = {
            "layers": int((by_mass & (df.frag.fillna(0) > 0).to_numpy()).sum()),
            "median_mass_pct": round(float(np.nanmedian(df.frag.values[by_mass])), 2),
            "median_volume_pct": round(float(np.nanmedian(frag_vol[by_mass])), 2),
        }
        df = df.assign(frag=np.where(by_mass, frag_vol, df.frag.values))
    df = df.assign(soc_g_m3=soc_density(df.soc_pct.values, df.bd_used.values, df.frag.values))
    # 6-7: sites (composites) and replicate averaging
    loc = df.lat.round(4).astype(str) + "_" + df.lon.round(4).astype(str)
    site = np.where(
        df.source == "sodah",
        "sodah_" + loc,
        np.where((df.source == "raca") & (raca == "site"), "raca_" + df.group.astype(str),
                 df.source + "_" + df.profile_id.str.replace(r"^(RACA_|NEON_|SODAH_)", "", regex=True)),
    )  # fmt: skip
    df = df.assign(site=site)
    # replicate layers within one profile: mean; then across profiles of a site: median;
    # a composite layer carries the least direct SOC source and is organic if any part is
    flags = {"soc_source": ("soc_source", "max"), "organic": ("organic", "max")}
    per_prof = df.groupby(["site", "profile_id", "top_m", "bot_m"], sort=False).agg(
        soc_g_m3=("soc_g_m3", "mean"), bd_filled=("bd_filled", "mean"), n=("soc_g_m3", "size"),
        **flags,
    )  # fmt: skip
    rep["replicate_layers_averaged"] = int((per_prof.n - 1).sum())
    per_site = (
        per_prof.reset_index()
        .groupby(["site", "top_m", "bot_m"], sort=True)
        .agg(
            soc_g_m3=("soc_g_m3", "median"),
            bd_filled=("bd_filled", "mean"),
            n=("n", "size"),
            **flags,
        )  # fmt: skip
    )
    layers = per_site.reset_index()
    layers["depth_m"] = 0.5 * (layers.top_m + layers.bot_m)
    layers = layers.sort_values(["site", "depth_m", "top_m"], kind="stable")
    rank = layers.groupby("site").cumcount()
    if (rank >= MAX_OBS).any():
        rep["dropped_layers"][f"beyond {MAX_OBS} observations per profile"] += int(
            (rank >= MAX_OBS).sum()
        )
        layers = layers[rank < MAX_OBS]
    layers["organic"] = layers["organic"].astype(bool)
    layers["soc_source"] = layers["soc_source"].astype(np.int8)
    # site table
    g = df.groupby("site", sort=True)
    sites = pd.DataFrame({
        "lat": g.lat.mean(),
        "lon": g.lon.mean(),
        "source": g.source.first(),
        "n_profiles": g.profile_id.nunique(),
        "profile_ids": g.profile_id.agg(lambda s: ";".join(sorted(set(s)))[:200]),
        "land_use": g.land_use.agg(lambda s: s.mode().iloc[0] if len(s.mode()) else ""),
    })  # fmt: skip
    sites["n_obs"] = layers.groupby("site").size().reindex(sites.index).fillna(0).astype(int)
    sites["bd_filled_fraction"] = layers.groupby("site").bd_filled.mean().reindex(sites.index)
    kept_profiles = df.groupby(["source", "profile_id"]).ngroups
    rep["dropped_profiles"]["no valid layer left"] = int(all_profiles - kept_profiles)
    rep["composites"] = {
        "sites_from_several_profiles": int((sites.n_profiles > 1).sum()),
        "profiles_in_composites": int(sites.n_profiles[sites.n_profiles > 1].sum()),
    }
    if max_profiles is not None and max_profiles < len(sites):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(sites), size=max_profiles, replace=False))
        rep["dropped_profiles"]["subset (max_profiles)"] += int(len(sites) - max_profiles)
        sites = sites.iloc[keep]
        layers = layers[layers.site.isin(sites.index)]
    rep["kept"] = {
        "source_profiles": int(sites.n_profiles.sum()),
        "sites": int(len(sites)),
        "layers": int(len(layers)),
        "by_source": {k: int(v) for k, v in sites.source.value_counts().items()},
        "layers_by_soc_source": {
            SOC_SOURCES[c]: int(n) for c, n in layers.soc_source.value_counts().sort_index().items()
        },
        "organic_layers": int(layers.organic.sum()),
    }
    rep["dropped_layers"] = dict(rep["dropped_layers"])
    rep["dropped_profiles"] = dict(rep["dropped_profiles"])
    return HarmonisedProfiles(layers.reset_index(drop=True), sites, rep)


def add_layer_flags(
    ds: xr.Dataset, layers: pd.DataFrame, rows: np.ndarray, rank: np.ndarray
) -> xr.Dataset:
    """Add ``soc_source(site, obs)`` and ``organic(site, obs)`` (CF flag variables, int8).

    ``layers`` are the harmonised layers placed at ``(rows, rank)`` of the (site, obs)
    arrays of ``ds``; cells without an observation hold :data:`NO_OBS` (-1).
    """
    shape = (ds.sizes["site"], ds.sizes["obs"])
    for name, values, meanings, long_name in (
        ("soc_source", layers.soc_source.to_numpy(), SOC_SOURCES,
         "how the SOC of the observed horizon was obtained"),
        ("organic", layers.organic.to_numpy(), ("mineral", "organic"),
         f"organic horizon (O/L horizon, RaCA texture PM, or SOC >= {ORGANIC_SOC_PCT:g} %)"),
    ):  # fmt: skip
        arr = np.full(shape, NO_OBS, dtype=np.int8)
        arr[rows, rank] = values.astype(np.int8)
        ds[name] = (("site", "obs"), arr, {
            "units": "1",
            "long_name": long_name,
            "flag_values": np.arange(NO_OBS, len(meanings), dtype=np.int8),
            "flag_meanings": " ".join(("no_observation",) + tuple(meanings)),
        })  # fmt: skip
    return ds


# --------------------------------------------------------------------------- stock check

#: RaCA's published stock intervals (cm) and land-use classes
RACA_STOCK_INTERVALS_CM = ((0, 5), (0, 30), (0, 100))
RACA_LAND_USE = {"C": "cropland", "F": "forest", "P": "pasture", "R": "rangeland",
                 "W": "wetland", "X": "CRP"}  # fmt: skip
RACA_STOCKS_FILE = "raca_pedon_stocks.csv"


def interval_stocks(layers: pd.DataFrame, intervals_m) -> pd.DataFrame:
    """SOC stocks over depth intervals from harmonised layers, by site.

    Each layer contributes ``soc_g_m3 x`` the length of its overlap with the interval
    (partial layers are cut at the interval bounds); depths without a layer contribute
    nothing (RaCA's convention below a restrictive layer).

    Parameters
    ----------
    layers : DataFrame with site, top_m, bot_m (m), soc_g_m3 (g m-3)
    intervals_m : sequence of (top, bottom) in m

    Returns
    -------
    DataFrame (site x interval), g m-2; columns named ``"top-bottom"`` in cm
    """
    top, bot = layers.top_m.to_numpy(float), layers.bot_m.to_numpy(float)
    soc = layers.soc_g_m3.to_numpy(float)
    out = {}
    for a, b in intervals_m:
        overlap = np.clip(bot, a, b) - np.clip(top, a, b)
        name = f"{100 * a:g}-{100 * b:g}"
        out[name] = pd.Series(soc * overlap, index=layers.site.to_numpy()).groupby(level=0).sum()
    return pd.DataFrame(out)


def raca_stock_reference(path: str | os.PathLike) -> pd.DataFrame:
    """RaCA's published pedon stocks, wide, indexed by the layered site id of the same pedon.

    Read with :func:`soilbinn.inputs.stocks.raca_stock_table` (the one reader of the
    file); the index is ``raca_`` + :func:`~soilbinn.inputs.stocks.raca_pedon_key` (pedon
    ``C0101F01-1`` or ``C0101F01_1`` -> ``raca_C0101F011``, the site of layered pedon
    ``RACA_C0101F011``). Columns ``land_use`` (RaCA's letter) and ``0-5``, ``0-30``,
    ``0-100`` in g m-2 (NaN where RaCA gives no stock).
    """
    from soilbinn.inputs.stocks import raca_stock_table

    t = raca_stock_table(require_file(Path(path), "RaCA pedon stocks"))
    t = t.assign(
        key="raca_" + t.pedon_key.astype(str),
        interval=[f"{100 * a:g}-{100 * b:g}" for a, b in zip(t.top_m, t.bottom_m)],
    )
    wide = t.pivot(index="key", columns="interval", values="stock_g_m2")
    cols = [f"{a}-{b}" for a, b in RACA_STOCK_INTERVALS_CM]
    out = wide.reindex(columns=cols)
    out.insert(0, "land_use", t.groupby("key").raca_land_use.first().reindex(out.index))
    out.index.name, out.columns.name = None, None
    return out


def compare_stocks(ours: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """Agreement of stocks computed from our layers with RaCA's, overall and by land use.

    Parameters
    ----------
    ours : site x interval stocks (g m-2), from :func:`interval_stocks`
    ref : from :func:`raca_stock_reference`

    Returns
    -------
    DataFrame, one row per (interval, land_use) with land_use "all" first: n (pedons
    with both stocks), missing (RaCA stock but no harmonised layer), r (Pearson),
    bias (mean ours - RaCA, Mg C ha-1), median_ratio (ours / RaCA).
    """
    rows = []
    for col in [c for c in ours.columns if c in ref.columns]:
        have = ref[col].notna() & (ref[col] > 0)
        for lu in ["all", *sorted(ref.land_use.unique())]:
            sel = have & ((ref.land_use == lu) if lu != "all" else True)
            y = ref.loc[sel, col]
            x = ours[col].reindex(y.index)
            ok = x.notna()
            xs, ys = x[ok].to_numpy() / 100.0, y[ok].to_numpy() / 100.0  # Mg C ha-1
            n = int(ok.sum())
            rows.append({
                "interval_cm": col, "land_use": lu, "n": n, "missing": int((~ok).sum()),
                "r": float(np.corrcoef(xs, ys)[0, 1]) if n > 2 else np.nan,
                "bias_MgC_ha": float(np.mean(xs - ys)) if n else np.nan,
                "median_ratio": float(np.median(xs / ys)) if n else np.nan,
            })  # fmt: skip
    return pd.DataFrame(rows)


def raca_stock_check(folder: str | os.PathLike, targets: str = "source") -> pd.DataFrame:
    """Stocks from our harmonised RaCA layers against RaCA's published pedon stocks.

    The pedons of ``raca_pedon_stocks.csv`` that are also in ``raca_layers_west.csv``
    (MO01-05) are compared over 0-5, 0-30 and 0-100 cm, only where RaCA reports the
    interval (RaCA leaves a stock empty below its ``stock_use_depth_cm``). Our stock is
    :func:`interval_stocks` of the harmonised layers (SOC % x BD x (1 - coarse fragments)
    x thickness, fine earth).

    Parameters
    ----------
    folder : the ``profiles`` folder of the shared data
    targets : {"source", "legacy"}, passed to :func:`harmonise_profiles`

    Returns
    -------
    DataFrame, see :func:`compare_stocks`, with a ``targets`` column
    """
    folder = Path(folder)
    ref = raca_stock_reference(folder / RACA_STOCKS_FILE)
    h = harmonise_profiles(folder, targets=targets)
    layers = h.layers[h.layers.site.isin(ref.index)]
    ours = interval_stocks(layers, [(a / 100, b / 100) for a, b in RACA_STOCK_INTERVALS_CM])
    # pedons of the layer file only: RaCA stocks of other regions have nothing to compare
    from soilbinn.inputs.stocks import raca_pedon_key

    ids = pd.read_csv(folder / FILES["raca"], usecols=["profile_id"]).profile_id.unique()
    in_layers = ref.index.isin(["raca_" + k for k in raca_pedon_key(ids)])
    table = compare_stocks(ours, ref[in_layers])
    table.insert(0, "targets", targets)
    return table


def print_stock_check(shared: str | os.PathLike | None, targets: str = "both") -> int:
    """``soilbinn prepare check-stocks``: print the :func:`raca_stock_check` table.

    Returns the exit status: 0, or 2 with one line on stderr when a file is missing.
    """
    import sys

    from soilbinn.inputs.grids import SharedDataError, default_shared_path

    folder = (Path(shared) if shared is not None else default_shared_path()) / "profiles"
    try:
        table = pd.concat(
            [raca_stock_check(folder, t) for t in (TARGETS if targets == "both" else (targets,))],
            ignore_index=True,
        )
    except (SharedDataError, ValueError) as e:
        print(f"soilbinn prepare check-stocks: {e}", file=sys.stderr)
        return 2
    print("Stocks (Mg C ha-1) from harmonised RaCA layers vs RaCA's published pedon stocks")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0
