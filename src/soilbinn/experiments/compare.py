"""BINN vs PRODA on the same sites (Xu et al. 2025, experiment 2; the paper: mean r = 0.81).

Both methods retrieve parameters for the same sites: BINN trained on all sites' SOC
(minus a validation split), PRODA by per-site MCMC. The six bulk processes (and the 21
parameters) are correlated **site by site** and **on the map** (PRODA's network and BINN
predicting on a grid). With synthetic data (``true_params`` present) each method is also
scored against the truth.

Outputs: ``site_correlations.csv`` and ``map_correlations.csv`` (quantity, kind, r, r2,
rmse, n), ``sites.nc`` and ``map.nc``, ``figures/*.png``, ``experiment.json`` with the
mean correlation over the six processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.experiments.common import (
    PROCESSES,
    RunDirectory,
    bar_chart,
    predict_binn,
    scatter_grid,
    scores,
    train_binn,
)


@dataclass(frozen=True)
class CompareConfig:
    """Sizes of the comparison (defaults finish in minutes on 2 cores)."""

    data: str | None = None  # a dataset path; None: synthetic
    n_sites: int = 60
    seed: int = 0
    noise: float = 0.1
    preset: str = "binn2025"
    binn_config: str = "demo"
    epochs: int = 150
    patience: int = 25
    val_fraction: float = 0.15
    proda_sites: int = 24
    proda_iterations: tuple[int, int] = (500, 1500)
    proda_mode: str = "faithful"
    proda_chains: int = 3
    grid_resolution: float = 2.0
    network_epochs: int = 300


def _correlations(a: xr.Dataset, b: xr.Dataset, names: list[str], kind: str) -> list[dict]:
    rows = []
    for proc in PROCESSES:
        rows.append({"quantity": proc, "kind": "process", "where": kind,
                     **scores(a[proc].values, b[proc].values)})  # fmt: skip
    for j, p in enumerate(names):
        rows.append({"quantity": p, "kind": "parameter", "where": kind,
                     **scores(a["params"].values[:, j], b["params"].values[:, j])})  # fmt: skip
    return rows


def run_compare(config: CompareConfig, out: str | Path | None = None) -> Path:
    """Run the comparison; returns the run directory."""
    from soilbinn.data.schema import load_dataset
    from soilbinn.inputs.synth import make_synthetic, make_synthetic_grid
    from soilbinn.proda.network import (
        NetworkConfig,
        predict_params,
        simulate_dataset,
        train_network,
    )
    from soilbinn.proda.retrieval import RetrievalConfig, retrieve

    run = RunDirectory(out, "compare")
    t = time.perf_counter()
    if config.data:
        ds = load_dataset(config.data, require=("forcing", "observations", "covariates"))
    else:
        ds = make_synthetic(config.n_sites, seed=config.seed, noise=config.noise,
                            preset=config.preset)  # fmt: skip
    n = ds.sizes["site"]
    run.time("data", time.perf_counter() - t)
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    n_val = max(1, int(round(config.val_fraction * n)))
    idx = (np.sort(perm[n_val:]), np.sort(perm[:n_val]), np.array([], dtype=np.int64))
    t = time.perf_counter()
    res = train_binn(ds, run.sub("binn"), idx, config.binn_config,
                     [f"train.epochs={config.epochs}", f"train.patience={config.patience}",
                      f"model.preset={config.preset}"])  # fmt: skip
    run.time("binn_train", time.perf_counter() - t)
    sites = np.sort(rng.permutation(n)[: min(config.proda_sites, n)])
    sub = ds.isel(site=sites)
    binn_sites = predict_binn(res.run_dir, sub)
    rcfg = RetrievalConfig(
        mode=config.proda_mode, n_uniform=config.proda_iterations[0],
        n_gaussian=config.proda_iterations[1], n_chains=config.proda_chains,
        seed=config.seed, preset=config.preset, n_keep=400,
    )  # fmt: skip
    t = time.perf_counter()
    ret = retrieve(sub, rcfg, progress=False)
    run.time("proda_retrieve", time.perf_counter() - t)
    run.write_netcdf(ret, "proda_retrieval")
    proda_sites = simulate_dataset(ret["params"].values, sub, config.preset)
    names = [str(p) for p in ret["param"].values]
    rows = _correlations(binn_sites, proda_sites, names, "sites")
    truth_rows = []
    if "true_params" in sub:
        truth = simulate_dataset(sub["true_params"].values, sub, config.preset)
        for method, pr in (("binn", binn_sites), ("proda", proda_sites)):
            for r in _correlations(pr, truth, names, "sites"):
                truth_rows.append({"method": method, **r})

    # the map: PRODA's network vs BINN on a grid
    t = time.perf_counter()
    net, meta = train_network(ds, ret, NetworkConfig(epochs=config.network_epochs, seed=config.seed),
                              run.sub("proda_network.pt"))  # fmt: skip
    run.time("proda_network", time.perf_counter() - t)
    grid = make_synthetic_grid(config.grid_resolution, seed=config.seed, preset=config.preset)
    proda_map = simulate_dataset(predict_params(net, meta, grid), grid, config.preset)
    binn_map = predict_binn(res.run_dir, grid)
    rows += _correlations(binn_map, proda_map, names, "map")
    df = pd.DataFrame(rows)
    run.write_table(df[df["where"] == "sites"], "site_correlations")
    run.write_table(df[df["where"] == "map"], "map_correlations")
    if truth_rows:
        run.write_table(pd.DataFrame(truth_rows), "vs_truth")

    both = xr.Dataset(coords={"site": sub["site"].values, "param": names})
    for tag, d in (("binn", binn_sites), ("proda", proda_sites)):
        both[f"{tag}_params"] = (("site", "param"), d["params"].values, {"units": "1"})
        for proc in PROCESSES:
            both[f"{tag}_{proc}"] = ("site", d[proc].values, dict(d[proc].attrs))
    both.attrs.update({"proda_acceptance_mode": config.proda_mode,
                       "proda_iterations": list(config.proda_iterations)})  # fmt: skip
    run.write_netcdf(both, "sites")
    grid_ds = xr.Dataset(coords={"site": grid["site"].values,
                                 "lat": ("site", grid["lat"].values), "lon": ("site", grid["lon"].values)})  # fmt: skip
    for tag, d in (("binn", binn_map), ("proda", proda_map)):
        for proc in PROCESSES:
            grid_ds[f"{tag}_{proc}"] = ("site", d[proc].values, dict(d[proc].attrs))
    run.write_netcdf(grid_ds, "map")

    proc_site = df[(df["where"] == "sites") & (df.kind == "process")].set_index("quantity")["r"]
    proc_map = df[(df["where"] == "map") & (df.kind == "process")].set_index("quantity")["r"]
    run.figure(bar_chart(list(PROCESSES), {"sites": list(proc_site.values), "map": list(proc_map.values)},
                         "Pearson r (BINN vs PRODA)", "BINN vs PRODA: six processes"),
               "process_correlations")  # fmt: skip
    panels = [
        (p, proda_sites[p].values, binn_sites[p].values, f"r={proc_site[p]:.2f}") for p in PROCESSES
    ]
    run.figure(scatter_grid(panels, "PRODA", "BINN"), "processes_sites")
    run.figure(_maps(grid, binn_map, proda_map), "process_maps")
    results = {
        "mean_process_r_sites": float(np.nanmean(proc_site.values)),
        "mean_process_r_map": float(np.nanmean(proc_map.values)),
        # carbon input is forcing (identical for both methods): r = 1 by construction
        "mean_process_r_sites_without_carbon_input": float(np.nanmean(proc_site.drop("carbon_input").values)),
        "mean_process_r_map_without_carbon_input": float(np.nanmean(proc_map.drop("carbon_input").values)),
        "mean_parameter_r_sites": float(np.nanmean(df[(df["where"] == "sites") & (df.kind == "parameter")]["r"])),
        "paper_mean_process_r": 0.81,
        "n_sites_compared": int(len(sites)),
        "n_grid_cells": int(grid.sizes["site"]),
        "proda_converged_sites": int(ret["converged"].sum()),
    }  # fmt: skip
    run.finish(config, results)
    return run.path


def _maps(grid: xr.Dataset, binn: xr.Dataset, proda: xr.Dataset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(PROCESSES), 2, figsize=(7.5, 2.1 * len(PROCESSES)), squeeze=False)
    lon, lat = grid["lon"].values, grid["lat"].values
    for i, proc in enumerate(PROCESSES):
        vals = np.concatenate([binn[proc].values, proda[proc].values])
        vals = vals[np.isfinite(vals)]
        lo, hi = np.percentile(vals, [2, 98]) if vals.size else (0, 1)
        for j, (tag, d) in enumerate((("BINN", binn), ("PRODA", proda))):
            ax = axes[i, j]
            sc = ax.scatter(
                lon, lat, c=d[proc].values, s=8, marker="s", vmin=lo, vmax=hi, cmap="viridis"
            )
            ax.set_title(f"{tag}: {proc}", fontsize=8)
            ax.tick_params(labelsize=6)
        fig.colorbar(sc, ax=axes[i, :].tolist(), shrink=0.8)
    return fig
