"""PRODA step 2: a network from site covariates to the per-site posterior means.

PRODA (Tao et al. 2020, 2023) trains fully connected networks on the retrieved posterior
means (unit scale) of the sites its filter keeps and predicts parameters where there are
no observations; processes are then computed from the predicted parameters and forcing.
``style="proda"`` (default) is PRODA's public network step (:data:`STYLES`: 256-512-512-256
ReLU, linear output, joint loss, Adadelta, batch 32, 6,000 epochs, patience 1,200 on the
last 10% of rows, 200 bootstrap members whose spread is the uncertainty, see
:func:`predict_ensemble`); ``style="small"`` a cheap alternative. Inputs: numeric
covariates min-max scaled with the training sites' range (clipped; PRODA uses the global
grid's range), categorical covariates one-hot (missing = all zeros; PRODA scales the
codes as numbers). :func:`predict_params` + :func:`simulate_dataset` write
the same variables as BINN's prediction (``params``, ``soc_layer``, ``pools``, stocks and
the six processes).

Checkpoints: ``torch.save`` of ``{"model": state_dict of the ensemble, "meta": plain dict}``, loaded with
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


#: how the members of the ensemble are trained: ``bootstrap`` (PRODA's
#: ``ensemble_neural_networking_bootstrap.py``: each member on a bootstrap sample of the
#: sites, sorted) or ``best_guess`` (PRODA's ``ensemble_neural_networking_best_guess.py``:
#: every run on all the sites in their order, runs differing only in their seed)
ENSEMBLES = ("bootstrap", "best_guess")

#: runs of the ``best_guess`` ensemble unless ``members`` says otherwise
BEST_GUESS_RUNS = 10


#: PRODA's network step (``SRC_NN/ensemble_neural_networking_bootstrap.py``): dense
#: 256-512-512-256 ReLU with a linear output, the joint loss, Keras' Adadelta, batch 32,
#: up to 6,000 epochs with patience 1,200 on the last 10% of the training rows, and a
#: 200-member bootstrap ensemble. ``small``: soilbinn's cheap alternative.
STYLES: dict[str, dict[str, Any]] = {
    "proda": {"hidden": (256, 512, 512, 256), "activation": "relu", "output": "linear",
              "loss": "joint", "optimizer": "adadelta", "lr": 1e-3, "batch_size": 32,
              "epochs": 6000, "patience": 1200, "val_fraction": 0.1, "val_split": "last",
              "members": 200},
    "small": {"hidden": (64, 64), "activation": "leaky_relu", "output": "sigmoid",
              "loss": "mse", "optimizer": "adamw", "lr": 3e-3, "batch_size": 64,
              "epochs": 300, "patience": 30, "val_fraction": 0.2, "val_split": "random",
              "members": 1},
}  # fmt: skip


@dataclass(frozen=True)
class NetworkConfig:
    """Settings of PRODA's network step: a ``style`` (:data:`STYLES`, default PRODA's own)
    and overrides of its sizes (``None``: the style's value).

    ``ensemble="bootstrap"`` (default) with ``members`` > 1 trains a bootstrap ensemble
    (sites resampled with replacement, as PRODA's ``bootstrap_sampling.m``); its spread is
    PRODA's uncertainty. PRODA's own setting (200 members x up to 6,000 epochs) costs
    CPU-hours; pass fewer members or epochs for quick runs and say so.
    ``ensemble="best_guess"`` trains PRODA's "best guess" runs instead: ``members``
    (default :data:`BEST_GUESS_RUNS`) networks on all the sites in their order, each with
    its own seed; the prediction is their mean and their spread only the seed-to-seed
    variability.
    """

    style: str = "proda"
    epochs: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    members: int | None = None
    val_fraction: float | None = None
    seed: int = 0
    site_filter: str = "proda"
    ensemble: str = "bootstrap"

    def __post_init__(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise NetworkConfigError(f"ensemble must be one of {ENSEMBLES}, got {self.ensemble!r}")
        if self.members is not None and int(self.members) < 1:
            raise NetworkConfigError(f"members must be >= 1, got {self.members}")
        if self.epochs is not None and int(self.epochs) < 1:
            raise NetworkConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.site_filter not in SITE_FILTERS:
            raise NetworkConfigError(
                f"site_filter must be one of {SITE_FILTERS}, got {self.site_filter!r}"
            )
        if self.style not in STYLES:
            raise NetworkConfigError(f"style must be one of {sorted(STYLES)}, got {self.style!r}")

    def get(self, name: str):
        """The setting ``name``: the override if given, else the style's value (the number
        of ``best_guess`` runs: :data:`BEST_GUESS_RUNS`)."""
        v = getattr(self, name, None)
        if v is None and name == "members" and self.ensemble == "best_guess":
            return BEST_GUESS_RUNS
        return STYLES[self.style][name] if v is None else v

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise NetworkConfigError(f"unknown network setting(s): {sorted(unknown)}")
        return cls(**d)


class _MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, hidden, activation: str, output: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.3)
            layers += [nn.Linear(width, int(h)), act]
            width = int(h)
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return torch.sigmoid(z) if self.output == "sigmoid" else z


class Ensemble(nn.Module):
    """Members of a (bootstrap) ensemble; ``forward`` gives (members, n, n_out)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members])


