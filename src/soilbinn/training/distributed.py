"""Distributed data parallel (DDP) helpers.

``torchrun --nproc_per_node N -m soilbinn train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed` reads them
and starts a process group (gloo on CPU, nccl on GPU). Multi-node runs use the same command
with torchrun's ``--nnodes`` / ``--rdzv-endpoint``.

Sharding: training site ``i`` (position in the training index list) belongs to rank
``i % world_size``; each rank loads only the sites it owns (training, validation and test).
Every step all ranks draw the same global permutation and each processes the part of the
global batch it owns, so the global batch is the one a single process would use. Metrics
are computed on the union of the per-rank predictions gathered with the global site
positions, without the padding duplicates of ``DistributedSampler``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistInfo:
    """Initialise from torchrun's environment (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def current() -> DistInfo:
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    return DistInfo()


def shard(indices: np.ndarray, info: DistInfo) -> np.ndarray:
    """The part of ``indices`` owned by this rank (positions ``rank::world_size``)."""
    return np.asarray(indices)[info.rank :: info.world_size]


def all_reduce(t: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (no autograd) with op ``sum``, ``min`` or ``max``."""
    if current().enabled:
        ops = {"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}
        if dist.get_backend() == "nccl" and t.device.type != "cuda":
            tmp = t.cuda()
            dist.all_reduce(tmp, op=ops[op])
            t.copy_(tmp.cpu())
        else:
            dist.all_reduce(t, op=ops[op])
    return t


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """``cpu``, ``cuda`` (this rank's GPU under torchrun) or ``auto``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("train.device = cuda but no CUDA device is available")
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a list of length world_size, rank order)."""
    info = current()
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if current().enabled:
        dist.barrier()
