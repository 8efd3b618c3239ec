"""Checks of the derived real-data forcing across CONUS climates (issue 15, item 2).

For every CONUS 0.5 degree land cell (and the harmonised training sites, and the RaCA
pedons of West/South Texas) this computes the forcing exactly as ``prepare real|grid``
does (:func:`soilbinn.inputs.sampling.forcing_arrays`) and, for comparison, the former
single-bucket water scalar (still in :mod:`soilbinn.inputs.forcing`). It prints

* the annual-mean water scalar by layer against P/PET (aridity bins), old and new;
* the rainy-month floor check (no month with > 40 mm of rain has its whole-profile
  scalar at the floor);
* the sensitivity of the 0-30 cm scalar to the soil-depth / evaporation / rooting
  assumptions of the water balance;
* the damped-wave soil temperature (damping depth, 0-30 cm amplitude) and its
  sensitivity to the thermal diffusivity;
* the litter inputs (CESM2 NPP partition) by region;
* HWSD topsoil clay/sand against measured 0-30 cm texture at NEON and SoDaH sites;
* the before/after table of issue 15 and, within West/South Texas, the correlation of
  RaCA 0-30 cm stocks with the old and new water scalar;

and writes a figure (PNG). Usage::

    python benchmarks/forcing_checks.py [--shared DIR] [--figure PATH] [--overwrite]

Regions (boxes, degrees; grid cells also inside the USA polygon): West/South Texas lat
25.8-32, lon -106.6 to -97.5; Kansas/Nebraska lat 37-43, lon -101.5 to -96.5;
Northeast lat 40.5-47.5, lon -80 to -67.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from soilbinn.inputs import forcing as fx
from soilbinn.inputs import water as wt
from soilbinn.inputs.dataset import conus_land_mask
from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.profiles import harmonise_profiles
from soilbinn.inputs.regions import CONUS_BBOX
from soilbinn.inputs.sampling import (
    bucket_water_scalar,
    fine_fields,
    forcing_arrays,
    sample_inputs,
)
from soilbinn.process.grid import ZISOI, ZSOI, ZTOP

REGIONS = {
    "West/South Texas": (25.8, 32.0, -106.6, -97.5),
    "Kansas/Nebraska": (37.0, 43.0, -101.5, -96.5),
    "Northeast": (40.5, 47.5, -80.0, -67.0),
}
#: thickness weights of the 20 layers within 0-30 cm
W30 = np.clip(np.minimum(np.asarray(ZISOI), 0.3) - np.asarray(ZTOP), 0.0, None)
W30 = W30 / W30.sum()
SHOW_LAYERS = (0, 4, 7, 11)  # nodes 0.01, 0.26, 0.80, 2.50 m


def in_box(lat, lon, box):
    la0, la1, lo0, lo1 = box
    return (lat >= la0) & (lat <= la1) & (lon >= lo0) & (lon <= lo1)


def old_bucket_scalar(inp):
    """The former single-bucket scalar (n, 20, 12) (``forcing_arrays(water="bucket")``)."""
    temp = np.nan_to_num(inp["temp"])
    return bucket_water_scalar(inp, temp, fx.thornthwaite_pet(temp, inp.lat))


def summary(inp, f, w_old):
    """Per-point summaries (DataFrame)."""
    pet = f["pet"].sum(1)
    litter = sum(f[k].sum(1) for k in ("input_cwd", "input_litter1", "input_litter2",
                                       "input_litter3"))  # fmt: skip
    w = f["water_scalar"]
    t30 = np.einsum("l,nlm->nm", W30, f["soil_temperature"]).mean(1) - 273.15
    return pd.DataFrame({
        "lat": inp.lat, "lon": inp.lon,
        "p_over_pet": inp["prec"].sum(1) / np.maximum(pet, 1.0),
        "litter": litter,
        "w_old": w_old.mean((1, 2)),
        "w_new": w.mean((1, 2)),
        "w30_new": np.einsum("l,nlm->n", W30, w) / 12.0,
        "months_floor_old": (w_old[:, 0, :] <= fx.WATER_SCALAR_MIN + 1e-9).sum(1),
        "months_floor_new": (w.mean(1) <= wt.W_FLOOR + 1e-9).sum(1),
        "months_top_floor_new": (w[:, 0, :] <= wt.W_FLOOR + 1e-9).sum(1),
        "t30": t30,
    })  # fmt: skip


def region_table(tabs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = {}
    for name, d in tabs.items():
        rows[name] = {
            "n": len(d),
            "litter gC m-2 yr-1": d.litter.median(),
            "w old (bucket)": d.w_old.median(),
            "w new (CLM5 form)": d.w_new.median(),
            "w new 0-30 cm": d.w30_new.median(),
            "months at floor old": d.months_floor_old.median(),
            "months at floor new (profile)": d.months_floor_new.median(),
            "months top layer at floor new": d.months_top_floor_new.median(),
            "soil T 0-30 cm C": d.t30.median(),
        }
    return pd.DataFrame(rows).T


def texture_check(shared: Path) -> pd.DataFrame:
    """Measured 0-30 cm clay/sand (thickness-weighted) at NEON/SoDaH profiles vs HWSD."""
    out = []
    for fname in ("neon_layers.csv", "sodah_layers.csv"):
        d = pd.read_csv(shared / "profiles" / fname, low_memory=False)
        d = d[d.conus.astype(bool) & (d.top_m < 0.3)]
        d = d.assign(th=np.clip(np.minimum(d.bot_m, 0.3) - d.top_m, 0, None))
        for var in ("clay_pct", "sand_pct"):
            g = d[np.isfinite(d[var]) & (d.th > 0)]
            g = g.assign(wv=g[var] * g.th)
            s = g.groupby(["profile_id"]).agg(lat=("lat", "first"), lon=("lon", "first"),
                                              wv=("wv", "sum"), th=("th", "sum"))  # fmt: skip
            s[var] = s.wv / s.th
            s = s.groupby([s.lat.round(3), s.lon.round(3)])[var].mean().reset_index()
            s["file"], s["var"] = fname, var
            out.append(s.rename(columns={var: "measured"}))
    t = pd.concat(out, ignore_index=True)
    fine = fine_fields(shared)  # the input layer's one sampler, at each site's own 0.05 deg cell
    lat, lon = t.lat.to_numpy(), t.lon.to_numpy()
    clay, _, ok_c = fine["clay"].sample(lat, lon, wt.TEXTURE_MAX_KM)
    sand, _, ok_s = fine["sand"].sample(lat, lon, wt.TEXTURE_MAX_KM)
    ok = ok_c & ok_s
    t["hwsd"] = np.where(t["var"] == "clay_pct", clay, sand)
    return t[ok & np.isfinite(t.hwsd)]


def sensitivity(inp, f, boxes) -> pd.DataFrame:
    """Median 0-30 cm and whole-profile annual scalar under other water-balance choices."""
    temp = np.nan_to_num(inp["temp"])
    base = dict(precipitation=np.nan_to_num(inp["prec"]), pet=f["pet"], air_temperature_c=temp,
                soil_temperature_k=f["soil_temperature"], clay_pct=f["clay"], sand_pct=f["sand"],
                nbedrock=f["nbedrock"])  # fmt: skip
    cases = {
        "default (bedrock, f_evap 0.25, beta_root 0.966, 4 sub-steps)": {},
        "soil depth capped at 0.32 m (5 layers)": {"max_layers": 5},
        "soil depth capped at 1.2 m (9 layers)": {"max_layers": 9},
        "no bedrock (8.6 m everywhere)": {"nbedrock": np.full(len(temp), 20)},
        "f_evap 0.10": {"evap_share": 0.10},
        "f_evap 0.50": {"evap_share": 0.50},
        "beta_root 0.943 (shallow roots)": {"root_beta": 0.943},
        "beta_root 0.976 (deep roots)": {"root_beta": 0.976},
        "2 sub-steps per month": {"n_sub": 2},
        "8 sub-steps per month": {"n_sub": 8},
    }
    rows = {}
    for name, kw in cases.items():
        wb = wt.soil_water_balance(**{**base, **kw})
        w30 = np.einsum("l,nlm->n", W30, wb.w) / 12.0
        r = {"CONUS w 0-30": np.median(w30), "CONUS w profile": np.median(wb.w.mean((1, 2)))}
        for reg, m in boxes.items():
            r[f"{reg} w 0-30"] = np.median(w30[m])
        r["not converged"] = int((~wb.converged).sum())
        rows[name] = r
    return pd.DataFrame(rows).T


def temperature_check(inp) -> pd.DataFrame:
    temp = np.nan_to_num(inp["temp"])
    _, amp_air, _ = fx.annual_harmonic(temp)
    rows = {}
    for kappa in (2e-7, 5e-7, 8e-7):
        ts = fx.soil_temperature(temp, kappa=kappa) - 273.15
        _, amp30, _ = fx.annual_harmonic(np.einsum("l,nlm->nm", W30, ts))
        t30 = np.einsum("l,nlm->nm", W30, ts)
        rows[f"kappa {kappa:g} m2 s-1"] = {
            "damping depth m": fx.damping_depth(kappa),
            "median air amplitude C": np.median(amp_air),
            "median 0-30 cm amplitude C": np.median(amp30),
            "amplitude at 1 m / air": np.exp(-1.0 / fx.damping_depth(kappa)),
            "cells with a 0-30 cm month < 0 C (%)": 100 * np.mean((t30 < 0).any(1)),
            "cells with a 0-30 cm month < -8.5 C (%)": 100 * np.mean((t30 < -8.5).any(1)),
        }
    return pd.DataFrame(rows).T


def figure(path: Path, d: pd.DataFrame, w_new, w_old, overwrite: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if path.exists() and not overwrite:
        sys.exit(f"{path}: exists; pass --overwrite to replace it")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    x = d.p_over_pet.to_numpy()
    colors = ("tab:orange", "tab:green", "tab:blue", "tab:purple")
    for j, col in zip(SHOW_LAYERS, colors):
        y = w_new[:, j, :].mean(1)
        axes[0].scatter(x, y, s=2, alpha=0.25, color=col, rasterized=True, lw=0)
        bins = np.logspace(np.log10(0.1), np.log10(8), 16)
        k = np.digitize(x, bins)
        med = [np.median(y[k == i]) if (k == i).sum() > 5 else np.nan for i in range(1, len(bins))]
        mid = np.sqrt(bins[1:] * bins[:-1])
        axes[0].plot(mid, med, color=col, lw=2, label=f"layer {j + 1} ({ZSOI[j]:.2f} m)")
    axes[1].scatter(x, w_old.mean((1, 2)), s=2, alpha=0.3, color="k", rasterized=True, lw=0)
    axes[0].set_title("CLM5-form scalar (new), annual mean by layer", fontsize=9)
    axes[1].set_title("single bucket (before), same in all layers", fontsize=9)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("P / PET (annual, Thornthwaite)")
        ax.axhline(wt.W_FLOOR, color="grey", lw=0.5, ls=":")
        ax.set_xlim(0.08, 10)
    axes[0].set_ylabel("water scalar W (annual mean)")
    axes[0].legend(fontsize=7, loc="lower right", markerscale=4)
    fig.suptitle(f"CONUS 0.5 deg land cells (n = {len(x)})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    print(f"figure: {path} ({path.stat().st_size / 1024:.0f} KB)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=None, help="shared data folder")
    ap.add_argument("--figure", type=Path, default=Path("docs/figures/forcing_water_scalar.png"))
    ap.add_argument("--overwrite", action="store_true", help="replace an existing figure")
    a = ap.parse_args(argv)
    shared = a.shared or default_shared_path()
    pd.set_option("display.width", 200, "display.max_columns", 20, "display.precision", 3)
    t0 = time.perf_counter()

    # --- CONUS grid
    lo0, la0, lo1, la1 = CONUS_BBOX
    lat, lon = np.meshgrid(np.arange(la0 + 0.25, la1, 0.5), np.arange(lo0 + 0.25, lo1, 0.5))
    lat, lon = lat.ravel(), lon.ravel()
    keep = conus_land_mask(shared, lat, lon)
    inp = sample_inputs(shared, lat[keep], lon[keep])
    inp = inp.select(inp.ok)
    t1 = time.perf_counter()
    f = forcing_arrays(inp)
    t2 = time.perf_counter()
    w_old = old_bucket_scalar(inp)
    d = summary(inp, f, w_old)
    n = len(d)
    print(f"CONUS 0.5 deg cells: {n}; sampling {t1 - t0:.1f} s, forcing (incl. water balance) "
          f"{t2 - t1:.1f} s; HWSD texture missing (loam used): {int(f['texture_filled'].sum())}")  # fmt: skip

    # --- scalar by layer vs P/PET
    bins = [0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 100]
    k = pd.cut(d.p_over_pet, bins)
    by = {
        "n": d.groupby(k, observed=False).size(),
        "old": d.groupby(k, observed=False).w_old.median(),
    }
    for j in SHOW_LAYERS:
        by[f"new L{j + 1} {ZSOI[j]:.2f} m"] = pd.Series(f["water_scalar"][:, j, :].mean(1)).groupby(
            k.to_numpy(), observed=False).median()  # fmt: skip
    print("\nMedian annual-mean water scalar by P/PET bin (CONUS cells)")
    print(pd.DataFrame(by).to_string())
    wt_prof = f["water_scalar"].mean(1)
    rain = np.where(inp["temp"] >= 0.0, inp["prec"], 0.0)
    at_floor = wt_prof <= wt.W_FLOOR + 1e-9
    print(f"\nRainy-month floor check: months with > 40 mm rain and whole-profile scalar at the "
          f"floor: {int(((rain > 40) & at_floor).sum())} (of {int((rain > 40).sum())} rainy "
          f"cell-months); lowest whole-profile scalar in such a month: "
          f"{wt_prof[rain > 40].min():.3f}. Cell-months with > 40 mm precipitation (snow "
          f"included) at the floor: {int(((inp['prec'] > 40) & at_floor).sum())} (frozen soil)")  # fmt: skip
    old_prof = w_old.mean(1)
    print(
        f"Before (bucket): {int(((rain > 40) & (old_prof <= 0.05 + 1e-9)).sum())} rainy "
        "cell-months at its 0.05 floor"
    )

    boxes = {r: in_box(d.lat.to_numpy(), d.lon.to_numpy(), b) for r, b in REGIONS.items()}
    print("\nSensitivity of the median annual-mean scalar to water-balance assumptions")
    print(sensitivity(inp, f, boxes).to_string())

    print("\nSoil temperature (damped wave): sensitivity to the thermal diffusivity")
    print(temperature_check(inp).to_string())

    # --- training sites and Texas RaCA pedons
    h = harmonise_profiles(Path(shared) / "profiles")
    s = h.sites
    tin = sample_inputs(shared, s.lat.to_numpy(), s.lon.to_numpy())
    tin = tin.select(tin.ok)
    tf = forcing_arrays(tin)
    td = summary(tin, tf, old_bucket_scalar(tin))
    tabs = {r: d[m] for r, m in boxes.items()}
    tabs["all training sites"] = td
    print("\nIssue-15 table, median over CONUS cells in each region / over the training sites")
    print(region_table(tabs).to_string())
    lit = {r: (f["input_cwd"].sum(1)[m] / np.maximum(d.litter[m], 1e-9)).mean() for r, m in
           boxes.items()}  # fmt: skip
    print("CWD share of litter input (mean): " + ", ".join(f"{r} {v:.2f}" for r, v in lit.items()))

    st = pd.read_csv(Path(shared) / "profiles" / "raca_pedon_stocks.csv")
    st = st[in_box(st.lat, st.lon, REGIONS["West/South Texas"]) & st.SOCstock_0_30cm_MgC_ha.notna()]
    pin = sample_inputs(shared, st.lat.to_numpy(), st.lon.to_numpy())
    st, pin = st[pin.ok], pin.select(pin.ok)
    pf = forcing_arrays(pin)
    pdx = summary(pin, pf, old_bucket_scalar(pin))
    obs = st.SOCstock_0_30cm_MgC_ha.to_numpy() / 10.0  # kg m-2
    print(f"\nWest/South Texas RaCA pedons with a 0-30 cm stock: {len(obs)} (regions "
          f"{sorted(st.MO.unique().tolist())}); observed mean {obs.mean():.2f} kg m-2, median "
          f"{np.median(obs):.2f}")  # fmt: skip
    for col in ("w_old", "w_new", "w30_new", "p_over_pet"):
        x = pdx[col].to_numpy()
        r = np.corrcoef(x, obs)[0, 1]
        rs = pd.Series(x).corr(pd.Series(obs), method="spearman")
        print(f"  corr(observed 0-30 cm stock, {col}): Pearson r = {r:+.2f}, Spearman = {rs:+.2f}")

    t = texture_check(Path(shared))
    print("\nHWSD topsoil texture vs measured 0-30 cm texture at NEON / SoDaH locations")
    for (fname, var), g in t.groupby(["file", "var"]):
        r = np.corrcoef(g.measured, g.hwsd)[0, 1]
        print(f"  {fname:18s} {var}: n = {len(g)}, r = {r:.2f}, mean measured {g.measured.mean():.1f}"
              f" %, HWSD {g.hwsd.mean():.1f} %, RMSE {np.sqrt(((g.measured - g.hwsd) ** 2).mean()):.1f} %")  # fmt: skip
    figure(a.figure, d, f["water_scalar"], w_old, a.overwrite)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
