"""Blow-ups of BINN's steady state in realeval runs, with and without the plausibility term.

Usage::

    python benchmarks/plausibility_eval.py RUN [RUN ...] --data real.nc [--grid grid.nc]

For each ``experiment realeval`` output directory (BINN, ``region`` scheme) it prints, per
held-out fold and pooled: Spearman rho, R2 (1 - SSE/SS) and bias (kg m-2) of the 0-30 cm
stocks, the largest prediction (kg m-2), and the number of held-out sites whose steady
state is implausible (:func:`soilbinn.process.model.implausible_state` or a non-finite
process) or ill-conditioned, recomputed with each fold's model. With ``--grid`` it also
predicts the grid with every fold's model and counts implausible and ill-conditioned
cells, and the cells above 300 kg m-2 of column carbon (all pools, 0-8.6 m).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.evaluation.metrics import skill_metrics
from soilbinn.training.plausibility import column_carbon
from soilbinn.training.predict import predict_dataset


def _column_kg(pred: xr.Dataset) -> np.ndarray:
    import torch

    pools = torch.as_tensor(pred["pools"].transpose("site", ...).values)
    return column_carbon(pools).numpy() / 1000.0


def _counts(pred: xr.Dataset) -> dict:
    col = _column_kg(pred)
    return {"implausible": int(pred["implausible"].values.astype(bool).sum()),
            "ill_conditioned": int(pred["ill_conditioned"].values.astype(bool).sum()),
            "column_gt_300": int((~(col <= 300.0)).sum()),
            "column_max": float(np.nanmax(np.where(np.isfinite(col), col, np.inf)))}  # fmt: skip


def evaluate(run: Path, data: xr.Dataset, grid: xr.Dataset | None) -> pd.DataFrame:
    pred = xr.open_dataset(run / "predictions.nc").load()
    folds = pred["fold"].sel(scheme="region").values
    p = pred["pred_soc_stock_0_30cm"].sel(scheme="region", model="binn").values
    o = pred["obs_soc_stock_0_30cm"].values
    rows = []
    for f in [*np.unique(folds).tolist(), "all"]:
        ix = np.arange(len(folds)) if f == "all" else np.nonzero(folds == f)[0]
        m = skill_metrics(p[ix], o[ix])
        row = {"run": run.name, "fold": f, "rho": m["spearman"], "R2": m["nse"],
               "bias": m["bias"] / 1000.0, "max_pred": np.nanmax(p[ix]) / 1000.0,
               "n_gt_1000": int((p[ix] > 1e6).sum()), "n": m["n"]}  # fmt: skip
        if f != "all":
            rd = run / "runs" / "region" / f"fold{f:02d}_binn"
            held = data.sel(site=pred["site"].values[ix])
            c = _counts(predict_dataset(rd, held))
            row.update({f"test_{k}": v for k, v in c.items()})
            if grid is not None:
                c = _counts(predict_dataset(rd, grid))
                row.update({f"grid_{k}": v for k, v in c.items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    num = [c for c in df.columns if c.startswith(("test_", "grid_")) and "max" not in c]
    df.loc[df["fold"] == "all", num] = df.loc[df["fold"] != "all", num].sum().values
    for c in ("test_column_max", "grid_column_max"):
        if c in df:
            df.loc[df["fold"] == "all", c] = df.loc[df["fold"] != "all", c].max()
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--grid", type=Path, default=None)
    ap.add_argument("--csv", type=Path, default=None, help="also write the table here")
    a = ap.parse_args()
    data = xr.open_dataset(a.data).load()
    grid = xr.open_dataset(a.grid).load() if a.grid else None
    table = pd.concat([evaluate(r, data, grid) for r in a.runs], ignore_index=True)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if a.csv:
        table.to_csv(a.csv, index=False)


if __name__ == "__main__":
    main()
