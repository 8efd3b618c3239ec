"""CPU cost of PRODA's retrieval per site, with the conditioning check on, vs batch size.

    python benchmarks/bench_proda.py [--sites 20 100 256] [--steps 300] [--threads 1]

For each batch of N sites (x 3 chains, one batched process-model call per MCMC step) the
benchmark runs ``--steps`` steps of the uniform phase and ``--steps`` steps of the adaptive
Gaussian phase (adaptation on, as after PRODA's step 4,000) and measures the **process
time** (CPU seconds of this process, one torch thread) of each. From the per-step costs it
extrapolates PRODA's full schedule, 20,000 uniform + 50,000 Gaussian steps per chain:

    CPU-s per site = (20,000 t_uniform + 50,000 t_gaussian) / N

The structured solve and the allocator are set up as ``proda retrieve`` sets them up
(the compiled kernel of :mod:`soilbinn.process.native` when it can be built, and
:func:`~soilbinn.process.native.retain_freed_memory`); the first output line says which.
``SOILBINN_NATIVE=0`` / ``SOILBINN_RETAIN_MEMORY=0`` measure without them.

This is the cost of the schedule itself; chain restarts (acceptance outside 10-50%, failed
uniform phases) repeat it for the restarted chains and are counted by ``proda retrieve``
(``n_evaluations``), not here. The extrapolation is linear in the number of steps, which
is exact for a fixed batch (every step does the same work); ``--check`` runs a second
size to show it.
"""

from __future__ import annotations

import argparse
import time

import torch


def _time_phase(state, cost, cfg, gen, steps: int) -> float:
    from soilbinn.proda.kernels import step

    t = time.process_time()
    for _ in range(steps):
        state, _ = step(state, cost, cfg, gen)
    return (time.process_time() - t) / steps


def measure(ds, steps: int, chains: int = 3, seed: int = 0) -> dict:
    """Process time per MCMC step of each phase for all sites of ``ds`` at once."""
    from dataclasses import replace

    from soilbinn.proda.kernels import GAUSSIAN, KernelConfig, init, step
    from soilbinn.proda.retrieval import RetrievalConfig, build_cost

    cfg_r = RetrievalConfig(n_chains=chains, preset="proda2023")
    cost, _, names, _ = build_cost(ds, cfg_r)
    n = ds.sizes["site"] * chains
    p0 = torch.full((n, len(names)), 0.5, dtype=torch.float64)
    big = 10**9
    # uniform phase: never ends within the measurement
    cfg = KernelConfig(n_uniform=big, n_gaussian=big)
    gen = torch.Generator().manual_seed(seed)
    state, _ = init(p0, cost, cfg)
    warm = max(10, steps // 10)
    for _ in range(warm):
        state, _ = step(state, cost, cfg, gen)
    t_u = _time_phase(state, cost, cfg, gen, steps)
    # Gaussian phase with adaptation every step (PRODA after its step 4,000)
    cfg_g = replace(cfg, n_uniform=warm, adapt_start=warm, min_accept_uniform=0)
    state, _ = init(p0, cost, cfg_g)
    for _ in range(3 * warm):
        state, _ = step(state, cost, cfg_g, gen)
    assert bool((state.phase == GAUSSIAN).all())
    t_g = _time_phase(state, cost, cfg_g, gen, steps)
    sites = ds.sizes["site"]
    return {
        "sites": sites,
        "rows": n,
        "ms_step_uniform": 1e3 * t_u,
        "ms_step_gaussian": 1e3 * t_g,
        "us_eval_uniform": 1e6 * t_u / n,
        "us_eval_gaussian": 1e6 * t_g / n,
        "cpu_s_per_site_full_schedule": (20_000 * t_u + 50_000 * t_g) / sites,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, nargs="+", default=[20, 100, 256])
    ap.add_argument("--steps", type=int, default=300, help="measured steps per phase")
    ap.add_argument("--chains", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="also measure at 2x steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from soilbinn.inputs.synth import make_synthetic

    ds = make_synthetic(max(args.sites), seed=0, noise=0.1)
    from soilbinn.process import native

    retained = native.retain_freed_memory()  # as proda retrieve (run_chains) does
    print(f"process time, {torch.get_num_threads()} thread(s), conditioning check on, "
          f"{args.steps} steps per phase; structured solve: {native.status()}; "
          f"freed memory retained (glibc): {retained}")  # fmt: skip
    print(f"{'sites':>6} {'rows':>6} {'ms/step U':>10} {'ms/step G':>10} {'us/eval U':>10} "
          f"{'us/eval G':>10} {'CPU-s/site (20k+50k)':>21}")  # fmt: skip
    for n in args.sites:
        for steps in [args.steps, 2 * args.steps] if args.check else [args.steps]:
            r = measure(ds.isel(site=slice(0, n)), steps, args.chains)
            print(f"{r['sites']:>6} {r['rows']:>6} {r['ms_step_uniform']:>10.2f} "
                  f"{r['ms_step_gaussian']:>10.2f} {r['us_eval_uniform']:>10.2f} "
                  f"{r['us_eval_gaussian']:>10.2f} {r['cpu_s_per_site_full_schedule']:>21.2f}"
                  + (f"   ({steps} steps)" if args.check else ""))  # fmt: skip


if __name__ == "__main__":
    main()
