"""CLI verb of the data layer: ``soilbinn validate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import xarray as xr

from soilbinn.cli import Command
from soilbinn.data.schema import PARTS, present_parts, validate_dataset


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


COMMANDS: dict[str, Command] = {
    "validate": Command(_configure_validate, _run_validate, "check a dataset against the schema"),
}
