"""Harmonise the observed SOC profiles of ``shared/data/profiles`` into one table.

Sources: SoDaH (``sodah_layers.csv``), RaCA western regions (``raca_layers_west.csv``)
and NEON initial characterisation (``neon_layers.csv``). The Powell Center file is a
radiocarbon database (mostly outside CONUS, sparse bulk density) and is not used.

Rules, applied in this order (each dropped layer or profile is counted under its reason)
-------------------------------------------------------------------------------------
1. Layers without SOC % or depths, or with ``bot <= top`` are dropped; layers starting
   above the mineral surface (``top < 0``, SoDaH's litter layers) are dropped.
2. Organic horizons are dropped: horizon name starting with ``O`` (Oi/Oe/Oa) or ``L``,
   or SOC > 20 % (organic soil material). Litter and organic surface layers are not SOC
   of the CLM5 mineral column (its litter pools are not compared with observations).
   Depths are kept as reported (not shifted).
3. Layers with SOC <= 0 % (below detection or a missing value coded 0) and layers with
   >= 90 % coarse fragments (rock) are dropped; layers ending below 8.6 m (the bottom of
   CLM5 level 20) are dropped.
4. Bulk density (g cm-3): measured where available; otherwise the Adams (1973) mixing
   equation ``BD = 100 / (OM / 0.244 + (100 - OM) / 1.64)`` with ``OM = 1.724 SOC %``
   (van Bemmelen factor), organic-matter density 0.244 and mineral density 1.64 g cm-3.
   Filled layers are flagged (``bd_filled``); the fit of the function on the measured
   layers is reported.
5. SOC density (g m-3) = SOC % / 100 x BD x 1e6 x (1 - coarse fragments % / 100)
   (fragments known for RaCA and NEON; 0 assumed for SoDaH).
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
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from soilbinn.inputs.grids import require_file
from soilbinn.inputs.regions import in_conus
from soilbinn.process.grid import ZISOI

#: Adams (1973) densities of organic matter and mineral matter (g cm-3)
BD_ORGANIC, BD_MINERAL = 0.244, 1.64
#: van Bemmelen organic matter / organic carbon factor
OM_PER_OC = 1.724
#: SOC % above which a layer is organic soil material
ORGANIC_SOC_PCT = 20.0
MAX_FRAGMENTS_PCT = 90.0
MAX_OBS = 200
_ORGANIC_HZN = re.compile(r"^\s*[OL](?![A-Z])")

FILES = {"sodah": "sodah_layers.csv", "raca": "raca_layers_west.csv", "neon": "neon_layers.csv"}


def adams_bulk_density(soc_pct: np.ndarray) -> np.ndarray:
    """Adams (1973) bulk density (g cm-3) from SOC (% mass), shape preserved."""
    om = np.clip(np.asarray(soc_pct, dtype=np.float64) * OM_PER_OC, 0.0, 100.0)
    return 100.0 / (om / BD_ORGANIC + (100.0 - om) / BD_MINERAL)


def soc_density(soc_pct, bd_g_cm3, fragments_pct=0.0) -> np.ndarray:
    """SOC density (g m-3) = SOC%/100 * BD (g cm-3) * 1e6 * (1 - fragments%/100)."""
    frag = np.nan_to_num(np.asarray(fragments_pct, dtype=np.float64), nan=0.0)
    return np.asarray(soc_pct) / 100.0 * np.asarray(bd_g_cm3) * 1e6 * (1.0 - frag / 100.0)


@dataclass
class HarmonisedProfiles:
    """Result of :func:`harmonise_profiles`.

    Attributes
    ----------
    layers : DataFrame, one row per kept observation: site, top_m, bot_m, depth_m,
        soc_g_m3, bd_filled
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
    miss = need - set(df.columns)
    if miss:
        raise ValueError(f"{path}: missing columns {sorted(miss)}")
    df["source"] = key
    return df


def _standardise(key: str, df: pd.DataFrame) -> pd.DataFrame:
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
    })  # fmt: skip
    if key == "raca":
        out["frag"] = df["fragvol_pct"].astype(float)
        out["land_use"] = df["site_id"].astype(str).str[5].str.lower()
        out["group"] = df["site_id"].astype(str)
        out["texture"] = df["texture"].astype("string").fillna("")
    elif key == "neon":
        out["frag"] = df["coarse_frag_pct"].astype(float)
        out["land_use"] = ""
        out["group"] = out["profile_id"]
        out["texture"] = ""
    else:
        out["frag"] = 0.0
        out["land_use"] = df["land_cover"].astype("string").fillna("")
        out["network"] = df["network"].astype(str)
        out["group"] = out["profile_id"]
        out["texture"] = ""
    return out


def harmonise_profiles(
    folder: str | os.PathLike,
    raca: str = "pedon",
    max_profiles: int | None = None,
    seed: int = 0,
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
    """
    if raca not in ("pedon", "site"):
        raise ValueError(f"raca must be 'pedon' or 'site', got {raca!r}")
    folder = Path(folder)
    frames = [_standardise(k, _read(folder, k)) for k in FILES]
    df = pd.concat(frames, ignore_index=True)
    rep: dict = {"read": {}, "dropped_layers": Counter(), "dropped_profiles": Counter()}
    for k in FILES:
        sub = df[df.source == k]
        rep["read"][k] = {"profiles": int(sub.profile_id.nunique()), "layers": int(len(sub))}
    rep["read"]["powell"] = "not used (radiocarbon database, mostly outside CONUS)"
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
    drop(df.top_m < 0, "above the mineral surface (negative depth)")
    drop(df.bot_m <= df.top_m, "bottom not below top")
    # 2
    drop(df.hzn.astype(str).str.match(_ORGANIC_HZN), "organic horizon (O/L)")
    drop(df.soc_pct > ORGANIC_SOC_PCT, f"organic material (SOC > {ORGANIC_SOC_PCT:g} %)")
    # 3
    drop(df.soc_pct <= 0, "SOC <= 0 % (below detection or missing)")
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
    # replicate layers within one profile: mean; then across profiles of a site: median
    per_prof = df.groupby(["site", "profile_id", "top_m", "bot_m"], sort=False).agg(
        soc_g_m3=("soc_g_m3", "mean"), bd_filled=("bd_filled", "mean"), n=("soc_g_m3", "size")
    )
    rep["replicate_layers_averaged"] = int((per_prof.n - 1).sum())
    per_site = (
        per_prof.reset_index()
        .groupby(["site", "top_m", "bot_m"], sort=True)
        .agg(soc_g_m3=("soc_g_m3", "median"), bd_filled=("bd_filled", "mean"), n=("n", "size"))
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
    }
    rep["dropped_layers"] = dict(rep["dropped_layers"])
    rep["dropped_profiles"] = dict(rep["dropped_profiles"])
    return HarmonisedProfiles(layers.reset_index(drop=True), sites, rep)
