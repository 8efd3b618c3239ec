"""CLI verbs of the data layer: ``soilbinn validate`` and ``soilbinn synth``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import xarray as xr

from soilbinn.cli import Command
from soilbinn.data.schema import PARTS, present_parts, save_dataset, validate_dataset
from soilbinn.io import add_overwrite_argument, check_output


def _configure_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="NetCDF dataset to check")
    p.add_argument(
        "--require",
        default="auto",
        help=f"comma-separated parts that must be valid ({', '.join(PARTS)}); "
        "'auto' (default) = forcing plus every part present in the file",
    )


def _run_validate(args: argparse.Namespace) -> int:
    path = Path(args.dataset)
    if not path.exists():
        print(f"soilbinn validate: {path}: file not found", file=sys.stderr)
        return 1
    try:
        with xr.open_dataset(path, engine="netcdf4") as f:
            ds = f.load()
    except (OSError, ValueError) as err:
        print(f"soilbinn validate: {path}: cannot read as NetCDF: {err}", file=sys.stderr)
        return 1
    if args.require == "auto":
        require = tuple(dict.fromkeys(("forcing", *present_parts(ds))))
    else:
        require = tuple(r.strip() for r in args.require.split(",") if r.strip())
        unknown = [r for r in require if r not in PARTS]
        if unknown:
            print(
                f"soilbinn validate: unknown part(s) {unknown}; choose from {PARTS}",
                file=sys.stderr,
            )
            return 2
    problems = validate_dataset(ds, require)
    if problems:
        print(f"{path}: {len(problems)} problem(s) (checked: {', '.join(require)})")
        for p in problems:
            print(f"  - {p}")
        return 1
    n_obs = ""
    if "obs_depth" in ds.variables and "soc" in ds.variables:
        valid = (ds["soc"].notnull() & ds["obs_depth"].notnull()).sum().item()
        n_obs = f", {valid} observations"
    if "stock_obs" in ds.variables:
        n_obs += f", {ds['stock_obs'].notnull().sum().item()} stock intervals"
    print(f"{path}: valid ({ds.sizes.get('site', 0)} sites{n_obs}; checked: {', '.join(require)})")
    return 0


def _configure_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sites", type=int, default=1000, help="number of sites (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--noise", type=float, default=0.1, help="log-normal SOC noise sigma (default 0.1)"
    )
    p.add_argument("--preset", default="binn2025", help="parameter range preset (default binn2025)")
    p.add_argument("--grid", type=float, default=None, metavar="DEG",
                   help="write a CONUS grid at DEG resolution instead of sites (no observations)")  # fmt: skip
    p.add_argument("--out", required=True, help="output NetCDF file")
    add_overwrite_argument(p)


def _run_synth(args: argparse.Namespace) -> int:
    from soilbinn.inputs.synth import make_synthetic, make_synthetic_grid

    check_output(args.out, args.overwrite)
    t0 = time.perf_counter()
    try:
        if args.grid is not None:
            ds = make_synthetic_grid(args.grid, seed=args.seed, preset=args.preset)
        else:
            ds = make_synthetic(args.sites, seed=args.seed, noise=args.noise, preset=args.preset)
    except ValueError as err:
        print(f"soilbinn synth: {err}", file=sys.stderr)
        return 2
    t1 = time.perf_counter()
    out = save_dataset(ds, args.out)
    t2 = time.perf_counter()
    print(
        f"wrote {out}: {ds.sizes['site']} sites (seed {args.seed}); "
        f"generated in {t1 - t0:.1f} s, written in {t2 - t1:.1f} s"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "validate": Command(_configure_validate, _run_validate, "check a dataset against the schema"),
    "synth": Command(_configure_synth, _run_synth, "generate a synthetic CONUS dataset"),
}
