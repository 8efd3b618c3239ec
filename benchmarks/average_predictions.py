"""Held-out recovery of several predictions of one synthetic truth, and of their average.

Two GP stages that differ only in their prior (e.g. the tie of the length scales,
``train.gp_prior.lengthscale_spread``) err in different places; this scores each
prediction and their mean on the unit scale against ``true_params`` at the sites that
``RUN/split.csv`` marks ``test`` (R2 per learned parameter, as the acceptance of issue 11
reads it). Used for the stop 37 table of ``docs/recovery_ablation.md``.

Usage::

    python benchmarks/average_predictions.py lc41.nc RUN pred_a.nc pred_b.nc
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

PARAMS = ("efolding", "tau4s3", "fs1s3")


def held_out_r2(truth: xr.Dataset, params: np.ndarray, test: np.ndarray) -> list[float]:
    """R2 of ``params`` ((n_site, len(PARAMS)), unit scale) against the truth at ``test``."""
    out = []
    for j, name in enumerate(PARAMS):
        t = truth.true_params.sel(param=name).values[test]
        q = params[test, j]
        out.append(float(1 - np.sum((t - q) ** 2) / np.sum((t - t.mean()) ** 2)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="synthetic dataset with true_params")
    ap.add_argument("run", help="run directory whose split.csv marks the held-out sites")
    ap.add_argument("predictions", nargs="+", help="outputs of `soilbinn predict` on DATA")
    args = ap.parse_args(argv)
    for path in [args.data, f"{args.run}/split.csv", *args.predictions]:
        if not Path(path).is_file():
            print(f"{path}: no such file", file=sys.stderr)
            return 2
    truth = xr.open_dataset(args.data)
    split = pd.read_csv(f"{args.run}/split.csv")
    held = set(split.site[split.split == "test"].astype(str))
    test = np.array([str(s) in held for s in truth.site.values])
    stack = []
    for path in args.predictions:
        pred = xr.open_dataset(path)
        if [str(s) for s in pred.site.values] != [str(s) for s in truth.site.values]:
            print(f"{path}: its sites are not those of {args.data}", file=sys.stderr)
            return 2
        stack.append(np.stack([pred.params.sel(param=p).values for p in PARAMS], axis=1))
    rows = [(path, held_out_r2(truth, p, test)) for path, p in zip(args.predictions, stack)]
    if len(stack) > 1:
        rows.append(("mean of the above", held_out_r2(truth, np.mean(stack, axis=0), test)))
    print(f"held-out sites: {int(test.sum())}; R2 " + " / ".join(PARAMS))
    for name, r2 in rows:
        print(f"{name}: " + " / ".join(f"{v:.3f}" for v in r2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
