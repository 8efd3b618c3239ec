"""BINN's parameter network: site inputs -> process parameters on the unit scale.

``p = sigmoid(z / T)`` with a learnable temperature ``T = T_min + (T_max - T_min) *
sigmoid(s)`` kept in [T_min, T_max] (the paper: [10, 109], starting at 59.5, i.e. s = 0).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from soilbinn.nn.encoders import SiteInputs
from soilbinn.nn.layers import mlp


class ParamNet(nn.Module):
    """MLP mapping site inputs to ``n_out`` parameters in (0, 1).

    Parameters
    ----------
    inputs : SiteInputs
        Scaling/embedding front end.
    n_out : int
        Number of learned parameters.
    hidden, depth, batchnorm, activation, negative_slope, dropout
        MLP shape (see :func:`soilbinn.nn.layers.mlp`).
    t_init, t_min, t_max : float
        Sigmoid temperature.
    learn_temperature : bool
    covariate_trend : bool
        Add a linear trend in logit space from the covariate features (numeric
        covariates and categorical embeddings, not the lon/lat encoding):
        ``p = sigmoid(mlp(x) / T + x_cov @ W)``. ``W`` (n_cov, n_out) starts at zero,
        so the initial outputs are unchanged, and is a plain parameter, not an
        ``nn.Linear`` weight, so the trainer's weight decay leaves it alone: the prior
        then lets parameters vary log-linearly with the covariates at no cost and
        penalises only the departures from that trend. Off by default: on our own
        truths it helps where the truth is close to logit-linear and hurts badly where
        it is not (``docs/recovery_ablation.md``, "Priors decide").

    ``forward(numeric (n, c), categorical (n, k), lonlat (n, 2)) -> (n, n_out)`` float32.
    """

    def __init__(
        self,
        inputs: SiteInputs,
        n_out: int,
        hidden: int = 128,
        depth: int = 3,
        batchnorm: bool = True,
        activation: str = "leaky_relu",
        negative_slope: float = 0.3,
        dropout: float = 0.0,
        t_init: float = 59.5,
        t_min: float = 10.0,
        t_max: float = 109.0,
        learn_temperature: bool = True,
        covariate_trend: bool = False,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.mlp = mlp(
            inputs.n_features, n_out, hidden, depth, batchnorm, activation, negative_slope, dropout
        )
        self.t_min, self.t_max = float(t_min), float(t_max)
        frac = (t_init - t_min) / (t_max - t_min) if t_max > t_min else 0.5
        frac = min(max(frac, 1e-6), 1 - 1e-6)
        s0 = torch.tensor(math.log(frac / (1 - frac)), dtype=torch.float32)
        if learn_temperature:
            self.temperature_logit = nn.Parameter(s0)
        else:
            self.register_buffer("temperature_logit", s0)
        self.n_cov_features = inputs.n_features - (
            inputs.lonlat.n_features if inputs.lonlat is not None else 0
        )
        self.trend = (
            nn.Parameter(torch.zeros(self.n_cov_features, n_out)) if covariate_trend else None
        )

    @property
    def temperature(self) -> torch.Tensor:
        return self.t_min + (self.t_max - self.t_min) * torch.sigmoid(self.temperature_logit)

    def forward(self, numeric, categorical=None, lonlat=None) -> torch.Tensor:
        return self.from_fixed(self.inputs.fixed(numeric, categorical, lonlat))

    def from_fixed(self, fixed) -> torch.Tensor:
        """``forward`` from :meth:`SiteInputs.fixed`'s parts of the same inputs (n, n_out)."""
        x = self.inputs.assemble(fixed)
        z = self.mlp(x) / self.temperature
        if self.trend is not None:
            z = z + x[:, : self.n_cov_features] @ self.trend.to(x.dtype)
        return torch.sigmoid(z)
