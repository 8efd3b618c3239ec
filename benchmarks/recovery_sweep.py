"""Issue 11's acceptance on many truths at once: draw, train, predict, score (benchmark aid).

For each truth ``FAMILY:SEED`` (families of ``benchmarks/recovery_truths.py``) and each
site count of ``--sites``, this draws the truth (10% log-normal noise unless ``--noise``),
runs ``soilbinn identifiability`` on it (the paper's four parameters, at the truth), then
the acceptance command exactly as a user types it, single-threaded::

    soilbinn train --data T.nc --config demo --set "model.learned=[efolding,tau4s3,fs1s3,w_scaling]" \\
        --set model.fixed_from=true_params --set data.split=spatial --set train.num_threads=1
    soilbinn predict RUN --data T.nc --out P.nc

and scores the held-out (test) sites of the run's own split: R2 of efolding, tau4s3 and
fs1s3, and how many of the test sites where the identifiability analysis calls w_scaling
constrained have it within 2 posterior sd of the truth. A truth meets the target when all
three R2 reach 0.85 and that share is at least 95% (or no test site constrains w_scaling).
``cpu_s`` is the user CPU time of ``soilbinn train`` (one thread: what one free core
takes). Rows are appended to ``--out`` (CSV) as each truth finishes; a rerun skips the
truths already there, so an interrupted sweep resumes. Extra ``--set`` overrides go to
``train`` (a variant of ``demo`` to compare); ``--tag`` names it in the table.

Usage::

    python benchmarks/recovery_sweep.py --truths mix:2319,lc:2321,gp:2327 --sites 1000,3000 \\
        --workdir sweep --out sweep/demo.csv
    python benchmarks/recovery_sweep.py --truths mix:2319 --sites 1000 --workdir sweep \\
        --out sweep/hs40.csv --tag hs40 --set train.gp_prior.hyper_steps=40
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recovery import where_identifiable  # noqa: E402
from recovery_truths import TRUTHS, make_truth_dataset  # noqa: E402

from soilbinn.data.schema import save_dataset  # noqa: E402
from soilbinn.experiments.common import PAPER_RECOVERY_PARAMS, scores  # noqa: E402

TARGET_R2, TARGET_SHARE = 0.85, 0.95


def _run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` single-threaded with its output in ``log``; its user CPU seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with open(log, "a") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"recovery_sweep: {' '.join(cmd[:4])} failed, see {log}")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def score_run(data: Path, run: Path, pred: Path, ident: Path) -> dict[str, float]:
    """Held-out R2 of the learned parameters and w_scaling's share within 2 posterior sd
    at the constrained test sites of ``run``'s split (the acceptance of issue 11)."""
    ds = xr.open_dataset(data).load()
    split = pd.read_csv(run / "split.csv")
    test_ids = split.loc[split.split == "test", "site"].astype(str).values
    test = ds.sel(site=test_ids)
    pr = xr.open_dataset(pred).load().sel(site=test_ids)
    names = [str(p) for p in ds["param"].values]
    row: dict[str, float] = {"n_test": len(test_ids)}
    for name in PAPER_RECOVERY_PARAMS:
        j = names.index(name)
        row[f"r2_{name}"] = scores(pr["params"].values[:, j], test["true_params"].values[:, j])[
            "r2"
        ]
    w = where_identifiable(xr.open_dataset(ident), test, pr, ["w_scaling"]).loc["w_scaling"]
    n_c = int(w["n_constrained"])
    row["w_constrained"] = n_c
    row["w_within_2sd"] = int(round(w["within_2sd_constrained"] * n_c)) if n_c else 0
    r2_min = min(row[f"r2_{n}"] for n in PAPER_RECOVERY_PARAMS if n != "w_scaling")
    share = row["w_within_2sd"] / n_c if n_c else 1.0
    row["meets_target"] = bool(r2_min >= TARGET_R2 and share >= TARGET_SHARE)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--truths", required=True, help="FAMILY:SEED,... (families: "
                    + ", ".join(sorted(TRUTHS)) + ")")  # fmt: skip
    ap.add_argument("--sites", default="3000", help="site counts, comma-separated")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--workdir", required=True, help="truths, runs and logs go here")
    ap.add_argument("--out", required=True, help="CSV of the rows (appended, resumable)")
    ap.add_argument("--tag", default="demo", help="name of this variant in the table")
    ap.add_argument("--set", action="append", default=[], help="extra train override")
    a = ap.parse_args()
    work, out = Path(a.workdir), Path(a.out)
    work.mkdir(parents=True, exist_ok=True)
    rows = pd.read_csv(out).to_dict("records") if out.exists() else []
    items = []
    for item in a.truths.split(","):
        family, _, seed = item.partition(":")
        if family not in TRUTHS or not seed.isdigit():
            raise SystemExit(f"recovery_sweep: --truths: {item!r} is not FAMILY:SEED")
        items += [(family, int(seed), int(n)) for n in a.sites.split(",")]
    learned = f"model.learned=[{','.join(PAPER_RECOVERY_PARAMS)}]"
    for family, seed, n in items:
        name = f"{family}{seed}_n{n}" + ("" if a.noise == 0.1 else f"_s{a.noise:g}")
        if any(r["truth"] == name and r["tag"] == a.tag for r in rows):
            continue
        data, ident = work / f"{name}.nc", work / f"id_{name}.nc"
        run, pred, log = (
            work / f"{name}_{a.tag}",
            work / f"pred_{name}_{a.tag}.nc",
            work / f"{name}_{a.tag}.log",
        )
        if not data.exists():
            save_dataset(make_truth_dataset(family, n, seed=seed, noise=a.noise), data)
        if not ident.exists():
            _run(["soilbinn", "identifiability", str(data), "--learned",
                  ",".join(PAPER_RECOVERY_PARAMS), "--out", str(ident)], log)  # fmt: skip
        if run.exists():  # an interrupted training: its CPU time would not be the whole
            raise SystemExit(f"recovery_sweep: {run} exists without a row in {out}; "
                             "remove it to train that truth again")  # fmt: skip
        cmd = ["soilbinn", "train", "--data", str(data), "--config", "demo", "--set", learned,
               "--set", "model.fixed_from=true_params", "--set", "data.split=spatial",
               "--set", "train.num_threads=1", "--set", "train.progress=false",
               "--run-dir", str(run)]  # fmt: skip
        for s in a.set:
            cmd += ["--set", s]
        cpu = _run(cmd, log)
        _run(["soilbinn", "predict", str(run), "--data", str(data), "--out", str(pred),
              "--overwrite"], log)  # fmt: skip
        row = {"truth": name, "family": family, "seed": seed, "sites": n, "noise": a.noise,
               "tag": a.tag, **score_run(data, run, pred, ident), "cpu_s": round(cpu, 1)}  # fmt: skip
        rows.append(row)
        tmp = out.with_suffix(".tmp")
        pd.DataFrame(rows).to_csv(tmp, index=False)
        os.replace(tmp, out)
        r2 = " / ".join(f"{row[f'r2_{p}']:.3f}" for p in PAPER_RECOVERY_PARAMS if p != "w_scaling")
        print(f"{name} {a.tag}: R2 {r2}, w_scaling {row['w_within_2sd']}/{row['w_constrained']}, "
              f"{'meets the target' if row['meets_target'] else 'misses'}, {cpu:.0f} CPU s", flush=True)  # fmt: skip
    done = pd.DataFrame(rows)
    if len(done):
        done = done[done["tag"] == a.tag].astype({"meets_target": bool, "sites": int})
        table = done.groupby("sites")["meets_target"].agg(["sum", "count"])
        print(table.rename(columns={"sum": "meet", "count": "truths"}).to_string())


if __name__ == "__main__":
    main()
