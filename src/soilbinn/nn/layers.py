"""Building blocks shared by the networks: MLP and a distributed-aware BatchNorm.

:class:`GlobalBatchNorm1d` is ``nn.BatchNorm1d`` (same state_dict) whose training-mode
statistics are computed over the *global* batch when ``torch.distributed`` is initialised
with more than one process (differentiable all-reduce of sums), so a DDP run on CPU (gloo)
computes the same normalisation as one process on the whole batch. A rank may hold zero
sites of a batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks, differentiable: the gradient of a sum is the sum of the gradients.

    Blocking ``dist.all_reduce`` on a copy in both directions, so no asynchronous work
    object (nor the process group it holds) outlives the call.
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().clone()
        dist.all_reduce(out)
        return out


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d with statistics over all ranks' samples in training mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        # float64 sums: E[x^2] - E[x]^2 in float32 loses digits
        x64 = x.to(torch.float64)
        n = torch.tensor([float(x.shape[0])], dtype=torch.float64, device=x.device)
        stats = torch.cat([x64.sum(0), (x64 * x64).sum(0), n])
        stats = _AllReduceSum.apply(stats)
        c = x.shape[1]
        count = stats[-1]
        mean = stats[:c] / count
        var = stats[c : 2 * c] / count - mean * mean
        var = var.clamp_min(0.0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            unbiased = var.detach() * count / (count - 1).clamp_min(1.0)
            self.running_var.mul_(1 - m).add_(m * unbiased)
        y = ((x64 - mean) / torch.sqrt(var + self.eps)).to(x.dtype)
        return y * self.weight + self.bias


#: activation registry
ACTIVATIONS = {
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "relu": lambda slope: nn.ReLU(),
    "gelu": lambda slope: nn.GELU(),
    "tanh": lambda slope: nn.Tanh(),
    "silu": lambda slope: nn.SiLU(),
}


def mlp(
    n_in: int,
    n_out: int,
    hidden: int = 128,
    depth: int = 3,
    batchnorm: bool = True,
    activation: str = "leaky_relu",
    negative_slope: float = 0.3,
    dropout: float = 0.0,
) -> nn.Sequential:
    """``depth`` hidden blocks Linear -> [BatchNorm] -> activation -> [Dropout], then Linear."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers.append(nn.Linear(width, hidden))
        if batchnorm:
            layers.append(GlobalBatchNorm1d(hidden))
        layers.append(ACTIVATIONS[activation](negative_slope))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


__all__ = ["GlobalBatchNorm1d", "mlp", "ACTIVATIONS", "F"]
