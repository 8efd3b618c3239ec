"""Ctrl-C inside an ensemble member: the resume command continues the whole ensemble."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from soilbinn.interrupt import Interrupted
from soilbinn.training.config import load_config
from soilbinn.training.ensemble import is_ensemble_run, train_ensemble

SETS = [
    "train.batch_size=8",
    "model.hidden=8",
    "model.depth=1",
    "train.epochs=3",
    "train.patience=3",
    "model.lonlat_encoding.enabled=false",
    "train.progress=false",
    "train.polish.iterations=1",
    "train.polish.inner_iterations=20",
    "train.ensemble=2",
    "data.val_fraction=0.15",  # the error model is read on the members' validation sites
]


@pytest.fixture(scope="module")
def ds():
    from soilbinn.inputs.synth import make_synthetic

    return make_synthetic(45, seed=2)


def test_interrupted_ensemble_resumes_where_it_stopped(ds, tmp_path, monkeypatch):
    import soilbinn.training.trainer as T

    cfg = load_config("demo", SETS)
    ref = train_ensemble(cfg, ds, tmp_path / "ref")  # uninterrupted
    calls = {"n": 0}
    real_epoch = T._Trainer.train_epoch

    def flaky(self, epoch):  # member 0 runs 3 epochs; Ctrl-C in member 1's second epoch
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_epoch(self, epoch)

    monkeypatch.setattr(T._Trainer, "train_epoch", flaky)
    run = tmp_path / "run"
    with pytest.raises(Interrupted) as exc:
        train_ensemble(cfg, ds, run, data="d.nc")
    assert exc.value.resume.endswith(f"train --data d.nc --resume {run}")
    assert "members before m01 are complete" in exc.value.saved
    assert is_ensemble_run(run) and not (run / "ensemble.json").exists()
    monkeypatch.setattr(T._Trainer, "train_epoch", real_epoch)
    with pytest.raises(Exception, match="another configuration"):
        train_ensemble(load_config("demo", [*SETS, "train.epochs=4"]), ds, run, resume=True)
    res = train_ensemble(cfg, ds, run, resume=True)
    assert res.members[0].extra.get("resumed") and not res.members[1].extra.get("resumed")
    # member 0 read back as it was; member 1 continued to the end of its epochs
    pd.testing.assert_frame_equal(res.members[0].metrics, ref.members[0].metrics)
    assert len(pd.read_csv(run / "members" / "m01" / "metrics.csv")) == 3
    info, want = (json.loads((d / "ensemble.json").read_text()) for d in (run, tmp_path / "ref"))
    assert info["members"] == want["members"] and info["obs_error_n"] == want["obs_error_n"]
    # the resumed ensemble is the uninterrupted one: same members, same error model
    for term in ("obs_error_log_sd", "obs_error_log_location"):
        for k, v in want[term].items():
            assert info[term][k] == pytest.approx(v, rel=1e-9, abs=1e-12), (term, k)
    assert want["obs_error_log_sd"]["soc_layer"] > 0