def _loss(kind: str, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if kind == "mse":
        return ((pred - y) ** 2).mean()
    # PRODA's joint loss: (500 MSE) x (25 mean |relative error|), a product
    mse = ((pred - y) ** 2).mean()
    ratio = ((y - pred) / y).abs().mean()
    return (500.0 * mse) * (25.0 * ratio)


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


def _fit_one(x: torch.Tensor, y: torch.Tensor, config: NetworkConfig, seed: int, g):
    """Train one member on rows (x, y); returns (model, best validation loss, n_val)."""
    n = len(x)
    frac = float(config.get("val_fraction"))
    n_val = max(1, int(round(frac * n))) if n >= 5 else 0
    if config.get("val_split") == "last":  # Keras' validation_split: the last rows
        tr_i, val_i = np.arange(n - n_val), np.arange(n - n_val, n)
    else:
        perm = torch.randperm(n, generator=g).numpy()
        val_i, tr_i = perm[:n_val], perm[n_val:]
    torch.manual_seed(seed)
    model = _MLP(x.shape[1], y.shape[1], config.get("hidden"), config.get("activation"),
                 config.get("output"))  # fmt: skip
    lr = float(config.get("lr"))
    if config.get("optimizer") == "adadelta":  # Keras' defaults: rho 0.95, epsilon 1e-7
        opt = torch.optim.Adadelta(model.parameters(), lr=lr, rho=0.95, eps=1e-7)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    kind = config.get("loss")
    bs = int(config.get("batch_size"))
    best, best_state, wait = float("inf"), None, 0
    xt, yt = x[tr_i], y[tr_i]
    vx, vy = (x[val_i], y[val_i]) if n_val else (xt, yt)
    for _epoch in range(int(config.get("epochs"))):
        model.train()
        order = torch.randperm(len(tr_i), generator=g)
        for s0 in range(0, len(order), bs):
            b = order[s0 : s0 + bs]
            opt.zero_grad()
            _loss(kind, model(xt[b]), yt[b]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = float(_loss(kind, model(vx), vy))
        if v < best:
            best, wait = v, 0
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        else:
            wait += 1
            if wait >= int(config.get("patience")):
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), best, n_val


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
    meta = _meta_from(ds, rows)
    x = _features(ds.isel(site=rows), meta)
    n_members = int(config.get("members"))
    members, best_losses, n_val = [], [], 0
    for k in range(n_members):
        if n_members > 1 and config.ensemble == "bootstrap":  # sites resampled, sorted
            sample = np.sort(torch.randint(len(rows), (len(rows),), generator=g).numpy())
        else:  # all sites in their order (best guess runs; a single member)
            sample = np.arange(len(rows))
        model, best, n_val = _fit_one(x[sample], y[sample], config, config.seed + k, g)
        members.append(model)
        best_losses.append(best)
    model = Ensemble(members).eval()
    meta.update({
        "param_names": [str(p) for p in retrieval["param"].values],
        "preset": str(retrieval["params"].attrs.get("preset", "proda2023")),
        "transport": str(retrieval.attrs.get("transport", "clm5")),
        "n_features": int(x.shape[1]),
        "config": asdict(config),
        "val_loss": float(np.mean(best_losses)),
        "n_members": n_members,
        "ensemble": config.ensemble,
        "n_sites": int(len(rows)),
        "n_val_rows": int(n_val),
        "style": config.style,
        "acceptance_mode": str(retrieval.attrs.get("acceptance_mode", "")),
    })  # fmt: skip
    if path is not None:
        save_network(model, meta, path)
    return model, meta


def save_network(model: nn.Module, meta: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the network (an :class:`Ensemble`) and ``meta`` atomically."""
    from soilbinn.io import save_torch

    return save_torch({"model": model.state_dict(), "meta": meta}, path)


def load_network(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    try:
        ckpt = torch.load(Path(path), weights_only=True)
    except Exception as err:  # truncated or corrupt: RuntimeError, EOFError, ...
        raise ValueError(
            f"network file {path} cannot be read (truncated or corrupt: "
            f"{str(err).strip()[:100] or type(err).__name__})"
        ) from None
    meta = ckpt["meta"]
    c = NetworkConfig.from_dict(meta["config"])
    members = [
        _MLP(meta["n_features"], len(meta["param_names"]), c.get("hidden"), c.get("activation"),
             c.get("output"))
        for _ in range(int(meta["n_members"]))
    ]  # fmt: skip
    model = Ensemble(members)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, meta


@torch.no_grad()
def predict_ensemble(
    model: nn.Module, meta: dict[str, Any], ds: xr.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and standard deviation of the unit-scale parameters (n, n_params).

    The spread over bootstrap members is PRODA's uncertainty (0 for a single member); over
    ``best_guess`` runs it is only the seed-to-seed variability of the training.
    """
    out = model(_features(ds, meta)).double().numpy()  # (members, n, p)
    std = out.std(0, ddof=1) if out.shape[0] > 1 else np.zeros(out.shape[1:])
    return out.mean(0), std


def predict_params(model: nn.Module, meta: dict[str, Any], ds: xr.Dataset) -> np.ndarray:
    """Unit-scale parameters (n, n_params) predicted from the covariates of ``ds``
    (ensemble mean; PRODA's linear outputs are clipped to [0, 1] when simulated)."""
    return predict_ensemble(model, meta, ds)[0]


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
