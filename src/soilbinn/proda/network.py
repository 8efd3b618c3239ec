"""PRODA step 2: a network from site covariates to the per-site posterior means.

PRODA (Tao et al. 2020, 2023) trains fully connected networks on the retrieved posterior
means (unit scale) and predicts parameters where there are no observations; processes
are then computed from the predicted parameters and forcing. Here: numeric covariates
min-max scaled with the training sites' range (clipped), categorical covariates one-hot
(missing = all zeros), an MLP with sigmoid outputs, MSE on the unit scale, Adam, early
stopping on a validation split. :func:`predict_params` + :func:`simulate_dataset` write
the same variables as BINN's prediction (``params``, ``soc_layer``, ``pools``, stocks and
the six processes).

Checkpoints: ``torch.save`` of ``{"model": state_dict, "meta": plain dict}``, loaded with
``weights_only=True``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from soilbinn.process import grid
from soilbinn.process.parameters import ParameterSpace


class NetworkConfigError(ValueError):
    """Unknown or invalid network settings."""


#: sites the network is trained on: ``proda`` (PRODA's filter, the retrieval's
#: ``proda_filter``), ``converged`` (mean R-hat < 1.05) or ``none`` (all with finite means)
SITE_FILTERS = ("proda", "converged", "none")


@dataclass(frozen=True)
class NetworkConfig:
    """MLP and training settings of PRODA's network step."""

    hidden: int = 64
    depth: int = 2
    epochs: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    val_fraction: float = 0.2
    patience: int = 30
    seed: int = 0
    site_filter: str = "proda"

    def __post_init__(self) -> None:
        if self.site_filter not in SITE_FILTERS:
            raise NetworkConfigError(
                f"site_filter must be one of {SITE_FILTERS}, got {self.site_filter!r}"
            )

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise NetworkConfigError(f"unknown network setting(s): {sorted(unknown)}")
        return cls(**d)


class _MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.3)]
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def _features(ds: xr.Dataset, meta: dict[str, Any]) -> torch.Tensor:
    """Scaled numeric covariates + one-hot categories (n, f) float32, per ``meta``."""
    from soilbinn.data.schema import covariates_from_dataset

    cov = covariates_from_dataset(ds)
    names = list(cov.numeric_names)
    missing = [n for n in meta["numeric_names"] if n not in names]
    if missing:
        raise ValueError(f"dataset lacks covariate(s) {missing} used to train the network")
    idx = [names.index(n) for n in meta["numeric_names"]]
    x = cov.numeric[:, idx].to(torch.float32)
    lo = torch.tensor(meta["numeric_min"], dtype=torch.float32)
    hi = torch.tensor(meta["numeric_max"], dtype=torch.float32)
    x = ((x - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))).clamp(0, 1)
    x = torch.nan_to_num(x, nan=0.5)
    parts = [x]
    cnames = list(cov.categorical_names)
    for name, k in zip(meta["categorical_names"], meta["n_categories"]):
        if name not in cnames:
            raise ValueError(f"dataset lacks categorical covariate {name!r} used in training")
        codes = cov.categorical[:, cnames.index(name)]
        oh = torch.zeros(len(codes), k)
        ok = (codes >= 0) & (codes < k)
        oh[ok.nonzero().flatten(), codes[ok]] = 1.0
        parts.append(oh)
    return torch.cat(parts, dim=1)


def _meta_from(ds: xr.Dataset, train: np.ndarray) -> dict[str, Any]:
    from soilbinn.data.schema import covariates_from_dataset

    cov = covariates_from_dataset(ds)
    x = cov.numeric[torch.as_tensor(train)].double().numpy()
    with np.errstate(all="ignore"):
        lo = np.nan_to_num(np.nanmin(x, 0), nan=0.0)
        hi = np.nan_to_num(np.nanmax(x, 0), nan=1.0)
    return {
        "numeric_names": list(cov.numeric_names),
        "numeric_min": lo.tolist(),
        "numeric_max": hi.tolist(),
        "categorical_names": list(cov.categorical_names),
        "n_categories": [int(k) for k in cov.n_categories],
    }


