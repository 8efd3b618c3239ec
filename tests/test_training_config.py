"""Strict config loading, overrides, run directories and checkpoints."""

from __future__ import annotations

import pytest
import torch

from soilbinn.training.config import ConfigError, load_config
from soilbinn.training.rundir import RunDir, RunDirError, atomic_torch_save, load_checkpoint


def test_defaults_are_the_paper():
    cfg = load_config()
    assert (cfg.model.hidden, cfg.model.depth, cfg.model.batchnorm) == (128, 3, True)
    assert cfg.model.activation == "leaky_relu" and cfg.model.negative_slope == 0.3
    assert cfg.loss.kind == "smooth_l1" and cfg.loss.regulariser_weight == 100.0
    assert cfg.train.optimizer.lr == 1e-2 and cfg.train.batch_size == 32
    assert (cfg.train.epochs, cfg.train.patience) == (50, 10)
    assert cfg.model.preset == "binn2025"
    assert load_config("binn_paper").to_dict() | {"name": "binn"} == cfg.to_dict()


def test_unknown_key_rejected_with_path(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  hiden: 64\n")
    with pytest.raises(ConfigError, match=r"model\.hiden"):
        load_config(f)
    with pytest.raises(ConfigError, match=r"train\.optimizer\.lrr"):
        load_config(None, ["train.optimizer.lrr=1"])


def test_a_removed_option_loads_at_its_inert_value_and_is_refused_at_any_other(tmp_path):
    """A saved run's config written before an option was removed (``REMOVED``) still loads
    when the option was set to the value at which it did nothing; any other value names
    the option that replaces it."""
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  gp_prior:\n    covariate_thresholds: 0\n    iterations: 3\n")
    cfg = load_config(f)
    assert cfg.train.gp_prior.iterations == 3
    assert "covariate_thresholds" not in str(cfg.to_dict())
    f.write_text("train:\n  gp_prior:\n    covariate_thresholds: 5\n")
    with pytest.raises(ConfigError, match=r"covariate_thresholds = 5.*removed.*gp_prior\.steps"):
        load_config(f)


@pytest.mark.parametrize(
    "override, match",
    [
        ("train.epochs=abc", "train.epochs"),
        ("model.kind=transformer", "model.kind"),
        ("train.batch_size=1", "train.batch_size"),
        ("data.val_fraction=0.95", "val_fraction"),
        ("model.fixed={q10: 3.0}", "unit scale"),
        ("train.epochs", "key.path=value"),
    ],
)
def test_bad_values_rejected(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_overrides_parse_yaml_values():
    cfg = load_config("demo", ["model.learned=[q10, beta]", "train.optimizer.lr=3e-3",
                               "model.fixed={efolding: 0.2}"])  # fmt: skip
    assert cfg.model.learned == ["q10", "beta"]
    assert cfg.train.optimizer.lr == pytest.approx(3e-3)
    assert cfg.model.fixed == {"efolding": 0.2}
    assert cfg.name == "demo"


def test_run_dir_never_overwritten_and_resume_checks_config(tmp_path):
    cfg = load_config()
    run = RunDir.create(tmp_path / "r", cfg)
    assert run.config().to_dict() == cfg.to_dict()
    with pytest.raises(RunDirError, match="already exists"):
        RunDir.create(tmp_path / "r", cfg)
    other = load_config(None, ["train.epochs=7"])
    with pytest.raises(RunDirError, match=r"train\.epochs: 50 -> 7"):
        run.check_resume(other)
    with pytest.raises(RunDirError, match="no checkpoints/last.pt"):
        run.check_resume(cfg)
    # automatic names do not collide
    a = RunDir.create(None, cfg, root=tmp_path / "runs")
    b = RunDir.create(None, cfg, root=tmp_path / "runs")
    assert a.path != b.path


def test_checkpoint_roundtrip_weights_only(tmp_path):
    run = RunDir.create(tmp_path / "r", load_config())
    state = {"model": {"w": torch.ones(3)}, "epoch": 4, "config": load_config().to_dict(),
             "rng_torch": torch.get_rng_state(), "meta": {"names": ["a"], "x": [0.5]}}  # fmt: skip
    atomic_torch_save(state, run.last)
    back = load_checkpoint(run.last)
    assert back["epoch"] == 4 and torch.equal(back["model"]["w"], torch.ones(3))
    assert not list(run.checkpoints.glob(".*tmp"))


def test_metrics_truncated_on_resume(tmp_path):
    run = RunDir.create(tmp_path / "r", load_config())
    for e in range(1, 5):
        run.append_metrics({"epoch": e, "loss": 1.0 / e})
    run.truncate_metrics(2)
    lines = run.metrics_path.read_text().strip().splitlines()
    assert lines[0] == "epoch,loss" and len(lines) == 3


def test_packaged_configs_load():
    from soilbinn.training.config import load_config

    real = load_config("real_spatial")
    assert real.model.lonlat_encoding.enabled is False
    assert real.data.split == "spatial"
    demo = load_config("demo")
    assert demo.train.epochs < load_config("binn_paper").train.epochs


def test_ensemble_members_alternate_the_prior_only_when_asked():
    from soilbinn.training.ensemble import member_config

    plain = ["train.ensemble=2", "model.covariate_trend=false"]
    cfg = load_config("demo", [*plain, "train.seed=5", "train.alternate_trend=true"])
    members = [member_config(cfg, i) for i in range(4)]
    assert [m.train.seed for m in members] == [5, 6, 7, 8]
    assert [m.model.covariate_trend for m in members] == [False, True, False, True]
    same = load_config("demo", [*plain, "train.alternate_trend=false"])
    assert [member_config(same, i).model.covariate_trend for i in range(3)] == [False] * 3
    both = load_config("demo", ["train.ensemble=2", "train.alternate_trend=true",
                                "model.covariate_trend=true"])  # fmt: skip
    assert all(member_config(both, i).model.covariate_trend for i in range(3))


def test_covariate_trend_auto_follows_the_gp_prior_and_the_learned_count():
    """``auto``: the trend with the GP prior on few learned parameters, neither on many
    (where the trend spreads the parameters the data do not constrain); a bad value is
    refused in one line naming the key, as for train.progress."""
    from soilbinn.training.config import uses_covariate_trend

    demo = load_config("demo")
    assert demo.model.covariate_trend == "auto"
    assert uses_covariate_trend(demo, 4) and uses_covariate_trend(demo, 6)
    assert not uses_covariate_trend(demo, 7) and not uses_covariate_trend(demo, 21)
    off = load_config("demo", ["train.gp_prior.iterations=0"])
    assert not uses_covariate_trend(off, 4)
    on = load_config("demo", ["model.covariate_trend=true"])
    assert uses_covariate_trend(on, 21)
    for bad in ("model.covariate_trend=maybe", "train.progress=maybe"):
        with pytest.raises(ConfigError, match=f"{bad.split('=')[0]} = 'maybe'; choose one of"):
            load_config("demo", [bad])
