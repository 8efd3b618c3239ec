"""Shared pieces of the paper's experiments: run directories, metrics, BINN/PRODA runners.

A run directory holds ``experiment.json`` (name, settings, seed, version, git commit,
timings), NetCDF results, CSV tables and ``figures/*.png``. It is never overwritten.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

#: the six bulk processes compared between BINN and PRODA (Tao et al. 2023)
PROCESSES: tuple[str, ...] = (
    "carbon_input", "cue", "baseline_decomposition", "environmental_modifier",
    "vertical_transport", "input_allocation",
)  # fmt: skip

#: the parameters the original recovery experiment learned (the other 17 fixed to truth)
PAPER_RECOVERY_PARAMS: tuple[str, ...] = ("efolding", "tau4s3", "fs1s3", "w_scaling")

#: number of WoSIS profiles of the paper (for extrapolating cost)
PAPER_N_SITES = 25_925


class ExperimentError(ValueError):
    """Bad experiment settings or inputs (names the option or file)."""


def config_from_dict(cls, d: dict[str, Any]):
    """Strict dataclass construction: unknown keys raise :class:`ExperimentError`."""
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise ExperimentError(f"{cls.__name__}: unknown setting(s) {sorted(unknown)}")
    return cls(**d)


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunDirectory:
    """A new experiment directory with ``figures/``; refuses to reuse a non-empty one."""

    def __init__(self, path: str | os.PathLike | None, experiment: str, root: str = "runs"):
        if path is None:
            path = Path(root) / f"{experiment}-{datetime.now():%Y%m%d-%H%M%S}"
        self.path = Path(path)
        if self.path.exists() and any(self.path.iterdir()):
            raise ExperimentError(f"{self.path} exists and is not empty: never overwritten")
        (self.path / "figures").mkdir(parents=True, exist_ok=True)
        self.experiment = experiment
        self.t0 = time.perf_counter()
        self.timings: dict[str, float] = {}

    def sub(self, name: str) -> Path:
        return self.path / name

    def time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(float(seconds), 3)

    def write_table(self, df: pd.DataFrame, name: str) -> Path:
        from soilbinn.io import write_csv

        return write_csv(df, self.path / f"{name}.csv", index=False, float_format="%.6g")

    def write_netcdf(self, ds: xr.Dataset, name: str) -> Path:
        from soilbinn.proda.retrieval import save_retrieval

        return save_retrieval(ds, self.path / f"{name}.nc")

    def figure(self, fig, name: str) -> Path:
        import matplotlib.pyplot as plt

        from soilbinn.io import save_figure

        p = save_figure(fig, self.path / "figures" / f"{name}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return p

    def finish(self, settings: Any, results: dict[str, Any]) -> Path:
        info = {
            "experiment": self.experiment,
            "settings": asdict(settings) if hasattr(settings, "__dataclass_fields__") else settings,
            "results": results,
            "timings_s": {**self.timings, "total": round(time.perf_counter() - self.t0, 3)},
            "soilbinn_version": __import__("soilbinn").__version__,
            "git_commit": git_commit(),
            "finished": datetime.now().isoformat(timespec="seconds"),
        }
        from soilbinn.io import write_text

        return write_text(
            self.path / "experiment.json", json.dumps(info, indent=2, default=_json_default)
        )


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Agreement of retrieved ``pred`` with ``true`` over their finite pairs.

    Returns
    -------
    dict
        ``r2`` (1 - SSres/SStot about the truth's mean), Pearson ``r``, ``rmse``, ``bias``
        (mean of pred - true), ``slope`` (least-squares slope of pred on true: 1 when the
        retrieval follows the truth's range, below 1 when it shrinks toward a centre, as
        where the data say little and a prior decides) and ``n``.
    """
    p = np.asarray(pred, float).ravel()
    t = np.asarray(true, float).ravel()
    ok = np.isfinite(p) & np.isfinite(t)
    p, t = p[ok], t[ok]
    n = int(ok.sum())
    if n < 2:
        return {"r2": np.nan, "r": np.nan, "rmse": np.nan, "bias": np.nan, "slope": np.nan,
                "n": n}  # fmt: skip
    ss_tot = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - float(((p - t) ** 2).sum()) / ss_tot if ss_tot > 0 else np.nan
    r = float(np.corrcoef(p, t)[0, 1]) if p.std() > 0 and t.std() > 0 else np.nan
    slope = float(((p - p.mean()) * (t - t.mean())).sum()) / ss_tot if ss_tot > 0 else np.nan
    return {
        "r2": r2,
        "r": r,
        "rmse": float(np.sqrt(((p - t) ** 2).mean())),
        "bias": float((p - t).mean()),
        "slope": slope,
        "n": n,
    }


def split_sites(n: int, test_fraction: float, val_fraction: float, seed: int):
    """Random (train, val, test) site positions."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = max(1, int(round(val_fraction * n)))
    if n - n_test - n_val < 2:
        raise ExperimentError(f"{n} sites are too few for the requested splits")
    return (
        np.sort(perm[n_test + n_val :]),
        np.sort(perm[n_test : n_test + n_val]),
        np.sort(perm[:n_test]),
    )


def train_binn(
    ds: xr.Dataset,
    run_dir: Path,
    idx: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: str = "demo",
    overrides: list[str] | None = None,
):
    """Train BINN as ``soilbinn train`` would: one model, or with ``train.ensemble`` > 1
    the members in one run directory (:mod:`soilbinn.training.ensemble`).

    Returns the :class:`TrainResult` (of member 0 for an ensemble; its ``run_dir`` is then
    set to the ensemble's, which :func:`predict_binn` reads as a whole).
    """
    from dataclasses import replace

    from soilbinn.training.config import load_config
    from soilbinn.training.ensemble import train_ensemble
    from soilbinn.training.trainer import train

    cfg = load_config(config, ["train.progress=false", *(overrides or [])])
    train_idx, val_idx, test_idx = idx
    if cfg.train.ensemble > 1:
        ens = train_ensemble(cfg, ds, run_dir, train_idx, val_idx, test_idx)
        return replace(ens.members[0], run_dir=Path(ens.run_dir))
    return train(cfg, ds, run_dir=run_dir, train_idx=train_idx, val_idx=val_idx,
                 test_idx=test_idx, figures=False)  # fmt: skip


def predict_binn(run_dir: Path, ds: xr.Dataset) -> xr.Dataset:
    from soilbinn.training.predict import predict_dataset

    return predict_dataset(run_dir, ds)


def scatter_grid(panels: list[tuple[str, np.ndarray, np.ndarray, str]], xlabel: str, ylabel: str):
    """A grid of scatter plots with a 1:1 line; panels = (title, x, y, annotation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (title, x, y, note) in zip(axes.flat, panels):
        ax.scatter(x, y, s=10, alpha=0.7)
        finite = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            lo, hi = finite.min(), finite.max()
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.text(0.03, 0.95, note, transform=ax.transAxes, va="top", fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def bar_chart(
    labels: list[str], series: dict[str, list[float]], ylabel: str, title: str, log: bool = False
):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(labels) * max(1, len(series))), 3.4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(labels))
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_yscale("log")
    else:
        ax.axhline(0, color="k", lw=0.6)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