def train_network(
    ds: xr.Dataset,
    retrieval: xr.Dataset,
    config: NetworkConfig = NetworkConfig(),  # noqa: B008 (frozen dataclass)
    path: str | os.PathLike | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Fit covariates (``ds``) -> posterior means (``retrieval["params"]``).

    Sites are matched by id; ``site_filter`` selects them (:data:`SITE_FILTERS`).
    Returns the model (eval mode) and ``meta`` (scaling, parameter names, preset, losses);
    both are saved to ``path`` when given.
    """
    ids = [str(s) for s in ds["site"].values]
    rids = [str(s) for s in retrieval["site"].values]
    pos = {s: i for i, s in enumerate(ids)}
    missing = [s for s in rids if s not in pos]
    if missing:
        raise ValueError(f"retrieved sites not in the covariate dataset: {missing[:10]}")
    keep = np.ones(len(rids), bool)
    var = {"proda": "proda_filter", "converged": "converged"}.get(config.site_filter)
    if var is not None:
        if var not in retrieval:
            raise ValueError(f"the retrieval has no variable {var!r} for site_filter "
                             f"{config.site_filter!r}: rerun `soilbinn proda retrieve`")  # fmt: skip
        keep = retrieval[var].values.astype(bool)
    y_all = retrieval["params"].transpose("site", "param").values
    keep &= np.isfinite(y_all).all(1)
    if keep.sum() < 2:
        raise ValueError(
            f"fewer than 2 retrieved sites usable to train PRODA's network ({int(keep.sum())} of "
            f"{len(keep)} pass site_filter={config.site_filter!r})"
        )
    rows = np.array([pos[s] for s in np.asarray(rids)[keep]])
    y = torch.tensor(y_all[keep], dtype=torch.float32)
    g = torch.Generator().manual_seed(config.seed)
    perm = torch.randperm(len(rows), generator=g).numpy()
    n_val = max(1, int(round(config.val_fraction * len(rows)))) if len(rows) >= 5 else 0
    val_i, tr_i = perm[:n_val], perm[n_val:]
    meta = _meta_from(ds, rows[tr_i])
    x = _features(ds.isel(site=rows), meta)
    torch.manual_seed(config.seed)
    model = _MLP(x.shape[1], y.shape[1], config.hidden, config.depth)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best, best_state, wait, losses = float("inf"), None, 0, []
    xt, yt = x[tr_i], y[tr_i]
    for _epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(tr_i), generator=g)
        for s in range(0, len(order), config.batch_size):
            b = order[s : s + config.batch_size]
            opt.zero_grad()
            loss = ((model(xt[b]) - yt[b]) ** 2).mean()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            vx, vy = (x[val_i], y[val_i]) if n_val else (xt, yt)
            v = float(((model(vx) - vy) ** 2).mean())
        losses.append(v)
        if v < best - 1e-7:
            best, wait = v, 0
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        else:
            wait += 1
            if wait >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    meta.update({
        "param_names": [str(p) for p in retrieval["param"].values],
        "preset": str(retrieval["params"].attrs.get("preset", "proda2023")),
        "transport": str(retrieval.attrs.get("transport", "clm5")),
        "n_features": int(x.shape[1]),
        "config": asdict(config),
        "val_mse": best,
        "n_train_sites": int(len(tr_i)),
        "n_val_sites": int(n_val),
        "acceptance_mode": str(retrieval.attrs.get("acceptance_mode", "")),
    })  # fmt: skip
    if path is not None:
        save_network(model, meta, path)
    return model, meta


def save_network(model: nn.Module, meta: dict[str, Any], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"model": model.state_dict(), "meta": meta}, tmp)
    os.replace(tmp, path)
    return path


def load_network(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    ckpt = torch.load(Path(path), weights_only=True)
    meta = ckpt["meta"]
    c = meta["config"]
    model = _MLP(meta["n_features"], len(meta["param_names"]), c["hidden"], c["depth"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, meta


@torch.no_grad()
def predict_params(model: nn.Module, meta: dict[str, Any], ds: xr.Dataset) -> np.ndarray:
    """Unit-scale parameters (n, n_params) predicted from the covariates of ``ds``."""
    return model(_features(ds, meta)).double().numpy()


@torch.no_grad()
def simulate_dataset(
    params: np.ndarray,
    ds: xr.Dataset,
    preset: str,
    transport: str = "clm5",
    batch_size: int = 4096,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Run the process model at ``params`` (n, n_params) on the forcing of ``ds``.

    Returns the variables of BINN's prediction: ``params`` (unit scale),
    ``params_physical``, ``soc_layer``, ``pools``, ``soc_stock*`` and the processes.
    """
    from soilbinn.data.schema import forcing_from_dataset
    from soilbinn.process.model import CLM5Model
    from soilbinn.training.predict import PROCESS_ATTRS, STOCK_ATTRS

    space = ParameterSpace.from_preset(preset, transport)
    model = CLM5Model(space=space, transport=transport, check_conditioning=True)
    prepared = model.prepare(forcing_from_dataset(ds))
    p = torch.as_tensor(np.clip(params, 0.0, 1.0), dtype=torch.float64)
    acc: dict[str, list[np.ndarray]] = {}
    for s in range(0, p.shape[0], batch_size):
        sl = torch.arange(s, min(s + batch_size, p.shape[0]))
        sub = prepared.select(sl)
        out = model(p[sl], sub)
        proc = model.processes(p[sl], sub, out)
        for k, v in {**out, **proc}.items():
            acc.setdefault(k, []).append(v.numpy())
    arr = {k: np.concatenate(v) for k, v in acc.items()}
    coords = {
        "site": ds["site"].values,
        "layer": np.arange(1, grid.N_LAYERS + 1),
        "depth": ("layer", np.asarray(grid.ZSOI), {"units": "m", "long_name": "layer node depth"}),
        "param": list(space.names),
        "pool": list(grid.POOLS),
    }
    for c in ("lat", "lon"):
        if c in ds:
            coords[c] = ("site", np.asarray(ds[c].values, float), dict(ds[c].attrs))
    out_ds = xr.Dataset(coords=coords)
    out_ds["param_units"] = ("param", np.asarray(space.units, dtype=str))
    out_ds["params"] = (("site", "param"), p.numpy(),
                        {"units": "1", "long_name": "parameters on the unit scale", "preset": space.preset})  # fmt: skip
    out_ds["params_physical"] = (("site", "param"), space.to_physical(p).numpy(),
                                 {"units": "see param_units", "long_name": "parameters in physical units"})  # fmt: skip
    out_ds["soc_layer"] = (
        ("site", "layer"),
        arr["soc_layer"],
        {"units": "g m-3", "long_name": "SOC density by layer"},
    )
    out_ds["pools"] = (
        ("site", "pool", "layer"),
        arr["pools"],
        {"units": "g m-3", "long_name": "carbon pools"},
    )
    for k, (u, ln) in {**STOCK_ATTRS, **PROCESS_ATTRS}.items():
        if k in arr:
            out_ds[k] = ("site", arr[k], {"units": u, "long_name": ln})
    if "ill_conditioned" in arr:
        out_ds["ill_conditioned"] = ("site", arr["ill_conditioned"].astype(np.int8),
                                     {"units": "1", "long_name": "steady-state system ill conditioned"})  # fmt: skip
    out_ds.attrs.update(
        {"title": "soilbinn PRODA prediction", "model_kind": "proda", **(attrs or {})}
    )
    return out_ds
