"""Prediction with a trained run: parameters, SOC profiles, stocks and processes.

:func:`load_run` rebuilds the model of a run directory from ``checkpoints/best.pt``
(``weights_only=True``); :func:`predict_dataset` needs only covariates and forcing and
returns an xarray Dataset (schema names, units, long names): ``params`` (unit scale),
``params_physical``, ``soc_layer``, ``pools``, ``soc_stock``, ``soc_stock_0_30cm``,
``soc_stock_0_100cm`` and the six processes (BINN), and ``regional_offset`` (site, param)
with the GP prior's lon/lat cells or regions; the pure NN gives SOC and stocks.
When ``ds`` has stock intervals (``stock_top``/``stock_bottom``), the predicted stocks over
them are added as ``stock_pred(site, interval)`` g m-2 beside the intervals.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from soilbinn.process import grid
from soilbinn.process.diagnostics import PROCESS_ATTRS
from soilbinn.process.outputs import OUTPUT_ATTRS
from soilbinn.training.config import Config
from soilbinn.training.modelbuild import build_model
from soilbinn.training.rundir import RunDir, load_checkpoint
from soilbinn.training.sitedata import site_data_from_dataset

#: units and long names of the outputs (one table, owned by the process model)
STOCK_ATTRS: dict[str, tuple[str, str]] = {
    k: OUTPUT_ATTRS[k] for k in ("soc_stock", "soc_stock_0_30cm", "soc_stock_0_100cm")
}


class Run:
    """A trained model with its config and input description."""

    def __init__(self, model: nn.Module, config: Config, meta: dict, path: Path | None):
        self.model, self.config, self.meta, self.path = model, config, meta, path


def load_run(run_dir: str | Path, checkpoint: str = "best", process_model_factory=None) -> Run:
    """Rebuild the model of a run directory from ``checkpoints/{best,last}.pt``."""
    run = RunDir.open(run_dir)
    path = run.best if checkpoint == "best" and run.best.exists() else run.last
    ckpt = load_checkpoint(path)
    cfg = run.config()
    model = build_model(cfg, ckpt["meta"], process_model_factory)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return Run(model, cfg, ckpt["meta"], run.path)


def _stocks(soc_layer: torch.Tensor) -> dict[str, torch.Tensor]:
    dz = grid.as_tensor(grid.DZ)
    return {
        "soc_stock": (soc_layer * dz).sum(1),
        "soc_stock_0_30cm": (soc_layer * grid.depth_bin_stock_weights(0.0, 0.3)).sum(1),
        "soc_stock_0_100cm": (soc_layer * grid.depth_bin_stock_weights(0.0, 1.0)).sum(1),
    }


def _as_run(obj) -> Run:
    """A :class:`Run` from a Run, a TrainResult or a run directory path."""
    if isinstance(obj, Run):
        return obj
    if hasattr(obj, "run_dir") and hasattr(obj, "model"):  # TrainResult
        return Run(obj.model, obj.extra["config"], obj.extra["meta"], Path(obj.run_dir))
    return load_run(obj)


@torch.no_grad()
def predict_dataset(
    run_or_dir, ds: xr.Dataset, batch_size: int = 2048, source: str = "dataset"
) -> xr.Dataset:
    """Predict at every site of ``ds`` (covariates + forcing; observations not needed).

    ``run_or_dir`` is a run directory, a :class:`Run` from :func:`load_run`, or the
    ``TrainResult`` returned by :func:`soilbinn.training.trainer.train`.

    Returns
    -------
    xarray.Dataset with dims site, layer, pool, param (see module docstring).
    """
    from soilbinn.training.ensemble import is_ensemble, predict_ensemble

    if is_ensemble(run_or_dir):  # mean, sd and percentiles over members
        return predict_ensemble(run_or_dir, ds, batch_size, source)
    run = _as_run(run_or_dir)
    cfg, meta, model = run.config, run.meta, run.model
    model.eval()
    binn = hasattr(model, "process_model")
    space = model.process_model.space if binn else None
    fixed_from = cfg.model.fixed_from if binn and bool(model.site_mask.any()) else None
    data = site_data_from_dataset(
        ds, observations=False, fixed_from=fixed_from,
        param_names=space.names if space is not None else None,
        numeric_names=meta["numeric_names"], categorical_names=meta["categorical_names"],
        region_names=meta.get("region_names", []),
        source=source,
    )  # fmt: skip
    for j, (name, k) in enumerate(zip(data.categorical_names, meta["n_categories"])):
        unseen = (data.categorical[:, j] >= k).sum()
        if unseen:
            warnings.warn(f"{source}: {int(unseen)} site(s) have {name} codes unseen in training; "
                          "treated as missing", stacklevel=2)  # fmt: skip
    prior = getattr(model, "param_net", None)
    cells = getattr(prior, "cell_keys", None)  # the GP prior's cells and regions, if any
    if data.region_names and cells is None:  # train.gp_prior.regions, but no GP stage kept
        warnings.warn(f"{source}: the run's prior adds no offsets for {data.region_names} (its "
                      "GP stage did not keep them; see its train.log)", stacklevel=2)  # fmt: skip
    for r, name in enumerate(data.region_names if cells is not None else []):
        codes = data.categorical[:, len(data.categorical_names) + r]
        known = cells[cells[:, 0] == -(r + 1.0), 1].to(codes.device).long()
        outside = int(((codes >= 0) & ~torch.isin(codes, known)).sum())
        if outside:
            warnings.warn(f"{source}: {outside} site(s) lie in {name} regions without training "
                          "sites; they get no regional offset", stacklevel=2)  # fmt: skip
    if binn:
        data.forcing = model.process_model.prepare(data.forcing)
    keys = ["soc_layer", "soc_stock", "soc_stock_0_30cm", "soc_stock_0_100cm"]
    acc: dict[str, list] = {}
    for start in range(0, len(data), batch_size):
        b = data.select(torch.arange(start, min(start + batch_size, len(data))))
        out = model(b)
        res = {k: out[k] for k in ("soc_layer",)}
        if binn:
            res.update({k: out[k] for k in ("pools", "params", "soc_stock", "soc_stock_0_30cm",
                                             "soc_stock_0_100cm", "ill_conditioned", "implausible") if k in out})  # fmt: skip
            res.update(model.processes(b, out))
            if cells is not None:  # the logit offsets of the sites' cells and regions
                res["regional_offset"] = prior.offset_logits(b.categorical, b.lonlat)
        else:
            res.update(_stocks(out["soc_layer"]))
        for k, v in res.items():
            acc.setdefault(k, []).append(v.detach().cpu().numpy())
    arr = {k: np.concatenate(v) for k, v in acc.items()}
    site = np.asarray(ds["site"].values)
    out_ds = xr.Dataset(
        coords={
            "site": site,
            "lat": ("site", np.asarray(ds["lat"].values, float), {"units": "degrees_north"}),
            "lon": ("site", np.asarray(ds["lon"].values, float), {"units": "degrees_east"}),
            "layer": np.arange(1, grid.N_LAYERS + 1),
            "depth": ("layer", np.asarray(grid.ZSOI), {"units": "m", "long_name": "layer node depth"}),
        }
    )  # fmt: skip
    out_ds["soc_layer"] = (
        ("site", "layer"),
        arr["soc_layer"],
        {"units": "g m-3", "long_name": "SOC density by layer"},
    )
    for k in keys[1:]:
        out_ds[k] = ("site", arr[k], {"units": STOCK_ATTRS[k][0], "long_name": STOCK_ATTRS[k][1]})
    if binn:
        out_ds = out_ds.assign_coords(param=list(space.names), pool=list(grid.POOLS))
        out_ds["param_units"] = ("param", np.asarray(space.units, dtype=str))
        out_ds["params"] = (("site", "param"), arr["params"],
                            {"units": "1", "long_name": "parameters on the unit scale", "preset": space.preset})  # fmt: skip
        # a run asked for cells or regions has the variable even where its GP stage kept none
        # (ensemble members then concatenate): 0 for the learned parameters
        if "regional_offset" in arr or cfg.train.gp_prior.regions or cfg.train.gp_prior.cells:
            full = np.full(arr["params"].shape, np.nan)
            full[:, model.learned_index.cpu().numpy()] = arr.get("regional_offset", 0.0)
            out_ds["regional_offset"] = (("site", "param"), full, {
                "units": "1", "long_name": "offset of the parameter's logit that the site's "
                "regions and lon/lat cells add in the GP prior (train.gp_prior.regions, "
                "cells); 0 outside them, NaN where the parameter is not learned"})  # fmt: skip
        phys = space.to_physical(torch.as_tensor(arr["params"])).numpy()
        out_ds["params_physical"] = (("site", "param"), phys,
                                     {"units": "see param_units", "long_name": "parameters in physical units"})  # fmt: skip
        out_ds["pools"] = (
            ("site", "pool", "layer"),
            arr["pools"],
            {"units": "g m-3", "long_name": "carbon pools"},
        )
        for k, (u, ln) in PROCESS_ATTRS.items():
            if k in arr:
                out_ds[k] = ("site", arr[k], {"units": u, "long_name": ln})
        if "ill_conditioned" in arr:
            out_ds["ill_conditioned"] = ("site", arr["ill_conditioned"].astype(np.int8),
                                         {"units": "1", "long_name": "steady-state system ill conditioned"})  # fmt: skip
        if "implausible" in arr:  # soilbinn.process.model.implausible_state + processes
            out_ds["implausible"] = ("site", arr["implausible"].astype(np.int8),
                                     {"units": "1", "long_name": "steady state no real soil has (see soilbinn.process.model)"})  # fmt: skip
    if "stock_top" in ds.variables and "stock_bottom" in ds.variables:
        out_ds = _add_interval_stocks(out_ds, ds, arr["soc_layer"])
    out_ds.attrs.update({"title": "soilbinn prediction", "model_kind": cfg.model.kind,
                         "run": str(run.path) if run.path else "in-memory"})  # fmt: skip
    return out_ds


def _add_interval_stocks(out_ds: xr.Dataset, ds: xr.Dataset, soc_layer: np.ndarray) -> xr.Dataset:
    """Predicted stocks over the dataset's stock intervals (``stock_pred``, g m-2)."""
    from soilbinn.process.observation import stocks_over_intervals

    top, bottom = (
        np.asarray(ds[k].transpose("site", "interval").values, dtype=np.float64)
        for k in ("stock_top", "stock_bottom")
    )
    pred = stocks_over_intervals(
        torch.as_tensor(soc_layer, dtype=torch.float64), torch.as_tensor(top),
        torch.as_tensor(bottom), site_ids=[str(s) for s in ds["site"].values],
    ).numpy()  # fmt: skip
    for k, v in (("stock_top", top), ("stock_bottom", bottom)):
        out_ds[k] = (("site", "interval"), v, dict(ds[k].attrs))
    out_ds["stock_pred"] = (("site", "interval"), pred,
                            {"units": "g m-2", "long_name": "predicted SOC stock over the interval"})  # fmt: skip
    return out_ds


def save_prediction(ds: xr.Dataset, path: str | Path) -> Path:
    """Atomic NetCDF write (:func:`soilbinn.io.write_netcdf`)."""
    from soilbinn.io import write_netcdf

    return write_netcdf(ds, path)
