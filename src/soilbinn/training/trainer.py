"""The training loop of BINN and the pure-NN baseline.

:func:`train` is the Python API (``soilbinn train`` and ``torchrun ... -m soilbinn train``
call it): split the sites, build inputs once as tensors, train with AdamW, validate every
epoch, stop early on validation NSE, checkpoint every epoch (resumable), and finally
evaluate the best checkpoint on train / validation / test. Optionally (``train.polish``,
``train.water_relaxation``; on in ``demo``) the water scalar is relaxed in early epochs and
the best checkpoint is polished by full-batch L-BFGS (:mod:`soilbinn.training.polish`).

Non-finite values are never trained on: a batch in which any site has a non-finite network
output, simulated SOC or gradient is skipped and the site ids are logged; training aborts
with :class:`NonFiniteError` after ``train.max_nonfinite_batches`` such batches.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from soilbinn.evaluation.metrics import depth_binned_metrics
from soilbinn.interrupt import Deferred, Interrupted, command_line
from soilbinn.process import native
from soilbinn.process.rates import water_saturation_threshold
from soilbinn.training import distributed as D
from soilbinn.training.config import Config
from soilbinn.training.gp_fit import fit_gp_prior
from soilbinn.training.losses import (
    DEPTH_WEIGHTS,
    LOSSES,
    masked_misfit,
    parameter_regulariser,
)
from soilbinn.training.modelbuild import build_model
from soilbinn.training.plausibility import LOSS_SCALES, AnchorSampler, anchor_excess, stock_excess
from soilbinn.training.polish import lbfgs_polish, newton_polish, water_sharpness
from soilbinn.training.progress import Progress, progress_enabled
from soilbinn.training.rundir import RunDir, RunDirError, atomic_torch_save, load_checkpoint
from soilbinn.training.sitedata import (
    SiteData,
    TrainingDataError,
    site_data_from_dataset,
    split_indices,
    split_shortfalls,
)
from soilbinn.training.stocks import (
    add_stock_misfit,
    has_layer_observations,
    observed_densities,
    stock_site_weights,
    stock_tables,
    validation_score,
)

SPLITS = ("train", "val", "test")


class NonFiniteError(RuntimeError):
    """Too many batches with non-finite outputs or gradients (names the sites)."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    run_dir : Path
    model : nn.Module (best checkpoint, eval mode)
    best_epoch : int
    metrics : DataFrame indexed by (split, depth_bin) with nse, r2, rmse, mae, n (layers)
    history : DataFrame of metrics.csv
    stock_metrics : DataFrame indexed by (split, interval), or None without stocks
        (see :func:`soilbinn.evaluation.metrics.stock_metrics`)
    """

    run_dir: Path
    model: nn.Module
    best_epoch: int
    metrics: pd.DataFrame
    history: pd.DataFrame
    skipped_batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    stock_metrics: pd.DataFrame | None = None

    def score(self, split: str = "test", metric: str = "nse", depth_bin: str = "all") -> float:
        return float(self.metrics.loc[(split, depth_bin), metric])


def interpolate(soc_layer: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    from soilbinn.process.observation import interpolate_to_depths

    return interpolate_to_depths(soc_layer, depth.to(soc_layer.dtype))


def _split(cfg: Config, ds: xr.Dataset, train_idx, val_idx, test_idx):
    if train_idx is None:
        lat = np.asarray(ds["lat"].values)
        lon = np.asarray(ds["lon"].values)
        return split_indices(
            lat, lon, cfg.data.val_fraction, cfg.data.test_fraction, cfg.data.split_seed,
            cfg.data.split, cfg.data.block_deg,
        )  # fmt: skip
    out = []
    for idx in (train_idx, val_idx, test_idx):
        out.append(np.asarray([] if idx is None else idx, dtype=np.int64))
    return tuple(out)


def _input_meta(cfg: Config, train: SiteData) -> dict[str, Any]:
    """Scaling statistics over the (global) training sites."""
    x = train.numeric
    big = torch.finfo(torch.float32).max
    lo = torch.where(torch.isnan(x), torch.full_like(x, big), x).amin(0) if len(x) else None
    hi = torch.where(torch.isnan(x), torch.full_like(x, -big), x).amax(0) if len(x) else None
    c = x.shape[1]
    lo = D.all_reduce(lo if lo is not None else torch.full((c,), big), "min")
    hi = D.all_reduce(hi if hi is not None else torch.full((c,), -big), "max")
    lo = torch.where(lo > hi, torch.zeros_like(lo), lo)
    hi = torch.where(hi < lo, torch.ones_like(hi), hi)
    # means and sds over the non-missing training values (zscore scaling)
    ok = ~torch.isnan(x)
    x0 = torch.where(ok, x.to(torch.float64), torch.zeros_like(x, dtype=torch.float64))
    mom = D.all_reduce(torch.cat([ok.sum(0).to(torch.float64), x0.sum(0), (x0**2).sum(0)]))
    cnt, s1, s2 = mom[:c], mom[c : 2 * c], mom[2 * c :]
    mu = torch.where(cnt > 0, s1 / cnt.clamp_min(1.0), torch.zeros_like(s1))
    sd = torch.sqrt((s2 / cnt.clamp_min(1.0) - mu**2).clamp_min(0.0))
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    # layers and the stock increments the loss uses, g m-3
    site_w = stock_site_weights(has_layer_observations(train.soc), cfg.loss)
    obs = observed_densities(train.soc, train.stocks, site_w)
    s = D.all_reduce(
        torch.tensor(
            [float(obs.sum()), float((obs**2).sum()), float(obs.numel())], dtype=torch.float64
        )
    )
    mean = float(s[0] / s[2]) if s[2] > 0 else 1.0
    var = float(s[1] / s[2] - mean**2) if s[2] > 0 else 1.0
    return {
        "numeric_names": list(train.numeric_names),
        "categorical_names": list(train.categorical_names),
        "n_categories": list(train.n_categories),
        "region_names": list(train.region_names),
        "numeric_min": lo.tolist(),
        "numeric_max": hi.tolist(),
        "numeric_mean": mu.tolist(),
        "numeric_std": sd.tolist(),
        "soc_scale": max(mean, 1e-6),
        "obs_variance": max(var, 1e-12),
    }


def _decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on Linear weights only (not biases, norms, embeddings, temperature)."""
    decay, no_decay = [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (decay if isinstance(mod, nn.Linear) and name == "weight" else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


SCHEDULERS = {
    "none": lambda opt, cfg: None,
    "cosine": lambda opt, cfg: torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=cfg.train.epochs, eta_min=cfg.train.scheduler.min_lr
    ),
    "step": lambda opt, cfg: torch.optim.lr_scheduler.StepLR(
        opt, step_size=cfg.train.scheduler.step_size, gamma=cfg.train.scheduler.gamma
    ),
    "plateau": lambda opt, cfg: torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=cfg.train.scheduler.gamma, patience=max(cfg.train.patience // 2, 1),
        min_lr=cfg.train.scheduler.min_lr,
    ),
}  # fmt: skip


@torch.no_grad()
def predict_at_obs(model: nn.Module, data: SiteData, batch_size: int = 1024) -> np.ndarray:
    """Simulated SOC (n, obs) at the observation depths, eval mode, float64."""
    return predict_observations(model, data, batch_size)[0]


@torch.no_grad()
def predict_observations(
    model: nn.Module, data: SiteData, batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray | None]:
    """Simulated SOC at the observation depths (n, obs) g m-3 and stocks over the observed
    intervals (n, interval) g m-2 (None without stock observations); eval mode, float64."""
    from soilbinn.process.observation import stocks_over_intervals

    model.eval()
    out, stk = [], []
    for start in range(0, len(data), batch_size):
        b = data.select(torch.arange(start, min(start + batch_size, len(data))))
        soc = model(b)["soc_layer"]
        out.append(interpolate(soc, b.depth).cpu().numpy())
        if b.stocks is not None:
            stk.append(stocks_over_intervals(soc, b.stocks.top, b.stocks.bottom).cpu().numpy())
    k = None if data.stocks is None else data.stocks.obs.shape[1]
    if not out:
        empty = np.zeros((0, 0 if data.soc is None else data.soc.shape[1]))
        return empty, (None if k is None else np.zeros((0, k)))
    return np.concatenate(out, axis=0), (np.concatenate(stk, axis=0) if stk else None)


def gathered_metrics(
    model: nn.Module, data: SiteData, positions: np.ndarray, batch_size: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Metrics over the union of all ranks' sites (each site once)."""
    pred, spred = predict_observations(model, data, batch_size) if len(data) else (None, None)
    local = {
        "pos": np.asarray(positions),
        "pred": pred if pred is not None else np.zeros((0, 1)),
        "obs": data.soc.cpu().numpy() if len(data) else np.zeros((0, 1)),
        "depth": data.depth.cpu().numpy() if len(data) else np.zeros((0, 1)),
    }
    if data.stocks is not None:  # every rank has the dataset's interval dimension
        k = data.stocks.obs.shape[1]
        local.update(stock_pred=spred if spred is not None else np.zeros((0, k)),
                     stock_obs=data.stocks.obs.cpu().numpy(),
                     stock_top=data.stocks.top.cpu().numpy(),
                     stock_bottom=data.stocks.bottom.cpu().numpy())  # fmt: skip
    parts = D.gather_objects(local)
    pos = np.concatenate([p["pos"] for p in parts])
    order = np.argsort(pos, kind="stable")
    if len(np.unique(pos)) != len(pos):
        raise RuntimeError("internal error: duplicated sites in gathered predictions")
    flat = {
        k: np.concatenate([p[k].reshape(len(p["pos"]), -1) for p in parts if len(p["pos"])] or
                          [np.zeros((0, 1))])[order]
        for k in ("pred", "obs", "depth", "stock_pred", "stock_obs", "stock_top", "stock_bottom")
        if k in parts[0]
    }  # fmt: skip
    flat["pos"] = pos[order]
    return depth_binned_metrics(flat["pred"], flat["obs"], flat["depth"]), flat


class _Trainer:
    def __init__(self, cfg, model, data, positions, meta, run, info, log, process_obs_weight):
        self.cfg, self.model, self.data, self.positions = cfg, model, data, positions
        self.meta, self.run, self.info, self.log = meta, run, info, log
        self.weights = process_obs_weight
        self.n_train_global = int(positions["n_train_global"])
        device = next(model.parameters()).device
        self.ddp = (
            nn.parallel.DistributedDataParallel(
                model, broadcast_buffers=False,
                device_ids=[device.index] if device.type == "cuda" else None,
            )
            if info.enabled
            else model
        )  # fmt: skip
        self.opt = torch.optim.AdamW(
            _decay_groups(model, cfg.train.optimizer.weight_decay),
            lr=cfg.train.optimizer.lr, betas=tuple(cfg.train.optimizer.betas),
        )  # fmt: skip
        self.sched = SCHEDULERS[cfg.train.scheduler.kind](self.opt, cfg)
        self.stats = {"obs_variance": meta["obs_variance"]}
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.skipped = 0
        # Ctrl-C inside fit(): taken between batches (soilbinn.interrupt.Deferred)
        self.ctrl_c = Deferred()

    # --- checkpoints
    def state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict() if self.sched is not None else {},
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "skipped_batches": self.skipped,
            "rng_torch": torch.get_rng_state(),
            "config": self.cfg.to_dict(),
            "meta": self.meta,
        }

    def load(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        if self.sched is not None and ckpt["scheduler"]:
            self.sched.load_state_dict(ckpt["scheduler"])
        self.epoch = int(ckpt["epoch"])
        self.best_score = float(ckpt["best_score"])
        self.best_epoch = int(ckpt["best_epoch"])
        self.bad_epochs = int(ckpt["bad_epochs"])
        self.skipped = int(ckpt["skipped_batches"])
        torch.set_rng_state(ckpt["rng_torch"].cpu())

    # --- one epoch
    def _batches(self, epoch: int):
        B = self.cfg.train.batch_size
        g = torch.Generator().manual_seed(int(self.cfg.train.seed) * 1_000_003 + epoch)
        perm = torch.randperm(self.n_train_global, generator=g).to(
            self.data["train"].numeric.device
        )
        world, rank = self.info.world_size, self.info.rank
        for start in range(0, self.n_train_global, B):
            sel = perm[start : start + B]
            if len(sel) < 2:  # BatchNorm needs two sites; drop a last singleton
                break
            yield sel[sel % world == rank] // world, len(sel)

    def _bad_sites(self, bad: torch.Tensor, batch: SiteData) -> list[str]:
        ids = [batch.site_ids[i] for i in torch.nonzero(bad).flatten().tolist()]
        return [i for part in D.gather_objects(ids) for i in part]

    def train_epoch(self, epoch: int) -> dict[str, float]:
        process = getattr(self.model, "process_model", None)
        sharp = water_sharpness(epoch, self.cfg.train.epochs, self.cfg.train.water_relaxation)
        if process is None or sharp is None:
            return self._train_epoch(epoch)
        process.water_sharpness = sharp  # relaxed water scalar in this epoch's batches only
        try:
            return self._train_epoch(epoch)
        finally:
            process.water_sharpness = None

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        self.ddp.train()
        train = self.data["train"]
        w_train = self.weights
        totals = torch.zeros(4, dtype=torch.float64)  # misfit sum, weight, reg sum, reg count
        skipped = ill = 0
        plaus = cfg.loss.plausibility
        plaus_on = plaus.weight > 0 and hasattr(self.model, "process_model")
        # sum of h**2, sites and anchors, sites above, anchors above, anchors not finite
        plaus_totals = torch.zeros(5, dtype=torch.float64)
        sampler = None
        if plaus_on and plaus.anchors > 0:
            sampler = AnchorSampler(train, (int(cfg.train.seed) * 1_000_003 + epoch) * 64
                                    + 17 + self.info.rank)  # fmt: skip
        n_steps = self.n_train_global // cfg.train.batch_size + (
            1 if self.n_train_global % cfg.train.batch_size >= 2 else 0
        )
        enabled = progress_enabled(cfg.train.progress) and self.info.is_main
        with Progress(n_steps, f"epoch {epoch}", enabled) as bar:
            for local_idx, _ in self._batches(epoch):
                self.ctrl_c.check()  # a first Ctrl-C: stop between two batches
                batch = train.select(local_idx)
                out = self.ddp(batch)
                n = len(batch)
                if n:
                    pred = interpolate(out["soc_layer"], batch.depth)
                    num, den = masked_misfit(
                        pred, batch.soc, w_train[local_idx], cfg.loss, self.stats
                    )
                    num, den = add_stock_misfit(
                        num, den, out["soc_layer"], batch.stocks,
                        has_layer_observations(batch.soc), cfg.loss, self.stats,
                    )  # fmt: skip
                    ill += int(out.get("ill_conditioned", torch.zeros(0, dtype=torch.bool)).sum())
                else:
                    num = out["soc_layer"].sum() * 0.0
                    den = torch.zeros((), dtype=torch.float64)
                learned = out.get("learned")
                reg = (
                    parameter_regulariser(learned, cfg.loss.regulariser_sharpness)
                    if learned is not None
                    else num * 0.0
                )
                k = learned.shape[1] if learned is not None else 1
                bad = out["nonfinite"]
                plaus_sum, n_plaus, above, a_info = None, 0, 0, {"above": 0, "nonfinite": 0}
                if plaus_on and n and not bool(bad.any()):
                    h = stock_excess(out["pools"], plaus.ceiling)
                    plaus_sum, n_plaus, above = (h**2).sum(), n, int((h > 0).sum())
                    if sampler is not None:
                        a_sum, a_info = anchor_excess(self.model, sampler.sample(plaus.anchors),
                                                      plaus.ceiling)  # fmt: skip
                        plaus_sum, n_plaus = plaus_sum + a_sum, n + plaus.anchors
                counts = D.all_reduce(
                    torch.tensor([float(den), float(n * k), float(bad.sum()), float(n_plaus)],
                                 dtype=torch.float64)
                )  # fmt: skip
                if counts[2] > 0:
                    sites = self._bad_sites(bad, batch)
                    self._skip(f"non-finite network output or SOC at site(s) {sites[:20]}")
                    skipped += 1
                    continue
                counts = counts.to(num.device)
                den_g = counts[0].clamp_min(1e-12)
                loss = num / den_g
                if learned is not None and cfg.loss.regulariser_weight > 0:
                    loss = loss + cfg.loss.regulariser_weight * reg / counts[1].clamp_min(1.0)
                if plaus_sum is not None:  # (a DDP rank without sites adds nothing)
                    scale = LOSS_SCALES[cfg.loss.kind](self.stats)
                    loss = loss + plaus.weight * scale * plaus_sum / counts[3].clamp_min(1.0)
                    plaus_totals += torch.tensor(
                        [float(plaus_sum.detach()), float(n_plaus), float(above),
                         float(a_info["above"]), float(a_info["nonfinite"])], dtype=torch.float64,
                    )  # fmt: skip
                # DDP averages gradients over ranks; the loss above is already global
                (loss * self.info.world_size).backward()
                clip = cfg.train.grad_clip if cfg.train.grad_clip is not None else math.inf
                gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
                if not torch.isfinite(gnorm):
                    self.opt.zero_grad(set_to_none=True)
                    self._skip(f"non-finite gradient in a batch of sites {batch.site_ids[:20]}")
                    skipped += 1
                    continue
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
                totals += torch.tensor(
                    [float(num.detach()), float(den), float(reg.detach()), float(n * k)],
                    dtype=torch.float64,
                )
                bar.update(1, loss=float(loss.detach()))
        totals = D.all_reduce(totals)
        ill_t = D.all_reduce(torch.tensor([float(ill)]))
        misfit = float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")
        reg_mean = float(totals[2] / totals[3]) if totals[3] > 0 else 0.0
        row = {
            "train_loss": misfit + cfg.loss.regulariser_weight * reg_mean,
            "train_misfit": misfit,
            "train_regulariser": reg_mean,
            "skipped_batches": skipped,
            "ill_conditioned_sites": int(ill_t[0]),
        }
        if plaus_on:  # mean h**2 over sites and anchors; counts above the ceiling
            pt = D.all_reduce(plaus_totals)
            row.update({"plausibility_excess": float(pt[0] / pt[1]) if pt[1] > 0 else 0.0,
                        "sites_above_ceiling": int(pt[2]), "anchors_above_ceiling": int(pt[3]),
                        "anchors_nonfinite": int(pt[4])})  # fmt: skip
        return row

    def _skip(self, message: str) -> None:
        self.skipped += 1
        self.log.warning("skipped batch: %s", message)
        if self.skipped > self.cfg.train.max_nonfinite_batches:
            raise NonFiniteError(
                f"{self.skipped} batches had non-finite values (limit "
                f"train.max_nonfinite_batches = {self.cfg.train.max_nonfinite_batches}); "
                f"last: {message}. Check the inputs of these sites or lower the learning rate."
            )

    def polish_weight_decay(self) -> float:
        """``polish.weight_decay + polish.weight_decay_per_obs / n`` (n: training layer
        observations and stock increments on all ranks)."""
        pol = self.cfg.train.polish
        if pol.weight_decay_per_obs <= 0:
            return pol.weight_decay
        train = self.data["train"]
        site_w = stock_site_weights(has_layer_observations(train.soc), self.cfg.loss)
        n = D.all_reduce(torch.tensor([float(observed_densities(train.soc, train.stocks,
                                                                site_w).numel())]))  # fmt: skip
        return pol.weight_decay + pol.weight_decay_per_obs / max(float(n[0]), 1.0)

    def objective_of_learned(self, learned: torch.Tensor) -> torch.Tensor:
        """Training misfit (+ regulariser, no weight decay) as a function of the learned
        parameters (n_train, k) of the training sites: a sum of per-site terms."""
        cfg, data, model = self.cfg, self.data["train"], self.model
        out = model.process_model(model.assemble(learned, data.fixed_params), data.forcing)
        pred = interpolate(out["soc_layer"], data.depth)
        num, den = masked_misfit(pred, data.soc, self.weights, cfg.loss, self.stats)
        num, den = add_stock_misfit(num, den, out["soc_layer"], data.stocks,
                                    has_layer_observations(data.soc), cfg.loss, self.stats)  # fmt: skip
        loss = num / den.detach().clamp_min(1e-12)
        if cfg.loss.regulariser_weight > 0:
            reg = parameter_regulariser(learned, cfg.loss.regulariser_sharpness)
            loss = loss + cfg.loss.regulariser_weight * reg / max(learned.numel(), 1)
        return loss

    def site_objective_of_learned(self, learned: torch.Tensor) -> torch.Tensor:
        """Each training site's term (n_train,) of :meth:`objective_of_learned` at the
        learned parameters (n_train, k), without a graph: their sum is the objective."""
        cfg, data, model = self.cfg, self.data["train"], self.model
        with torch.no_grad():
            out = model.process_model(model.assemble(learned, data.fixed_params), data.forcing)
            pred = interpolate(out["soc_layer"], data.depth)
            num, den = masked_misfit(pred, data.soc, self.weights, cfg.loss, self.stats,
                                     per_site=True)  # fmt: skip
            num, den = add_stock_misfit(num, den, out["soc_layer"], data.stocks,
                                        has_layer_observations(data.soc), cfg.loss, self.stats,
                                        per_site=True)  # fmt: skip
            terms = num / den.clamp_min(1e-12)
            if cfg.loss.regulariser_weight > 0:
                reg = parameter_regulariser(learned, cfg.loss.regulariser_sharpness, per_site=True)
                terms = terms + cfg.loss.regulariser_weight * reg / max(learned.numel(), 1)
        return terms

    def site_misfits(self, split: str) -> torch.Tensor:
        """Per-site mean layer misfit (n,) of the current weights; NaN without layers."""
        cfg, data = self.cfg, self.data[split]
        pred = interpolate(self.model(data)["soc_layer"], data.depth)
        valid = torch.isfinite(data.soc) & torch.isfinite(pred)
        obs = torch.where(valid, data.soc, torch.zeros_like(data.soc))
        elem = LOSSES[cfg.loss.kind](torch.where(valid, pred, torch.zeros_like(pred)), obs,
                                     cfg.loss, self.stats)  # fmt: skip
        n = valid.sum(1)
        total = torch.where(valid, elem, torch.zeros_like(elem)).sum(1)
        return torch.where(n > 0, total / n.clamp_min(1), torch.full_like(total, math.nan))

    def objective(self, split: str = "train") -> torch.Tensor:
        """Full-batch objective (misfit + regulariser) of the current weights on a split."""
        cfg, data = self.cfg, self.data[split]
        out = self.model(data)
        pred = interpolate(out["soc_layer"], data.depth)
        w = self.weights if split == "train" else _obs_weights(cfg, data)
        num, den = masked_misfit(pred, data.soc, w, cfg.loss, self.stats)
        num, den = add_stock_misfit(num, den, out["soc_layer"], data.stocks,
                                    has_layer_observations(data.soc), cfg.loss, self.stats)  # fmt: skip
        loss = num / den.clamp_min(1e-12)
        learned = out.get("learned")
        if learned is not None and cfg.loss.regulariser_weight > 0:
            reg = parameter_regulariser(learned, cfg.loss.regulariser_sharpness)
            loss = loss + cfg.loss.regulariser_weight * reg / max(learned.numel(), 1)
        wd = self.polish_weight_decay()
        if split == "train" and wd > 0:  # L2 on Linear weights (as AdamW's groups)
            sq = sum(
                (p.to(torch.float64) ** 2).sum() for p in _decay_groups(self.model, 0)[0]["params"]
            )
            loss = loss + 0.5 * wd * sq
        return loss

    def polish(self) -> dict[str, float] | None:
        """L-BFGS polishing of the best checkpoint (``train.polish``, see ``training.polish``)."""
        cfg = self.cfg.train.polish
        if cfg.iterations == 0 or self.info.enabled or not self.run.best.exists():
            if cfg.iterations and self.info.enabled:
                self.log.warning(
                    "polish: skipped under DDP (full-batch L-BFGS runs on one process)"
                )
            return None
        start = self.run.last if cfg.start == "last" and self.run.last.exists() else self.run.best
        self.model.load_state_dict(load_checkpoint(start)["model"])

        def val_nse() -> float:
            val, _ = gathered_metrics(
                self.model, self.data["val"], self.positions["val"], self.cfg.train.eval_batch_size
            )
            score = float(val.loc["all", "nse"])
            return score if math.isfinite(score) else -math.inf

        def val_objective() -> float:  # early stopping on the training objective's misfit
            with torch.no_grad():
                v = float(self.objective("val"))
            return -v if math.isfinite(v) else -math.inf

        def val_median() -> float:  # median over sites of the per-site layer misfit
            with torch.no_grad():
                v = self.site_misfits("val")
            v = v[torch.isfinite(v)]
            return -float(v.median()) if len(v) else val_objective()

        has_val = self.positions["n_val_global"] > 0
        monitor = None
        if has_val and cfg.monitor:
            monitor = val_median if cfg.monitor_statistic == "median" else val_objective
        if cfg.method == "newton" and hasattr(self.model, "param_net"):
            train = self.data["train"]
            net = self.model.param_net
            with torch.no_grad():  # the inputs' parts no weight changes, once
                fixed = net.inputs.fixed(train.numeric, train.categorical, train.lonlat)

            def outputs() -> torch.Tensor:
                return net.from_fixed(fixed)

            res = newton_polish(
                self.model, outputs, self.objective_of_learned, cfg.iterations,
                cfg.inner_iterations, cfg.history_size, self.polish_weight_decay(),
                _decay_groups(self.model, 0)[0]["params"], cfg.max_seconds, monitor, cfg.patience,
                cfg.damping,
            )  # fmt: skip
        else:
            res = lbfgs_polish(self.model, self.objective, cfg.iterations, cfg.history_size,
                               cfg.max_seconds, monitor, cfg.patience)  # fmt: skip
        score = val_nse() if has_val else -res["loss_after"]
        res["val_nse_before"], res["val_nse_after"] = self.best_score, score
        if res["best_iteration"] > 0 and math.isfinite(score):
            self.best_score = score
            atomic_torch_save(self.state(), self.run.best)
        self.log.info(
            "polish: %s %d iterations (%d evaluations) in %.1fs, loss %.5g -> %.5g, "
            "%s %.4f -> %.4f (%s)", cfg.method, res["iterations"], res["evaluations"], res["seconds"],
            res["loss_before"], res["loss_after"],
            "val NSE" if has_val else "score (minus the training loss; no validation sites)",
            res["val_nse_before"], score, "kept" if res["best_iteration"] > 0 else "discarded",
        )  # fmt: skip
        return res

    def fit_gp_prior(self) -> dict[str, float] | None:
        """Replace the parameter network by a GP prior fitted to the training sites
        (``train.gp_prior``, see ``training.gp_fit``); best.pt then holds it."""
        cfg = self.cfg.train.gp_prior
        model = self.model
        if cfg.iterations == 0:
            return None
        if not hasattr(model, "param_net"):
            self.log.info("gp_prior: not used, model.kind = %r has no process parameters",
                          self.cfg.model.kind)  # fmt: skip
            return None
        # the regions are read by the GP stage alone (train.gp_prior.regions)
        unused = f"; the regions {cfg.regions} are not used" if cfg.regions else ""
        if self.info.enabled:
            self.log.warning("gp_prior: skipped under DDP (it runs on one process)%s", unused)
            return None
        train = self.data["train"]
        k = len(model.learned_names)
        if k > cfg.max_learned:
            self.log.info("gp_prior: not used for %d learned parameters (train.gp_prior."
                          "max_learned = %d); the network is kept%s", k, cfg.max_learned,
                          unused)  # fmt: skip
            return {"skipped": "max_learned"}
        if len(train) > cfg.max_sites:
            self.log.warning(
                "gp_prior: skipped, the network is kept: %d training sites > "
                "train.gp_prior.max_sites = %d (the site kernel's eigendecomposition grows "
                "as their cube)%s", len(train), cfg.max_sites, unused,
            )  # fmt: skip
            return {"skipped": "max_sites"}
        # names were checked in build_model (resolve_parameters)
        blend = [1.0 if n in cfg.gp_alone else cfg.blend for n in model.learned_names]
        if self.run.best.exists():
            model.load_state_dict(load_checkpoint(self.run.best)["model"])
        model.eval()
        net = model.param_net
        starts, below, exempt, pattern, probe = [None], [], [], None, None
        if cfg.w_pattern is not None and "w_scaling" in model.learned_names:
            j = model.learned_names.index("w_scaling")
            pattern = (j, self._water_threshold_start(j, 1.0).threshold)
        if cfg.w_probe and "w_scaling" in model.learned_names:
            j = model.learned_names.index("w_scaling")
            probe = (j, self._water_threshold_start(j, 1.0).threshold,
                     self.site_objective_of_learned)  # fmt: skip
        if cfg.w_start != "network" and "w_scaling" in model.learned_names:
            j = model.learned_names.index("w_scaling")
            below = [self._water_threshold_start(j, float(m)) for m in cfg.w_margin]
            starts = below if cfg.w_start == "saturation" else [None, *below]
            exempt = [j]  # its saturated sites' logits follow the climate (gp_support)
        prior, res = fit_gp_prior(
            net, (train.numeric, train.categorical, train.lonlat), self.objective_of_learned,
            int(torch.isfinite(train.soc).sum()), cfg, self.cfg.data.use_lonlat,
            self.cfg.train.seed, self.log.info, blend, starts, support_exempt=exempt,
            w_pattern=pattern, w_probe=probe,
        )  # fmt: skip
        if below:
            res["w_start_lowered"] = below[0].lowered
            res["w_start_lowered_by_margin"] = [b.lowered for b in below]
            if prior is None:  # no round kept: the network's parameters are used
                kept = "none, the network is used"
            else:
                start = starts[res["start"]]
                kept = ("the network's" if start is None
                        else f"{start.margin:g} of the saturation threshold")  # fmt: skip
            self.log.info("gp_prior: log evidence by phase (start, path, kernel, draw) %s; kept: %s",
                          [round(max(e), 1) if e else None for e in res["start_evidence"]], kept)  # fmt: skip
        self.log.info(
            "gp_prior: %d Newton steps accepted in %.1fs, misfit %.5g -> %.5g, log evidence "
            "%.1f (round %d of %d kept, %s kernel, %s categories%s)", res["accepted"],
            res["seconds"], res["misfit_before"], res["misfit_after"], res["log_evidence"],
            res["round"], len(res["round_evidence"]), res.get("correlation") or "no",
            res.get("categories") or "no",
            "" if "tempered" not in res else
            f", the {'tempered' if res['tempered'] else 'untempered'} path",
        )  # fmt: skip
        if prior is None:
            return res
        model.param_net = prior
        if "w_scaling" in model.learned_names:
            # no water limitation at a site whose w_scaling is at or above its threshold: on
            # the misses of stop 82 the kept mode had 8-38% of the training sites there
            # against 56-96% in the truth (docs/recovery_ablation.md)
            j = model.learned_names.index("w_scaling")
            with torch.no_grad():
                w = prior(train.numeric, train.categorical, train.lonlat)[:, j].to(torch.float64)
            thr = self._water_threshold_start(j, 1.0).threshold.to(w)
            res["w_saturated_sites"] = int((w >= thr).sum())
            self.log.info("gp_prior: w_scaling at or above its saturation threshold (no water "
                          "limitation) at %d of %d training sites", res["w_saturated_sites"],
                          len(w))  # fmt: skip
        self.meta["gp_prior"] = {"n_sites": int(prior.x_train.shape[0]),
                                 "n_features": int(prior.x_train.shape[1]),
                                 "use_lonlat": bool(prior.use_lonlat),
                                 "blend": list(prior.blend), "kernel": prior.kernel,
                                 "correlation": prior.correlation,
                                 "categories": prior.categories,
                                 "offset_variance": list(prior.offset_variance),
                                 "steps": int(prior.step_param.numel()),
                                 "cells": (0 if prior.cell_keys is None
                                           else int(prior.cell_keys.shape[0]))}  # fmt: skip
        if self.info.is_main:
            ckpt = load_checkpoint(self.run.best) if self.run.best.exists() else self.state()
            ckpt["model"], ckpt["meta"] = model.state_dict(), self.meta
            atomic_torch_save(ckpt, self.run.best)
        return res

    def _water_threshold_start(
        self, j: int, margin: float
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Start for the GP stage: w_scaling (column ``j`` of the learned parameters) of
        every training site moved to ``margin`` times its saturation threshold
        (:func:`soilbinn.process.rates.water_saturation_threshold`), from above where
        ``margin <= 1`` and from below where ``margin > 1`` (``train.gp_prior.w_margin``).

        Below (0.98): the same SOC but in the cells the margin unsaturates (with 0.98 the
        driest), and a likelihood with a w_scaling gradient. Above (1.02): every cell's
        water scalar saturated, the SOC explained without water limitation where the
        network compensated one with the other parameters. Which of the two basins the
        evidence prefers depends on the truth (docs/recovery_ablation.md, stops 28, 48).
        ``start.lowered`` counts the sites moved.
        """
        space = self.model.process_model.space
        water = self.data["train"].forcing.forcing.water_scalar.to(torch.float64)
        lo, hi = space.bounds_tensors(dtype=torch.float64)
        i = space.names.index("w_scaling")
        threshold = water_saturation_threshold(water)
        unit = (threshold - lo[i]) / (hi[i] - lo[i])
        limit = ((margin * threshold - lo[i]) / (hi[i] - lo[i])).clamp(0.0, 1.0)
        below = margin <= 1.0

        def start(p: torch.Tensor) -> torch.Tensor:
            q = p.clone()
            bound = limit.to(p.dtype)
            q[:, j] = torch.minimum(p[:, j], bound) if below else torch.maximum(p[:, j], bound)
            start.lowered = int((q[:, j] != p[:, j]).sum())
            self.log.info("gp_prior: w_scaling starts %s %g of its saturation threshold "
                          "at %d of %d training sites", "below" if below else "above",
                          margin, start.lowered, len(p))  # fmt: skip
            return q

        start.lowered, start.margin = 0, margin
        start.threshold = unit  # each site's threshold on the unit scale (w_pattern)
        return start

    def fit(self) -> None:
        """Train until ``train.epochs`` or early stopping; ``last.pt`` after each epoch.

        A Ctrl-C ends the epoch at the next batch (a second one at once) with
        KeyboardInterrupt; ``last.pt`` then holds the previous epoch, whose state is
        consistent (the interrupted epoch is redone on resume). A Ctrl-C after the last
        batch (during the last validation or checkpoint) stops before the polishing.
        """
        with self.ctrl_c:
            self._fit()
            self.ctrl_c.check()

    def _fit(self) -> None:
        cfg = self.cfg
        while self.epoch < cfg.train.epochs and self.bad_epochs < cfg.train.patience:
            self.ctrl_c.check()
            epoch = self.epoch + 1
            t0 = time.perf_counter()
            row = self.train_epoch(epoch)
            seconds = time.perf_counter() - t0
            if self.positions["n_val_global"] > 0:
                val, vflat = gathered_metrics(
                    self.model, self.data["val"], self.positions["val"], cfg.train.eval_batch_size
                )
                # layers and stocks pooled on the loss's scale (layers only: the layer NSE)
                score = validation_score(val, vflat, cfg.loss.stock_weight,
                                         cfg.loss.stock_weight_with_layers)  # fmt: skip
                vrow = {f"val_{k}": float(val.loc["all", k]) for k in ("nse", "r2", "rmse", "mae")}
                if "stock_obs" in vflat:
                    vrow["val_score_layers_and_stocks"] = score
            else:
                score, vrow = -row["train_loss"], {}
            if not math.isfinite(score):
                score = -math.inf
            self.epoch = epoch
            improved = score > self.best_score
            if improved:
                self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            else:
                self.bad_epochs += 1
            if self.sched is not None:
                if cfg.train.scheduler.kind == "plateau":
                    self.sched.step(score)
                else:
                    self.sched.step()
            model = self.model
            temp = (
                float(model.param_net.temperature.detach())
                if hasattr(model, "param_net")
                else float("nan")
            )
            full = {"epoch": epoch, **row, **vrow, "lr": self.opt.param_groups[0]["lr"],
                    "temperature": temp, "seconds": round(seconds, 3)}  # fmt: skip
            if self.info.is_main:
                if improved:
                    atomic_torch_save(self.state(), self.run.best)
                self.run.save_last(self.state())
                self.run.append_metrics(full)
                self.log.info(
                    "epoch %d train_loss %.5g val_nse %s (best %.4f @ %d) %.1fs",
                    epoch, row["train_loss"], vrow.get("val_nse"), self.best_score,
                    self.best_epoch, seconds,
                )  # fmt: skip
            D.barrier()
        if self.bad_epochs >= cfg.train.patience:
            self.log.info("early stop: no validation improvement for %d epochs", self.bad_epochs)


def _obs_weights(cfg: Config, data: SiteData) -> torch.Tensor:
    depth = torch.nan_to_num(data.depth, nan=0.0)
    valid = torch.isfinite(data.soc)
    return DEPTH_WEIGHTS[cfg.loss.depth_weighting](depth, valid).to(torch.float64)


def train(
    config: Config,
    dataset: xr.Dataset | str | Path,
    run_dir: str | Path | None = None,
    train_idx=None,
    val_idx=None,
    test_idx=None,
    resume: bool = False,
    runs_root: str | Path = "runs",
    process_model_factory=None,
    figures: bool = True,
) -> TrainResult:
    """Train BINN or the pure NN and evaluate the best epoch.

    Parameters
    ----------
    config : Config
        From :func:`soilbinn.training.config.load_config`.
    dataset : xarray.Dataset or path
        Schema dataset with covariates, forcing and observations. With a path, each DDP
        rank reads only the sites it owns.
    run_dir : path, optional
        New run directory (must not exist or be empty); default ``runs/<name>-<time>``.
    train_idx, val_idx, test_idx : int arrays, optional
        Site positions; by default split by ``config.data``.
    resume : bool
        Continue ``run_dir`` from ``checkpoints/last.pt`` (the config must be the run's).

    Returns
    -------
    TrainResult
    """
    cfg = config
    info = D.init_distributed()
    # refuse early (before reading data) what would later fail on the run directory
    if resume:
        if run_dir is None:
            raise RunDirError("resume needs the run directory")
        RunDir.open(run_dir).check_resume(cfg)
    else:
        RunDir.ensure_new(run_dir)
    threads_before = torch.get_num_threads()
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    # the GP stage's evidence fits allocate and free 20-30 MB temporaries per evaluation:
    # kept for reuse, not faulted in again page by page (3-8 CPU s of a 3,000-site GP
    # stage, results bit-identical; stop 45)
    native.retain_freed_memory()
    try:
        return _train(cfg, info, dataset, run_dir, train_idx, val_idx, test_idx, resume,
                      runs_root, process_model_factory, figures)  # fmt: skip
    finally:
        torch.set_num_threads(threads_before)


def _train(cfg, info, dataset, run_dir, train_idx, val_idx, test_idx, resume, runs_root,
           process_model_factory, figures) -> TrainResult:  # fmt: skip
    source = str(dataset) if isinstance(dataset, (str, Path)) else "dataset"
    lazy = isinstance(dataset, (str, Path))
    if lazy:
        if not Path(dataset).exists():
            raise FileNotFoundError(f"dataset {dataset} not found")
        try:  # lazily: each DDP rank reads only its own sites
            ds_full = xr.open_dataset(dataset, engine="netcdf4")
        except (OSError, ValueError) as err:
            raise TrainingDataError(f"{source}: cannot read as NetCDF: {err}") from None
    else:
        ds_full = dataset
    try:
        for var in ("lat", "lon", "site"):
            if var not in ds_full.variables:
                raise TrainingDataError(
                    f"{source}: dataset lacks {var!r} (see docs/data_schema.md)"
                )
        idx = _split(cfg, ds_full, train_idx, val_idx, test_idx)
        n_all = ds_full.sizes["site"]
        joined = np.concatenate(idx)
        if len(joined) and (joined.min() < 0 or joined.max() >= n_all):
            raise ValueError(f"{source}: site indices outside 0..{n_all - 1}")
        if len(np.unique(joined)) != len(joined):
            raise ValueError(f"{source}: train/val/test site indices overlap or repeat")
        if len(idx[0]) < 2:
            raise ValueError(f"{source}: at least 2 training sites are needed, got {len(idx[0])}")
        mine = {s: D.shard(i, info) for s, i in zip(SPLITS, idx)}
        all_local = np.concatenate([mine[s] for s in SPLITS]).astype(np.int64)
        local_ds = ds_full.isel(site=all_local).load()
    finally:
        if lazy:
            ds_full.close()

    # inputs as tensors, once
    from soilbinn.process.parameters import ParameterSpace

    space = ParameterSpace.from_preset(cfg.model.preset, cfg.model.transport)
    sd = site_data_from_dataset(
        local_ds, observations=True, fixed_from=cfg.model.fixed_from,
        param_names=space.names, numeric_names=cfg.data.covariates,
        categorical_names=cfg.data.categorical, source=source,
        region_names=cfg.train.gp_prior.regions,
    )  # fmt: skip
    offsets = np.cumsum([0] + [len(mine[s]) for s in SPLITS])
    data = {s: sd.select(torch.arange(offsets[i], offsets[i + 1])) for i, s in enumerate(SPLITS)}
    positions = {
        # global positions within each split (rank r owns r, r + W, ...)
        s: np.arange(info.rank, len(idx[i]), info.world_size)
        for i, s in enumerate(SPLITS)
    }
    for i, s in enumerate(SPLITS):
        positions[f"n_{s}_global"] = len(idx[i])

    meta = _input_meta(cfg, data["train"])
    device = D.resolve_device(cfg.train.device, info)
    if device.type != "cpu":
        data = {s: d.to(device) for s, d in data.items()}
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, meta, process_model_factory).to(device)
    if hasattr(model, "process_model") and hasattr(model.process_model, "prepare"):
        for s in SPLITS:  # validate forcing and precompute transport operators once
            if len(data[s]):
                data[s].forcing = model.process_model.prepare(data[s].forcing)

    # run directory (rank 0 creates, the others follow)
    if resume:
        run = RunDir.open(run_dir)
    else:
        path = None
        if info.is_main:
            path = str(RunDir.create(run_dir, cfg, runs_root).path)
        run = RunDir(Path(D.broadcast_object(path)))
    log = run.logger(info.rank)
    if info.is_main:
        print(f"soilbinn train: run directory {run.path}", file=sys.stderr, flush=True)
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
        if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
                   for h in log.handlers):  # fmt: skip
            log.addHandler(handler)

    trainer = _Trainer(
        cfg, model, data, positions, meta, run, info, log, _obs_weights(cfg, data["train"])
    )

    if resume:
        trainer.load(run.resume_checkpoint(log.warning))
        if info.is_main:
            run.truncate_metrics(trainer.epoch)
        log.info("resumed at epoch %d", trainer.epoch)
    elif info.is_main:
        site_ids = np.asarray(ds_split_ids(source, dataset, idx), dtype=object)
        _write_split(run, site_ids, idx)
        if train_idx is None:  # a split of our own: say where it fell far short
            why = (f"; whole {cfg.data.block_deg:g}-degree cells stay together and the "
                   "cells left were larger than what remained (a smaller data.block_deg "
                   "fills it)" if cfg.data.split == "spatial" else "")  # fmt: skip
            for short in split_shortfalls(idx, cfg.data.val_fraction, cfg.data.test_fraction):
                log.warning("data.split = %s: %s%s", cfg.data.split, short, why)
        run.save_last(trainer.state())  # epoch 0: an interrupted run can always resume
        run.write_meta({
            "seed": cfg.train.seed, "world_size": info.world_size,
            "n_sites": {s: int(len(i)) for s, i in zip(SPLITS, idx)},
            "dataset": source if lazy else getattr(dataset, "encoding", {}).get("source", "in-memory"),
            "input_meta": {k: v for k, v in meta.items() if k not in ("numeric_min", "numeric_max", "numeric_mean", "numeric_std")},
        })  # fmt: skip
    D.barrier()
    try:
        trainer.fit()
        polished = trainer.polish()
        gp = trainer.fit_gp_prior()
    except KeyboardInterrupt:
        raise _interrupted(run, trainer.epoch, source if lazy else None) from None
    if info.is_main and gp and "log_evidence" in gp:
        run.update_meta({"gp_prior": gp_summary(gp)})

    # final evaluation with the best checkpoint
    D.barrier()
    best_path = run.best if run.best.exists() else run.last
    model.load_state_dict(load_checkpoint(best_path)["model"])
    tables, flats = {}, {}
    for s in SPLITS:
        if positions[f"n_{s}_global"]:
            tables[s], flats[s] = gathered_metrics(
                model, data[s], positions[s], cfg.train.eval_batch_size
            )
    metrics = pd.concat(tables, names=["split"]) if tables else pd.DataFrame()
    st = stock_tables(flats)
    stock_metrics = pd.concat(st, names=["split"]) if st else None
    if info.is_main:
        metrics.to_csv(run.path / "evaluation.csv")
        if stock_metrics is not None:
            stock_metrics.to_csv(run.path / "evaluation_stocks.csv")
        if figures:
            from soilbinn.evaluation.figures import pred_vs_obs_figure

            for s, f in flats.items():
                if not np.isfinite(f["obs"]).any():  # stock-only split: no layer figure
                    continue
                pred_vs_obs_figure(f["pred"], f["obs"], f["depth"], run.figures / f"pred_vs_obs_{s}.png",
                                   title=f"{cfg.name} ({cfg.model.kind}) - {s}")  # fmt: skip
    history = pd.read_csv(run.metrics_path) if run.metrics_path.exists() else pd.DataFrame()
    model.eval()
    for h in list(log.handlers):  # one logger per run: close its file
        log.removeHandler(h)
        h.close()
    return TrainResult(
        run.path, model, trainer.best_epoch, metrics, history, trainer.skipped,
        extra={"config": cfg, "meta": meta, "polish": polished, "gp_prior": gp}, stock_metrics=stock_metrics,
    )  # fmt: skip


def gp_summary(res: dict[str, Any]) -> dict[str, Any]:
    """What ``meta.json`` records of a GP stage (the report of
    :func:`soilbinn.training.gp_fit.fit_gp_prior`): the kept round's Laplace log evidence of
    the training sites' SOC (null when the network was kept), the SOC misfit before and
    after, the round kept, the kernel and its correlation function; with lon/lat cells or
    regions (``train.gp_prior.cells``, ``regions``), ``regional_offsets``: each phase's
    gate decision and rise in the log evidence of all training sites (null where the gate
    dropped them before), and whether the kept prior adds the offsets.

    Two runs on the same data and split (e.g. with and without a categorical covariate)
    compare by their log evidence: the higher is the prior the SOC supports better
    (``docs/recovery_ablation.md``, stop 84).
    """
    evidence = float(res["log_evidence"])
    return {
        "log_evidence": evidence if math.isfinite(evidence) else None,
        "misfit_before": float(res["misfit_before"]),
        "misfit_after": float(res["misfit_after"]),
        "round": res.get("round"),
        "kernel": res.get("kernel"),
        "correlation": res.get("correlation"),
        "regional_offsets": None if "cells_kept" not in res else {
            "gate_kept": list(res["cells_kept"]), "gain": list(res["cells_gain"]),
            "in_prior": res.get("cells_in_prior")},
    }  # fmt: skip


def _interrupted(run: RunDir, epoch: int, data: str | None) -> Interrupted:
    """What Ctrl-C during training leaves on disk and how to continue."""
    ckpt = run.last if run.last.exists() else run.previous
    resume = command_line("train", "--data", data or "DATA", "--resume", str(run.path))
    return Interrupted(f"{ckpt} (epoch {epoch})", resume)


def ds_split_ids(source, dataset, idx) -> np.ndarray:
    """Site ids of all sites in the order of ``np.arange(n)`` (reads only the coordinate)."""
    if isinstance(dataset, (str, Path)):
        with xr.open_dataset(dataset) as ds:
            return np.asarray(ds["site"].values).astype(str)
    return np.asarray(dataset["site"].values).astype(str)


def _write_split(run: RunDir, site_ids: np.ndarray, idx) -> None:
    rows = [(str(site_ids[i]), s) for s, ix in zip(SPLITS, idx) for i in ix]
    df = pd.DataFrame(rows, columns=["site", "split"])
    from soilbinn.training.rundir import atomic_write_text

    atomic_write_text(run.path / "split.csv", df.to_csv(index=False))
