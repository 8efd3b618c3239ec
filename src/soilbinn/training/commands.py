"""CLI verbs of the training area: demo, train, evaluate, cv, predict, map."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from soilbinn.cli import Command
from soilbinn.io import add_overwrite_argument, check_output, write_csv

_KNOWN_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError)


def _fail(exc: BaseException) -> int:
    print(f"soilbinn: error: {exc}", file=sys.stderr)
    return 2


def _open(path: str, require=("forcing", "covariates")):
    from soilbinn.data.schema import load_dataset

    if not Path(path).exists():
        raise FileNotFoundError(f"dataset {path} not found")
    return load_dataset(path, require=require)


# ----------------------------------------------------------------------------- train
def _config_help() -> str:
    from soilbinn.training.config import packaged_config_names

    return (f"YAML config file or the name of a packaged config ({', '.join(packaged_config_names())}); "
            "default: the paper's configuration (binn_paper)")  # fmt: skip


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "distributed: torchrun --nproc_per_node N -m soilbinn train ... (gloo on CPU, nccl "
        "on GPU with --set train.device=cuda); multi-node: add torchrun's --nnodes and "
        "--rdzv-endpoint. Each rank reads only its own sites."
    )
    p.add_argument("--config", help=_config_help())
    p.add_argument("--data", required=True,
                   help="dataset NetCDF (format: docs/data_schema.md in the soilbinn repository)")  # fmt: skip
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")  # fmt: skip
    p.add_argument("--run-dir", help="new run directory (default runs/<name>-<time>)")
    p.add_argument("--runs-root", default="runs", help="where new run directories go")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")


def _run_train(args: argparse.Namespace) -> int:
    from soilbinn.training.config import load_config
    from soilbinn.training.distributed import current
    from soilbinn.training.rundir import RunDir
    from soilbinn.training.trainer import train

    ok = False  # a clean run waits for every rank at the teardown
    try:
        if args.resume:  # the run's own config (a different one is refused by train)
            base = args.config or RunDir.open(args.resume).config_path
            cfg = load_config(base, args.overrides)
        else:
            cfg = load_config(args.config, args.overrides)
        if not Path(args.data).exists():
            raise FileNotFoundError(f"dataset {args.data} not found")
        from soilbinn.training.ensemble import is_ensemble_run

        if args.resume and is_ensemble_run(args.resume):
            rc = _train_ensemble(cfg, args, resume=True)
            ok = True
            return rc
        if cfg.train.ensemble > 1 and not args.resume:
            rc = _train_ensemble(cfg, args)
            ok = True
            return rc
        res = train(cfg, args.data, run_dir=args.resume or args.run_dir,
                    resume=bool(args.resume), runs_root=args.runs_root)  # fmt: skip
        is_main = current().is_main
        ok = True
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    finally:
        _shutdown_distributed(clean=ok)
    if not is_main:  # only rank 0 reports
        return 0
    print(f"run directory: {res.run_dir}")
    print(f"best epoch: {res.best_epoch}")
    print(res.metrics.loc[(slice(None), "all"), ["nse", "r2", "rmse", "mae", "n"]].to_string())
    if res.stock_metrics is not None:
        print("stocks (kg m-2):")
        print(res.stock_metrics.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _train_ensemble(cfg, args: argparse.Namespace, resume: bool = False) -> int:
    """``train.ensemble`` members in one run directory (soilbinn.training.ensemble)."""
    from soilbinn.training.ensemble import train_ensemble

    ds = _open(args.data, ("forcing", "covariates", "observations")).load()
    run_dir = (
        args.resume
        or args.run_dir
        or str(Path(args.runs_root) / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    res = train_ensemble(cfg, ds, run_dir, resume=resume, data=args.data)
    print(f"run directory: {res.run_dir} ({len(res.members)} members)")
    if any(res.obs_error.values()):
        print("observation error (sd of log obs/pred): " +
              ", ".join(f"{k} {v:.3f}" for k, v in res.obs_error.items()))  # fmt: skip
    else:  # read on the members' validation sites; percentiles are the ensemble's alone
        print("observation error: not estimated (the members have no validation sites: "
              "data.val_fraction = 0); percentiles are the ensemble's spread alone")  # fmt: skip
    for i, m in enumerate(res.members):
        row = m.metrics.loc[(slice(None), "all"), ["nse", "r2", "rmse", "n"]]
        print(f"member {i}: best epoch {m.best_epoch}\n{row.to_string()}")
    return 0


def _shutdown_distributed(clean: bool) -> None:
    """Tear the process group down while the interpreter is fully alive.

    Objects left in reference cycles (trainer, model, autograd graphs) can hold the gloo
    process group; freed only at interpreter exit, its worker threads abort the process
    (SIGABRT, "terminate called without an active exception"). So collect them first and,
    after a clean run, let every rank reach the teardown together (a rank that failed alone
    must not wait at a barrier the others never reach).
    """
    import gc

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if clean:
            dist.barrier()
        dist.destroy_process_group()
        gc.collect()


# ----------------------------------------------------------------------------- evaluate
def _configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--data", required=True, help="dataset NetCDF with observations")
    p.add_argument("--out", help="write the table as CSV here (default RUN/evaluation_<data>.csv)")
    p.add_argument("--figures", action="store_true", help="also draw predicted-vs-observed plots")
    add_overwrite_argument(p)


def _run_evaluate(args: argparse.Namespace) -> int:
    from soilbinn.training.cv import evaluate_observations

    out = Path(args.out) if args.out else Path(args.run) / f"evaluation_{Path(args.data).stem}.csv"
    try:
        check_output(out, args.overwrite)
        ds = _open(args.data, ("forcing", "covariates", "observations"))
        tables = evaluate_observations(args.run, ds, source=args.data)
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    table = tables["layers"]
    write_csv(table, out)
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"written: {out}")
    if tables["stocks"] is not None:
        out_s = out.with_name(out.stem + "_stocks.csv")
        write_csv(tables["stocks"], out_s)
        print("stocks (kg m-2):")
        print(tables["stocks"].to_string(float_format=lambda v: f"{v:.4g}"))
        print(f"written: {out_s}")
    return 0


# ----------------------------------------------------------------------------- cv
def _configure_cv(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help=_config_help())
    p.add_argument("--data", required=True, help="dataset NetCDF")
    p.add_argument("--k", type=int, default=10, help="number of folds (default 10)")
    p.add_argument("--kind", choices=("random", "spatial"), default="random",
                   help="random folds, or spatial folds of 2-degree blocks")  # fmt: skip
    p.add_argument("--out", default=None, help="output directory (default runs/cv-<time>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")  # fmt: skip


def _run_cv(args: argparse.Namespace) -> int:
    from soilbinn.training.config import load_config
    from soilbinn.training.cv import cross_validate

    try:
        cfg = load_config(args.config, args.overrides)
        if args.k < 2:
            raise ValueError("--k must be at least 2")
        ds = _open(args.data, ("forcing", "covariates", "observations"))
        out = args.out or f"runs/cv-{cfg.name}-{args.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        table = cross_validate(cfg, ds, args.k, args.kind, out)
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"written: {Path(out) / 'cv_summary.csv'}")
    return 0


# ----------------------------------------------------------------------------- predict
def _configure_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="sites or grid NetCDF with covariates and forcing")
    src.add_argument("--sites", help="CSV of lat,lon rows (real-data pipeline)")
    p.add_argument("--shared", default="../shared/data", help="shared data folder (--sites)")
    p.add_argument("--out", required=True, help="output .nc (with --sites: .csv, plus .nc beside)")
    add_overwrite_argument(p)


def _run_predict(args: argparse.Namespace) -> int:
    from soilbinn.training.predict import predict_dataset, save_prediction

    try:
        check_output(args.out, args.overwrite)
        if args.sites:
            check_output(Path(args.out).with_suffix(".nc"), args.overwrite)
            return _predict_sites(args)
        ds = _open(args.data)
        pred = predict_dataset(args.run, ds, source=args.data)
        save_prediction(pred, args.out)
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    print(f"predicted {pred.sizes['site']} sites -> {args.out}")
    return 0


def _predict_sites(args: argparse.Namespace) -> int:
    import pandas as pd

    from soilbinn.training.predict import predict_dataset, save_prediction

    try:
        from soilbinn.inputs.sites import build_site_dataset
    except ImportError as exc:
        raise ValueError(f"--sites needs soilbinn.inputs.sites ({exc})") from None
    ds, outside = build_site_dataset(args.sites, args.shared)
    out = Path(args.out)
    n_req = ds.sizes["site"] + len(outside)
    for r in outside.itertuples(index=False):
        print(f"  {r.site} ({r.lat}, {r.lon}): {r.reason}; not predicted")
    if ds.sizes["site"] == 0:
        raise ValueError(f"{args.sites}: none of its {n_req} sites can be predicted "
                         "(reasons above); nothing was written")  # fmt: skip
    else:
        pred = predict_dataset(args.run, ds, source=args.sites)
        nc = out.with_suffix(".nc")
        save_prediction(pred, nc)
        cols = {"site": pred["site"].values.astype(str), "lat": pred["lat"].values,
                "lon": pred["lon"].values}  # fmt: skip
        for var in ("soc_stock_0_30cm", "soc_stock_0_100cm"):
            cols[f"{var}_kg_m2"] = pred[var].values / 1000.0
            for q in ("p05", "p95"):  # ensembles: predictive percentiles beside the column
                if f"{var}_{q}" in pred:
                    cols[f"{var}_kg_m2_{q}"] = pred[f"{var}_{q}"].values / 1000.0
        table = pd.DataFrame(cols)
        write_csv(table, out, index=False)
        print(f"predicted {len(table)} of {n_req} sites -> {out} (profiles: {nc})")
    return 0


# ----------------------------------------------------------------------------- map
def _configure_map(p: argparse.ArgumentParser) -> None:
    p.add_argument("prediction", help="prediction NetCDF from `soilbinn predict`")
    p.add_argument("--out", help="folder for the PNGs (default: <prediction>_maps)")
    p.add_argument("--var", action="append", help="variable(s) to draw (default: stocks, "
                   "processes and parameters)")  # fmt: skip
    p.add_argument(
        "--maps-dir",
        help="Natural Earth shapefile folder to draw (default: the outline shipped with soilbinn)",
    )
    add_overwrite_argument(p)


def _run_map(args: argparse.Namespace) -> int:
    import xarray as xr

    from soilbinn.evaluation.figures import maps_of_prediction

    try:
        if not Path(args.prediction).exists():
            raise FileNotFoundError(f"prediction file {args.prediction} not found")
        out = args.out or str(Path(args.prediction).with_suffix("")) + "_maps"
        check_output(out, args.overwrite, kind="dir")
        with xr.open_dataset(args.prediction) as ds:
            files = maps_of_prediction(ds.load(), out, args.var,
                                       maps_dir=Path(args.maps_dir) if args.maps_dir else None)  # fmt: skip
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    print(f"{len(files)} maps -> {out}")
    return 0


# ----------------------------------------------------------------------------- demo
def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", default="demo_output", help="output folder (must not exist or be empty)"
    )
    p.add_argument("--sites", type=int, default=1500, help="synthetic sites (default 1500)")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    p.add_argument(
        "--grid-deg", type=float, default=1.0, help="prediction grid resolution (degrees)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-param-maps", action="store_true", help="skip the 21 parameter maps")


def _run_demo(args: argparse.Namespace) -> int:
    from soilbinn.training.demo import run_demo

    try:
        run_demo(args.out, args.sites, args.epochs, args.grid_deg, args.seed,
                 param_maps=not args.no_param_maps)  # fmt: skip
    except _KNOWN_ERRORS as exc:
        return _fail(exc)
    return 0


COMMANDS: dict[str, Command] = {
    "demo": Command(_configure_demo, _run_demo, "end-to-end demo on synthetic data"),
    "train": Command(_configure_train, _run_train, "train BINN or the pure NN"),
    "evaluate": Command(_configure_evaluate, _run_evaluate, "evaluate a run on a dataset"),
    "cv": Command(_configure_cv, _run_cv, "k-fold cross-validation"),
    "predict": Command(_configure_predict, _run_predict, "predict at sites or on a grid"),
    "map": Command(_configure_map, _run_map, "CONUS maps of a prediction"),
}
