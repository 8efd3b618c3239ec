"""Time the real-data preparation (profiles -> dataset; CONUS grid) and print a table.

Usage: python benchmarks/bench_real.py [--shared PATH] [--max-profiles N]
Needs the shared data folder; prints a message and exits 0 when it is absent.
"""

from __future__ import annotations

import argparse
import resource
import time

from soilbinn.inputs.grids import clear_cache, default_shared_path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=None)
    ap.add_argument("--max-profiles", type=int, default=None)
    args = ap.parse_args()
    shared = args.shared or default_shared_path()
    from pathlib import Path

    if not (Path(shared) / "grids" / "cesm2").exists():
        print(f"shared data not found at {shared}; nothing to benchmark")
        return 0
    from soilbinn.inputs.dataset import build_grid_dataset, build_real_dataset

    clear_cache()
    t0 = time.perf_counter()
    ds, rep = build_real_dataset(shared, max_profiles=args.max_profiles)
    t1 = time.perf_counter()
    g = build_grid_dataset(shared, resolution=0.5)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'step':<34}{'seconds':>10}{'items':>10}")
    print(
        f"{'harmonise profiles':<34}{rep['seconds']['harmonise']:>10.2f}{rep['kept']['sites']:>10}"
    )
    print(f"{'forcing + covariates (sites)':<34}{rep['seconds']['forcing_covariates']:>10.2f}"
          f"{rep['kept']['layers']:>10}")  # fmt: skip
    print(f"{'real dataset total (cold cache)':<34}{t1 - t0:>10.2f}{ds.sizes['site']:>10}")
    print(f"{'CONUS 0.5 deg grid (warm cache)':<34}{t2 - t1:>10.2f}{g.sizes['site']:>10}")
    print(f"peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
