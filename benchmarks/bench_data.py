"""Benchmark of the data layer: synthetic generation, NetCDF write, load + forcing build.

Usage: python benchmarks/bench_data.py [--sites 25925] [--out /tmp/bench_synth.nc]
Prints a table of wall-clock seconds (targets: synth < 60 s, load < 5 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from soilbinn.data.schema import (
    covariates_from_dataset,
    forcing_from_dataset,
    load_dataset,
    observations_from_dataset,
    save_dataset,
)
from soilbinn.inputs.synth import make_synthetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=25925)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="NetCDF path (default: a temporary file)")
    args = ap.parse_args()
    out = args.out or os.path.join(tempfile.mkdtemp(), "bench_synth.nc")
    rows = []
    t = time.perf_counter()
    ds = make_synthetic(args.sites, seed=args.seed)
    rows.append(("make_synthetic (incl. process model)", time.perf_counter() - t))
    t = time.perf_counter()
    save_dataset(ds, out)
    rows.append(("save_dataset", time.perf_counter() - t))
    t = time.perf_counter()
    back = load_dataset(out, require=("forcing",))
    forcing = forcing_from_dataset(back)
    rows.append(("load_dataset + forcing_from_dataset", time.perf_counter() - t))
    t = time.perf_counter()
    back = load_dataset(out, require=("forcing", "observations", "covariates", "params"))
    observations_from_dataset(back)
    covariates_from_dataset(back)
    rows.append(("load_dataset (all parts) + obs + covariates", time.perf_counter() - t))
    size = os.path.getsize(out) / 1e6
    print(
        f"sites={args.sites} torch_threads={torch.get_num_threads()} cpus={os.cpu_count()} file={size:.0f} MB"
    )
    print(f"{'step':<46}{'seconds':>9}")
    for name, sec in rows:
        print(f"{name:<46}{sec:>9.2f}")
    assert len(forcing) == args.sites
    if args.out is None:
        os.unlink(out)


if __name__ == "__main__":
    main()
