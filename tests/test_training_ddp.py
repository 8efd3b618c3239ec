"""Two-process DDP (gloo, CPU) gives the same training as one process.

What is compared: the same global batches (each rank processes the part of every global
batch it owns), BatchNorm statistics over the global batch, and losses normalised by
global counts, so after 2 epochs the per-epoch training misfit, validation NSE / RMSE and
the final train/val/test metrics of a 2-process run equal those of a 1-process run up to
float32 reduction order, which Adam amplifies in its first steps. Tolerance: 2e-3
relative (measured ~5e-4). Individual weights with near-zero gradients are not compared:
Adam normalises their round-off noise to full-size steps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from soilbinn.training.rundir import load_checkpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(world: int, data, run_dir, overrides):
    env = dict(os.environ, OMP_NUM_THREADS="1", CI="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={world}",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "soilbinn", "train",
           "--data", str(data), "--run-dir", str(run_dir), "--config", "demo"]  # fmt: skip
    if world == 1:
        cmd = [sys.executable, "-m", "soilbinn", "train", "--data", str(data), "--run-dir",
               str(run_dir), "--config", "demo"]  # fmt: skip
    for o in overrides:
        cmd += ["--set", o]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.synth import make_synthetic

    data = tmp_path / "d.nc"
    save_dataset(make_synthetic(64, seed=3), data)
    ov = [
        "train.epochs=2",
        "train.batch_size=16",
        "train.scheduler.kind=none",
        "model.hidden=32",
        "train.num_threads=1",
        "train.polish.iterations=0",
        "train.ensemble=1",
        "data.val_fraction=0.15",
    ]  # fmt: skip  (polishing runs on one process only; one model; validation metrics compared)
    _train(1, data, tmp_path / "one", ov)
    _train(2, data, tmp_path / "two", ov)
    m1 = pd.read_csv(tmp_path / "one" / "metrics.csv")
    m2 = pd.read_csv(tmp_path / "two" / "metrics.csv")
    for col in ("val_nse", "val_rmse", "train_misfit"):
        assert m2[col].to_numpy() == pytest.approx(m1[col].to_numpy(), rel=2e-3), col
    s1 = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")
    s2 = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")
    assert s1["model"].keys() == s2["model"].keys() and s1["epoch"] == s2["epoch"] == 2
    # gathered metrics count every observation once (no padding duplicates)
    e1 = pd.read_csv(tmp_path / "one" / "evaluation.csv")
    e2 = pd.read_csv(tmp_path / "two" / "evaluation.csv")
    assert e1["n"].tolist() == e2["n"].tolist()
    assert e2["rmse"].to_numpy() == pytest.approx(e1["rmse"].to_numpy(), rel=2e-3)
