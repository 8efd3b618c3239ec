"""Ensembles: several members stored in one run, predictive intervals meant to cover data.

``train.ensemble = M`` (> 1) makes ``soilbinn train`` train ``M`` members into one run
directory::

    RUN/
      ensemble.json          members, observation-error terms, how they were estimated
      config.yaml            the configuration
      members/m00 ... m{M-1} ordinary run directories (each loadable on its own)

Members differ in their seed (``train.seed + i``: initialisation and batch order) and in
their validation sites: the sites available for fitting (everything but the test split)
are re-split per member into training and validation by whole 2 degree blocks, so each
member early-stops on, and never trains on, a different part of the map. With
``train.alternate_trend`` (on in ``demo``) the odd members also use another prior, the
network with a logit-linear covariate trend (:func:`member_config`).

**Observation-error term.** The spread of the members is model (epistemic) uncertainty
only; observations scatter around any model. For each output that is observed (SOC layer
densities and the 0-30 / 0-100 cm stocks) the log-scale residuals of every member on its
own validation sites, ``r = log(obs) - log(pred)``, give a log-normal error model: its
location ``mu_obs`` (mean of ``r``) and scale ``sigma_obs`` (standard deviation of ``r``
about ``mu_obs``). The predictive distribution of a site is the equal-weight mixture over
members of ``pred_m * exp(mu_obs + sigma_obs * z)``, z standard normal, whose quantiles are
solved exactly (deterministic); ``_p05`` / ``_p95`` are its 5th / 95th percentiles, so
90 % intervals are meant to cover observations. Parameters and processes are not observed:
their ``_sd``, ``_p05``, ``_p95`` are over members only.

**Point prediction.** The plain variable is the mean over members of each member's output,
i.e. the centre the training loss targets: with ``loss.kind = mse`` (the ``real`` config)
the conditional *mean* of the observations, with ``smooth_l1``/``l1``/``log_mse`` roughly
their *median*. The location term keeps the 5-95 % intervals calibrated whichever centre
the loss targets. The fitted log-normal is a device for those quantiles, not an estimate
of the mean: real log residuals are heteroscedastic (relative errors are largest at
small stocks), so ``pred * exp(mu_obs + sigma_obs**2 / 2)`` overshoots (for the ``real``
config on held-out regions: 1.3-2.3 times the point prediction, whose held-out bias is
-0.4 kg m-2; docs/real_data_evaluation.md). ``ensemble.json`` records both terms. Runs
written before the location term (``obs_error_log_location`` absent) are read with
``mu_obs = 0`` and ``sigma_obs`` = the root mean square of ``r``, as they were made.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import xarray as xr

from soilbinn.training.config import Config, dump_config
from soilbinn.training.rundir import RunDirError, atomic_write_text

#: observed outputs that get an observation-error term (log-normal)
OBSERVED = ("soc_layer", "soc_stock_0_30cm", "soc_stock_0_100cm")
#: quantiles of the predictive distribution written as ``<var>_pXX``
QUANTILES = {"p05": 0.05, "p95": 0.95}
_TINY = 1e-9


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns (``members``: their TrainResults)."""

    run_dir: Path
    members: list
    obs_error: dict[str, float]
    obs_location: dict[str, float] = field(default_factory=dict)

    @property
    def model(self):  # the first member, for code that wants one model
        return self.members[0].model


def is_ensemble(obj) -> bool:
    """True for an :class:`EnsembleResult` or a run directory with ``ensemble.json``."""
    if isinstance(obj, EnsembleResult):
        return True
    return isinstance(obj, (str, Path)) and (Path(obj) / "ensemble.json").exists()


def _member_split(lat, lon, fit_idx, val_fraction, seed):
    from soilbinn.training.sitedata import split_indices

    tr, val, _ = split_indices(lat[fit_idx], lon[fit_idx], val_fraction, 0.0, seed, "spatial", 2.0)
    if len(tr) < 2 or len(val) < 1:
        tr, val, _ = split_indices(lat[fit_idx], lon[fit_idx], val_fraction, 0.0, seed, "random")
    return np.sort(fit_idx[tr]), np.sort(fit_idx[val])


