"""Training benchmarks (prints numbers; not a test).

1. Seconds per epoch of BINN (paper network, batch 32) over N synthetic sites on this
   machine's CPU threads (default 25,925 sites = the paper's dataset size; 811 steps).
   ``--steps K`` times only K steps and extrapolates to the full epoch.
2. ``--skill``: test NSE of BINN and the pure NN on a synthetic dataset with 10% noise,
   with random and spatial splits.

Usage::

    python benchmarks/bench_training.py --sites 25925 --steps 100
    python benchmarks/bench_training.py --skill --skill-sites 3000 --epochs 15
    python benchmarks/bench_training.py --cv 5 --skill-sites 3000 --epochs 15
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch


def epoch_speed(n_sites: int, steps: int | None, threads: int) -> None:
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training import trainer as T
    from soilbinn.training.config import load_config
    from soilbinn.training.trainer import _Trainer  # noqa: F401 (the loop being timed)

    torch.set_num_threads(threads)
    t = time.perf_counter()
    ds = make_synthetic(n_sites, seed=0, noise=0.1)
    print(f"synthetic data: {n_sites} sites in {time.perf_counter() - t:.1f} s")
    cfg = load_config(None, ["train.epochs=1", "data.val_fraction=0.0", "data.test_fraction=0.0", f"train.num_threads={threads}",
                             "train.progress=false"])  # fmt: skip
    B = cfg.train.batch_size
    n_steps_full = n_sites // B + (1 if n_sites % B >= 2 else 0)
    if steps is not None and steps < n_steps_full:
        # time `steps` batches by training on steps * batch sites for one epoch
        sub = ds.isel(site=slice(0, steps * cfg.train.batch_size))
    else:
        sub, steps = ds, n_steps_full
    with tempfile.TemporaryDirectory() as d:
        res = T.train(cfg, sub, run_dir=f"{d}/run", figures=False)
    sec = float(res.history["seconds"].iloc[0])
    print(f"BINN paper network, batch 32, {threads} thread(s): {steps} steps in {sec:.2f} s "
          f"= {1000 * sec / steps:.1f} ms/step -> {sec / steps * n_steps_full:.1f} s per epoch "
          f"over {n_sites} sites ({n_steps_full} steps)")  # fmt: skip


def skill(n_sites: int, epochs: int) -> None:
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training.config import load_config
    from soilbinn.training.trainer import train

    ds = make_synthetic(n_sites, seed=0, noise=0.1)
    print("| model | split | test NSE | test R2 | epochs | s |\n|---|---|---|---|---|---|")
    for split in ("random", "spatial"):
        for kind in ("binn", "nn"):
            cfg = load_config("demo", [f"model.kind={kind}", f"data.split={split}",
                                       f"train.epochs={epochs}", "train.progress=false"])  # fmt: skip
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as d:
                res = train(cfg, ds, run_dir=f"{d}/run", figures=False)
            m = res.metrics.loc[("test", "all")]
            print(f"| {kind} | {split} | {m['nse']:.3f} | {m['r2']:.3f} | {len(res.history)} | "
                  f"{time.perf_counter() - t:.0f} |", flush=True)  # fmt: skip


def cv_skill(n_sites: int, epochs: int, k: int) -> None:
    """k-fold CV (random and spatial 2-degree blocks): mean +- std of test NSE."""
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training.config import load_config
    from soilbinn.training.cv import cross_validate

    ds = make_synthetic(n_sites, seed=0, noise=0.1)
    print(f"{k}-fold CV, {n_sites} synthetic sites (10% noise), demo config, {epochs} epochs")
    print("| model | CV | test NSE mean | std | test R2 mean | s |\n|---|---|---|---|---|---|")
    for kind in ("random", "spatial"):
        for model in ("binn", "nn"):
            cfg = load_config("demo", [f"model.kind={model}", f"train.epochs={epochs}",
                                       "train.progress=false"])  # fmt: skip
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as d:
                table = cross_validate(cfg, ds, k, kind, f"{d}/cv")
            print(f"| {model} | {kind} | {table.loc['mean', 'nse']:.3f} | "
                  f"{table.loc['std', 'nse']:.3f} | {table.loc['mean', 'r2']:.3f} | "
                  f"{time.perf_counter() - t:.0f} |", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=25925)
    ap.add_argument("--steps", type=int, default=None, help="time only this many steps")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skill", action="store_true")
    ap.add_argument("--skill-sites", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--cv", type=int, default=0, help="k-fold CV skill instead (k folds)")
    args = ap.parse_args()
    if args.cv:
        cv_skill(args.skill_sites, args.epochs, args.cv)
    elif args.skill:
        skill(args.skill_sites, args.epochs)
    else:
        epoch_speed(args.sites, args.steps, args.threads)


if __name__ == "__main__":
    main()
