"""Time the GP stage's site kernels (:func:`soilbinn.nn.gp_prior.rbf_stack`) as it uses them.

One evidence-fit step builds four per-parameter kernels between the 400 evidence sites
with a gradient in the length scales (``rbf_stack`` + backward); each round also builds
them between all training sites without one. Prints seconds per call (wall and CPU, user
plus system), one thread, for a few feature counts (``demo`` runs on 3,000 sites have
about 30 features, half of them categories' one-hot columns), and how each compares
with the way stop 79 computed it, in the same run: the kernel without a gradient in
cached blocks against one block (``_KERNEL_BLOCK``), and the additive backward reading
the correlations its forward kept against recomputing them (``_KEEP_MAX``)::

    python benchmarks/bench_additive_kernel.py --sites 400 --all-sites 2550 --features 16 31
"""

from __future__ import annotations

import argparse
import time

import torch

from soilbinn.nn import gp_prior


def _timed(fn, repeat: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``fn`` (the best of ``repeat``)."""
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu


def _one(d: int, args: argparse.Namespace, gen: torch.Generator) -> None:
    """Time and print the kernels with ``d`` features."""
    f64 = torch.float64
    n_cat = d // 2  # one-hot columns of two categorical covariates, the rest continuous
    member = torch.randint(0, n_cat // 2, (args.all_sites,), generator=gen)
    onehot = torch.nn.functional.one_hot(member, n_cat // 2).to(f64)
    second = torch.randint(0, n_cat - n_cat // 2, (args.all_sites,), generator=gen)
    onehot2 = torch.nn.functional.one_hot(second, n_cat - n_cat // 2).to(f64)
    cats = torch.cat([onehot, onehot2], 1)
    x = torch.cat([torch.randn(args.all_sites, d - n_cat, generator=gen, dtype=f64),
                   (cats - cats.mean(0)) / cats.std(0).clamp_min(1e-9)], 1)  # fmt: skip
    is_cat = torch.tensor([False] * (d - n_cat) + [True] * n_cat)
    width = gp_prior.lengthscale_width(args.correlation, d)
    ls0 = 0.3 * torch.randn(args.parameters, width, generator=gen, dtype=f64)
    sub = torch.randperm(args.all_sites, generator=gen)[: args.sites]
    w = torch.randn(args.parameters, args.sites, args.sites, generator=gen, dtype=f64)
    kern = (args.correlation, is_cat)

    def with_gradient() -> None:
        ls = ls0.clone().requires_grad_(True)
        (gp_prior.rbf_stack(x[sub], x[sub], ls, *kern) * w).sum().backward()

    def without() -> None:
        with torch.no_grad():
            gp_prior.rbf_stack(x, x, ls0, *kern)

    kept = _timed(with_gradient, args.repeat)
    blocked = _timed(without, args.repeat)
    keep_max, block = gp_prior._KEEP_MAX, gp_prior._KERNEL_BLOCK
    try:  # stop 79's way: the backward recomputes, the whole kernel in one block
        gp_prior._KEEP_MAX, gp_prior._KERNEL_BLOCK = -1, args.all_sites
        recomputed = _timed(with_gradient, args.repeat)
        one_block = _timed(without, args.repeat)
    finally:
        gp_prior._KEEP_MAX, gp_prior._KERNEL_BLOCK = keep_max, block
    print(f"{d} features ({n_cat} one-hot), {args.parameters} kernels {args.correlation}:")
    print(f"  {args.sites} sites with gradient: kept {kept[0]:.3f} s wall "
          f"{kept[1]:.3f} s CPU, recomputed {recomputed[0]:.3f} s wall "
          f"{recomputed[1]:.3f} s CPU (ratio {recomputed[1] / kept[1]:.2f})")  # fmt: skip
    print(f"  {args.all_sites} sites without: blocks {blocked[0]:.3f} s wall "
          f"{blocked[1]:.3f} s CPU, one block {one_block[0]:.3f} s wall "
          f"{one_block[1]:.3f} s CPU (ratio {one_block[1] / blocked[1]:.2f})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=400, help="evidence sites (with gradient)")
    ap.add_argument("--all-sites", type=int, default=2550, help="training sites (no gradient)")
    ap.add_argument("--features", type=int, nargs="+", default=[16, 31])
    ap.add_argument("--parameters", type=int, default=4, help="learned parameters (kernels)")
    ap.add_argument("--correlation", default="squared_exponential+additive")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    for d in args.features:
        _one(d, args, gen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