def _log_residuals(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    ok = np.isfinite(pred) & np.isfinite(obs) & (pred > 0) & (obs > 0)
    return np.log(obs[ok]) - np.log(pred[ok])


def member_config(cfg: Config, i: int) -> Config:
    """The configuration of member ``i``: seed ``train.seed + i``; with
    ``train.alternate_trend`` the odd members also get ``model.covariate_trend = true``.

    Where a site's data say little about a parameter, the network's prior decides its
    value, and no prior tried is right on every truth (``docs/recovery_ablation.md``,
    "Priors decide"). Alternating the plain network and the one with a logit-linear
    covariate trend averages the members over both priors.
    """
    train = replace(cfg.train, seed=cfg.train.seed + i)
    model = cfg.model
    if cfg.train.alternate_trend and i % 2 == 1:
        model = replace(model, covariate_trend=True)
    return replace(cfg, train=train, model=model)


def is_ensemble_run(path: str | Path) -> bool:
    """Whether ``path`` is (or was being written as) an ensemble run directory."""
    return (Path(path) / "members").is_dir() and (Path(path) / "config.yaml").exists()


def _finished_member(path: Path):
    """The :class:`TrainResult` of a member that completed (``evaluation.csv`` written)."""
    import pandas as pd

    from soilbinn.training.predict import load_run
    from soilbinn.training.rundir import RunDir, load_checkpoint
    from soilbinn.training.trainer import TrainResult

    run = RunDir.open(path)
    loaded = load_run(path)
    ckpt = load_checkpoint(run.best if run.best.exists() else run.last)
    stocks = path / "evaluation_stocks.csv"
    return TrainResult(
        path, loaded.model, int(ckpt.get("best_epoch", ckpt.get("epoch", 0))),
        pd.read_csv(path / "evaluation.csv", index_col=[0, 1]),
        pd.read_csv(run.metrics_path) if run.metrics_path.exists() else pd.DataFrame(),
        int(ckpt.get("skipped_batches", 0)),
        extra={"config": loaded.config, "meta": loaded.meta, "resumed": True},
        stock_metrics=pd.read_csv(stocks, index_col=[0, 1]) if stocks.exists() else None,
    )  # fmt: skip


def train_ensemble(
    cfg: Config, ds: xr.Dataset, run_dir: str | Path, train_idx=None, val_idx=None,
    test_idx=None, process_model_factory=None, resume: bool = False, data: str | None = None,
) -> EnsembleResult:  # fmt: skip
    """Train ``cfg.train.ensemble`` members into ``run_dir`` (see the module docstring).

    Parameters
    ----------
    cfg : Config with ``train.ensemble >= 1``
    ds : in-memory dataset with observations
    run_dir : new directory, or with ``resume`` an interrupted ensemble run
    train_idx, val_idx, test_idx : optional site positions; members fit on
        ``train ∪ val`` (re-split per member), ``test`` is never used for fitting. By
        default the split of ``cfg.data``.
    resume : bool
        Continue ``run_dir``: members that finished are read back, an interrupted member
        continues from its last checkpoint, the rest are trained. The configuration must
        be the run's own.
    data : str, optional
        The dataset's path, for the resume command printed after Ctrl-C.

    Raises
    ------
    Interrupted
        On Ctrl-C inside a member; its ``resume`` continues the whole ensemble.
    """
    from soilbinn.evaluation.observed import observed_stocks
    from soilbinn.interrupt import Interrupted, command_line
    from soilbinn.training.predict import predict_dataset
    from soilbinn.training.rundir import RunDir
    from soilbinn.training.trainer import _split, interpolate, train

    run_dir = Path(run_dir)
    if resume:
        if not is_ensemble_run(run_dir):
            raise RunDirError(f"cannot resume {run_dir}: not an ensemble run (no members/)")
        saved = RunDir.open(run_dir).config()
        if saved.to_dict() != cfg.to_dict():
            raise RunDirError(f"cannot resume {run_dir} with another configuration "
                              "(nothing was overwritten)")  # fmt: skip
    else:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise RunDirError(f"run directory {run_dir} exists and is not empty")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(cfg))  # resumable from here
        (run_dir / "members").mkdir()
    if train_idx is None:
        train_idx, val_idx, test_idx = _split(cfg, ds, None, None, None)
    test_idx = np.asarray([] if test_idx is None else test_idx, dtype=np.int64)
    fit = np.sort(np.concatenate([np.asarray(train_idx, np.int64),
                                  np.asarray([] if val_idx is None else val_idx, np.int64)]))  # fmt: skip
    lat, lon = np.asarray(ds["lat"].values), np.asarray(ds["lon"].values)
    obs_st = observed_stocks(ds)
    members, resid = [], {k: [] for k in OBSERVED}
    m_count = int(cfg.train.ensemble)
    for i in range(m_count):
        mcfg = member_config(cfg, i)
        if m_count > 1:
            tr, val = _member_split(lat, lon, fit, cfg.data.val_fraction, cfg.data.split_seed + i)
        else:
            tr, val = np.asarray(train_idx), np.asarray(val_idx if val_idx is not None else [])
        mdir = run_dir / "members" / f"m{i:02d}"
        if resume and (mdir / "evaluation.csv").exists():
            res = _finished_member(mdir)
        else:
            again = resume and (mdir / "config.yaml").exists()
            try:
                res = train(mcfg, ds, run_dir=mdir, train_idx=tr, val_idx=val,
                            test_idx=test_idx, process_model_factory=process_model_factory,
                            figures=False, resume=again)  # fmt: skip
            except Interrupted as exc:
                cmd = command_line("train", "--data", data or "DATA", "--resume", str(run_dir))
                raise Interrupted(
                    f"{exc.saved}; members before m{i:02d} are complete", cmd
                ) from None
        members.append(res)
        if len(val):
            v = ds.isel(site=val)
            p = predict_dataset(res, v)
            for k in OBSERVED[1:]:
                resid[k].append(_log_residuals(p[k].values, obs_st[k].values[val]))
            if "obs_depth" in v.variables:
                import torch

                depth = torch.as_tensor(
                    np.asarray(v["obs_depth"].transpose("site", ...).values, float)
                )
                at = interpolate(torch.as_tensor(p["soc_layer"].values), depth).numpy()
                resid["soc_layer"].append(
                    _log_residuals(at, v["soc"].transpose("site", ...).values)
                )
    obs_error, location, counts = {}, {}, {}
    for k, parts in resid.items():
        r = np.concatenate(parts) if parts else np.zeros(0)
        counts[k] = int(r.size)
        location[k] = float(np.mean(r)) if r.size >= 10 else 0.0
        obs_error[k] = float(np.std(r)) if r.size >= 10 else 0.0
    info = {
        "members": [f"members/m{i:02d}" for i in range(m_count)],
        "obs_error_log_sd": obs_error,
        "obs_error_log_location": location,
        "obs_error_n": counts,
        "obs_error_method": "mean (location) and standard deviation (sd) of log(obs/pred) of "
        "each member on its own validation sites (whole 2-degree blocks it did not train on)",
        "n_fit_sites": int(len(fit)),
        "n_test_sites": int(len(test_idx)),
    }
    atomic_write_text(run_dir / "ensemble.json", json.dumps(info, indent=2))
    return EnsembleResult(run_dir, members, obs_error, location)


