"""Time the real-data preparation and measure the refusal rate at real pedon locations.

Usage: python benchmarks/bench_real.py [--shared PATH] [--max-profiles N] [--no-global]

Steps, each from a cold grid cache (every file read again):
1. ``prepare real`` (profiles -> training dataset with forcing and covariates), target <= 60 s;
2. the CONUS 0.5 degree grid, target <= 30 s;
3. the refusal rate of ``predict --sites`` inputs at every distinct real profile / pedon
   location of the shared profile CSVs inside CONUS, target <= 0.5 %, none inland;
4. the global 0.5 degree grid, target < 120 s and < 4 GB peak memory.

Prints one table; peak RSS is the process maximum after each step. Needs the shared data
folder; prints a message and exits 0 when it is absent.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from soilbinn.inputs.grids import clear_cache, default_shared_path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pedon_locations(shared: Path):
    """Distinct (lat, lon) of every profile and pedon in the shared profile CSVs."""
    import pandas as pd

    files = ("raca_pedon_stocks.csv", "sodah_layers.csv", "raca_layers_west.csv", "neon_layers.csv")
    frames = [pd.read_csv(shared / "profiles" / f, usecols=["lat", "lon"]) for f in files]
    df = pd.concat(frames).dropna().round(4).drop_duplicates().reset_index(drop=True)
    df.insert(0, "site", [f"p{i}" for i in range(len(df))])
    return df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=None, type=Path)
    ap.add_argument("--max-profiles", type=int, default=None)
    ap.add_argument("--no-global", action="store_true", help="skip the global grid")
    args = ap.parse_args()
    shared = Path(args.shared or default_shared_path())
    if not (shared / "grids" / "cesm2").exists():
        print(f"shared data not found at {shared}; nothing to benchmark")
        return 0
    from soilbinn.inputs.dataset import build_grid_dataset, build_real_dataset
    from soilbinn.inputs.regions import in_conus
    from soilbinn.inputs.sites import build_site_dataset

    rows = []
    clear_cache()
    t0 = time.perf_counter()
    ds, rep = build_real_dataset(shared, max_profiles=args.max_profiles)
    rows.append(("prepare real", time.perf_counter() - t0, f"{ds.sizes['site']} sites", 60))
    rows[-1] += (_rss_mb(),)

    clear_cache()
    t0 = time.perf_counter()
    g = build_grid_dataset(shared, resolution=0.5, region="conus")
    rows.append(("CONUS 0.5 deg grid", time.perf_counter() - t0, f"{g.sizes['site']} cells", 30))
    rows[-1] += (_rss_mb(),)

    loc = pedon_locations(shared)
    loc = loc[in_conus(loc.lat.to_numpy(), loc.lon.to_numpy())]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "pedons.csv"
        loc.to_csv(csv, index=False)
        t0 = time.perf_counter()
        sd, refused = build_site_dataset(csv, shared)
        dt = time.perf_counter() - t0
    share = 100.0 * len(refused) / max(len(loc), 1)
    rows.append(("pedon locations (warm cache)", dt,
                 f"{len(refused)}/{len(loc)} refused = {share:.2f}%", None, _rss_mb()))  # fmt: skip

    if not args.no_global:
        clear_cache()
        t0 = time.perf_counter()
        gg = build_grid_dataset(shared, resolution=0.5, region="global")
        rows.append(("global 0.5 deg grid", time.perf_counter() - t0,
                     f"{gg.sizes['site']} cells ({gg.attrs['cells_without_inputs']} without "
                     "inputs)", 120, _rss_mb()))  # fmt: skip

    print(f"{'step':<30}{'seconds':>9}{'target s':>10}{'peak RSS MB':>13}  result")
    for name, sec, what, target, rss in rows:
        tgt = "" if target is None else f"{target}"
        print(f"{name:<30}{sec:>9.1f}{tgt:>10}{rss:>13.0f}  {what}")
    if len(refused):
        print("refused pedon locations:")
        print(refused.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
