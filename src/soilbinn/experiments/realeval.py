"""Real-data evaluation that mimics use: whole regions held out, BINN against comparators.

``soilbinn experiment realeval --data real.nc`` trains and scores, on the same folds:

* ``binn``: BINN with the given config (default the packaged ``real``);
* ``nn``: the pure NN, the same config with ``model.kind=nn``;
* ``gbm``: gradient boosting on the same covariates (:mod:`soilbinn.experiments.gbm`);
* ``mean``: the training sites' mean (stocks) and mean layer density (profiles), the
  reference a skill score must beat.

Schemes (each a set of folds; every site is predicted by models that never saw its fold):

* ``region``: leave-region-out; regions from :func:`soilbinn.evaluation.regions.site_regions`
  (a dataset ``region`` variable, RaCA MO regions from the site ids, nearest labelled site
  within 150 km, else 10 degree blocks), one fold per region or whole regions dealt to
  ``region_folds`` folds; metrics per held-out region;
* ``block2``: spatial k-fold over 2 degree lon/lat blocks (:func:`kfold_assign`); metrics
  per fold.

In each fold the validation sites (early stopping) are whole 2 degree blocks of the
training regions. Targets: observed layer SOC (``profile``, g m-3) and 0-30 / 0-100 cm
stocks (g m-2) from :func:`soilbinn.evaluation.observed.observed_stocks` (stock
observations where the dataset has them, else integrated layers). Metrics
(:func:`soilbinn.evaluation.metrics.skill_metrics`): ``nse`` = 1 - SSE/SS (the R2 of an
out-of-sample prediction), ``r2`` = squared Pearson r, ``spearman``, ``bias``, ``rmse``;
stock bias and RMSE are reported in kg m-2; with ``train.ensemble > 1`` in the config,
``coverage90`` is the fraction of observed stocks inside the predicted 5th-95th
percentiles (observation error included, :mod:`soilbinn.training.ensemble`).

Outputs (a new directory, never overwritten): ``metrics.csv`` (scheme, model, group,
target), ``predictions.nc`` (per-site predicted and observed stocks and layers, fold,
region), ``figures/`` (per-region bars, predicted vs observed), ``experiment.json``
(settings, headline results, timings) and ``runs/`` (the trained BINN/NN folds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.evaluation.metrics import skill_metrics
from soilbinn.evaluation.observed import STOCK_INTERVALS, observed_stocks
from soilbinn.experiments.common import ExperimentError, RunDirectory

log = logging.getLogger(__name__)

MODELS = ("binn", "nn", "gbm", "mean")
SCHEMES = ("region", "block2")
TARGETS = ("profile", *STOCK_INTERVALS)
#: metric columns of metrics.csv
COLUMNS = ("nse", "r2", "spearman", "bias", "rmse", "mae", "n", "n_nonfinite", "coverage90")


@dataclass
class RealEvalConfig:
    """Settings of ``experiment realeval`` (strict: unknown keys are rejected)."""

    data: str = ""
    config: str = "real"
    overrides: list[str] = field(default_factory=list)
    models: tuple[str, ...] = MODELS
    schemes: tuple[str, ...] = SCHEMES
    region_folds: int | None = None  # None: one fold per region
    block_folds: int = 5
    block_deg: float = 2.0
    nearest_km: float = 150.0
    region_block_deg: float = 10.0
    max_sites: int | None = None
    epochs: int | None = None
    seed: int = 0


def _check(cfg: RealEvalConfig) -> None:
    bad = [m for m in cfg.models if m not in MODELS]
    if bad:
        raise ExperimentError(f"realeval: unknown model(s) {bad}; choose from {list(MODELS)}")
    bad = [s for s in cfg.schemes if s not in SCHEMES]
    if bad:
        raise ExperimentError(f"realeval: unknown scheme(s) {bad}; choose from {list(SCHEMES)}")
    if not cfg.data:
        raise ExperimentError("realeval: --data is required")
    if cfg.max_sites is not None and cfg.max_sites < 10:
        raise ExperimentError("realeval: --max-sites must be >= 10")


def load_eval_dataset(cfg: RealEvalConfig) -> xr.Dataset:
    """The dataset (in memory), subsampled to ``max_sites`` (seeded) if asked."""
    from soilbinn.data.schema import load_dataset

    if not Path(cfg.data).exists():
        raise FileNotFoundError(f"dataset {cfg.data} not found")
    ds = load_dataset(cfg.data, require=("forcing", "covariates")).load()
    if cfg.max_sites is not None and ds.sizes["site"] > cfg.max_sites:
        keep = np.sort(np.random.default_rng([cfg.seed, 5]).choice(
            ds.sizes["site"], cfg.max_sites, replace=False))  # fmt: skip
        ds = ds.isel(site=keep)
    return ds


def scheme_folds(cfg: RealEvalConfig, ds: xr.Dataset, regions: np.ndarray, scheme: str):
    """(fold id (n,), metric group label (n,)) of a scheme."""
    from soilbinn.data.splits import group_kfold, kfold_assign

    if scheme == "region":
        return group_kfold(regions, cfg.region_folds, cfg.seed), regions
    folds = kfold_assign(ds["lat"].values, ds["lon"].values, cfg.block_folds, cfg.seed,
                         kind="spatial", block_deg=cfg.block_deg)  # fmt: skip
    return folds, np.array([f"fold{f}" for f in folds])


def _train_val(cfg_model, ds: xr.Dataset, rest: np.ndarray, seed: int):
    """Training and validation positions: validation = whole 2-degree blocks of ``rest``."""
    from soilbinn.training.sitedata import split_indices

    lat, lon = ds["lat"].values[rest], ds["lon"].values[rest]
    tr, val, _ = split_indices(lat, lon, cfg_model.data.val_fraction, 0.0, seed, "spatial", 2.0)
    if len(tr) < 2 or len(val) < 1:
        tr, val, _ = split_indices(lat, lon, cfg_model.data.val_fraction, 0.0, seed, "random")
    return rest[tr], rest[val]


def _fit_predict_torch(kind, cfg_model, ds, train_idx, val_idx, test_idx, run_dir):
    """Train BINN / NN and predict the test sites: (profile (m, obs), stocks dict)."""
    import torch

    from soilbinn.training.ensemble import train_ensemble
    from soilbinn.training.predict import predict_dataset
    from soilbinn.training.trainer import NonFiniteError, interpolate, train

    try:
        if cfg_model.train.ensemble > 1:
            res = train_ensemble(cfg_model, ds, run_dir, train_idx, val_idx, test_idx)
        else:
            res = train(cfg_model, ds, run_dir=run_dir, train_idx=train_idx, val_idx=val_idx,
                        test_idx=test_idx, figures=False)  # fmt: skip
    except NonFiniteError as e:
        log.warning("%s training failed (%s): its predictions are NaN", kind, e)
        return None, {}, {"failed": str(e)}
    test = ds.isel(site=test_idx)
    pred = predict_dataset(res, test)
    profile = None
    if "obs_depth" in test.variables:
        depth = torch.as_tensor(np.asarray(test["obs_depth"].transpose("site", ...).values, float))
        soc = torch.as_tensor(pred["soc_layer"].values)
        profile = np.where(np.isfinite(depth.numpy()), interpolate(soc, depth).numpy(), np.nan)
    stocks = {k: pred[k].values for k in STOCK_INTERVALS}
    for k in STOCK_INTERVALS:  # ensembles: predictive percentiles (observation error included)
        for q in ("p05", "p95"):
            if f"{k}_{q}" in pred:
                stocks[f"{k}_{q}"] = pred[f"{k}_{q}"].values
    members = getattr(res, "members", [res])
    return profile, stocks, {"best_epoch": ",".join(str(m.best_epoch) for m in members),
                             "epochs": ",".join(str(len(m.history)) for m in members)}  # fmt: skip


def _fit_predict_gbm(model_cfg, ds, obs, fit_idx, test_idx, seed):
    from soilbinn.experiments.gbm import GBMComparator

    gbm = GBMComparator(model_cfg.data.covariates, model_cfg.data.categorical, seed)
    gbm.fit(ds.isel(site=fit_idx), obs.isel(site=fit_idx))
    test = ds.isel(site=test_idx)
    profile = None
    if "obs_depth" in test.variables:
        profile = gbm.predict_layers(
            test, np.asarray(test["obs_depth"].transpose("site", ...).values, float)
        )
    return profile, gbm.predict_stocks(test), {}


def _fit_predict_mean(ds, obs, fit_idx, test_idx):
    n = len(test_idx)
    stocks = {k: np.full(n, np.nanmean(obs[k].values[fit_idx])) for k in STOCK_INTERVALS}
    profile = None
    if "soc" in ds.variables:
        soc = ds["soc"].values[fit_idx]
        d = ds["obs_depth"].transpose("site", ...).values[test_idx]
        profile = np.where(np.isfinite(d), np.nanmean(soc), np.nan)
    return profile, stocks, {}


def metrics_table(pred: xr.Dataset, groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows (scheme, model, group, target) of :data:`COLUMNS` from ``predictions.nc`` content.

    ``groups[scheme]`` is the group label (n,) of every site (region or fold); a group
    ``all`` pools every site of the scheme.
    """
    rows = []
    obs_prof = pred["obs_soc"].values if "obs_soc" in pred else None
    for scheme in pred["scheme"].values.astype(str):
        labels = groups[scheme]
        names = ["all", *sorted(set(labels.tolist()))]
        for model in pred["model"].values.astype(str):
            sel = {"scheme": scheme, "model": model}
            for g in names:
                ix = np.arange(len(labels)) if g == "all" else np.nonzero(labels == g)[0]
                for target in TARGETS:
                    if target == "profile":
                        if obs_prof is None:
                            continue
                        o = obs_prof[ix]
                        p = pred["pred_soc"].sel(sel).values[ix]
                        scale, units = 1.0, "g m-3"
                    else:
                        o = pred[f"obs_{target}"].values[ix]
                        p = pred[f"pred_{target}"].sel(sel).values[ix]
                        scale, units = 1e-3, "kg m-2"
                    has_obs = np.isfinite(o)
                    m = skill_metrics(p, o)
                    cover = np.nan
                    if f"pred_{target}_p05" in pred:
                        lo = pred[f"pred_{target}_p05"].sel(sel).values[ix]
                        hi = pred[f"pred_{target}_p95"].sel(sel).values[ix]
                        ok = has_obs & np.isfinite(lo) & np.isfinite(hi)
                        if ok.any():
                            cover = float(((o[ok] >= lo[ok]) & (o[ok] <= hi[ok])).mean())
                    row = {"scheme": scheme, "model": model, "group": g, "target": target,
                           **{k: m[k] for k in ("nse", "r2", "spearman", "n")},
                           "bias": m["bias"] * scale, "rmse": m["rmse"] * scale,
                           "mae": m["mae"] * scale,
                           "n_nonfinite": int((has_obs & ~np.isfinite(p)).sum()),
                           "coverage90": cover,
                           "units": units}  # fmt: skip
                    rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(metrics: pd.DataFrame, min_group: int = 20) -> pd.DataFrame:
    """Pooled (group ``all``) metrics, rows (scheme, target, model), plus the median over
    held-out groups with at least ``min_group`` observations of Spearman rho and NSE
    (``spearman_grp``, ``nse_grp``: skill *within* a region, free of between-region
    contrasts)."""
    key = ["scheme", "target", "model"]
    m = metrics[metrics["group"] == "all"].set_index(key)
    g = metrics[(metrics["group"] != "all") & (metrics["n"] >= min_group)]
    med = g.groupby(key)[["spearman", "nse"]].median().add_suffix("_grp")
    cols = ["spearman", "nse", "r2", "bias", "rmse", "coverage90", "n", "n_nonfinite", "units"]
    return m[cols].join(med)


