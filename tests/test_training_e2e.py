"""End-to-end: train -> evaluate -> predict -> map through the CLI, resume, bad input,
non-finite handling, the pure NN, and hybrid parameter assembly."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import xarray as xr

from soilbinn.cli import main
from soilbinn.training.config import load_config
from soilbinn.training.trainer import NonFiniteError, train

SMALL = ["train.epochs=2", "train.batch_size=16", "model.hidden=16", "model.depth=1",
         "model.lonlat_encoding.n_features=8", "train.progress=off"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.synth import make_synthetic, make_synthetic_grid

    d = tmp_path_factory.mktemp("data")
    ds = make_synthetic(60, seed=1)
    save_dataset(ds, d / "sites.nc")
    save_dataset(make_synthetic_grid(4.0, seed=1), d / "grid.nc")
    return d, ds


def _sets(over):
    return [a for o in over for a in ("--set", o)]


def test_cli_train_evaluate_predict_map(data, tmp_path, capsys):
    d, _ = data
    run = tmp_path / "run"
    assert main(["train", "--data", str(d / "sites.nc"), "--run-dir", str(run), *_sets(SMALL)]) == 0
    for f in ("config.yaml", "meta.json", "metrics.csv", "split.csv", "train.log",
              "checkpoints/last.pt", "checkpoints/best.pt", "evaluation.csv",
              "figures/pred_vs_obs_test.png"):  # fmt: skip
        assert (run / f).exists(), f
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2] and metrics["val_nse"].notna().all()
    split = pd.read_csv(run / "split.csv")
    assert len(split) == 60 and set(split["split"]) == {"train", "val", "test"}

    assert main(["evaluate", str(run), "--data", str(d / "sites.nc")]) == 0
    table = pd.read_csv(run / "evaluation_sites.csv")
    assert set(table["split"]) == {"all", "train", "val", "test"}
    # evaluate reproduces the metrics computed at the end of training
    ev = pd.read_csv(run / "evaluation.csv").set_index(["split", "depth_bin"])
    again = table.set_index(["split", "depth_bin"])
    assert again.loc[("test", "all"), "nse"] == pytest.approx(
        ev.loc[("test", "all"), "nse"], rel=1e-9
    )

    pred = tmp_path / "pred.nc"
    assert main(["predict", str(run), "--data", str(d / "grid.nc"), "--out", str(pred)]) == 0
    with xr.open_dataset(pred) as p:
        for v in ("params", "params_physical", "soc_layer", "pools", "soc_stock_0_30cm",
                  "soc_stock_0_100cm", "carbon_input", "cue", "baseline_decomposition",
                  "environmental_modifier", "vertical_transport", "input_allocation"):  # fmt: skip
            assert v in p, v
            assert "units" in p[v].attrs
        assert float(p["params"].min()) >= 0 and float(p["params"].max()) <= 1
        # stocks are consistent: 0-30 cm <= 0-100 cm <= total
        assert bool((p["soc_stock_0_30cm"] <= p["soc_stock_0_100cm"] + 1e-9).all())
        assert bool((p["soc_stock_0_100cm"] <= p["soc_stock"] + 1e-9).all())
    assert main(["map", str(pred), "--out", str(tmp_path / "maps"),
                 "--var", "soc_stock_0_30cm", "--var", "cue"]) == 0  # fmt: skip
    assert sorted(x.name for x in (tmp_path / "maps").glob("*.png")) == [
        "cue.png",
        "soc_stock_0_30cm.png",
    ]

    # a second train into the same run directory is refused, nothing overwritten
    before = (run / "checkpoints" / "best.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "--data", str(d / "sites.nc"), "--run-dir", str(run), *_sets(SMALL)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (run / "checkpoints" / "best.pt").read_bytes() == before


def test_resume_continues_and_refuses_other_config(data, tmp_path, capsys):
    d, ds = data
    cfg = load_config(None, SMALL)
    full = train(load_config(None, [*SMALL, "train.epochs=3"]), ds, run_dir=tmp_path / "full",
                 figures=False)  # fmt: skip
    part = train(cfg, ds, run_dir=tmp_path / "part", figures=False)  # interrupted after 2 epochs
    assert len(part.history) == 2
    # resume with the *same* config but 3 epochs is another config: refused
    rc = main(["train", "--data", str(d / "sites.nc"), "--resume", str(tmp_path / "part"),
               *_sets([*SMALL, "train.epochs=3"])])  # fmt: skip
    assert rc == 2 and "another configuration" in capsys.readouterr().err
    # resuming a run that already finished retrains nothing and keeps its records
    hist = pd.read_csv(tmp_path / "full" / "metrics.csv")
    res = train(load_config(None, [*SMALL, "train.epochs=3"]), ds, run_dir=tmp_path / "full",
                resume=True, figures=False)  # fmt: skip
    assert len(res.history) == 3  # already finished: nothing retrained, rows kept
    assert res.history["val_nse"].tolist() == pytest.approx(hist["val_nse"].tolist())
    assert full.best_epoch == res.best_epoch


def test_resume_after_interruption_matches_uninterrupted(data, tmp_path):
    d, ds = data
    from soilbinn.training.rundir import atomic_torch_save, load_checkpoint

    cfg = load_config(None, [*SMALL, "train.epochs=3"])
    full = train(cfg, ds, run_dir=tmp_path / "a", figures=False)
    # run b: a 3-epoch run interrupted after epoch 2 (built from a 2-epoch run)
    b = train(
        load_config(None, [*SMALL, "train.epochs=2"]), ds, run_dir=tmp_path / "b", figures=False
    )
    # turn run b into an interrupted 3-epoch run: same config file, checkpoint at epoch 2
    (tmp_path / "b" / "config.yaml").write_text((tmp_path / "a" / "config.yaml").read_text())
    ck = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    ck["config"] = cfg.to_dict()
    atomic_torch_save(ck, tmp_path / "b" / "checkpoints" / "last.pt")
    res = train(cfg, ds, run_dir=tmp_path / "b", resume=True, figures=False)
    assert len(b.history) == 2 and len(res.history) == 3
    # seeded: two runs of the same config train identically
    assert b.history["val_nse"].tolist() == full.history["val_nse"].tolist()[:2]
    assert res.history["val_nse"].tolist() == pytest.approx(
        full.history["val_nse"].tolist(), rel=1e-6
    )


def test_pure_nn_and_bad_inputs(data, tmp_path):
    d, ds = data
    res = train(
        load_config(None, [*SMALL, "model.kind=nn"]), ds, run_dir=tmp_path / "nn", figures=False
    )
    assert res.metrics.loc[("test", "all"), "n"] > 0
    from soilbinn.training.predict import predict_dataset

    pred = predict_dataset(res.run_dir, ds.drop_vars(["soc", "obs_depth"]))
    assert pred["soc_layer"].shape == (60, 20) and float(pred["soc_layer"].min()) > 0
    # the TrainResult itself predicts the same as its run directory
    again = predict_dataset(res, ds)
    assert again["soc_layer"].values == pytest.approx(pred["soc_layer"].values)
    with pytest.raises(ValueError, match="lacks soc"):
        train(load_config(None, SMALL), ds.drop_vars("soc"), run_dir=tmp_path / "x")
    with pytest.raises(ValueError, match=r"neither learned nor fixed"):
        train(load_config(None, [*SMALL, "model.learned=[q10]"]), ds, run_dir=tmp_path / "y")
    bad = ds.copy(deep=True)
    bad["water_scalar"][3, 2, 1] = 1.7
    with pytest.raises(ValueError, match=r"water_scalar.*S000003"):
        train(load_config(None, SMALL), bad, run_dir=tmp_path / "z")
    with pytest.raises(ValueError, match="overlap"):
        train(load_config(None, SMALL), ds, run_dir=tmp_path / "w", train_idx=range(40),
              val_idx=range(30, 50), test_idx=range(50, 60))  # fmt: skip
    # bad input leaves no half-made run directory behind
    assert not any((tmp_path / n).exists() for n in ("w", "x", "y", "z"))


def test_zscore_scaling_uses_training_moments_and_reloads(data, tmp_path):
    import numpy as np

    from soilbinn.training.predict import load_run, predict_dataset

    _, ds = data
    train_idx = np.arange(40)
    res = train(load_config(None, [*SMALL, "model.scaling=zscore"]), ds, run_dir=tmp_path / "z",
                train_idx=train_idx, val_idx=np.arange(40, 50), test_idx=np.arange(50, 60),
                figures=False)  # fmt: skip
    inputs = res.model.param_net.inputs
    x = ds["covariates"].values[train_idx]
    assert inputs.scaling == "zscore"
    assert inputs.numeric_mean.numpy() == pytest.approx(np.nanmean(x, 0), rel=1e-4, abs=1e-4)
    sd = np.nanstd(x, 0)
    assert inputs.numeric_std.numpy() == pytest.approx(np.where(sd > 0, sd, 1.0), rel=1e-4)
    reloaded = load_run(res.run_dir)
    assert reloaded.model.param_net.inputs.scaling == "zscore"
    a, b = predict_dataset(res, ds), predict_dataset(reloaded, ds)
    assert a["soc_stock_0_30cm"].values == pytest.approx(b["soc_stock_0_30cm"].values)


def test_learned_subset_with_per_site_fixed(data, tmp_path):
    _, ds = data
    over = [*SMALL, "model.learned=[efolding, tau4s3]", "model.fixed_from=true_params",
            "model.fixed={beta: 0.9}"]  # fmt: skip
    res = train(load_config(None, over), ds, run_dir=tmp_path / "sub", figures=False)
    from soilbinn.training.predict import predict_dataset

    pred = predict_dataset(res.run_dir, ds)
    true = ds["true_params"]
    fixed_names = [n for n in ds["param"].values if n not in ("efolding", "tau4s3", "beta")]
    assert (pred["params"].sel(param=fixed_names).values ==
            pytest.approx(true.sel(param=fixed_names).values))  # fmt: skip
    assert pred["params"].sel(param="beta").values == pytest.approx(0.9)


def test_training_keeps_freed_memory_for_reuse(data, tmp_path, monkeypatch):
    # the GP stage's evidence fits free 20-30 MB per evaluation; glibc's defaults fault
    # them in again page by page (stop 45: 154 -> 131 CPU s on the acceptance training)
    from soilbinn.process import native

    calls = []
    monkeypatch.setattr(native, "retain_freed_memory", lambda: calls.append(1) or True)
    _, ds = data
    train(load_config(None, [*SMALL, "train.epochs=1"]), ds, run_dir=tmp_path / "m", figures=False)
    assert calls


def test_nonfinite_batches_are_skipped_then_abort(data, tmp_path, monkeypatch):
    _, ds = data
    from soilbinn.hybrid import BINN

    orig = BINN.forward

    def poisoned(self, batch):
        out = orig(self, batch)
        if self.training:
            out["nonfinite"] = out["nonfinite"].clone()
            out["nonfinite"][0] = True
        return out

    monkeypatch.setattr(BINN, "forward", poisoned)
    with pytest.raises(NonFiniteError, match="non-finite"):
        train(load_config(None, [*SMALL, "train.max_nonfinite_batches=2"]), ds,
              run_dir=tmp_path / "nf", figures=False)  # fmt: skip
    log = (tmp_path / "nf" / "train.log").read_text()
    assert log.count("skipped batch") == 3 and "site(s) ['" in log


def test_binn_assembly_and_temperature():
    from soilbinn.training.modelbuild import build_model

    meta = {"numeric_names": ["a", "b"], "categorical_names": ["c"], "n_categories": [3],
            "numeric_min": [0.0, 0.0], "numeric_max": [1.0, 2.0], "soc_scale": 1e4}  # fmt: skip
    cfg = load_config(None, ["model.learned=[q10, beta]", "model.fixed_from=params",
                             "model.fixed_physical={efolding: 0.55}"])  # fmt: skip
    m = build_model(cfg, meta)
    assert m.learned_names == ("q10", "beta")
    assert float(m.param_net.temperature.detach()) == pytest.approx(59.5)
    learned = torch.tensor([[0.1, 0.2]])
    site = torch.full((1, 21), 0.3, dtype=torch.float64)
    full = m.assemble(learned, site)
    names = m.param_names
    assert float(full[0, names.index("q10")]) == pytest.approx(0.1)
    assert float(full[0, names.index("efolding")]) == pytest.approx(0.5)  # (0.55-0.1)/0.9
    assert float(full[0, names.index("diffus")]) == pytest.approx(0.3)
    # gradients reach the network through the assembly
    x = torch.rand(4, 2)
    cat = torch.tensor([[0], [1], [-1], [7]])
    p = m.param_net(x, cat, torch.tensor([[-100.0, 40.0]] * 4))
    assert p.shape == (4, 2) and bool(((p > 0) & (p < 1)).all())
    m.assemble(p, site.expand(4, -1)).sum().backward()
    assert m.param_net.temperature_logit.grad is not None


@pytest.mark.slow
def test_cv_command_random_and_spatial(data, tmp_path):
    d, ds = data
    over = _sets([*SMALL, "train.epochs=1"])
    for kind in ("random", "spatial"):
        out = tmp_path / f"cv_{kind}"
        rc = main(["cv", "--data", str(d / "sites.nc"), "--k", "2", "--kind", kind,
                   "--out", str(out), *over])  # fmt: skip
        assert rc == 0
        table = pd.read_csv(out / "cv_summary.csv", index_col=0)
        assert list(table.index) == ["0", "1", "mean", "std"]
        assert table.loc[["0", "1"], "n_test_sites"].sum() == 60  # every site tested once
        splits = [pd.read_csv(out / f"fold{f:02d}" / "split.csv") for f in (0, 1)]
        tests = [set(s.loc[s["split"] == "test", "site"]) for s in splits]
        assert not tests[0] & tests[1]
    # spatial folds keep 2-degree cells together
    if True:
        from soilbinn.training.cv import fold_ids

        f = fold_ids(ds["lat"].values, ds["lon"].values, 2, 0, "spatial", 2.0)
        cell = (ds["lat"].values // 2) * 1000 + ds["lon"].values // 2
        for c in set(cell):
            assert len(set(f[cell == c])) == 1


def test_predict_sites_csv_reports_uncovered_rows(data, tmp_path, monkeypatch, capsys):
    """``predict --sites`` through a stand-in of soilbinn.inputs.sites.build_site_dataset."""
    import sys
    import types

    d, ds = data
    run = tmp_path / "run"
    train(load_config(None, SMALL), ds, run_dir=run, figures=False)
    csv = tmp_path / "sites.csv"
    rows = [(float(ds["lat"][i]), float(ds["lon"][i])) for i in range(3)] + [(10.0, 10.0)]
    csv.write_text("lat,lon\n" + "".join(f"{a},{b}\n" for a, b in rows))
    fake = types.ModuleType("soilbinn.inputs.sites")
    outside = pd.DataFrame(
        {"site": ["row3"], "lat": [10.0], "lon": [10.0], "reason": ["outside CONUS"]}
    )
    fake.build_site_dataset = lambda path, shared: (
        ds.isel(site=[0, 1, 2]).drop_vars(["soc"]),
        outside,
    )
    monkeypatch.setitem(sys.modules, "soilbinn.inputs.sites", fake)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), "--sites", str(csv), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 3 and (table["soc_stock_0_30cm_kg_m2"] > 0).all()
    assert (tmp_path / "pred.nc").exists()
    assert "row3 (10.0, 10.0): outside CONUS; not predicted" in capsys.readouterr().out


@pytest.mark.slow
def test_demo_command_tiny(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--sites", "60", "--epochs", "1", "--grid-deg", "5",
               "--no-param-maps"])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(out / "summary.csv")
    assert set(table["model"]) == {"binn", "nn"} and set(table["split"]) == {"train", "val", "test"}
    assert (out / "grid_prediction.nc").exists() and (out / "maps" / "cue.png").exists()
    assert main(["demo", "--out", str(out)]) == 2  # never overwrites
