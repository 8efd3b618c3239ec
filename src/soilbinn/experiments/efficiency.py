"""Compute needed by PRODA and BINN to retrieve parameters for the same sites (experiment 3).

Measured in one run, on the same synthetic sites and the same number of torch threads, as
**process time** (CPU seconds of this process, all its threads; not wall time, which
depends on the machine's load), every component counted:

- PRODA: the batched MCMC retrieval (all sites x chains, one model call per step) at the
  configured schedule, and PRODA's network step (covariates -> posterior means);
- BINN: training as it is actually run (the configured epochs and early stopping, the
  same defaults as ``experiment compare``) and its prediction for the sites.

Everything is measured at two sizes (``n_sites`` and ``2 n_sites``) so that the linear
extrapolation can be checked: the per-site costs of the two sizes are reported side by
side (``efficiency.csv``).

What is extrapolated (stated in ``extrapolation`` of ``experiment.json``): PRODA's MCMC to
its full schedule, 3 chains x (20,000 + 50,000) steps, as ``CPU per chain-step x 210,000``
per site (chain restarts add more and are not counted); both methods to the paper's
25,925 profiles linearly in the number of sites, with the larger size's per-site costs;
BINN's epochs as run (not extrapolated). Process-model work is also counted: PRODA's
forward evaluations, BINN's forward+backward and forward-only site passes separately.
PRODA's original cost uses the MATLAB model's 0.0793 s per evaluation in Octave on this
machine kind (``../shared/reference/proda_matrix_fun_cases.json``). The paper reports
BINN more than 50 times cheaper than PRODA.

Outputs: ``efficiency.csv`` (per method, size and component: CPU seconds, per site,
extrapolated), ``figures/efficiency.png``, ``experiment.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soilbinn.experiments.common import PAPER_N_SITES, RunDirectory, bar_chart, train_binn

#: PRODA's MCMC steps per chain (20,000 uniform + 50,000 Gaussian)
PRODA_STEPS_PER_CHAIN = 20_000 + 50_000
#: PRODA's evaluations per site at its default schedule (3 x (20,000 + 50,000) + 3)
PRODA_EVALS_PER_SITE = 3 * PRODA_STEPS_PER_CHAIN + 3
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
    epochs: int = 150
    patience: int = 25
    network_epochs: int = 300
    network_members: int = 10
    reference: str | None = None


def octave_seconds_per_eval(path: str | Path | None) -> tuple[float, str]:
    """PRODA's MATLAB model time per evaluation and where it came from."""
    p = Path(path) if path else REFERENCE
    try:
        data = json.loads(p.read_text())
        return float(data["timing"]["matrix_fun_seconds_per_call_mean"]), str(p)
    except (OSError, KeyError, ValueError):
        return OCTAVE_SECONDS_PER_EVAL, "built-in constant (reference file not found)"


