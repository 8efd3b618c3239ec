"""Compute needed by PRODA and BINN to retrieve parameters for the same sites (experiment 3).

Measured in one run on this machine: wall time and process-model evaluations
(site-evaluations: one site's steady state, forward only for PRODA, forward + backward
for BINN training) of

- our batched PRODA (all sites x chains in one model call per step) at the configured
  iteration counts, and
- BINN training on the same sites for the configured epochs (plus validation passes).

Extrapolation to the paper's 25,925 profiles: PRODA at its default schedule needs at
least 210,003 evaluations per site (3 chains x 70,000 steps + 3 starts; restarts add
more), so its cost is ``measured seconds per evaluation x 210,003 x 25,925``; BINN's cost
is ``measured seconds per site-epoch x epochs x 25,925`` (training cost is linear in the
number of sites; the paper trains up to 50 epochs). PRODA's original cost adds the MATLAB
model's measured 0.0793 s per evaluation in Octave on this machine kind
(``../shared/reference/proda_matrix_fun_cases.json``). The paper reports BINN more than
50 times cheaper than PRODA.

Outputs: ``efficiency.csv`` (one row per method: sites, evaluations, seconds, per-site and
extrapolated costs), ``figures/efficiency.png``, ``experiment.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilbinn.experiments.common import PAPER_N_SITES, RunDirectory, bar_chart, train_binn

#: PRODA's evaluations per site at its default schedule (3 x (20,000 + 50,000) + 3)
PRODA_EVALS_PER_SITE = 3 * (20_000 + 50_000) + 3
#: Octave timing of PRODA's matrix_fun (mean, s per call), used when the file is absent
OCTAVE_SECONDS_PER_EVAL = 0.0793
REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "proda_matrix_fun_cases.json"  # fmt: skip


@dataclass(frozen=True)
class EfficiencyConfig:
    """Sizes of the efficiency measurement (defaults finish in minutes on 2 cores)."""

    n_sites: int = 40
    seed: int = 0
    preset: str = "binn2025"
    proda_iterations: tuple[int, int] = (500, 1500)
    proda_mode: str = "faithful"
    proda_chains: int = 3
    binn_config: str = "demo"
    epochs: int = 10
    extrapolate_epochs: int = 50
    reference: str | None = None


def octave_seconds_per_eval(path: str | Path | None) -> tuple[float, str]:
    """PRODA's MATLAB model time per evaluation and where it came from."""
    p = Path(path) if path else REFERENCE
    try:
        data = json.loads(p.read_text())
        return float(data["timing"]["matrix_fun_seconds_per_call_mean"]), str(p)
    except (OSError, KeyError, ValueError):
        return OCTAVE_SECONDS_PER_EVAL, "built-in constant (reference file not found)"


