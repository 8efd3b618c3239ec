"""``soilbinn prepare real|grid`` (the real-data training set or a region's grid) and
``soilbinn synth`` (a synthetic dataset)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from soilbinn.cli import Command
from soilbinn.inputs import forcing as fx
from soilbinn.inputs.sampling import MAX_DISTANCE_KM, WATER_SCALARS
from soilbinn.io import add_overwrite_argument, check_output, write_text


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    r = sub.add_parser(
        "real", help="observed CONUS SOC profiles with derived forcing and covariates"
    )
    g = sub.add_parser(
        "grid", help="forcing and covariates on the land cells of a region's grid (for maps)"
    )
    for q in (r, g):
        q.add_argument(
            "--shared",
            type=Path,
            default=None,
            help="shared data folder (default $SOILBINN_SHARED_DATA or ../shared/data)",
        )
        q.add_argument("--out", type=Path, required=True, help="output NetCDF file")
        q.add_argument(
            "--max-km",
            type=float,
            default=MAX_DISTANCE_KM,
            help="largest distance (km) from a point to the cell an input is taken from when "
            "its own cell has no value (each input separately)",
        )
        q.add_argument(
            "--nitrogen",
            type=float,
            default=fx.NITROGEN_SCALAR,
            help="assumed constant nitrogen scalar (0-1)",
        )
    r.add_argument("--max-profiles", type=int, default=None, help="random subset of profiles")
    r.add_argument(
        "--raca",
        choices=("pedon", "site"),
        default="pedon",
        help="keep RaCA pedons separately or composite each site location",
    )
    r.add_argument(
        "--land-use",
        action="store_true",
        help="add the land_use category (not available on the prediction grid)",
    )
    r.add_argument(
        "--raca-vnir",
        choices=("fallback", "drop"),
        default="fallback",
        help="RaCA layers without a lab value: VNIR prediction or dropped",
    )
    r.add_argument(
        "--hwsd-oc",
        action="store_true",
        help="add HWSD topsoil organic carbon as a covariate (off by default: it is itself "
        "a map of SOC, from the same soil surveys as many target pedons)",
    )
    r.add_argument(
        "--water-scalar",
        choices=WATER_SCALARS,
        default="clm5",
        help="clm5: CLM5's form from a multi-layer soil water balance; bucket: the earlier "
        "single bucket, only to measure what the change did (predictions use clm5)",
    )
    r.add_argument(
        "--no-raca-stocks",
        action="store_true",
        help="leave out RaCA's pedon stocks (raca_pedon_stocks.csv)",
    )
    r.add_argument(
        "--stocks",
        type=Path,
        action="append",
        default=[],
        metavar="CSV",
        help="add your own stock table (site_id,lat,lon,top_cm,bottom_cm,"
        "stock_kg_m2; see soilbinn.inputs.stocks); repeatable",
    )
    r.add_argument("--seed", type=int, default=0, help="seed of the --max-profiles subset")
    for q in (r, g):
        q.add_argument("--report", type=Path, default=None,
                       help="the full report as JSON (default: OUT with suffix .report.json)")  # fmt: skip
        add_overwrite_argument(q)
    g.add_argument("--resolution", type=float, default=0.5, help="grid spacing (degrees)")
    g.add_argument(
        "--region",
        default="conus",
        help="conus (default), global, or a box lon0,lat0,lon1,lat1 in degrees (write "
        "--region=-100,38,-98,40 when it starts with a minus sign)",
    )
    c = sub.add_parser(
        "check-stocks",
        help="compare stocks from the harmonised RaCA layers with RaCA's published pedon stocks",
    )
    c.add_argument("--shared", type=Path, default=None,
                   help="shared data folder (default $SOILBINN_SHARED_DATA or ../shared/data)")  # fmt: skip
    c.add_argument("--targets", choices=("source", "legacy", "both"), default="both",
                   help="harmonisation rules to check (legacy = the earlier VNIR rules)")  # fmt: skip


def _run(args: argparse.Namespace) -> int:
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.dataset import build_grid_dataset, build_real_dataset
    from soilbinn.inputs.grids import SharedDataError
    from soilbinn.inputs.regions import RegionError
    from soilbinn.inputs.stocks import StockTableError, read_stock_table

    if args.what == "check-stocks":
        from soilbinn.inputs.profiles import print_stock_check

        return print_stock_check(args.shared, args.targets)
    report_path = args.report or args.out.with_suffix(".report.json")
    check_output(args.out, args.overwrite)
    check_output(report_path, args.overwrite)
    t0 = time.perf_counter()
    try:
        if args.what == "real":
            tables = [read_stock_table(p) for p in args.stocks]
            ds, report = build_real_dataset(
                args.shared, max_profiles=args.max_profiles, raca=args.raca,
                land_use=args.land_use, max_km=args.max_km, nitrogen=args.nitrogen,
                seed=args.seed, raca_vnir=args.raca_vnir, hwsd_oc=args.hwsd_oc,
                water=args.water_scalar,
                raca_stocks=not args.no_raca_stocks, stock_tables=tables,
            )  # fmt: skip
        else:
            ds = build_grid_dataset(args.shared, resolution=args.resolution, region=args.region,
                                    max_km=args.max_km, nitrogen=args.nitrogen)  # fmt: skip
            report = {"cells": int(ds.sizes["site"]),
                      "cells_without_inputs": int(ds.attrs["cells_without_inputs"]),
                      "cells_masked_water": int(ds.attrs["cells_masked_water"]),
                      "land_mask": str(ds.attrs["land_mask"])}  # fmt: skip
    except (SharedDataError, StockTableError, RegionError, FileNotFoundError) as e:
        print(f"soilbinn prepare: {e}", file=sys.stderr)
        return 2
    save_dataset(ds, args.out)
    report["seconds_total"] = round(time.perf_counter() - t0, 2)
    report["output"] = str(args.out)
    write_text(report_path, json.dumps(report, indent=2) + "\n")
    print(_summary(report, report_path))
    return 0


def _summary(report: dict, report_path: Path) -> str:
    """A few human lines from the report (the full report is the JSON file)."""
    kept = report.get("kept", {})
    if "sites" in kept:
        by = ", ".join(f"{k} {v}" for k, v in kept.get("by_source", {}).items())
        head = (f"wrote {report['output']}: {kept['sites']} sites from "
                f"{kept.get('source_profiles', '?')} profiles, {kept.get('layers', '?')} layers ({by})")  # fmt: skip
    else:
        head = (f"wrote {report['output']}: {report.get('cells', '?')} grid cells "
                f"({report.get('cells_without_inputs', '?')} without inputs; "
                f"{report.get('cells_masked_water', '?')} mostly water left out)")  # fmt: skip
    lines = [head]
    dropped = report.get("dropped_profiles", {})
    if isinstance(dropped, dict) and dropped:
        total = sum(v for v in dropped.values() if isinstance(v, (int, float)))
        top = sorted(
            dropped.items(), key=lambda kv: -kv[1] if isinstance(kv[1], (int, float)) else 0
        )
        lines.append(f"  dropped {total:g} profiles; most often: "
                     + "; ".join(f"{k} ({v})" for k, v in top[:3]))  # fmt: skip
    lines.append(f"  {report['seconds_total']:.0f} s; full report: {report_path}")
    return "\n".join(lines)


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
    from soilbinn.data.schema import save_dataset
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
    "synth": Command(_configure_synth, _run_synth, "generate a synthetic CONUS dataset"),
    "prepare": Command(_configure, _run, "prepare real observed profiles or a region's grid"),
}
