"""k-fold cross-validation (random or spatial blocks) and evaluation of trained runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.evaluation.metrics import depth_binned_metrics, stock_metrics
from soilbinn.io import write_csv
from soilbinn.training.config import Config
from soilbinn.training.predict import Run, _as_run
from soilbinn.training.sitedata import site_data_from_dataset
from soilbinn.training.trainer import interpolate, predict_observations, train


def fold_ids(
    lat, lon, k: int, seed: int, kind: str = "random", block_deg: float = 2.0
) -> np.ndarray:
    """Fold id (0..k-1) of each site, from :func:`soilbinn.data.splits.kfold_assign`."""
    from soilbinn.data.splits import kfold_assign

    return np.asarray(kfold_assign(np.asarray(lat), np.asarray(lon), k, seed, kind=kind,
                                   block_deg=block_deg))  # fmt: skip


def cross_validate(
    cfg: Config, ds: xr.Dataset, k: int = 10, kind: str = "random", out_dir: str | Path = "runs/cv",
    process_model_factory=None,
) -> pd.DataFrame:  # fmt: skip
    """Train one model per fold (test = the fold, validation = a random part of the rest).

    Returns a table with one row per fold (test metrics over all depths; with stock
    observations also ``<interval>_<metric>`` columns, e.g. ``0-30cm_r2``) plus ``mean``
    and ``std`` rows; also written to ``out_dir/cv_summary.csv``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        from soilbinn.training.rundir import RunDirError

        raise RunDirError(f"cv output directory {out_dir} exists and is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    folds = fold_ids(
        ds["lat"].values, ds["lon"].values, k, cfg.data.split_seed, kind, cfg.data.block_deg
    )
    rows = []
    rng = np.random.default_rng(cfg.data.split_seed + 1)
    for f in range(k):
        test = np.nonzero(folds == f)[0]
        rest = rng.permutation(np.nonzero(folds != f)[0])
        n_val = int(round(cfg.data.val_fraction * len(rest)))
        val, tr = np.sort(rest[:n_val]), np.sort(rest[n_val:])
        res = train(cfg, ds, run_dir=out_dir / f"fold{f:02d}", train_idx=tr, val_idx=val,
                    test_idx=test, process_model_factory=process_model_factory)  # fmt: skip
        m = res.metrics.loc[("test", "all")]
        row = {"fold": f, "n_test_sites": len(test), "best_epoch": res.best_epoch,
               **{c: float(m[c]) for c in ("nse", "r2", "rmse", "mae", "n")}}  # fmt: skip
        sm = res.stock_metrics
        if sm is not None and "test" in sm.index.get_level_values("split"):
            for interval, r in sm.loc["test"].iterrows():
                row.update({f"{interval}_{c}": float(v) for c, v in r.items()})
        rows.append(row)
    df = pd.DataFrame(rows).set_index("fold")
    summary = pd.concat([df, df.agg(["mean", "std"])])
    summary.index.name = "fold"
    write_csv(summary, out_dir / "cv_summary.csv")
    return summary


@torch.no_grad()
def evaluate_run(run: Run | str | Path, ds: xr.Dataset, source: str = "dataset") -> pd.DataFrame:
    """Layer metrics of a run on a dataset (see :func:`evaluate_observations`)."""
    return evaluate_observations(run, ds, source)["layers"]


@torch.no_grad()
def evaluate_observations(
    run: Run | str | Path, ds: xr.Dataset, source: str = "dataset"
) -> dict[str, pd.DataFrame | None]:
    """Metrics of a run on a dataset with observations, per observation kind and per split
    of the run when the dataset's site ids match the run's ``split.csv`` (else one split
    ``all``).

    Returns
    -------
    dict with ``layers``: DataFrame indexed by (split, depth_bin) and ``stocks``:
    DataFrame indexed by (split, interval) or None when the dataset has no stocks.
    """
    run = _as_run(run)
    binn = hasattr(run.model, "process_model")
    data = site_data_from_dataset(
        ds, observations=True,
        fixed_from=run.config.model.fixed_from if binn and bool(run.model.site_mask.any()) else None,
        param_names=run.model.process_model.space.names if binn else None,
        numeric_names=run.meta["numeric_names"], categorical_names=run.meta["categorical_names"],
        region_names=run.meta.get("region_names", []),
        source=source,
    )  # fmt: skip
    if binn:
        data.forcing = run.model.process_model.prepare(data.forcing)
    pred, spred = predict_observations(run.model, data, run.config.train.eval_batch_size)
    obs, depth = data.soc.numpy(), data.depth.numpy()
    groups = {"all": np.arange(len(data))}
    split_file = Path(run.path) / "split.csv" if run.path else None
    if split_file is not None and split_file.exists():
        split = pd.read_csv(split_file, dtype={"site": str}).set_index("site")["split"]
        labels = split.reindex(data.site_ids).to_numpy()
        if not pd.isna(labels).all():
            for s in ("train", "val", "test"):
                ix = np.nonzero(labels == s)[0]
                if len(ix):
                    groups[s] = ix
    tables = {g: depth_binned_metrics(pred[ix], obs[ix], depth[ix]) for g, ix in groups.items()}
    out = {"layers": pd.concat(tables, names=["split"]), "stocks": None}
    if data.stocks is not None:
        so, st, sb = (getattr(data.stocks, k).numpy() for k in ("obs", "top", "bottom"))
        out["stocks"] = pd.concat(
            {g: stock_metrics(spred[ix], so[ix], st[ix], sb[ix]) for g, ix in groups.items()},
            names=["split"],
        )
    return out


__all__ = ["fold_ids", "cross_validate", "evaluate_run", "evaluate_observations", "interpolate"]
