"""Which covariates drive each parameter, process and stock: permutation importance.

``soilbinn explain RUN --data DATA`` predicts the sites of ``DATA`` with the trained run
(an ensemble run uses its mean), then, for each covariate in turn, shuffles that
covariate across the sites (all other inputs, forcing included, unchanged) and predicts
again. The importance of covariate ``j`` for output ``y`` is

    I_jy = mean_sites |y(x with x_j shuffled) - y(x)| / sd_sites(y(x))

averaged over ``repeats`` shuffles: the typical change of the output, in units of its
spread over the sites, when the covariate carries no information. It is a sensitivity
of the learned mapping (parameters and processes are not observed, so no loss can be
used), computed through the full model (network + process model). ``lon/lat`` shuffles the
site coordinates seen by the lon/lat encoding (zero when the run does not use it). Forcing
is not shuffled: importance is that of the network inputs only. Outputs: the 21 parameters (unit
scale), the six processes, residence time and the 0-30 / 0-100 cm stocks.

Writes ``importance.csv`` (covariate x output), ``importance.nc`` and
``figures/importance.png`` (a heat map) into a new directory.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.experiments.common import RunDirectory

#: site-level outputs explained (besides the parameters), when the prediction has them
OUTPUTS = (
    "soc_stock_0_30cm", "soc_stock_0_100cm", "carbon_input", "cue", "baseline_decomposition",
    "environmental_modifier", "vertical_transport", "input_allocation", "residence_time",
)  # fmt: skip


def _outputs(pred: xr.Dataset) -> dict[str, np.ndarray]:
    out = {k: np.asarray(pred[k].values, float) for k in OUTPUTS if k in pred}
    if "params" in pred:
        for j, name in enumerate(np.asarray(pred["param"].values).astype(str)):
            out[f"param_{name}"] = np.asarray(pred["params"].values[:, j], float)
    return out


def permutation_importance(run, ds: xr.Dataset, repeats: int = 1, seed: int = 0) -> pd.DataFrame:
    """Importance table (covariate rows x output columns); see the module docstring."""
    from soilbinn.training.predict import predict_dataset

    base = _outputs(predict_dataset(run, ds))
    sd = {k: float(np.nanstd(v)) for k, v in base.items()}
    rng = np.random.default_rng(seed)
    n = ds.sizes["site"]
    columns = []
    if "covariates" in ds.variables:
        columns += [("covariates", "covariate", str(c)) for c in ds["covariate"].values]
    if "categories" in ds.variables:
        columns += [("categories", "category", str(c)) for c in ds["category"].values]
    columns.append(("lonlat", None, "lon/lat"))  # the lon/lat encoding's input, jointly
    rows = {}
    for var, dim, name in columns:
        acc = {k: 0.0 for k in base}
        for _ in range(repeats):
            perm = rng.permutation(n)
            if var == "lonlat":
                lat, lon = ds["lat"].values[perm], ds["lon"].values[perm]
                shuffled = ds.assign_coords(
                    lat=("site", lat, ds["lat"].attrs), lon=("site", lon, ds["lon"].attrs)
                )
            else:
                shuffled = ds.copy()
                da = ds[var].copy()
                da.loc[{dim: name}] = da.sel({dim: name}).values[perm]
                shuffled[var] = da
            new = _outputs(predict_dataset(run, shuffled))
            for k in base:
                d = np.abs(new[k] - base[k])
                acc[k] += float(np.nanmean(d)) / (sd[k] if sd[k] > 0 else np.nan) / repeats
        rows[name] = acc
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "covariate"
    return table


def _heatmap(table: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.T
    fig, ax = plt.subplots(figsize=(0.38 * t.shape[1] + 3, 0.3 * t.shape[0] + 1.8))
    im = ax.imshow(t.values, aspect="auto", cmap="magma_r")
    ax.set_xticks(range(t.shape[1]))
    ax.set_xticklabels(t.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(t.shape[0]))
    ax.set_yticklabels(t.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="mean |change| / sd of the output")
    ax.set_title("Permutation importance of covariates (shuffled one at a time)", fontsize=9)
    fig.tight_layout()
    return fig


def run_explain(
    run: str | Path, data: str | Path, out: str | Path | None = None, repeats: int = 1,
    max_sites: int | None = 2000, seed: int = 0,
) -> Path:  # fmt: skip
    """Write the importance table and figure for ``run`` on the sites of ``data``."""
    from soilbinn.data.schema import load_dataset

    if not Path(data).exists():
        raise FileNotFoundError(f"dataset {data} not found")
    ds = load_dataset(data, require=("forcing", "covariates")).load()
    if max_sites is not None and ds.sizes["site"] > max_sites:
        keep = np.sort(np.random.default_rng([seed, 9]).choice(ds.sizes["site"], max_sites,
                                                                 replace=False))  # fmt: skip
        ds = ds.isel(site=keep)
    rd = RunDirectory(out, "explain")
    t0 = time.perf_counter()
    table = permutation_importance(str(run), ds, repeats, seed)
    rd.time("importance", time.perf_counter() - t0)
    rd.write_table(table.reset_index(), "importance")
    imp = xr.DataArray(table.values, dims=("covariate", "output"),
                       coords={"covariate": table.index.values, "output": table.columns.values},
                       attrs={"units": "1", "long_name": "permutation importance (mean |change| / sd)"})  # fmt: skip
    rd.write_netcdf(imp.to_dataset(name="importance"), "importance")
    rd.figure(_heatmap(table), "importance")
    top = {c: str(table[c].idxmax()) for c in table.columns}
    rd.finish({"run": str(run), "data": str(data), "repeats": repeats, "max_sites": max_sites,
               "seed": seed}, {"top_covariate": top, "n_sites": int(ds.sizes["site"])})  # fmt: skip
    return rd.path


__all__ = ["permutation_importance", "run_explain"]
