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

    @property
    def temperature(self) -> torch.Tensor:
        return self.t_min + (self.t_max - self.t_min) * torch.sigmoid(self.temperature_logit)

    def forward(self, numeric, categorical=None, lonlat=None) -> torch.Tensor:
        z = self.mlp(self.inputs(numeric, categorical, lonlat))
        return torch.sigmoid(z / self.temperature)
