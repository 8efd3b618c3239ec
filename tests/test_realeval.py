"""Real-data evaluation harness: regions held out whole, metrics equal hand computations,
observed stocks from layers and stock observations, region labels, the GBM comparator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from soilbinn.data.splits import SplitError, group_kfold
from soilbinn.evaluation.metrics import skill_metrics
from soilbinn.evaluation.observed import layer_stocks, observed_stocks
from soilbinn.evaluation.regions import raca_region, site_regions

#: a small network, and 2 polishing steps and one GP round: these tests check the folds,
#: ensembles and scores, not the fit (tests/test_training_recovery.py, test_gp_prior.py)
TINY = ["train.batch_size=8", "model.hidden=8", "model.depth=1", "train.patience=1",
        "model.lonlat_encoding.enabled=false", "train.polish.iterations=2",
        "train.gp_prior.rounds=1"]  # fmt: skip


def test_skill_metrics_hand_computed():
    pred = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    obs = np.array([1.0, 3.0, 2.0, 4.0, 9.0])
    m = skill_metrics(pred, obs)
    assert m["n"] == 4
    assert m["nse"] == pytest.approx(1 - 2 / 5)  # SSE 2, SS_obs 5
    assert m["spearman"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert m["r2"] == pytest.approx(0.8**2)
    assert m["bias"] == pytest.approx(0.0)
    assert m["rmse"] == pytest.approx(np.sqrt(0.5))


def test_group_kfold_holds_groups_whole():
    g = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 4 + ["d"] * 1)
    f = group_kfold(g)  # one fold per group
    assert len(np.unique(f)) == 4
    f2 = group_kfold(g, 2, seed=3)
    for lab in "abcd":
        assert len(np.unique(f2[g == lab])) == 1
    assert sorted(np.bincount(f2)) == [6, 7]  # a(5)+d(1) | c(4)+b(3), balanced
    with pytest.raises(SplitError):
        group_kfold(g, 5)


def test_layer_stocks_toy():
    top = np.array([[0.0, 0.1, np.nan], [0.0, 0.15, np.nan], [0.0, 0.1, 0.05]])
    bot = np.array([[0.1, 0.3, np.nan], [0.1, 0.3, np.nan], [0.1, 0.3, 0.2]])
    soc = np.array([[1000.0, 500.0, np.nan], [1000.0, 500.0, np.nan], [1000.0, 500.0, 2000.0]])
    s = layer_stocks(top, bot, soc, (0.0, 0.3))
    assert s[0] == pytest.approx(1000 * 0.1 + 500 * 0.2)
    assert np.isnan(s[1])  # 5 cm gap: 83 % covered < 90 %
    # overlapping horizons are averaged where they overlap
    assert s[2] == pytest.approx(0.05 * 1000 + 0.05 * 1500 + 0.1 * 1250 + 0.1 * 500)
    s1 = layer_stocks(top, bot, soc, (0.0, 0.3), min_coverage=0.8)
    mean = (1000 * 0.1 + 500 * 0.15) / 0.25
    assert s1[1] == pytest.approx(1000 * 0.1 + 500 * 0.15 + mean * 0.05)


def test_observed_stocks_prefers_stock_obs_and_chains_increments():
    ds = xr.Dataset(
        {
            "soc": (("site", "obs"), [[1000.0, 500.0], [1000.0, 500.0]]),
            "obs_top": (("site", "obs"), [[0.0, 0.1], [0.0, 0.1]]),
            "obs_bottom": (("site", "obs"), [[0.1, 1.0], [0.1, 1.0]]),
            "stock_obs": (("site", "interval"), [[50.0, 150.0, 700.0], [np.nan, 90.0, np.nan]]),
            "stock_top": (("site", "interval"), [[0.0, 0.05, 0.3], [np.nan, 0.0, np.nan]]),
            "stock_bottom": (("site", "interval"), [[0.05, 0.3, 1.0], [np.nan, 0.3, np.nan]]),
        },
        coords={"site": ["p1", "p2"]},
    )
    o = observed_stocks(ds)
    assert o["soc_stock_0_30cm"].values.tolist() == pytest.approx([200.0, 90.0])
    assert o["soc_stock_0_100cm"].values.tolist() == pytest.approx([900.0, 550.0])
    assert o["soc_stock_0_30cm_source"].values.tolist() == ["stock", "stock"]
    assert o["soc_stock_0_100cm_source"].values.tolist() == ["stock", "layers"]


def test_site_regions_rules():
    assert raca_region("raca_C0101F011") == "MO01" and raca_region("neon_ABBY_001") == ""
    ds = xr.Dataset(
        coords={
            "site": ["raca_C0512F01", "neon_KONZ_001_x", "neon_KONZ_002_x", "sodah_a", "r1"],
            "lat": ("site", [39.0, 39.1, 39.11, 25.5, 45.0]),
            "lon": ("site", [-96.5, -96.6, -96.61, -80.5, -100.0]),
        }
    )
    ds["region"] = ("site", ["", "", "", "", "given"])
    r = site_regions(ds, nearest_km=150.0, block_deg=10.0)
    assert r.tolist() == ["MO05", "MO05", "MO05", "B+20_-090", "given"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.synth import make_synthetic

    ds = make_synthetic(45, seed=2)
    lon = ds["lon"].values
    cuts = np.quantile(lon, [1 / 3, 2 / 3])
    ds["region"] = ("site", np.array(["west", "mid", "east"])[np.searchsorted(cuts, lon)])
    path = tmp_path_factory.mktemp("data") / "tiny.nc"
    save_dataset(ds, path)
    return path, ds


@pytest.mark.slow
def test_realeval_holds_regions_out_and_scores_by_hand(tiny, tmp_path):
    from soilbinn.experiments.realeval import RealEvalConfig, run_realeval

    path, ds = tiny
    cfg = RealEvalConfig(
        data=str(path),
        config="demo",
        overrides=[*TINY, "train.ensemble=1"],
        schemes=("region",),
        epochs=1,
    )  # one model per fold, read by hand below
    out = run_realeval(cfg, tmp_path / "ev")
    regions = ds["region"].values.astype(str)
    ids = ds["site"].values.astype(str)
    folds = pd.read_csv(out / "folds.csv")
    assert set(folds["held_out"]) == {"west", "mid", "east"}
    for f in range(3):
        for model in ("binn", "nn"):
            split = pd.read_csv(out / "runs" / "region" / f"fold{f:02d}_{model}" / "split.csv")
            reg = dict(zip(ids, regions))
            test_regions = {reg[s] for s in split.loc[split.split == "test", "site"]}
            fit_regions = {reg[s] for s in split.loc[split.split != "test", "site"]}
            assert len(test_regions) == 1 and not (test_regions & fit_regions)
            assert (split.split == "test").sum() == (regions == test_regions.pop()).sum()
    pred = xr.open_dataset(out / "predictions.nc")
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["model"]) == {"binn", "nn", "gbm", "mean"}
    # every site predicted exactly once per model, held out with its region
    assert np.isfinite(pred["pred_soc_stock_0_30cm"].sel(scheme="region", model="gbm")).all()
    # a metric row equals the hand computation from the stored predictions
    row = metrics.set_index(["scheme", "model", "group", "target"]).loc[
        ("region", "binn", "east", "soc_stock_0_100cm")
    ]
    m = regions == "east"
    p = pred["pred_soc_stock_0_100cm"].sel(scheme="region", model="binn").values[m]
    o = pred["obs_soc_stock_0_100cm"].values[m]
    ok = np.isfinite(p) & np.isfinite(o)
    sse, ss = ((p[ok] - o[ok]) ** 2).sum(), ((o[ok] - o[ok].mean()) ** 2).sum()
    assert row["nse"] == pytest.approx(1 - sse / ss, rel=1e-5)  # CSV keeps 6 digits
    assert row["bias"] == pytest.approx(
        (p[ok] - o[ok]).mean() / 1000, rel=1e-5
    )  # CSV keeps 6 digits
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731 (no ties in continuous data)
    assert row["spearman"] == pytest.approx(np.corrcoef(rank(p[ok]), rank(o[ok]))[0, 1], rel=1e-5)
    # the training mean scores NSE <= 0 on the pooled held-out sites (sanity of the setup)
    mean_row = metrics.set_index(["scheme", "model", "group", "target"]).loc[
        ("region", "mean", "all", "soc_stock_0_30cm")
    ]
    assert mean_row["nse"] <= 0.0
    assert (out / "figures" / "region_soc_stock_0_30cm_spearman_by_group.png").exists()
    pred.close()
    from soilbinn.experiments.report import make_report

    page = make_report([out], tmp_path / "report.html").read_text()
    assert "Held-out skill" in page and "SOC stock 0-30 cm" in page


def test_bedrock_config_reaches_process_model():
    from soilbinn.training.config import ConfigError, load_config
    from soilbinn.training.modelbuild import default_process_model

    assert default_process_model(load_config("real")).bedrock == "proda"
    cfg = load_config("real", ["model.bedrock=conservative"])
    assert default_process_model(cfg).bedrock == "conservative"
    with pytest.raises(ConfigError, match="model.bedrock"):
        load_config("real", ["model.bedrock=leaky"])


def test_mixture_quantiles():
    from scipy.stats import norm

    from soilbinn.training.ensemble import mixture_quantiles

    v = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    q = mixture_quantiles(v, 0.0, {"p05": 0.05, "p95": 0.95})
    assert q["p05"][0] == pytest.approx(1.2) and q["p95"][0] == pytest.approx(4.8)
    # one member with a log-normal error: the quantiles of v * exp(sigma z)
    q = mixture_quantiles(np.array([[10.0]]), 0.5, {"p05": 0.05, "p95": 0.95})
    assert q["p05"][0] == pytest.approx(10 * np.exp(0.5 * norm.ppf(0.05)), rel=1e-6)
    assert q["p95"][0] == pytest.approx(10 * np.exp(0.5 * norm.ppf(0.95)), rel=1e-6)


@pytest.mark.slow
def test_ensemble_train_predict_map(tiny, tmp_path):
    from soilbinn.cli import main
    from soilbinn.data.schema import save_dataset
    from soilbinn.inputs.synth import make_synthetic_grid

    path, _ = tiny
    run = tmp_path / "ens"
    alternate = ["train.ensemble=2", "train.alternate_trend=true", "model.covariate_trend=false"]
    # the members' validation sites carry the ensemble's observation-error model
    alternate.append("data.val_fraction=0.15")
    sets = [a for o in [*TINY, "train.epochs=1", *alternate] for a in ("--set", o)]
    assert (
        main(["train", "--config", "demo", "--data", str(path), "--run-dir", str(run), *sets]) == 0
    )
    info = __import__("json").loads((run / "ensemble.json").read_text())
    assert info["members"] == ["members/m00", "members/m01"]
    assert info["obs_error_log_sd"]["soc_layer"] > 0
    assert set(info["obs_error_log_location"]) == set(info["obs_error_log_sd"])
    splits = [pd.read_csv(run / m / "split.csv") for m in info["members"]]
    val = [set(s.loc[s.split == "val", "site"]) for s in splits]
    assert val[0] != val[1]  # members early-stop on different blocks
    test = [set(s.loc[s.split == "test", "site"]) for s in splits]
    assert test[0] == test[1] and not (test[0] & val[0])
    # alternating priors: member 1 has the covariate trend, and it was trained
    from soilbinn.training.predict import load_run

    trend = [load_run(run / m).config.model.covariate_trend for m in info["members"]]
    assert trend == [False, True]
    m1 = load_run(run / "members" / "m01").model
    assert float(m1.param_net.trend.detach().abs().max()) > 0
    grid = tmp_path / "grid.nc"
    save_dataset(make_synthetic_grid(8.0, seed=1), grid)
    out = tmp_path / "pred.nc"
    assert main(["predict", str(run), "--data", str(grid), "--out", str(out)]) == 0
    with xr.open_dataset(out) as p:
        for v in ("soc_stock_0_30cm", "soc_layer", "cue", "params"):
            for suffix in ("_sd", "_p05", "_p95"):
                assert f"{v}{suffix}" in p, v + suffix
        lo, mid, hi = (p[f"soc_stock_0_30cm{s}"].values for s in ("_p05", "", "_p95"))
        assert (lo < mid).all() and (mid < hi).all()
        params = p["params"].values
        ok = p["implausible_members"].values == 0 if "implausible_members" in p else True
    from soilbinn.training.predict import predict_dataset

    g = xr.open_dataset(grid).load()
    each = [predict_dataset(run / m, g)["params"].values for m in info["members"]]
    mean = np.mean(each, axis=0)  # averaged over the two priors
    np.testing.assert_allclose(params[ok], mean[ok], rtol=1e-6)
    maps = ["map", str(out), "--out", str(tmp_path / "maps"), "--var", "soc_stock_0_30cm"]
    assert main(maps) == 0
    assert (tmp_path / "maps" / "soc_stock_0_30cm_p90width.png").exists()


def test_mixture_quantiles_location_and_old_runs(tmp_path):
    import json

    from scipy.stats import norm

    from soilbinn.training.ensemble import _members, mixture_quantiles

    q = mixture_quantiles(np.array([[10.0]]), 0.5, {"p05": 0.05, "p95": 0.95}, location=-0.2)
    assert q["p05"][0] == pytest.approx(10 * np.exp(-0.2 + 0.5 * norm.ppf(0.05)), rel=1e-6)
    assert q["p95"][0] == pytest.approx(10 * np.exp(-0.2 + 0.5 * norm.ppf(0.95)), rel=1e-6)
    q = mixture_quantiles(np.array([[1.0], [3.0]]), 0.0, {"p05": 0.05}, location=np.log(2.0))
    assert q["p05"][0] == pytest.approx(2 * 1.1)
    # a run written before the location term: location 0, its sd as stored
    (tmp_path / "ensemble.json").write_text(json.dumps(
        {"members": ["members/m00"], "obs_error_log_sd": {"soc_layer": 0.7}}))  # fmt: skip
    members, sd, loc = _members(tmp_path)
    assert sd == {"soc_layer": 0.7} and loc == {}


def test_mixture_quantiles_two_members_cdf():
    from scipy.stats import norm

    from soilbinn.training.ensemble import mixture_quantiles

    v = np.array([[1.0, 5.0], [4.0, 5.0]])
    q = mixture_quantiles(v, 0.3, {"p05": 0.05})["p05"]
    cdf = 0.5 * (norm.cdf(np.log(q[0]) / 0.3) + norm.cdf((np.log(q[0]) - np.log(4)) / 0.3))
    assert cdf == pytest.approx(0.05, abs=1e-9)
    assert q[1] == pytest.approx(5 * np.exp(0.3 * norm.ppf(0.05)), rel=1e-9)
