"""Effect of each RaCA target rule on the agreement with RaCA's published pedon stocks.

Usage: python benchmarks/raca_target_rules.py [--shared ../shared/data]

Starts from the earlier rules (VNIR ``SOC_pred1``, organic material dropped) and adds
the rules of ``soilbinn.inputs.profiles`` one at a time, on the RaCA layers of the pedons
that RaCA's stock table also holds (MO01-05). Each row prints the layers the step
changes and r / median ratio of 0-5, 0-30 and 0-100 cm stocks against RaCA's. Two rules
that were considered and not adopted are shown after the table for comparison. The full
pipeline's table is ``soilbinn prepare check-stocks``; it also prints the VNIR / lab
ratio by depth on layers that have both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.profiles import (
    FILES,
    LEGACY_MAX_SOC_PCT,
    RACA_STOCK_INTERVALS_CM,
    RACA_STOCKS_FILE,
    compare_stocks,
    interval_stocks,
    raca_soc,
    raca_stock_reference,
    soc_density,
)


def _stocks(lay: pd.DataFrame, soc_pct: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    d = lay[keep & (soc_pct > 0)].assign(
        soc_g_m3=soc_density(soc_pct, lay.bd_g_cm3, lay.fragvol_pct)[keep & (soc_pct > 0)]
    )
    return interval_stocks(d, [(a / 100, b / 100) for a, b in RACA_STOCK_INTERVALS_CM])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=None)
    args = ap.parse_args()
    folder = (args.shared or default_shared_path()) / "profiles"
    ref = raca_stock_reference(folder / RACA_STOCKS_FILE)
    lay = pd.read_csv(folder / FILES["raca"])
    lay["site"] = "raca_" + lay.profile_id.str.replace("RACA_", "", regex=False)
    lay = lay[lay.site.isin(ref.index) & (lay.bot_m > lay.top_m)].reset_index(drop=True)
    ref = ref[ref.index.isin(lay.site)]
    lab_soc, src = raca_soc(lay.c_tot_ncs_pct, lay.caco3_pct, lay.soc_pct)
    vnir = lay.soc_pct.to_numpy(float)
    has_lab = lay.c_tot_ncs_pct.notna().to_numpy()
    analysed = has_lab | lay.texture.notna().to_numpy()
    everything = np.ones(len(lay), bool)
    steps = [
        ("earlier rules: VNIR, SOC > 20 % dropped", vnir, vnir <= LEGACY_MAX_SOC_PCT, None),
        ("+ organic layers kept", vnir, everything, vnir > LEGACY_MAX_SOC_PCT),
        ("+ lab total C - 0.12 CaCO3 where measured", lab_soc, everything, has_lab),
        ("+ unanalysed rows dropped (= source rules)", lab_soc, analysed, ~analysed),
    ]
    alternatives = [
        ("(not adopted) lab total C without carbonate correction",
         np.where(has_lab, lay.c_tot_ncs_pct, vnir), analysed, lay.caco3_pct.notna() & has_lab),
        ("(not adopted) layers without lab value count 0",
         lab_soc, analysed & has_lab, analysed & ~has_lab),
    ]  # fmt: skip
    rows = []
    for name, soc, keep, changed in steps + alternatives:
        t = compare_stocks(_stocks(lay, soc, keep), ref)
        t = t[t.land_use == "all"].set_index("interval_cm")
        row = {"rule": name, "layers_changed": "" if changed is None else int(np.sum(changed))}
        for iv in t.index:
            row[f"n {iv}"] = int(t.loc[iv, "n"])
            row[f"r {iv}"] = round(t.loc[iv, "r"], 3)
            row[f"ratio {iv}"] = round(t.loc[iv, "median_ratio"], 3)
        rows.append(row)
    pd.set_option("display.width", 250)
    print(f"{len(ref)} RaCA pedons with layers and published stocks, {len(lay)} layers")
    print(pd.DataFrame(rows).to_string(index=False))
    # VNIR prediction against the lab value, by depth of the layer top
    both = has_lab & (lab_soc > 0.05) & (vnir > 0)
    all_lay = pd.read_csv(folder / FILES["raca"])
    a_soc, _ = raca_soc(all_lay.c_tot_ncs_pct, all_lay.caco3_pct, all_lay.soc_pct)
    ok = all_lay.c_tot_ncs_pct.notna() & (a_soc > 0.05) & (all_lay.soc_pct > 0)
    q = pd.DataFrame({"ratio": all_lay.soc_pct[ok] / a_soc[ok], "top_m": all_lay.top_m[ok]})
    q["top_cm"] = pd.cut(
        q.top_m * 100, [-1, 4, 29, 59, 300], labels=["0-4", "5-29", "30-59", ">=60"]
    )
    g = q.groupby("top_cm", observed=True).ratio
    print(f"\nVNIR SOC_pred1 / lab SOC on {int(ok.sum())} layers with both (all pedons; "
          f"{int(both.sum())} in the stock-check pedons): median (25-75 %) by layer top")  # fmt: skip
    print(pd.DataFrame({"n": g.size(), "median": g.median(), "q25": g.quantile(0.25),
                        "q75": g.quantile(0.75)}).round(3).to_string())  # fmt: skip


if __name__ == "__main__":
    main()
