"""Time the additive kernel (:func:`soilbinn.nn.gp_prior.additive`) as the GP stage uses it.

One evidence-fit step builds four per-parameter kernels between the 400 evidence sites
with a gradient in the length scales (``rbf_stack`` + backward); each round also builds
them between all training sites without one. Prints seconds per call, one thread, for a
few feature counts (``demo`` runs on 3,000 sites have about 30 features)::

    python benchmarks/bench_additive_kernel.py --sites 400 --all-sites 2100 --features 12 24 40
"""

from __future__ import annotations

import argparse
import time

import torch

from soilbinn.nn.gp_prior import rbf_stack


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=400, help="evidence sites (with gradient)")
    ap.add_argument("--all-sites", type=int, default=2100, help="training sites (no gradient)")
    ap.add_argument("--features", type=int, nargs="+", default=[12, 24, 40])
    ap.add_argument("--parameters", type=int, default=4, help="learned parameters (kernels)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    for d in args.features:
        x = torch.randn(args.all_sites, d, generator=gen, dtype=torch.float64)
        sub = torch.randperm(args.all_sites, generator=gen)[: args.sites]
        ls = torch.zeros(args.parameters, d, dtype=torch.float64, requires_grad=True)
        w = torch.randn(args.parameters, args.sites, args.sites, generator=gen, dtype=torch.float64)
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            (rbf_stack(x[sub], x[sub], ls, "additive") * w).sum().backward()
        grad = (time.perf_counter() - t0) / args.repeat
        t0 = time.perf_counter()
        with torch.no_grad():
            rbf_stack(x, x, ls, "additive")
        full = time.perf_counter() - t0
        print(f"{d} features: {args.sites} sites with gradient {grad:.3f} s, "
              f"{args.all_sites} sites without {full:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
