"""CLI verb of the evaluation area: ``explain`` (which covariates drive each output)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soilbinn.cli import Command
from soilbinn.io import add_overwrite_argument, check_output


def _configure_explain(p: argparse.ArgumentParser) -> None:
    from soilbinn.evaluation.explain import METHODS, TARGETS

    p.epilog = (
        "Writes importance.nc, importance.csv and importance.png in --out; prints the top 5 "
        "covariates of every output. Forcing stays each site's own: only network inputs move."
    )
    p.add_argument("run", help="run directory (or ensemble run directory)")
    p.add_argument("--data", required=True, help="sites NetCDF with covariates and forcing")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", choices=tuple(METHODS), default="permutation",
                   help="permutation (default) or integrated gradients")  # fmt: skip
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated subset of {','.join(TARGETS)} (default all)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=5, help="permutations per covariate (default 5)")
    p.add_argument("--steps", type=int, default=64,
                   help="integrated-gradient path steps (--method gradient; default 64)")  # fmt: skip
    p.add_argument("--sites", type=int, default=1000,
                   help="explain a seeded random subset of this many sites (default 1000; 0: all)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the site subset and permutations")
    p.add_argument("--group", action="append", default=[], metavar="NAME=COV1,COV2",
                   help="treat these numeric covariates as one feature (repeatable); lc_* "
                   "land-cover fractions are grouped already")  # fmt: skip
    add_overwrite_argument(p)


def _groups(specs: list[str]) -> dict[str, list[str]]:
    from soilbinn.evaluation.explain import ExplainError

    out = {}
    for s in specs:
        name, _, members = s.partition("=")
        cols = [c.strip() for c in members.split(",") if c.strip()]
        if not name.strip() or not cols:
            raise ExplainError(f"--group {s!r}: expected NAME=COV1,COV2")
        out[name.strip()] = cols
    return out


def _run_explain(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import load_dataset
    from soilbinn.evaluation.explain import (
        OUTPUT_FILES,
        ExplainError,
        explain,
        top_covariates,
        write_outputs,
    )

    try:
        out = Path(args.out)
        for f in OUTPUT_FILES:
            check_output(out / f, args.overwrite)
        if not Path(args.run).is_dir():
            raise ExplainError(f"run directory {args.run} not found")
        if not Path(args.data).exists():
            raise FileNotFoundError(f"dataset {args.data} not found")
        ds = load_dataset(args.data, require=("forcing", "covariates"))
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        imp = explain(args.run, ds, args.method, targets, args.repeats,
                      args.sites or None, args.seed, _groups(args.group), source=args.data,
                      steps=args.steps)  # fmt: skip
        files = write_outputs(imp, out, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError) as exc:
        print(f"soilbinn: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"{imp.attrs['method']} importance, {imp.attrs['n_sites']} sites, "
          f"{imp.attrs['repeats']} repeat(s); top 5 covariates (share of each output):")  # fmt: skip
    print(top_covariates(imp, 5))
    if "completeness_error" in imp.attrs:
        print(f"integrated gradients: median relative completeness error "
              f"{imp.attrs['completeness_error']:.2g} ({imp.attrs['steps']} steps)"
              + ("; raise --steps" if imp.attrs["completeness_error"] > 0.05 else ""))  # fmt: skip
    print("written: " + ", ".join(str(f) for f in files))
    return 0


COMMANDS: dict[str, Command] = {
    "explain": Command(_configure_explain, _run_explain, "which covariates drive each output"),
}
