"""Held-out parameter recovery of ``soilbinn train`` on a dataset with ``true_params``.

Runs the acceptance shape of issue 11 (``--config demo``, the paper's four parameters
learned, the other 17 fixed to the truth, spatial split) plus any ``--set`` overrides,
predicts the test sites of the run's own split and prints per-parameter R2 and r (held-out
test sites, and ``r2_train`` on up to 600 training sites) and the training time, wall and
CPU (single-threaded, so CPU seconds are what one free core would take). With
``train.ensemble`` > 1 the members are averaged in parameter space (``predict``'s mean). Used for the ablation table; truths from ``benchmarks/recovery_truths.py``.
With ``--ident`` (the output of ``soilbinn identifiability`` on the same data, at the
truth, covering the test sites) it also prints, per learned parameter, how many held-out
sites the data constrain locally and, with ``--profile``, globally, and at what share of
them the retrieval lies within 2 posterior sd of the truth: issue 11's "recovered wherever
identifiable".

Usage::

    python benchmarks/bench_recovery.py mix.nc
    python benchmarks/bench_recovery.py mix.nc --set train.polish.iterations=0
    python benchmarks/bench_recovery.py mix.nc --all21
    soilbinn identifiability mix.nc --learned efolding,tau4s3,fs1s3,w_scaling --profile 10 --out id.nc
    python benchmarks/bench_recovery.py mix.nc --ident id.nc
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd
import torch
import xarray as xr

from soilbinn.experiments.common import PAPER_RECOVERY_PARAMS, scores
from soilbinn.training.config import load_config
from soilbinn.training.ensemble import train_ensemble
from soilbinn.training.predict import predict_dataset
from soilbinn.training.trainer import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--all21", action="store_true")
    ap.add_argument("--config", default="demo")
    ap.add_argument("--save", default=None, help="write the test sites' predicted params here")
    ap.add_argument("--ident", default=None, help="identifiability NetCDF at the truth")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = xr.open_dataset(a.data).load()
    over = ["data.split=spatial", "train.progress=false"]
    if not a.all21:
        over += [
            f"model.learned=[{','.join(PAPER_RECOVERY_PARAMS)}]",
            "model.fixed_from=true_params",
        ]
    cfg = load_config(a.config, over + a.set)
    with tempfile.TemporaryDirectory() as d:
        t, c = time.perf_counter(), time.process_time()
        if cfg.train.ensemble > 1:  # members in run/members/mXX, the test split is shared
            res = train_ensemble(cfg, ds, f"{d}/run").members[0]
            split_csv = f"{d}/run/members/m00/split.csv"
        else:
            res = train(cfg, ds, run_dir=f"{d}/run", figures=False)
            split_csv = f"{d}/run/split.csv"
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
        split = pd.read_csv(split_csv)
        test_ids = split.loc[split.split == "test", "site"].astype(str).values
        test = ds.sel(site=test_ids)
        pred = predict_dataset(f"{d}/run", test)
        if a.save:
            pred[["params"]].to_netcdf(a.save)
        train_ids = split.loc[split.split == "train", "site"].astype(str).values[:600]
        tr = ds.sel(site=train_ids)
        pred_tr = predict_dataset(f"{d}/run", tr)
    names = [str(p) for p in ds["param"].values]
    learned = names if a.all21 else list(PAPER_RECOVERY_PARAMS)
    rows = []
    for n in learned:
        j = names.index(n)
        s_tr = scores(pred_tr["params"].values[:, j], tr["true_params"].values[:, j])
        rows.append(
            {
                "parameter": n,
                **scores(pred["params"].values[:, j], test["true_params"].values[:, j]),
                "r2_train": s_tr["r2"],
            }
        )
    df = pd.DataFrame(rows).set_index("parameter")
    print(df[["r2", "r", "rmse", "bias", "slope", "n", "r2_train"]].round(3).to_string())
    if a.ident:
        print(where_identifiable(xr.open_dataset(a.ident), test, pred, learned).to_string())
    if res.extra.get("polish"):
        print("polish:", {k: round(v, 5) for k, v in res.extra["polish"].items()})
    if res.extra.get("gp_prior"):
        gp = res.extra["gp_prior"]
        print("gp_prior:", {k: round(v, 5) if isinstance(v, float) else v for k, v in gp.items()})
    print(f"train {seconds:.1f} s wall, {cpu:.1f} s CPU (one thread), best epoch {res.best_epoch}, test NSE {res.score('test'):.4f}, "
          f"mean R2 {df['r2'].mean():.3f}")  # fmt: skip


def where_identifiable(
    ident: xr.Dataset, test: xr.Dataset, pred: xr.Dataset, learned
) -> pd.DataFrame:
    """Per parameter: held-out sites constrained (locally, globally) and the share of them
    with the retrieval within 2 posterior sd of the truth."""
    import numpy as np

    sites = [str(s) for s in test["site"].values]
    missing = set(sites) - set(map(str, ident["site"].values))
    if missing:
        raise SystemExit(f"--ident lacks {len(missing)} test site(s), e.g. {sorted(missing)[0]}")
    names = [str(p) for p in test["param"].values]
    rows = []
    for n in (n for n in learned if n in map(str, ident["param"].values)):
        j = names.index(n)
        sel = {"site": sites, "param": n}
        err = np.abs(pred["params"].values[:, j] - test["true_params"].values[:, j])
        near = err <= 2.0 * ident["posterior_sd"].sel(sel).values
        row = {"parameter": n}
        for kind in ("constrained", "constrained_global"):
            if kind in ident:
                m = ident[kind].sel(sel).values == 1
                row[f"n_{kind}"] = int(m.sum())
                row[f"within_2sd_{kind}"] = float(near[m].mean()) if m.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter").round(3)


if __name__ == "__main__":
    main()