def _figures(run: RunDirectory, pred: xr.Dataset, metrics: pd.DataFrame, scheme: str) -> None:
    from soilbinn.evaluation.figures import pred_vs_obs_figure
    from soilbinn.experiments.common import bar_chart, scatter_grid

    m = metrics[(metrics["scheme"] == scheme) & (metrics["group"] != "all")]
    models = list(pred["model"].values.astype(str))
    for target in STOCK_INTERVALS:
        t = m[m["target"] == target]
        groups = sorted(t["group"].unique())
        if not groups:
            continue
        for metric, label in (("spearman", "Spearman rho"), ("nse", "R2 (1 - SSE/SS)")):
            series = {mod: [float(t[(t.model == mod) & (t.group == g)][metric].iloc[0])
                            for g in groups] for mod in models}  # fmt: skip
            fig = bar_chart(groups, series, label,
                            f"{target.replace('soc_stock_', 'SOC stock ')}: {label}, {scheme} held out")  # fmt: skip
            run.figure(fig, f"{scheme}_{target}_{metric}_by_group")
        panels = []
        o = pred[f"obs_{target}"].values / 1000.0
        for mod in models:
            p = pred[f"pred_{target}"].sel(scheme=scheme, model=mod).values / 1000.0
            s = skill_metrics(p, o)
            panels.append((mod, o, p, f"rho={s['spearman']:.2f} R2={s['nse']:.2f}\nn={s['n']}"))
        fig = scatter_grid(panels, "observed (kg C m$^{-2}$)", "predicted (kg C m$^{-2}$)")
        run.figure(fig, f"{scheme}_{target}_pred_vs_obs")
    if "obs_soc" in pred:
        for mod in models:
            pred_vs_obs_figure(pred["pred_soc"].sel(scheme=scheme, model=mod).values,
                               pred["obs_soc"].values, pred["obs_depth"].values,
                               run.path / "figures" / f"{scheme}_profile_{mod}.png",
                               title=f"{mod}: layer SOC, {scheme} held out")  # fmt: skip


