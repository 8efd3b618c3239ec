"""``soilbinn experiment recovery|compare|efficiency`` and ``soilbinn report RUN...``.

Examples::

    soilbinn experiment recovery --out runs/recovery            # minutes on 2 cores
    soilbinn experiment recovery --sites 1000 --epochs 50 --proda-sites 50
    soilbinn experiment compare --out runs/compare --proda-iterations 20000 50000
    soilbinn experiment efficiency --out runs/efficiency
    soilbinn experiment realeval --data real.nc --out runs/realeval   # real data, held-out regions
    soilbinn report runs/recovery runs/compare runs/efficiency --out report.html
    soilbinn report runs/realeval pred.nc explain/ --out real.html   # real-data evidence
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soilbinn.cli import Command
from soilbinn.io import add_overwrite_argument, check_output


def _common(p: argparse.ArgumentParser, sites: int, proda_sites: int | None) -> None:
    p.add_argument("--out", default=None, help="run directory (default runs/<name>-<time>)")
    p.add_argument("--sites", type=int, default=sites, help="synthetic sites")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--epochs", type=int, default=None, help="BINN training epochs")
    p.add_argument("--patience", type=int, default=None, help="BINN early-stopping patience")
    p.add_argument("--binn-config", default="demo", help="BINN config (packaged name or YAML)")
    p.add_argument("--proda-iterations", nargs=2, type=int, metavar=("UNIFORM", "GAUSSIAN"),
                   default=(500, 1500), help="PRODA phases (PRODA's own: 20000 50000)")  # fmt: skip
    p.add_argument("--proda-mode", choices=("faithful", "metropolis"), default="faithful",
                   help="faithful: PRODA's tempered rule; metropolis: a proper posterior")  # fmt: skip
    if proda_sites is not None:
        p.add_argument("--proda-sites", type=int, default=proda_sites,
                       help="sites also retrieved by PRODA")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch threads")


def _configure_experiment(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    r = sub.add_parser("recovery", help="parameter recovery on synthetic sites")
    _common(r, 150, 6)
    r.add_argument("--noise", type=float, default=0.1,
                   help="log-normal observation noise sigma of the synthetic data")  # fmt: skip
    r.add_argument("--variants", default="all21,paper4", help="all21 and/or paper4")
    r.add_argument(
        "--data",
        default=None,
        help="a dataset with true_params (your own truth) instead of synthetic sites",
    )
    r.add_argument(
        "--split",
        choices=("spatial", "random"),
        default="spatial",
        help="held-out sites: whole 2-degree blocks (default) or random",
    )
    r.add_argument("--profile", type=int, default=0, metavar="N",
                   help="check the identifiability analysis globally with the profile "
                        "likelihood on N grid values (e.g. 10; default 0: local only)")  # fmt: skip
    c = sub.add_parser("compare", help="BINN vs PRODA processes and parameters")
    _common(c, 60, 24)
    c.add_argument("--data", default=None, help="a dataset instead of synthetic sites")
    c.add_argument("--grid-resolution", type=float, default=2.0, help="map grid, degrees")
    _network_options(c)
    e = sub.add_parser("efficiency", help="compute of PRODA vs BINN, extrapolated")
    _common(e, 40, None)
    _network_options(e)
    _configure_realeval(sub)


def _network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network-epochs", type=int, default=None,
                   help="PRODA's network: at most this many epochs per member (default 300)")  # fmt: skip
    p.add_argument("--network-members", type=int, default=None,
                   help="PRODA's network: bootstrap members (default 10)")  # fmt: skip


def _configure_realeval(sub) -> None:
    from soilbinn.experiments.realeval import MODELS, SCHEMES

    r = sub.add_parser(
        "realeval",
        help="real data: leave-region-out and 2-degree block CV of BINN, pure NN, gradient "
        "boosting and the training mean, trained and scored on the same folds",
    )
    r.add_argument("--data", required=True, help="dataset NetCDF (e.g. from `prepare real`)")
    r.add_argument(
        "--out", default=None, help="new output directory (default runs/realeval-<time>)"
    )
    r.add_argument("--config", default="real", help="BINN config (packaged name or YAML); "
                   "the pure NN uses it with model.kind=nn")  # fmt: skip
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for BINN and NN (repeatable)")  # fmt: skip
    r.add_argument("--models", default=",".join(MODELS), help=f"subset of {','.join(MODELS)}")
    r.add_argument("--schemes", default=",".join(SCHEMES), help=f"subset of {','.join(SCHEMES)}")
    r.add_argument("--region-folds", type=int, default=None,
                   help="deal whole regions to this many folds (default: one fold per region)")  # fmt: skip
    r.add_argument("--block-folds", type=int, default=5, help="folds of the 2-degree block CV")
    r.add_argument("--max-sites", type=int, default=None, help="random subsample (seeded)")
    r.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    r.add_argument(
        "--seed", type=int, default=0, help="seed of the site subsample, folds and training"
    )
    r.add_argument("--threads", type=int, default=1, help="torch threads")


def _run_realeval(args: argparse.Namespace) -> int:
    import torch

    from soilbinn.experiments.common import ExperimentError
    from soilbinn.experiments.realeval import RealEvalConfig, comparison_table, run_realeval
    from soilbinn.training.config import ConfigError

    torch.set_num_threads(max(1, args.threads))
    cfg = RealEvalConfig(
        data=args.data, config=args.config, overrides=list(args.overrides),
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        schemes=tuple(s.strip() for s in args.schemes.split(",") if s.strip()),
        region_folds=args.region_folds, block_folds=args.block_folds, max_sites=args.max_sites,
        epochs=args.epochs, seed=args.seed,
    )  # fmt: skip
    try:
        path = run_realeval(cfg, args.out)
    except (ExperimentError, ConfigError, ValueError, FileNotFoundError) as e:
        print(f"soilbinn experiment realeval: error: {e}", file=sys.stderr)
        return 2
    import pandas as pd

    table = comparison_table(pd.read_csv(Path(path) / "metrics.csv"))
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"realeval: wrote {path} (metrics.csv, predictions.nc, figures/)")
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    if args.experiment == "realeval":
        return _run_realeval(args)
    import torch

    from soilbinn.experiments.common import ExperimentError

    torch.set_num_threads(max(1, args.threads))
    common = {
        "seed": args.seed, "binn_config": args.binn_config,
        "proda_iterations": tuple(args.proda_iterations), "proda_mode": args.proda_mode,
    }  # fmt: skip
    if args.epochs is not None:
        common["epochs"] = args.epochs
    if args.patience is not None:
        common["patience"] = args.patience
    network = {
        name: value
        for name, value in (("network_epochs", getattr(args, "network_epochs", None)),
                            ("network_members", getattr(args, "network_members", None)))
        if value is not None
    }  # fmt: skip
    try:
        if network:  # checked before anything runs
            from soilbinn.proda.network import NetworkConfig

            try:
                NetworkConfig(epochs=network.get("network_epochs"),
                              members=network.get("network_members"))  # fmt: skip
            except ValueError as e:
                raise ValueError(
                    f"PRODA's network (--network-epochs, --network-members): {e}"
                ) from None
        if args.experiment == "recovery":
            from soilbinn.experiments.recovery import RecoveryConfig, run_recovery

            cfg = RecoveryConfig(n_sites=args.sites, noise=args.noise, proda_sites=args.proda_sites,
                                 variants=tuple(v.strip() for v in args.variants.split(",")),
                                 data=args.data, split=args.split,
                                 ident_profile=args.profile, **common)  # fmt: skip
            path = run_recovery(cfg, args.out)
        elif args.experiment == "compare":
            from soilbinn.experiments.compare import CompareConfig, run_compare

            cfg = CompareConfig(data=args.data, n_sites=args.sites, proda_sites=args.proda_sites,
                                grid_resolution=args.grid_resolution, **network, **common)  # fmt: skip
            path = run_compare(cfg, args.out)
        else:
            from soilbinn.experiments.efficiency import EfficiencyConfig, run_efficiency

            cfg = EfficiencyConfig(n_sites=args.sites, **network, **common)
            path = run_efficiency(cfg, args.out)
    except (ExperimentError, ValueError, FileNotFoundError) as e:
        print(f"soilbinn experiment {args.experiment}: error: {e}", file=sys.stderr)
        return 2
    info = json.loads((Path(path) / "experiment.json").read_text())
    print(f"{args.experiment}: wrote {path} in {info['timings_s']['total']:.0f} s")
    for k, v in info["results"].items():
        if not isinstance(v, dict):
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    return 0


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Each input is recognised by its contents: an experiment run directory "
        "(experiment.json; a realeval run adds the comparison table, the 90% interval "
        "calibration and its figures), a 'soilbinn predict --data' NetCDF (maps of stocks, "
        "processes and their 90% interval width), a 'soilbinn explain' folder (importance "
        "figure and top-5 table), or any folder with *.csv and figures/*.png. Example: "
        "soilbinn report runs/realeval pred.nc explain/ --out report.html"
    )
    p.add_argument("runs", nargs="+", metavar="INPUT",
                   help="run directories, prediction NetCDF files, explain folders")  # fmt: skip
    p.add_argument("--out", default="report.html", help="HTML file (default report.html)")
    p.add_argument("--title", default="soilbinn report", help="page title")
    add_overwrite_argument(p)


def _run_report(args: argparse.Namespace) -> int:
    from soilbinn.experiments.report import ReportError, make_report
    from soilbinn.io import OutputError

    try:
        check_output(args.out, args.overwrite)
        out = make_report(args.runs, args.out, args.title, overwrite=args.overwrite)
    except (ReportError, OutputError) as e:
        print(f"soilbinn report: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


COMMANDS: dict[str, Command] = {
    "experiment": Command(
        _configure_experiment,
        _run_experiment,
        "the paper's experiments: recovery, compare, efficiency",
    ),  # fmt: skip
    "report": Command(_configure_report, _run_report, "an offline HTML report of runs"),
}
