"""BINN vs PRODA on the same sites (Xu et al. 2025, experiment 2; the paper: mean r = 0.81).

The sites are split first: ``proda_sites`` test sites are held out from BINN's training
(and from its early-stopping validation split); BINN trains on the rest and predicts the
test sites; PRODA retrieves the test sites only, by per-site MCMC with its full schedule
(default 20,000 + 50,000 steps, run in site batches). The six bulk processes (and the 21
parameters) are correlated **site by site** and **on the map** (PRODA's network, trained
on the test sites that pass PRODA's site filter, and BINN predicting on a grid). With
synthetic data (``true_params`` present) each method is also scored against the truth.

The headline ``mean_process_r_sites`` is the mean over the five processes other than
carbon input: carbon input is forcing, identical for both methods (r = 1 by
construction), and is reported separately (``carbon_input_r_sites``). PRODA's convergence
is reported per site (``proda_sites.csv``: mean R-hat, ESS, PRODA's filter) and the run
warns (``warnings`` in ``experiment.json``, shown by ``soilbinn report``) when PRODA has
converged (mean R-hat < 1.05) at fewer than 90% of the compared sites.

Outputs: ``site_correlations.csv`` and ``map_correlations.csv`` (quantity, kind, r, r2,
rmse, n), ``proda_sites.csv``, ``sites.nc`` and ``map.nc``, ``figures/*.png``,
``experiment.json``.
"""

from __future__ import annotations

import sys
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
    proda_iterations: tuple[int, int] = (20_000, 50_000)
    proda_mode: str = "faithful"
    proda_chains: int = 3
    proda_site_batch: int = 256
    proda_site_filter: str = "proda"
    grid_resolution: float = 2.0
    network_epochs: int = 300
    network_members: int = 10


