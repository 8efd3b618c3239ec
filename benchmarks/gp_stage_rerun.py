"""Rerun only the GP stage of a finished acceptance run, from the network it trained.

The GP stage (``train.gp_prior``, :mod:`soilbinn.training.gp_fit`) is deterministic given
the network, so GP settings compare on the same network at a third of a training's cost:
this runs the acceptance shape of issue 11 (``--config demo``, the paper's four parameters
learned, the other 17 fixed to the truth, spatial split; the split is the run's own, as
``data.split=spatial`` is deterministic) with the Adam epochs and the polishing replaced by
loading the network that ``RUN/checkpoints/best.pt`` wraps, then the GP stage with the
given ``--set`` overrides, and writes a new run directory that ``soilbinn predict`` reads.
Rerun with the settings of ``RUN`` it reproduces ``RUN``'s prediction exactly (checked on
mix seed 47, stop 30). Used for the stop 30 table of ``docs/recovery_ablation.md``.

Usage::

    python benchmarks/gp_stage_rerun.py RUN mix47.nc NEW_RUN --set train.gp_prior.chord_steps=0
    soilbinn predict NEW_RUN --data mix47.nc --out pred.nc
"""

from __future__ import annotations

import argparse
import sys

import torch

import soilbinn.training.trainer as trainer_module
from soilbinn.cli import main as cli_main
from soilbinn.training.rundir import atomic_torch_save


def _network_state(run: str) -> dict:
    """The parameter network's weights in ``run``'s best checkpoint (a GP prior's inner
    network renamed to the plain model's keys)."""
    state = torch.load(f"{run}/checkpoints/best.pt", map_location="cpu", weights_only=False)
    state = state["model"]
    if not any(k.startswith("param_net.net.") for k in state):
        return state
    out = {}
    for key, value in state.items():
        if key.startswith("param_net.net."):
            out["param_net." + key[len("param_net.net.") :]] = value
        elif not key.startswith("param_net."):  # the GP's own buffers are refitted
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="finished acceptance run directory (its network is reused)")
    ap.add_argument("data", help="the dataset it was trained on")
    ap.add_argument("new_run", help="run directory to write (must not exist)")
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = ap.parse_args(argv)
    state = _network_state(args.run)

    def load_network(self) -> None:  # in place of the Adam epochs
        self.model.load_state_dict(state)
        atomic_torch_save(self.state(), self.run.best)

    trainer_module._Trainer.fit = load_network
    trainer_module._Trainer.polish = lambda self: None
    cmd = ["train", "--data", args.data, "--config", "demo",
           "--set", "model.learned=[efolding,tau4s3,fs1s3,w_scaling]",
           "--set", "model.fixed_from=true_params", "--set", "data.split=spatial",
           "--set", "train.num_threads=1", "--run-dir", args.new_run]  # fmt: skip
    for s in args.set:
        cmd += ["--set", s]
    return cli_main(cmd)


if __name__ == "__main__":
    sys.exit(main())
