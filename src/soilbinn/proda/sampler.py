"""Run batched adaptive Metropolis chains to the end, with sample recording and checkpoints.

:func:`run_chains` drives :mod:`soilbinn.proda.kernels` for a flat batch of chains and
any cost function (the process model for PRODA, an analytic density in tests). It records
the Gaussian phase's samples into a fixed-size buffer per chain: in ``faithful`` mode the
*accepted* proposals (PRODA summarises those), in ``metropolis`` mode every state (a proper
Markov chain). A full buffer is thinned by two (every second record dropped, the recording
stride doubled), so each chain keeps an evenly spaced sample of at most ``n_keep`` records.

Checkpoints (``torch.save`` of a dict of tensors and strings, written atomically and
loaded with ``weights_only=True``) hold the kernel state, buffers and generator state, so
a resumed run reproduces the uninterrupted one exactly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from soilbinn.proda.kernels import DONE, GAUSSIAN, AMState, CostFn, KernelConfig, init, step

Tensor = torch.Tensor


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or belongs to another run (names the file)."""


@dataclass
class ChainResult:
    """Output of :func:`run_chains` for ``B`` chains in ``d`` dimensions.

    Attributes
    ----------
    samples : Tensor (B, n_keep, d) float64, NaN after ``n_recorded``
    sample_cost : Tensor (B, n_keep) float64
    n_recorded : Tensor (B,) int64
    state : AMState, final state (acceptance counts of the last Gaussian phase etc.)
    n_evaluations : Tensor (B,) int64, cost evaluations spent on each chain
    wall_time : float, seconds (this process only, excluding time before a resume)
    """

    samples: Tensor
    sample_cost: Tensor
    n_recorded: Tensor
    state: AMState
    n_evaluations: Tensor
    wall_time: float

    @property
    def acceptance_rate(self) -> Tensor:
        """(B,) acceptance rate of the final Gaussian phase."""
        return self.state.accepted.double() / self.state.step.clamp_min(1).double()

    def second_half(self) -> list[Tensor]:
        """Per chain, the second half of its recorded samples (list of (k_b, d))."""
        out = []
        for b in range(self.samples.shape[0]):
            n = int(self.n_recorded[b])
            out.append(self.samples[b, n // 2 : n])
        return out


def _quiet() -> bool:
    return bool(os.environ.get("CI")) or not sys.stderr.isatty()


def _atomic_save(obj: dict, path: Path) -> None:
    from soilbinn.io import save_torch

    save_torch(obj, path)


def run_chains(
    p0: Tensor,
    cost_fn: CostFn,
    config: KernelConfig,
    seed: int = 0,
    n_keep: int = 1000,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 5000,
    stop_after: int | None = None,
    progress: bool | None = None,
    run_key: str = "",
) -> ChainResult | None:
    """Run chains from ``p0`` until every chain has finished its schedule.

    Parameters
    ----------
    p0 : Tensor (B, d)
        Starting points on the unit scale (PRODA: 0.5).
    cost_fn : callable
        ``cost_fn(position (m, d), rows (m,)) -> (m,)``, ``+inf`` when an evaluation fails.
    config : KernelConfig
    seed : int
        Seed of the run's :class:`torch.Generator`.
    n_keep : int
        Maximum recorded samples per chain (even, >= 4).
    checkpoint : path, optional
        File to resume from (if it exists) and to write every ``checkpoint_every`` steps.
    stop_after : int, optional
        Stop (after writing the checkpoint) once this many global steps are done; returns
        ``None``. For splitting long runs over jobs, and for tests of resumption.
    progress : bool, optional
        Print progress to stderr (default: only on a terminal and without ``CI``).
    run_key : str
        Extra identity stored in the checkpoint (e.g. a hash of the data); a mismatch on
        resume raises :class:`CheckpointError`.
    """
    if n_keep < 4 or n_keep % 2:
        raise ValueError("n_keep must be an even number >= 4")
    progress = (not _quiet()) if progress is None else progress
    p0 = p0.to(torch.float64)
    b, d = p0.shape
    identity = json.dumps(
        {"config": asdict(config), "seed": seed, "n_keep": n_keep, "shape": [b, d], "key": run_key},
        sort_keys=True,
    )
    ckpt = Path(checkpoint) if checkpoint is not None else None
    t0 = time.perf_counter()
    if ckpt is not None and ckpt.exists():
        try:
            saved = torch.load(ckpt, weights_only=True)
        except Exception as err:  # truncated or corrupt: RuntimeError, EOFError, ...
            raise CheckpointError(
                f"checkpoint {ckpt} cannot be read (truncated or corrupt: "
                f"{str(err).strip()[:100] or type(err).__name__}); delete it to start again"
            ) from None
        if saved["identity"] != identity:
            raise CheckpointError(
                f"checkpoint {ckpt} was written by a run with different settings or data; "
                "delete it or use the original settings"
            )
        state = AMState.from_dict(saved["state"])
        buf = saved["buffers"]
        generator = torch.Generator().manual_seed(seed)
        generator.set_state(saved["generator"])
        global_step = int(saved["global_step"])
    else:
        generator = torch.Generator().manual_seed(seed)
        state, _ = init(p0, cost_fn, config)
        buf = {
            "samples": torch.full((b, n_keep, d), float("nan"), dtype=torch.float64),
            "sample_cost": torch.full((b, n_keep), float("nan"), dtype=torch.float64),
            "n_recorded": torch.zeros(b, dtype=torch.int64),
            "candidates": torch.zeros(b, dtype=torch.int64),
            "stride": torch.ones(b, dtype=torch.int64),
            "n_evaluations": torch.ones(b, dtype=torch.int64),  # init evaluates p0
        }
        global_step = 0
    record_accepted = config.mode == "faithful"
    rows_all = torch.arange(b)
    last_print = time.perf_counter()

    def save() -> None:
        if ckpt is not None:
            _atomic_save(
                {
                    "identity": identity,
                    "state": state.to_dict(),
                    "buffers": buf,
                    "generator": generator.get_state(),
                    "global_step": torch.tensor(global_step),
                },
                ckpt,
            )

    while bool((state.phase != DONE).any()):
        if stop_after is not None and global_step >= stop_after:
            save()
            return None
        state, info = step(state, cost_fn, config, generator)
        global_step += 1
        buf["n_evaluations"] += info["evaluated"].long()
        # reset the buffers of chains restarted from p0
        rs = info["restarted_chain"]
        if bool(rs.any()):
            buf["samples"][rs] = float("nan")
            buf["sample_cost"][rs] = float("nan")
            buf["n_recorded"][rs] = 0
            buf["candidates"][rs] = 0
            buf["stride"][rs] = 1
        in_g = (info["phase"] == GAUSSIAN) & info["evaluated"] & ~rs
        cand = in_g & info["accepted"] if record_accepted else in_g
        if bool(cand.any()):
            k = buf["candidates"]
            rec = cand & (k % buf["stride"] == 0)
            r = rows_all[rec]
            slot = buf["n_recorded"][r]
            buf["samples"][r, slot] = state.position[r]
            buf["sample_cost"][r, slot] = state.cost[r]
            buf["n_recorded"][r] += 1
            buf["candidates"][cand] += 1
            full = buf["n_recorded"] >= n_keep
            if bool(full.any()):
                f = rows_all[full]
                half = n_keep // 2
                buf["samples"][f, :half] = buf["samples"][f, 0::2].clone()
                buf["samples"][f, half:] = float("nan")
                buf["sample_cost"][f, :half] = buf["sample_cost"][f, 0::2].clone()
                buf["sample_cost"][f, half:] = float("nan")
                buf["n_recorded"][f] = half
                buf["stride"][f] *= 2
        if ckpt is not None and checkpoint_every > 0 and global_step % checkpoint_every == 0:
            save()
        if progress and time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            active = int((state.phase != DONE).sum())
            print(
                f"proda: step {global_step}, {active}/{b} chains running, "
                f"{int(buf['n_evaluations'].sum())} evaluations",
                file=sys.stderr,
            )
    save()
    return ChainResult(
        samples=buf["samples"],
        sample_cost=buf["sample_cost"],
        n_recorded=buf["n_recorded"],
        state=state,
        n_evaluations=buf["n_evaluations"],
        wall_time=time.perf_counter() - t0,
    )