def run_efficiency(config: EfficiencyConfig, out: str | Path | None = None) -> Path:
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.proda.retrieval import RetrievalConfig, retrieve

    run = RunDirectory(out, "efficiency")
    ds = make_synthetic(config.n_sites, seed=config.seed, noise=0.1, preset=config.preset)
    n = ds.sizes["site"]
    rcfg = RetrievalConfig(
        mode=config.proda_mode, n_uniform=config.proda_iterations[0],
        n_gaussian=config.proda_iterations[1], n_chains=config.proda_chains,
        seed=config.seed, preset=config.preset, n_keep=200,
    )  # fmt: skip
    t = time.perf_counter()
    ret = retrieve(ds, rcfg, progress=False)
    proda_s = time.perf_counter() - t
    run.time("proda_retrieve", proda_s)
    proda_evals = int(ret.attrs["n_model_evaluations"])
    run.write_netcdf(ret, "proda_retrieval")

    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    n_val = max(1, n // 10)
    idx = (np.sort(perm[n_val:]), np.sort(perm[:n_val]), np.array([], dtype=np.int64))
    t = time.perf_counter()
    res = train_binn(ds, run.sub("binn"), idx, config.binn_config,
                     [f"train.epochs={config.epochs}", "train.patience=1000",
                      f"model.preset={config.preset}"])  # fmt: skip
    binn_s = time.perf_counter() - t
    run.time("binn_train", binn_s)
    hist = res.history
    epochs_run = int(len(hist)) if len(hist) else config.epochs
    # per epoch: forward + backward on the training sites, forward on the validation sites;
    # final evaluation: forward on train + val
    binn_evals = epochs_run * (len(idx[0]) + len(idx[1])) + len(idx[0]) + len(idx[1])
    binn_site_epoch = binn_s / max(1, epochs_run * n)

    sec_eval = proda_s / max(1, proda_evals)
    octave, octave_src = octave_seconds_per_eval(config.reference)
    proda_paper_s = sec_eval * PRODA_EVALS_PER_SITE * PAPER_N_SITES
    binn_paper_s = binn_site_epoch * config.extrapolate_epochs * PAPER_N_SITES
    original_s = octave * PRODA_EVALS_PER_SITE * PAPER_N_SITES
    rows = [
        {"method": "PRODA (soilbinn, batched)", "sites": n, "evaluations": proda_evals,
         "evaluations_per_site": proda_evals / n, "seconds": proda_s,
         "seconds_per_site": proda_s / n, "seconds_per_evaluation": sec_eval,
         "extrapolated_evaluations_25925": PRODA_EVALS_PER_SITE * PAPER_N_SITES,
         "extrapolated_cpu_hours_25925": proda_paper_s / 3600,
         "settings": f"{config.proda_mode}, {config.proda_chains} chains x "
                     f"{sum(config.proda_iterations)} steps measured; 210,003 evals/site extrapolated"},
        {"method": "BINN (soilbinn)", "sites": n, "evaluations": binn_evals,
         "evaluations_per_site": binn_evals / n, "seconds": binn_s,
         "seconds_per_site": binn_s / n, "seconds_per_evaluation": binn_s / max(1, binn_evals),
         "extrapolated_evaluations_25925": (config.extrapolate_epochs + 1) * PAPER_N_SITES,
         "extrapolated_cpu_hours_25925": binn_paper_s / 3600,
         "settings": f"{epochs_run} epochs measured (forward+backward), "
                     f"{config.extrapolate_epochs} epochs extrapolated"},
        {"method": "PRODA (original MATLAB, Octave timing)", "sites": np.nan, "evaluations": np.nan,
         "evaluations_per_site": PRODA_EVALS_PER_SITE, "seconds": np.nan,
         "seconds_per_site": octave * PRODA_EVALS_PER_SITE, "seconds_per_evaluation": octave,
         "extrapolated_evaluations_25925": PRODA_EVALS_PER_SITE * PAPER_N_SITES,
         "extrapolated_cpu_hours_25925": original_s / 3600,
         "settings": f"0.0793 s/evaluation from {octave_src}"},
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    run.write_table(df, "efficiency")
    results = {
        "ratio_proda_batched_over_binn": proda_paper_s / binn_paper_s,
        "ratio_proda_original_over_binn": original_s / binn_paper_s,
        "ratio_evaluations_proda_over_binn": PRODA_EVALS_PER_SITE / (config.extrapolate_epochs + 1),
        "measured_ratio_same_sites_seconds": proda_s / binn_s,
        "paper_claim": "BINN > 50x more efficient than PRODA",
        "proda_acceptance_mode": config.proda_mode,
        "proda_iterations_measured": list(config.proda_iterations),
        "binn_epochs_measured": epochs_run,
        "proda_seconds_per_evaluation_batched": sec_eval,
        "proda_batch_rows": n * config.proda_chains,
    }
    run.figure(bar_chart(["PRODA original", "PRODA batched", "BINN"],
                         {"CPU-hours for 25,925 sites": [original_s / 3600, proda_paper_s / 3600, binn_paper_s / 3600]},
                         "CPU-hours (log scale)", "cost to retrieve parameters for 25,925 sites",
                         log=True),
               "efficiency")  # fmt: skip
    run.finish(config, results)
    return run.path
