"""Throughput of batched PRODA: MCMC steps/s and model evaluations/s vs batch size.

    python benchmarks/bench_proda.py [--sites 1 8 32] [--steps 200] [--threads 1]

Each MCMC step is one process-model call for all sites x chains; the per-call overhead is
shared by the whole batch, so evaluations/s grow with the number of sites. Prints a table
and compares with PRODA's MATLAB model (0.0793 s per evaluation in Octave).
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--chains", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", default="faithful")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.proda.retrieval import RetrievalConfig, retrieve

    ds = make_synthetic(max(args.sites), seed=0, noise=0.1)
    half = args.steps // 2
    print(f"{'sites':>6} {'chains':>6} {'steps':>6} {'evals':>9} {'seconds':>8} "
          f"{'steps/s':>8} {'evals/s':>9} {'ms/eval':>8} {'vs Octave':>9}")  # fmt: skip
    for n in args.sites:
        cfg = RetrievalConfig(mode=args.mode, n_uniform=half, n_gaussian=args.steps - half,
                              n_chains=args.chains, n_keep=100)  # fmt: skip
        sub = ds.isel(site=slice(0, n))
        t = time.perf_counter()
        out = retrieve(sub, cfg, progress=False)
        sec = out.attrs["sampling_time_s"]
        evals = out.attrs["n_model_evaluations"]
        steps = evals / (n * args.chains)
        total = time.perf_counter() - t
        print(f"{n:>6} {args.chains:>6} {steps:>6.0f} {evals:>9} {sec:>8.2f} {steps / sec:>8.1f} "
              f"{evals / sec:>9.0f} {1000 * sec / evals:>8.3f} {0.0793 * evals / sec:>8.0f}x"
              f"   (total incl. setup {total:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