#: PRODA must have converged at this fraction of the compared sites, else the run warns
MIN_CONVERGED_FRACTION = 0.9


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
    # split first: the compared (test) sites are never seen by BINN's training
    n_test = min(config.proda_sites, n - 2)
    if n_test < 1:
        raise ValueError(f"compare needs more sites than proda_sites ({n} sites)")
    test = np.sort(perm[:n_test])
    rest = perm[n_test:]
    n_val = max(1, int(round(config.val_fraction * len(rest))))
    idx = (np.sort(rest[n_val:]), np.sort(rest[:n_val]), test)
    t = time.perf_counter()
    res = train_binn(ds, run.sub("binn"), idx, config.binn_config,
                     [f"train.epochs={config.epochs}", f"train.patience={config.patience}",
                      f"model.preset={config.preset}"])  # fmt: skip
    run.time("binn_train", time.perf_counter() - t)
    sites = test
    sub = ds.isel(site=sites)
    binn_sites = predict_binn(res.run_dir, sub)
    rcfg = RetrievalConfig(
        mode=config.proda_mode, n_uniform=config.proda_iterations[0],
        n_gaussian=config.proda_iterations[1], n_chains=config.proda_chains,
        seed=config.seed, preset=config.preset, n_keep=400, site_batch=config.proda_site_batch,
    )  # fmt: skip
    t = time.perf_counter()
    ret = retrieve(sub, rcfg)
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

    # PRODA's convergence, per site
    from soilbinn.proda.commands import summary_table

    conv = summary_table(ret)
    run.write_table(conv, "proda_sites")
    frac = float(conv["converged"].mean())
    warnings = []
    if frac < MIN_CONVERGED_FRACTION:
        warnings.append(
            f"PRODA NOT CONVERGED: mean R-hat < 1.05 at only {int(conv['converged'].sum())} "
            f"of {len(conv)} compared sites ({100 * frac:.0f}%, needed "
            f"{100 * MIN_CONVERGED_FRACTION:.0f}%); its schedule was "
            f"{config.proda_iterations[0]} + {config.proda_iterations[1]} steps (PRODA's: "
            "20000 + 50000). The correlations compare BINN with unconverged chains."
        )

    # the map: PRODA's network (trained on the retrieved sites its filter keeps) vs BINN
    t = time.perf_counter()
    map_skipped = None
    try:
        net, meta = train_network(ds, ret, NetworkConfig(epochs=config.network_epochs,
                                  members=config.network_members, seed=config.seed,
                                  site_filter=config.proda_site_filter),
                                  run.sub("proda_network.pt"))  # fmt: skip
    except ValueError as e:
        map_skipped = f"PRODA's network not trained: {e}"
        warnings.append(f"map comparison skipped: {map_skipped}")
    run.time("proda_network", time.perf_counter() - t)
    grid = make_synthetic_grid(config.grid_resolution, seed=config.seed, preset=config.preset)
    if map_skipped is None:
        proda_map = simulate_dataset(predict_params(net, meta, grid), grid, config.preset)
        binn_map = predict_binn(res.run_dir, grid)
        rows += _correlations(binn_map, proda_map, names, "map")
    df = pd.DataFrame(rows)
    run.write_table(df[df["where"] == "sites"], "site_correlations")
    if map_skipped is None:
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
    for v in ("converged", "rhat", "proda_filter", "fit_r2"):
        both[f"proda_{v}"] = (ret[v].dims, ret[v].values, dict(ret[v].attrs))
    run.write_netcdf(both, "sites")
    proc_site = df[(df["where"] == "sites") & (df.kind == "process")].set_index("quantity")["r"]
    five = proc_site.drop("carbon_input")
    results = {
        # headline: the five processes other than carbon input (forcing: r = 1 by construction)
        "mean_process_r_sites": float(np.nanmean(five.values)),
        "carbon_input_r_sites": float(proc_site["carbon_input"]),
        "mean_parameter_r_sites": float(np.nanmean(df[(df["where"] == "sites") & (df.kind == "parameter")]["r"])),
        "paper_mean_process_r": 0.81,
        "n_sites_compared": int(len(sites)),
        "n_binn_train_sites": int(len(idx[0])),
        "compared_sites_held_out_from_binn": True,
        "proda_converged_sites": int(conv["converged"].sum()),
        "proda_converged_fraction": frac,
        "proda_median_mean_rhat": float(conv["mean_rhat"].median()),
        "proda_filter_sites": int(ret["proda_filter"].sum()),
        "proda_iterations": list(config.proda_iterations),
        "proda_acceptance_mode": config.proda_mode,
    }  # fmt: skip
    figs = {"sites": list(proc_site.values)}
    if map_skipped is None:
        grid_ds = xr.Dataset(coords={"site": grid["site"].values,
                                     "lat": ("site", grid["lat"].values), "lon": ("site", grid["lon"].values)})  # fmt: skip
        for tag, d in (("binn", binn_map), ("proda", proda_map)):
            for proc in PROCESSES:
                grid_ds[f"{tag}_{proc}"] = ("site", d[proc].values, dict(d[proc].attrs))
        run.write_netcdf(grid_ds, "map")
        proc_map = df[(df["where"] == "map") & (df.kind == "process")].set_index("quantity")["r"]
        figs["map"] = list(proc_map.values)
        results["mean_process_r_map"] = float(np.nanmean(proc_map.drop("carbon_input").values))
        results["carbon_input_r_map"] = float(proc_map["carbon_input"])
        results["n_grid_cells"] = int(grid.sizes["site"])
        run.figure(_maps(grid, binn_map, proda_map), "process_maps")
    else:
        results["map_skipped"] = map_skipped
    run.figure(bar_chart(list(PROCESSES), figs, "Pearson r (BINN vs PRODA)",
                         "BINN vs PRODA: six processes"), "process_correlations")  # fmt: skip
    panels = [
        (p, proda_sites[p].values, binn_sites[p].values, f"r={proc_site[p]:.2f}") for p in PROCESSES
    ]
    run.figure(scatter_grid(panels, "PRODA", "BINN"), "processes_sites")
    if warnings:
        results["warnings"] = warnings
        for w in warnings:
            print(f"WARNING: {w}", file=sys.stderr)
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