def _cpu(fn):
    """(result, process seconds) of ``fn()``."""
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def _measure(config: EfficiencyConfig, n_sites: int, run: RunDirectory) -> dict:
    """CPU seconds of every component for ``n_sites`` synthetic sites."""
    from soilbinn.experiments.common import predict_binn
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.proda.network import NetworkConfig, train_network
    from soilbinn.proda.retrieval import RetrievalConfig, retrieve

    ds = make_synthetic(n_sites, seed=config.seed, noise=0.1, preset=config.preset)
    n = ds.sizes["site"]
    rcfg = RetrievalConfig(
        mode=config.proda_mode, n_uniform=config.proda_iterations[0],
        n_gaussian=config.proda_iterations[1], n_chains=config.proda_chains,
        seed=config.seed, preset=config.preset, n_keep=200, max_gaussian_restarts=0,
    )  # fmt: skip
    ret, proda_s = _cpu(lambda: retrieve(ds, rcfg, progress=False))
    chain_steps = int(ret["n_evaluations"].sum()) - n * config.proda_chains  # minus starts
    net_cfg = NetworkConfig(epochs=config.network_epochs, members=config.network_members,
                            seed=config.seed, site_filter="none")  # fmt: skip
    _, net_s = _cpu(lambda: train_network(ds, ret, net_cfg, run.sub(f"proda_network_{n}.pt")))
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    n_val = max(1, n // 10)
    idx = (np.sort(perm[n_val:]), np.sort(perm[:n_val]), np.array([], dtype=np.int64))
    res, binn_s = _cpu(lambda: train_binn(
        ds, run.sub(f"binn_{n}"), idx, config.binn_config,
        [f"train.epochs={config.epochs}", f"train.patience={config.patience}",
         f"model.preset={config.preset}"]))  # fmt: skip
    _, pred_s = _cpu(lambda: predict_binn(res.run_dir, ds))
    epochs_run = int(len(res.history)) if len(res.history) else config.epochs
    return {
        "sites": n, "proda_mcmc_cpu_s": proda_s, "proda_chain_steps": chain_steps,
        "proda_network_cpu_s": net_s, "binn_train_cpu_s": binn_s, "binn_predict_cpu_s": pred_s,
        "binn_epochs_run": epochs_run,
        # forward+backward passes on the training sites, forward-only on validation sites
        # each epoch, then one forward pass over all sites to predict
        "binn_fwd_bwd_passes": epochs_run * len(idx[0]),
        "binn_fwd_passes": epochs_run * len(idx[1]) + n,
    }  # fmt: skip


def run_efficiency(config: EfficiencyConfig, out: str | Path | None = None) -> Path:
    run = RunDirectory(out, "efficiency")
    sizes = [config.n_sites, 2 * config.n_sites]
    meas = []
    for n in sizes:
        t = time.perf_counter()
        meas.append(_measure(config, n, run))
        run.time(f"measure_{n}_sites", time.perf_counter() - t)
    octave, octave_src = octave_seconds_per_eval(config.reference)
    full = config.proda_chains * PRODA_STEPS_PER_CHAIN
    rows = []
    for m in meas:
        n = m["sites"]
        per_step = m["proda_mcmc_cpu_s"] / max(1, m["proda_chain_steps"])
        proda_site = per_step * full + m["proda_network_cpu_s"] / n
        binn_site = (m["binn_train_cpu_s"] + m["binn_predict_cpu_s"]) / n
        rows += [
            {"method": "PRODA (soilbinn)", "component": "MCMC", "sites": n,
             "cpu_s": m["proda_mcmc_cpu_s"], "cpu_s_per_site": m["proda_mcmc_cpu_s"] / n,
             "model_evaluations": m["proda_chain_steps"],
             "cpu_s_per_site_extrapolated": per_step * full,
             "note": f"{m['proda_chain_steps']} chain-steps measured; x {full} per site"},
            {"method": "PRODA (soilbinn)", "component": "network", "sites": n,
             "cpu_s": m["proda_network_cpu_s"], "cpu_s_per_site": m["proda_network_cpu_s"] / n,
             "model_evaluations": 0, "cpu_s_per_site_extrapolated": m["proda_network_cpu_s"] / n,
             "note": f"PRODA's network, {config.network_members} bootstrap members x <= "
                     f"{config.network_epochs} epochs (PRODA: 200 x <= 6000)"},
            {"method": "PRODA (soilbinn)", "component": "total", "sites": n,
             "cpu_s": m["proda_mcmc_cpu_s"] + m["proda_network_cpu_s"],
             "cpu_s_per_site": (m["proda_mcmc_cpu_s"] + m["proda_network_cpu_s"]) / n,
             "model_evaluations": m["proda_chain_steps"],
             "cpu_s_per_site_extrapolated": proda_site, "note": "full schedule"},
            {"method": "BINN", "component": "training", "sites": n,
             "cpu_s": m["binn_train_cpu_s"], "cpu_s_per_site": m["binn_train_cpu_s"] / n,
             "model_evaluations": m["binn_fwd_bwd_passes"],
             "cpu_s_per_site_extrapolated": m["binn_train_cpu_s"] / n,
             "note": f"{m['binn_epochs_run']} epochs run (as run); evaluations = "
                     f"forward+backward passes, plus {m['binn_fwd_passes']} forward-only"},
            {"method": "BINN", "component": "prediction", "sites": n,
             "cpu_s": m["binn_predict_cpu_s"], "cpu_s_per_site": m["binn_predict_cpu_s"] / n,
             "model_evaluations": n, "cpu_s_per_site_extrapolated": m["binn_predict_cpu_s"] / n,
             "note": "forward"},
            {"method": "BINN", "component": "total", "sites": n,
             "cpu_s": m["binn_train_cpu_s"] + m["binn_predict_cpu_s"], "cpu_s_per_site": binn_site,
             "model_evaluations": m["binn_fwd_bwd_passes"] + m["binn_fwd_passes"],
             "cpu_s_per_site_extrapolated": binn_site, "note": ""},
        ]  # fmt: skip
    rows.append({"method": "PRODA (original MATLAB, Octave timing)", "component": "MCMC",
                 "sites": np.nan, "cpu_s": np.nan, "cpu_s_per_site": np.nan,
                 "model_evaluations": PRODA_EVALS_PER_SITE,
                 "cpu_s_per_site_extrapolated": octave * PRODA_EVALS_PER_SITE,
                 "note": f"{octave:.4g} s/evaluation from {octave_src}"})  # fmt: skip
    df = pd.DataFrame(rows)
    run.write_table(df, "efficiency")
    big = df[(df.sites == sizes[-1]) & (df.component == "total")].set_index("method")
    small = df[(df.sites == sizes[0]) & (df.component == "total")].set_index("method")
    proda_s = float(big.loc["PRODA (soilbinn)", "cpu_s_per_site_extrapolated"])
    binn_s = float(big.loc["BINN", "cpu_s_per_site_extrapolated"])
    original = octave * PRODA_EVALS_PER_SITE
    results = {
        "ratio_proda_over_binn_cpu": proda_s / binn_s,
        "ratio_proda_original_over_binn_cpu": original / binn_s,
        "proda_cpu_s_per_site": proda_s,
        "binn_cpu_s_per_site": binn_s,
        "cpu_hours_25925_proda": proda_s * PAPER_N_SITES / 3600,
        "cpu_hours_25925_binn": binn_s * PAPER_N_SITES / 3600,
        "cpu_hours_25925_proda_original": original * PAPER_N_SITES / 3600,
        "linearity_check_per_site_cpu": {
            m: [float(small.loc[m, "cpu_s_per_site_extrapolated"]),
                float(big.loc[m, "cpu_s_per_site_extrapolated"])] for m in big.index},
        "sizes": sizes,
        "extrapolation": (
            f"PRODA MCMC: measured CPU per chain-step x {full} (3 chains x 70,000 steps) "
            "per site, restarts not counted; both methods linear in sites to 25,925 with the "
            f"per-site cost at {sizes[-1]} sites (the two sizes are shown for checking); "
            "BINN epochs as run"),
        "threads": int(__import__("torch").get_num_threads()),
        "paper_claim": "BINN > 50x more efficient than PRODA",
        "proda_acceptance_mode": config.proda_mode,
        "proda_iterations_measured": list(config.proda_iterations),
    }  # fmt: skip
    run.figure(bar_chart(["PRODA original", "PRODA soilbinn", "BINN"],
                         {"CPU-hours for 25,925 sites": [results["cpu_hours_25925_proda_original"],
                                                          results["cpu_hours_25925_proda"],
                                                          results["cpu_hours_25925_binn"]]},
                         "CPU-hours (log scale)", "cost to retrieve parameters for 25,925 sites",
                         log=True),
               "efficiency")  # fmt: skip
    run.finish(config, results)
    return run.path
