"""Benchmark of the process model: throughput (sites/s) and peak memory.

Forward and forward+backward of ``CLM5Model`` (structured solver) for several batch sizes,
and in the same run the dense batched ``torch.linalg.solve`` of the same 140x140 systems.
Each measurement runs in a fresh subprocess so that its peak memory can be read
(``ru_maxrss`` on CPU, ``max_memory_allocated`` on CUDA). Run ``soilbinn bench`` or
``python -m soilbinn.process.bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from soilbinn.io import add_overwrite_argument, check_output, write_text


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(n: int, mode: str, solver: str, device: str, repeat: int, transport: str) -> dict:
    """Time one configuration in this process; returns seconds (median) and peak MB."""
    import torch

    from soilbinn.process.examples import random_forcing, random_parameters
    from soilbinn.process.model import CLM5Model

    dev = torch.device(device)
    model = CLM5Model(
        "binn2025", transport=transport, solver=solver, check_conditioning=False,
        chunk_size=32768 if solver == "structured" else 1024,
    )  # fmt: skip
    forcing = random_forcing(n, seed=1, device=dev)
    p0 = random_parameters(n, model.space, seed=1).to(dev)
    prepared = model.prepare(forcing)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step():
        if mode == "forward":
            with torch.no_grad():
                model(p0, prepared)
        else:
            p = p0.clone().requires_grad_()
            out = model(p, prepared)
            out["soc_layer"].sum().backward()
        sync()

    step()  # warm-up
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mb()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base, 0.0)
    return {"seconds": statistics.median(times), "peak_mb": peak}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="1,32,256,2048,25925", help="comma-separated batch sizes")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions (the median is shown)")
    p.add_argument("--dense-max", type=int, default=2048,
                   help="largest batch for the dense reference (memory grows as 157 kB/site)")  # fmt: skip
    p.add_argument("--transport", default="clm5", choices=["clm5", "simple", "simple2"],
                   help="vertical transport scheme")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    p.add_argument("--json", help="also write the results as JSON here")
    add_overwrite_argument(p)


def _child(n, mode, solver, args) -> dict:
    cmd = [sys.executable, "-m", "soilbinn.process.bench", "--worker", str(n), mode, solver,
           args.device, str(args.repeat), args.transport]  # fmt: skip
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> int:
    import torch

    if args.json:
        check_output(args.json, args.overwrite)
    sizes = [int(s) for s in str(args.sizes).split(",") if s]
    threads = args.threads or torch.get_num_threads()
    print(f"soilbinn process-model benchmark: device={args.device}, torch {torch.__version__}, "
          f"{threads} threads, transport={args.transport}, float64")  # fmt: skip
    header = (f"{'sites':>7} {'solver':>10} {'fwd s':>9} {'fwd sites/s':>12} {'fwd+bwd s':>10} "
              f"{'f+b sites/s':>12} {'peak MB':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    rows = []
    for n in sizes:
        for solver in ("structured", "dense"):
            if solver == "dense" and n > args.dense_max:
                continue
            f = _child(n, "forward", solver, args)
            b = _child(n, "backward", solver, args)
            row = {"sites": n, "solver": solver, "forward_s": f["seconds"],
                   "backward_s": b["seconds"], "peak_mb": max(f["peak_mb"], b["peak_mb"])}  # fmt: skip
            rows.append(row)
            print(f"{n:>7} {solver:>10} {f['seconds']:>9.4f} {n / f['seconds']:>12.0f} "
                  f"{b['seconds']:>10.4f} {n / b['seconds']:>12.0f} {row['peak_mb']:>8.0f}",
                  flush=True)  # fmt: skip
    dense = {r["sites"]: r for r in rows if r["solver"] == "dense"}
    for r in rows:
        if r["solver"] == "structured" and r["sites"] in dense:
            d = dense[r["sites"]]
            print(f"structured vs dense at {r['sites']} sites: forward "
                  f"{d['forward_s'] / r['forward_s']:.1f}x, forward+backward "
                  f"{d['backward_s'] / r['backward_s']:.1f}x faster")  # fmt: skip
    if args.json:
        write_text(args.json, json.dumps(rows, indent=1))
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--worker":
        n, mode, solver, device, repeat, transport = argv[1:7]
        print(json.dumps(measure(int(n), mode, solver, device, int(repeat), transport)))
        return 0
    p = argparse.ArgumentParser(prog="python -m soilbinn.process.bench", description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