def _members(ens) -> tuple[list, dict[str, float], dict[str, float]]:
    """Members, observation-error sd and location (0 for runs made before it existed)."""
    if isinstance(ens, EnsembleResult):
        return ens.members, ens.obs_error, ens.obs_location
    root = Path(ens)
    info = json.loads((root / "ensemble.json").read_text())
    return ([root / m for m in info["members"]], info["obs_error_log_sd"],
            info.get("obs_error_log_location", {}))  # fmt: skip


def mixture_quantiles(
    values: np.ndarray, sigma: float, qs: dict[str, float], iterations: int = 50,
    location: float = 0.0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Quantiles of the equal mixture over members (axis 0) of ``v * exp(location + sigma z)``.

    Solved exactly (bisection on the mixture CDF in log space, bracketed by the members'
    own quantiles); ``values`` (M, ...) are clipped at 1e-9 (log-normal). ``sigma = 0``
    gives the plain quantiles over members (linear interpolation) times ``exp(location)``.
    NaN members (left out at that site) are ignored; a site with no member gives NaN.
    """
    from scipy.stats import norm

    v = np.asarray(values, dtype=np.float64) * np.exp(location)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN sites stay NaN
        if not sigma > 0:
            return {k: np.nanquantile(v, q, axis=0) for k, q in qs.items()}
        logv = np.log(np.clip(v, _TINY, None))
        out = {}
        for k, q in qs.items():
            zq = float(norm.ppf(q))
            lo, hi = np.nanmin(logv, 0) + sigma * zq, np.nanmax(logv, 0) + sigma * zq
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                cdf = np.nanmean(norm.cdf((mid[None] - logv) / sigma), 0)
                below = cdf < q
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            out[k] = np.exp(0.5 * (lo + hi))
    return out


def predict_ensemble(
    ens, ds: xr.Dataset, batch_size: int = 2048, source: str = "dataset"
) -> xr.Dataset:
    """Ensemble mean of every member output, plus ``_sd``, ``_p05``, ``_p95`` per site.

    Variables as :func:`soilbinn.training.predict.predict_dataset` (the mean under the
    plain name); the observed outputs' percentiles include the observation error.
    A member whose steady state at a site is implausible (a stock above 1,000 kg m-2, a
    non-finite or negative pool: :func:`soilbinn.process.model.implausible_state`) is left
    out of that site's mean, sd and percentiles (``implausible_members`` counts them); a
    site where every member is implausible gets NaN and ``implausible = 1``.
    """
    from soilbinn.training.predict import predict_dataset

    members, obs_error, location = _members(ens)
    preds = [predict_dataset(m, ds, batch_size, source) for m in members]
    out = preds[0].copy()
    stack = xr.concat(preds, dim="member")
    ok = None
    if "implausible" in stack:  # BINN: a member's steady state no real soil has is left out
        ok = stack["implausible"] == 0
        n_ok = ok.sum("member").values
        out["implausible"] = ("site", (n_ok == 0).astype(np.int8), {"units": "1",
                              "long_name": "no member has a plausible steady state (outputs NaN)"})  # fmt: skip
        out["implausible_members"] = ("site", (len(members) - n_ok).astype(np.int16), {"units": "1",
                                      "long_name": "members left out: steady state no real soil has"})  # fmt: skip
    for name in preds[0].data_vars:
        da = stack[name]
        if not np.issubdtype(da.dtype, np.floating) or "site" not in da.dims:
            continue
        attrs = dict(da.attrs)
        if ok is not None:
            da = da.where(ok)
        vals = da.values
        n = np.sum(np.isfinite(vals), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN sites stay NaN
            mean = np.nanmean(vals, axis=0)
            sd = np.where(n > 1, np.nanstd(vals, axis=0, ddof=1), 0.0)
        out[name] = (da.dims[1:], mean, attrs)
        out[f"{name}_sd"] = (da.dims[1:], np.where(n > 0, sd, np.nan),
                             {**attrs, "long_name": f"ensemble sd of {name}"})  # fmt: skip
        sigma = obs_error.get(name, 0.0) if name in OBSERVED else 0.0
        mu = location.get(name, 0.0) if name in OBSERVED else 0.0
        for k, arr in mixture_quantiles(vals, sigma, QUANTILES, location=mu).items():
            what = "predictive" if sigma > 0 else "ensemble"
            out[f"{name}_{k}"] = (da.dims[1:], arr, {**attrs, "long_name": f"{k[1:]}th percentile "
                                  f"({what}) of {name}"})  # fmt: skip
    out.attrs.update({"ensemble_members": len(members),
                      "obs_error_log_sd": json.dumps(obs_error),
                      "obs_error_log_location": json.dumps(location)})  # fmt: skip
    return out


__all__ = [
    "train_ensemble",
    "predict_ensemble",
    "is_ensemble",
    "EnsembleResult",
    "mixture_quantiles",
]
