"""``soilbinn proda retrieve | network | predict``: PRODA from the command line.

Examples::

    soilbinn proda retrieve data.nc --out runs/proda1               # PRODA's 20,000 + 50,000
    soilbinn proda retrieve data.nc --out runs/p2 --iterations 2000 5000 --sites 0:20 \\
        --mode metropolis
    soilbinn proda network runs/proda1 data.nc                       # writes runs/proda1/network.pt
    soilbinn proda predict runs/proda1 grid.nc --out runs/proda1/grid_prediction.nc
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from soilbinn.cli import Command
from soilbinn.interrupt import Interrupted, command_line
from soilbinn.io import add_overwrite_argument, check_output, write_csv, write_text


class ProdaCommandError(ValueError):
    """Bad command-line input (names the file or option)."""


def select_sites(ds: xr.Dataset, spec: str | None) -> xr.Dataset:
    """``spec``: None (all), ``a:b`` (index range), ``N`` (first N) or ``id1,id2,...``."""
    if not spec:
        return ds
    n = ds.sizes["site"]
    if ":" in spec:
        a, b = spec.split(":", 1)
        idx = np.arange(n)[slice(int(a) if a else None, int(b) if b else None)]
    elif spec.isdigit():
        idx = np.arange(min(int(spec), n))
    else:
        ids = [str(s) for s in ds["site"].values]
        want = [s.strip() for s in spec.split(",") if s.strip()]
        missing = [s for s in want if s not in ids]
        if missing:
            raise ProdaCommandError(f"--sites: site id(s) not in the dataset: {missing[:10]}")
        idx = np.array([ids.index(s) for s in want])
    if len(idx) == 0:
        raise ProdaCommandError(f"--sites {spec!r} selects no site (dataset has {n})")
    return ds.isel(site=idx)


def _configure_retrieve(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="soilbinn dataset (NetCDF) with forcing and observations")
    p.add_argument("--out", required=True, help="run directory (created; resumable)")
    p.add_argument("--iterations", nargs=2, type=int, metavar=("UNIFORM", "GAUSSIAN"),
                   default=(20_000, 50_000), help="steps of the two phases (PRODA: 20000 50000)")  # fmt: skip
    p.add_argument("--chains", type=int, default=3, help="chains per site (PRODA: 3)")
    p.add_argument("--mode", choices=("faithful", "metropolis"), default="faithful",
                   help="faithful: PRODA's tempered rule; metropolis: a proper posterior")  # fmt: skip
    p.add_argument("--sites", default=None, help="a:b, N (first N) or comma-separated ids")
    p.add_argument(
        "--free", default=None, help="comma-separated parameters to sample (default all)"
    )
    p.add_argument("--fixed-from", default="params", help="variable giving fixed parameters")
    p.add_argument("--preset", default=None, choices=("proda2023", "binn2025"),
                   help="parameter ranges (default: the preset of the dataset's params, else proda2023)")  # fmt: skip
    p.add_argument("--obs-error", type=float, default=0.6, help="relative observation error")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--n-keep", type=int, default=1000, help="recorded samples per chain")
    p.add_argument("--checkpoint-every", type=int, default=5000,
                   help="steps between checkpoints (an interrupted run resumes from the last)")  # fmt: skip
    p.add_argument("--site-batch", type=int, default=256, help="sites per batched run (memory)")
    p.add_argument("--stop-after", type=int, default=None, help="stop after N steps (resume later)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr (default on: a bar on a terminal, a log line "
                   "every 5 s otherwise)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1 is fastest for MCMC's many small operations)")  # fmt: skip


def _run_retrieve(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import load_dataset
    from soilbinn.proda.retrieval import RetrievalConfig, retrieve, save_retrieval

    out = Path(args.out)
    result = check_output(out / "retrieval.nc", args.overwrite)
    import torch

    torch.set_num_threads(max(1, args.threads))
    ds = select_sites(load_dataset(args.data, require=("forcing", "observations")), args.sites)
    cfg = RetrievalConfig(
        mode=args.mode, n_uniform=args.iterations[0], n_gaussian=args.iterations[1],
        n_chains=args.chains, seed=args.seed, preset=args.preset,
        free_params=tuple(s.strip() for s in args.free.split(",")) if args.free else None,
        fixed_from=args.fixed_from, n_keep=args.n_keep, obs_error=args.obs_error,
        checkpoint_every=args.checkpoint_every, site_batch=args.site_batch,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.json",
               json.dumps({"data": str(args.data), "sites": args.sites, **cfg.__dict__}, indent=2))  # fmt: skip
    try:
        res = retrieve(ds, cfg, checkpoint=out / "checkpoint.pt", stop_after=args.stop_after,
                       progress=args.progress)  # fmt: skip
    except KeyboardInterrupt:
        saved = sorted(out.glob("checkpoint*.pt"))
        raise Interrupted(f"checkpoints {', '.join(map(str, saved))}" if saved else "no checkpoint yet",
                          command_line(argv=getattr(args, "command_argv", sys.argv[1:]))) from None  # fmt: skip
    if res is None:
        print(
            f"stopped after {args.stop_after} steps; rerun the same command to resume",
            file=sys.stderr,
        )
        return 0
    save_retrieval(res, result)
    table = summary_table(res)
    write_csv(table, out / "sites.csv", index=False)
    for f in [out / "checkpoint.pt", *out.glob("checkpoint.batch*")]:
        f.unlink(missing_ok=True)
    print(
        f"PRODA ({cfg.mode}) on {res.sizes['site']} sites: {res.attrs['n_model_evaluations']} "
        f"model evaluations in {res.attrs['wall_time_s']:.1f} s; "
        f"{int(res['converged'].sum())} converged; wrote {result}"
    )
    return 0


def summary_table(res: xr.Dataset):
    """One row per site: fit, diagnostics and posterior means (pandas DataFrame)."""
    import pandas as pd

    rh = res["rhat"].values
    df = pd.DataFrame({
        "site": [str(s) for s in res["site"].values],
        "fit_r2": res["fit_r2"].values,
        "fit_rmse": res["fit_rmse"].values,
        "mean_rhat": np.nansum(rh, 1) / np.maximum(np.isfinite(rh).sum(1), 1),
        "min_ess": np.nanmin(np.where(np.isfinite(res["ess"].values), res["ess"].values, np.inf), axis=1),
        "acceptance_rate": res["acceptance_rate"].mean("chain").values,
        "converged": res["converged"].values.astype(bool),
        "n_evaluations": res["n_evaluations"].values,
    })  # fmt: skip
    for p in res["param"].values:
        df[f"mean_{p}"] = res["params"].sel(param=p).values
    return df


def _configure_network(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="PRODA run directory (with retrieval.nc)")
    p.add_argument("data", help="dataset with the covariates of the retrieved sites")
    p.add_argument("--out", default=None, help="network file (default RUN/network.pt)")
    p.add_argument("--style", choices=("proda", "small"), default="proda",
                   help="proda: PRODA's network step (256-512-512-256 ReLU, joint loss, "
                   "Adadelta, 200 bootstrap members: CPU-hours); small: a cheap MLP")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="default: the style's (PRODA 6000)")
    p.add_argument("--members", type=int, default=None,
                   help="ensemble members (default: the style's, PRODA 200 bootstrap "
                   "members; with --ensemble best_guess 10 runs)")  # fmt: skip
    p.add_argument("--ensemble", choices=("bootstrap", "best_guess"), default="bootstrap",
                   help="bootstrap: each member on a bootstrap sample of the sites (PRODA's "
                   "uncertainty); best_guess: PRODA's best-guess runs, every run on all the "
                   "sites with its own seed, predictions averaged")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--site-filter", choices=("proda", "converged", "none"), default="proda",
                   help="sites to train on: PRODA's filter (R2 > 0.75, Gelman-Rubin < 1.05, "
                   "depth > 50 cm, shape checks), R-hat < 1.05, or all")  # fmt: skip


def _run_network(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import load_dataset
    from soilbinn.proda.network import NetworkConfig, train_network

    run = Path(args.run)
    rpath = run / "retrieval.nc"
    if not rpath.exists():
        raise ProdaCommandError(f"{rpath} not found: run `soilbinn proda retrieve` first")
    out = check_output(Path(args.out) if args.out else run / "network.pt", args.overwrite)
    ret = xr.load_dataset(rpath)
    ds = load_dataset(args.data, require=("covariates",))
    cfg = NetworkConfig(style=args.style, epochs=args.epochs, members=args.members,
                        seed=args.seed, site_filter=args.site_filter,
                        ensemble=args.ensemble)  # fmt: skip
    _, meta = train_network(ds, ret, cfg, out)
    kind = "best-guess run(s)" if meta["ensemble"] == "best_guess" else "member(s)"
    print(f"PRODA network ({meta['style']}, {meta['n_members']} {kind}) on {meta['n_sites']} "
          f"sites, mean validation loss {meta['val_loss']:.4g}; wrote {out}")  # fmt: skip
    return 0


def _configure_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="PRODA run directory (with network.pt) or a network file")
    p.add_argument("data", help="dataset with covariates and forcing (sites or a grid)")
    p.add_argument("--out", required=True, help="prediction NetCDF")


def _run_predict(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import load_dataset, save_dataset
    from soilbinn.proda.network import load_network, predict_params, simulate_dataset

    out = check_output(args.out, args.overwrite)
    src = Path(args.run)
    net = src / "network.pt" if src.is_dir() else src
    if not net.exists():
        raise ProdaCommandError(f"{net} not found: run `soilbinn proda network` first")
    model, meta = load_network(net)
    ds = load_dataset(args.data, require=("forcing", "covariates"))
    pred = simulate_dataset(predict_params(model, meta, ds), ds, meta["preset"], meta["transport"],
                            attrs={"network": str(net)})  # fmt: skip
    save_dataset(pred, out)
    print(f"PRODA prediction for {pred.sizes['site']} sites: wrote {out}")
    return 0


_SUB = {
    "retrieve": (_configure_retrieve, _run_retrieve, "per-site MCMC retrieval (PRODA step 1)"),
    "network": (_configure_network, _run_network, "covariates -> posterior means (step 2)"),
    "predict": (_configure_predict, _run_predict, "predict parameters, SOC and processes"),
}


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="proda_command", metavar="SUBCOMMAND", required=True)
    for name, (conf, _, helptext) in _SUB.items():
        conf(q := sub.add_parser(name, help=helptext, description=helptext))
        add_overwrite_argument(q)


def _run(args: argparse.Namespace) -> int:
    try:
        return _SUB[args.proda_command][1](args)
    except (ValueError, FileNotFoundError) as e:  # our errors name the file/site/option
        print(f"soilbinn proda {args.proda_command}: error: {e}", file=sys.stderr)
        return 2


COMMANDS: dict[str, Command] = {
    "proda": Command(_configure, _run, "PRODA: per-site MCMC retrieval and its network step"),
}
