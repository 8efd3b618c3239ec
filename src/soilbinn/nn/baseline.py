"""The pure neural-network baseline: site inputs -> the 20-layer SOC profile directly.

Same inputs and MLP as the parameter network; the output is positive,
``soc = scale * softplus(z)`` in g m-3, where ``scale`` (a buffer, set from the training
observations) puts the untrained network at the right order of magnitude.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from soilbinn.nn.encoders import SiteInputs
from soilbinn.nn.layers import mlp
from soilbinn.process.grid import N_LAYERS


class SOCNet(nn.Module):
    """``forward(numeric, categorical, lonlat) -> soc_layer (n, 20)`` g m-3, float32."""

    def __init__(
        self,
        inputs: SiteInputs,
        soc_scale: float = 1e4,
        hidden: int = 128,
        depth: int = 3,
        batchnorm: bool = True,
        activation: str = "leaky_relu",
        negative_slope: float = 0.3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.mlp = mlp(
            inputs.n_features, N_LAYERS, hidden, depth, batchnorm, activation, negative_slope,
            dropout,
        )  # fmt: skip
        self.register_buffer("soc_scale", torch.tensor(float(soc_scale)))

    def forward(self, numeric, categorical=None, lonlat=None) -> torch.Tensor:
        z = self.mlp(self.inputs(numeric, categorical, lonlat))
        return self.soc_scale * F.softplus(z) / F.softplus(torch.zeros(()))