def run_realeval(cfg: RealEvalConfig, out: str | Path | None = None) -> Path:
    """Run the evaluation; returns the output directory (see the module docstring)."""
    from soilbinn.evaluation.regions import site_regions
    from soilbinn.training.config import load_config

    _check(cfg)
    base = ["train.progress=false"] + list(cfg.overrides)
    if cfg.epochs is not None:
        base.append(f"train.epochs={int(cfg.epochs)}")
    model_cfg = {
        "binn": load_config(cfg.config, base + ["model.kind=binn"]),
        "nn": load_config(cfg.config, base + ["model.kind=nn"]),
    }
    ds = load_eval_dataset(cfg)
    run = RunDirectory(out, "realeval")
    t0 = time.perf_counter()
    n = ds.sizes["site"]
    regions = site_regions(ds, cfg.nearest_km, cfg.region_block_deg)
    obs = observed_stocks(ds)
    has_prof = "soc" in ds.variables and "obs_depth" in ds.variables
    n_obs = ds.sizes["obs"] if has_prof else 0
    shape = (len(cfg.schemes), len(cfg.models), n)
    p_stock = {k: np.full(shape, np.nan) for k in STOCK_INTERVALS}  # + _p05/_p95 if any
    p_prof = np.full((*shape, n_obs), np.nan)
    fold_of = np.zeros((len(cfg.schemes), n), dtype=np.int32)
    groups, info = {}, []
    for si, scheme in enumerate(cfg.schemes):
        folds, groups[scheme] = scheme_folds(cfg, ds, regions, scheme)
        fold_of[si] = folds
        for f in np.unique(folds):
            test = np.nonzero(folds == f)[0]
            rest = np.nonzero(folds != f)[0]
            held = sorted(set(groups[scheme][test].tolist()))
            for mi, model in enumerate(cfg.models):
                t = time.perf_counter()
                mc = model_cfg.get(model, model_cfg["binn"])
                tr, val = _train_val(mc, ds, rest, cfg.seed + int(f))
                if model in ("binn", "nn"):
                    rd = run.path / "runs" / scheme / f"fold{f:02d}_{model}"
                    prof, st, extra = _fit_predict_torch(model, mc, ds, tr, val, test, rd)
                elif model == "gbm":
                    prof, st, extra = _fit_predict_gbm(mc, ds, obs, rest, test, cfg.seed)
                else:
                    prof, st, extra = _fit_predict_mean(ds, obs, rest, test)
                for k, v in st.items():
                    p_stock.setdefault(k, np.full(shape, np.nan))[si, mi, test] = v
                if prof is not None and n_obs:
                    p_prof[si, mi, test] = prof
                sec = time.perf_counter() - t
                info.append({"scheme": scheme, "fold": int(f), "model": model,
                             "held_out": ",".join(held), "n_test": len(test), "n_train": len(tr),
                             "n_val": len(val), "seconds": round(sec, 1), **extra})  # fmt: skip
                log.info("%s fold %d (%s) %s: %.0f s", scheme, f, ",".join(held), model, sec)
                print(f"  {scheme} fold {f} [{','.join(held)}] {model}: {sec:.0f} s", flush=True)
    pred = xr.Dataset(
        coords={"scheme": list(cfg.schemes), "model": list(cfg.models),
                "site": ds["site"].values.astype(str),
                "lat": ("site", ds["lat"].values, {"units": "degrees_north"}),
                "lon": ("site", ds["lon"].values, {"units": "degrees_east"})},
    )  # fmt: skip
    pred["region"] = ("site", regions.astype(str))
    pred["fold"] = (("scheme", "site"), fold_of, {"long_name": "held-out fold of the site"})
    for k in STOCK_INTERVALS:
        a = {"units": "g m-2"}
        pred[f"pred_{k}"] = (
            ("scheme", "model", "site"),
            p_stock[k],
            {**a, "long_name": f"predicted {k}"},
        )
        pred[f"obs_{k}"] = ("site", obs[k].values, {**a, "long_name": f"observed {k}"})
        pred[f"obs_{k}_source"] = ("site", obs[f"{k}_source"].values.astype(str))
        for q in ("p05", "p95"):
            if f"{k}_{q}" in p_stock:
                pred[f"pred_{k}_{q}"] = (("scheme", "model", "site"), p_stock[f"{k}_{q}"],
                                         {**a, "long_name": f"{q[1:]}th percentile of {k}"})  # fmt: skip
    if n_obs:
        pred["pred_soc"] = (("scheme", "model", "site", "obs"), p_prof,
                            {"units": "g m-3", "long_name": "predicted SOC at observed depths"})  # fmt: skip
        pred["obs_soc"] = (
            ("site", "obs"),
            ds["soc"].transpose("site", "obs").values,
            {"units": "g m-3"},
        )
        pred["obs_depth"] = (
            ("site", "obs"),
            ds["obs_depth"].transpose("site", "obs").values,
            {"units": "m"},
        )
    pred.attrs.update({"title": "soilbinn realeval: held-out predictions", "config": cfg.config})
    metrics = metrics_table(pred, groups)
    run.write_netcdf(pred, "predictions")
    run.write_table(metrics, "metrics")
    run.write_table(pd.DataFrame(info), "folds")
    for scheme in cfg.schemes:
        _figures(run, pred, metrics, scheme)
    run.time("total_evaluation", time.perf_counter() - t0)
    head = comparison_table(metrics)
    results = {
        f"{s}/{t}/{m}/{c}": float(head.loc[(s, t, m), c])
        for (s, t, m) in head.index for c in ("spearman", "nse")
    }  # fmt: skip
    results["n_sites"] = int(n)
    results["regions"] = {r: int((regions == r).sum()) for r in sorted(set(regions.tolist()))}
    run.finish(cfg, results)
    return run.path


__all__ = ["RealEvalConfig", "run_realeval", "metrics_table", "comparison_table", "scheme_folds"]
