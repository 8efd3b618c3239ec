"""Build BINN or the pure-NN baseline from a config and the input description.

``meta`` describes the inputs (covariate names, category counts, scaling) and is stored in
every checkpoint, so :func:`build_model` + ``load_state_dict`` rebuilds the trained model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from soilbinn.hybrid import BINN, PureNN
from soilbinn.nn.baseline import SOCNet
from soilbinn.nn.encoders import LonLatEncoder, SiteInputs
from soilbinn.nn.param_net import ParamNet
from soilbinn.training.config import Config, ConfigError, uses_covariate_trend


def default_process_model(cfg: Config) -> nn.Module:
    from soilbinn.process.model import CLM5Model

    return CLM5Model(
        preset=cfg.model.preset, transport=cfg.model.transport, solver=cfg.model.solver,
        bedrock=cfg.model.bedrock,
    )  # fmt: skip


def resolve_parameters(cfg: Config, space) -> tuple[list[str], dict[str, float], list[str]]:
    """(learned names, unit-scale constants, names fixed per site) from ``cfg.model``."""
    m = cfg.model
    names = list(space.names)
    learned = names if m.learned == "all" else list(m.learned)
    if isinstance(m.learned, str) and m.learned != "all":
        raise ConfigError(f"model.learned = {m.learned!r}; use 'all' or a list of names")
    unknown = [n for n in [*learned, *m.fixed, *m.fixed_physical] if n not in names]
    if unknown:
        raise ConfigError(f"model.learned/fixed: unknown parameter(s) {unknown}; known: {names}")
    unknown = [n for n in cfg.train.gp_prior.gp_alone if n not in names]
    if unknown:
        raise ConfigError(
            f"train.gp_prior.gp_alone: unknown parameter(s) {unknown}; known: {names}"
        )
    fixed = dict(m.fixed)
    for k, v in m.fixed_physical.items():
        lo, hi = space.lower[space.index(k)], space.upper[space.index(k)]
        u = (v - lo) / (hi - lo) if hi > lo else 0.5
        if not 0 <= u <= 1:
            raise ConfigError(f"model.fixed_physical.{k} = {v} outside its range [{lo}, {hi}]")
        fixed[k] = u
    fixed = {k: v for k, v in fixed.items() if k not in learned}
    rest = [n for n in names if n not in learned and n not in fixed]
    if rest and m.fixed_from is None:
        raise ConfigError(
            f"parameters {rest} are neither learned nor fixed: add them to model.fixed "
            "(unit scale), model.fixed_physical, or set model.fixed_from to a dataset variable"
        )
    return learned, fixed, rest


def build_model(
    cfg: Config,
    meta: dict[str, Any],
    process_model_factory: Callable[[Config], nn.Module] | None = None,
) -> nn.Module:
    """BINN (``model.kind = binn``) or PureNN (``nn``) for inputs described by ``meta``.

    ``meta`` keys: numeric_names, categorical_names, n_categories, numeric_min,
    numeric_max (lists), numeric_mean, numeric_std (lists, ``model.scaling=zscore``),
    soc_scale (float, pure NN only).
    """
    m = cfg.model
    enc = m.lonlat_encoding
    lonlat = (
        LonLatEncoder(enc.n_features, enc.n_scales, enc.min_scale_deg, enc.max_scale_deg)
        if (enc.enabled and cfg.data.use_lonlat)
        else None
    )
    inputs = SiteInputs(
        torch.tensor(meta["numeric_min"], dtype=torch.float32),
        torch.tensor(meta["numeric_max"], dtype=torch.float32),
        meta["n_categories"],
        m.embedding_dim,
        lonlat,
        scaling=m.scaling,
        numeric_mean=torch.tensor(meta["numeric_mean"]) if "numeric_mean" in meta else None,
        numeric_std=torch.tensor(meta["numeric_std"]) if "numeric_std" in meta else None,
    )
    shape = dict(
        hidden=m.hidden, depth=m.depth, batchnorm=m.batchnorm, activation=m.activation,
        negative_slope=m.negative_slope, dropout=m.dropout,
    )  # fmt: skip
    if m.kind == "nn":
        return PureNN(SOCNet(inputs, soc_scale=float(meta.get("soc_scale", 1e4)), **shape))
    process = (process_model_factory or default_process_model)(cfg)
    learned, fixed, site_fixed = resolve_parameters(cfg, process.space)
    t = m.temperature
    net = ParamNet(
        inputs, len(learned), t_init=t.init, t_min=t.min, t_max=t.max,
        learn_temperature=t.learnable, covariate_trend=uses_covariate_trend(cfg, len(learned)),
        **shape,
    )  # fmt: skip
    gp = meta.get("gp_prior")
    if gp is not None:  # a run whose network was replaced by a fitted GP prior
        from soilbinn.nn.gp_prior import GPPrior

        if gp.get("thresholds", 0):
            raise ValueError(
                "the run's GP prior has covariate thresholds, which this version "
                "no longer reads (train.gp_prior.steps replaces them): retrain it"
            )
        net = GPPrior(net, gp["n_sites"], gp["n_features"], len(learned), gp["use_lonlat"],
                      gp.get("blend", 1.0), gp.get("kernel", "shared"),
                      gp.get("correlation", "squared_exponential"),
                      gp.get("categories", "product"), gp.get("offset_variance", 0.0),
                      gp.get("steps", 0), gp.get("cells", 0))  # fmt: skip
    return BINN(net, process, learned, fixed, site_fixed)
