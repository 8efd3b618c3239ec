"""Run directories: one per training run, never overwritten.

Layout::

    RUN/
      config.yaml        the resolved configuration (after overrides)
      meta.json          seed, versions, git commit, host, command line, split sizes; after
                         a GP stage its log evidence and misfits (``gp_prior``)
      split.csv          site id -> train / val / test
      metrics.csv        one row per epoch
      train.log          the log
      checkpoints/last.pt, checkpoints/best.pt   state_dicts + config + optimiser + RNG
      checkpoints/previous.pt  the last.pt before the latest one (resume falls back to it)
      evaluation.csv     final metrics per split and depth bin
      figures/           predicted-vs-observed plots

Checkpoints are written atomically (:mod:`soilbinn.io`) and loaded with
``weights_only=True``; writing ``last.pt`` keeps the one it replaces as ``previous.pt``, and
resuming falls back to it (with a warning) when ``last.pt`` is unreadable.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from soilbinn.io import save_torch, write_text
from soilbinn.training.config import Config, config_from_dict, dump_config


class RunDirError(ValueError):
    """A run directory cannot be created or resumed (names the path and the reason)."""


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip()
        if out.returncode != 0 or not commit:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=5,
        ).stdout.strip()  # fmt: skip
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    import numpy
    import xarray

    from soilbinn import __version__

    return {
        "soilbinn": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "xarray": xarray.__version__,
    }


#: the run directory's atomic writers (one implementation: :mod:`soilbinn.io`)
atomic_write_text = write_text
atomic_torch_save = save_torch


class CheckpointError(RunDirError):
    """A checkpoint is missing, truncated or not a soilbinn checkpoint (names the file)."""


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises
    ------
    CheckpointError
        One line naming the file when it is missing, truncated or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated or corrupt: {reason[:120]})"
        ) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"checkpoint {path} is not a soilbinn checkpoint (no 'model')")
    return ckpt


class RunDir:
    """A run directory (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # --- paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def previous(self) -> Path:
        return self.checkpoints / "previous.pt"

    def save_last(self, state: dict[str, Any]) -> None:
        """Write ``last.pt`` atomically, keeping the replaced one as ``previous.pt``."""
        save_torch(state, self.last, backup=self.previous)

    def resume_checkpoint(self, warn=None) -> dict[str, Any]:
        """``last.pt``, or ``previous.pt`` (calling ``warn(message)``) if ``last.pt`` fails."""
        try:
            return load_checkpoint(self.last)
        except CheckpointError as err:
            if not self.previous.exists():
                raise
            ckpt = load_checkpoint(self.previous)
            msg = f"{err}; resuming from the previous checkpoint {self.previous} instead"
            (warn or (lambda m: print(f"soilbinn: warning: {m}", file=sys.stderr)))(msg)
            return ckpt

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    # --- creation / resumption
    @staticmethod
    def ensure_new(path: str | Path | None) -> None:
        """Raise :class:`RunDirError` if ``path`` exists and is not empty."""
        if path is not None and Path(path).exists() and any(Path(path).iterdir()):
            raise RunDirError(
                f"run directory {path} already exists and is not empty; choose a new "
                "--run-dir or use --resume to continue it (nothing was overwritten)"
            )

    @classmethod
    def create(cls, path: str | Path | None, cfg: Config, root: str | Path = "runs") -> RunDir:
        """Create a new run directory; an existing non-empty ``path`` is an error."""
        if path is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path(root) / f"{cfg.name}-{stamp}"
            path, i = base, 1
            while path.exists():
                path = Path(f"{base}-{i}")
                i += 1
        path = Path(path)
        cls.ensure_new(path)
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        (path / "figures").mkdir(exist_ok=True)
        run = cls(path)
        atomic_write_text(run.config_path, dump_config(cfg))
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(Path(path))
        if not run.config_path.exists():
            raise RunDirError(f"{path} is not a soilbinn run directory (no config.yaml)")
        return run

    def config(self) -> Config:
        import yaml

        return config_from_dict(yaml.safe_load(self.config_path.read_text()), str(self.config_path))

    def check_resume(self, cfg: Config) -> None:
        """Refuse to resume with a configuration other than the run's own."""
        saved = self.config().to_dict()
        new = cfg.to_dict()
        diffs = _diff(saved, new)
        if diffs:
            raise RunDirError(
                f"cannot resume {self.path} with another configuration; differences "
                f"(run -> given): {'; '.join(diffs)} (nothing was overwritten)"
            )
        if not self.last.exists() and not self.previous.exists():
            raise RunDirError(f"cannot resume {self.path}: no checkpoints/last.pt")

    # --- records
    def write_meta(self, extra: dict[str, Any]) -> None:
        meta = {
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "versions": versions(),
            "git_commit": _git_commit(),
            "host": platform.node(),
            "command": sys.argv,
        }
        meta.update(extra)
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, default=str))

    def update_meta(self, extra: dict[str, Any]) -> None:
        """Add ``extra`` to ``meta.json`` (written by :meth:`write_meta`), atomically."""
        meta = json.loads((self.path / "meta.json").read_text())
        meta.update(extra)
        atomic_write_text(self.path / "meta.json", json.dumps(meta, indent=2, default=str))

    def append_metrics(self, row: dict[str, Any]) -> None:
        new = not self.metrics_path.exists()
        with open(self.metrics_path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop rows after ``last_epoch`` (used on resume after an interruption)."""
        if not self.metrics_path.exists():
            return
        with open(self.metrics_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        keep = [r for r in rows if int(r["epoch"]) <= last_epoch]
        if keep:
            lines = [",".join(keep[0].keys())] + [",".join(r.values()) for r in keep]
            atomic_write_text(self.metrics_path, "\n".join(lines) + "\n")
        else:
            self.metrics_path.unlink()

    def logger(self, rank: int = 0) -> logging.Logger:
        log = logging.getLogger(f"soilbinn.run.{self.path.resolve()}.{rank}")
        log.setLevel(logging.INFO)
        log.propagate = False
        if not log.handlers and rank == 0:
            fh = logging.FileHandler(self.path / "train.log")
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(fh)
        return log


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    return [] if a == b else [f"{prefix}: {a!r} -> {b!r}"]
