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

import numpy as np
import torch

from soilbinn.interrupt import Deferred
from soilbinn.process import native
from soilbinn.proda.kernels import (
    DONE,
    GAUSSIAN,
    UNIFORM,
    AMState,
    CostFn,
    KernelConfig,
    init,
    step,
)

Tensor = torch.Tensor


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or belongs to another run (names the file)."""


@dataclass
class ChainResult:
    """Output of :func:`run_chains` for ``B`` chains in ``d`` dimensions.

    Attributes
    ----------
    samples : Tensor (B, n_keep, d) float32 (unit scale, to halve memory), NaN after ``n_recorded``
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
        """Per chain, the second half of its recorded samples (list of (k_b, d) float64)."""
        out = []
        for b in range(self.samples.shape[0]):
            n = int(self.n_recorded[b])
            out.append(self.samples[b, n // 2 : n].double())
        return out


class Progress:
    """Progress of a batched MCMC run in chain-steps: total, rate and ETA.

    ``done`` counts the chain-steps taken; ``total`` is ``done`` plus the steps each chain
    still has to take in its current schedule, so ``done <= total`` always and the total
    grows only when a chain restarts. On a terminal a tqdm bar is drawn; otherwise a log
    line is printed to stderr every ``every`` seconds.
    """

    def __init__(self, label: str = "proda", every: float = 5.0, bar: bool | None = None):
        self.label, self.every = label, every
        self.bar_mode = sys.stderr.isatty() and not os.environ.get("CI") if bar is None else bar
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.done0: int | None = None
        self._bar = None

    @staticmethod
    def counts(state: AMState, config: KernelConfig, steps_taken: int) -> tuple[int, int]:
        """(done, total) chain-steps for a state; ``steps_taken`` = sum of steps so far."""
        rest = torch.where(
            state.phase == UNIFORM,
            config.n_uniform - state.step + config.n_gaussian,
            torch.where(state.phase == GAUSSIAN, config.n_gaussian - state.step, 0),
        )
        return steps_taken, steps_taken + int(rest.clamp_min(0).sum())

    def update(self, done: int, total: int, force: bool = False) -> None:
        now = time.perf_counter()
        if self.done0 is None:
            self.done0 = done
        if self.bar_mode:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=total, initial=done, unit="step", desc=self.label,
                                 dynamic_ncols=True, smoothing=0.05)  # fmt: skip
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            return
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = (done - self.done0) / max(now - self.t0, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("nan")
        print(f"{self.label}: {done}/{total} chain-steps ({100 * done / max(total, 1):.1f}%), "
              f"{rate:.0f} steps/s, ETA {_hms(eta)}", file=sys.stderr, flush=True)  # fmt: skip

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _hms(sec: float) -> str:
    if not np.isfinite(sec):
        return "?"
    sec = int(round(sec))
    return f"{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: the checkpoint (if any) was written; rerun to resume."""


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
    progress: bool | Progress | None = None,
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
    progress : bool or Progress, optional
        Report progress (chain-steps done of the total, rate, ETA) on stderr: a bar on a
        terminal, a log line every few seconds otherwise. Default on; ``False`` silent.
    run_key : str
        Extra identity stored in the checkpoint (e.g. a hash of the data); a mismatch on
        resume raises :class:`CheckpointError`.
    """
    if n_keep < 4 or n_keep % 2:
        raise ValueError("n_keep must be an even number >= 4")
    native.retain_freed_memory()  # no page faults for each step's temporaries (glibc)
    if progress is None or progress is True:
        progress = Progress()
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
        steps_taken = int(saved.get("steps_taken", torch.tensor(0)))
    else:
        generator = torch.Generator().manual_seed(seed)
        state, _ = init(p0, cost_fn, config)
        buf = {
            "samples": torch.full((b, n_keep, d), float("nan"), dtype=torch.float32),
            "sample_cost": torch.full((b, n_keep), float("nan"), dtype=torch.float64),
            "n_recorded": torch.zeros(b, dtype=torch.int64),
            "candidates": torch.zeros(b, dtype=torch.int64),
            "stride": torch.ones(b, dtype=torch.int64),
            "n_evaluations": torch.ones(b, dtype=torch.int64),  # init evaluates p0
        }
        global_step = 0
        steps_taken = 0
    record_accepted = config.mode == "faithful"
    rows_all = torch.arange(b)

    def save() -> None:
        if ckpt is not None:
            _atomic_save(
                {
                    "identity": identity,
                    "state": state.to_dict(),
                    "buffers": buf,
                    "generator": generator.get_state(),
                    "global_step": torch.tensor(global_step),
                    "steps_taken": torch.tensor(steps_taken),
                },
                ckpt,
            )

    stop = Deferred()
    try:
        with stop:
            while bool((state.phase != DONE).any()):
                if stop_after is not None and global_step >= stop_after:
                    save()
                    return None
                state, info, global_step, steps_taken = _advance(
                    state, cost_fn, config, generator, buf, record_accepted, rows_all, n_keep,
                    global_step, steps_taken,
                )  # fmt: skip
                if stop.requested:  # Ctrl-C: finish the step, write the checkpoint, stop
                    raise KeyboardInterrupt
                if (
                    ckpt is not None
                    and checkpoint_every > 0
                    and global_step % checkpoint_every == 0
                ):
                    save()
                if progress:
                    progress.update(*Progress.counts(state, config, steps_taken))
    except KeyboardInterrupt as e:
        if progress:
            progress.close()
        if ckpt is not None:
            if stop.requested:  # the state is consistent (between two steps)
                save()
                where = f"after {global_step} steps"
            else:
                where = "at the last checkpoint"
            raise Interrupted(
                f"interrupted; the run resumes {where} from {ckpt}: rerun the same command "
                "to resume"
            ) from e
        raise
    if progress:
        progress.update(*Progress.counts(state, config, steps_taken), force=True)
        progress.close()
    save()
    return ChainResult(
        samples=buf["samples"],
        sample_cost=buf["sample_cost"],
        n_recorded=buf["n_recorded"],
        state=state,
        n_evaluations=buf["n_evaluations"],
        wall_time=time.perf_counter() - t0,
    )


def _advance(state, cost_fn, config, generator, buf, record_accepted, rows_all, n_keep,
             global_step, steps_taken):  # fmt: skip
    """One kernel step plus sample recording (see :func:`run_chains`)."""
    steps_taken += int((state.phase != DONE).sum())
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
        buf["samples"][r, slot] = state.position[r].float()
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
    return state, info, global_step, steps_taken
