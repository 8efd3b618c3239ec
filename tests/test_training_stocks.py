"""Training on layers, stocks or both: increments, the stock loss term, per-kind metrics."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from soilbinn.cli import main
from soilbinn.evaluation.metrics import stock_metrics
from soilbinn.process.observation import stocks_over_intervals
from soilbinn.training.stocks import StockObs, add_stock_misfit, stock_increments, stock_misfit

NAN = float("nan")
T = torch.tensor


def test_increments_of_cumulative_chains_by_hand():
    stock = T([[10.0, 40.0, 70.0], [10.0, NAN, 70.0], [30.0, 20.0, NAN]], dtype=torch.float64)
    top = T([[0.0, 0.0, 0.0], [0.0, NAN, 0.0], [0.0, 0.3, NAN]], dtype=torch.float64)
    bot = T([[0.05, 0.3, 1.0], [0.05, NAN, 1.0], [0.3, 1.0, NAN]], dtype=torch.float64)
    inc, it, ib = stock_increments(stock, top, bot)
    np.testing.assert_allclose(inc[0], [10, 30, 30])
    np.testing.assert_allclose(it[0], [0, 0.05, 0.3])
    np.testing.assert_allclose(ib[0], [0.05, 0.3, 1.0])
    # a missing middle interval: 0-100 becomes 5-100
    np.testing.assert_allclose(inc[1, [0, 2]], [10, 60])
    np.testing.assert_allclose(it[1, [0, 2]], [0, 0.05])
    assert torch.isnan(inc[1, 1]) and torch.isnan(it[1, 1])
    # already increments (different tops): unchanged
    np.testing.assert_allclose(inc[2, :2], [30, 20])
    np.testing.assert_allclose(it[2, :2], [0, 0.3])
    # order of the intervals within a site does not matter
    perm = [2, 0, 1]
    inc_p, it_p, _ = stock_increments(stock[:1, perm], top[:1, perm], bot[:1, perm])
    np.testing.assert_allclose(inc_p[0], inc[0, perm])
    np.testing.assert_allclose(it_p[0], it[0, perm])


def _cfg(kind="mse", weight=1.0, with_layers=0.0):
    return SimpleNamespace(
        kind=kind, smooth_l1_beta=1.0, stock_weight=weight, stock_weight_with_layers=with_layers
    )


NO_LAYERS = torch.zeros(2, dtype=torch.bool)


def test_stock_misfit_is_the_layer_misfit_of_increment_mean_densities():
    rng = np.random.default_rng(0)
    soc = torch.tensor(rng.uniform(1e3, 3e4, (2, 20)))
    cum = T([[1500.0, 7600.0, 10000.0], [900.0, 4000.0, NAN]], dtype=torch.float64)
    top = T([[0.0, 0.0, 0.0], [0.0, 0.0, NAN]], dtype=torch.float64)
    bot = T([[0.05, 0.3, 1.0], [0.05, 0.3, NAN]], dtype=torch.float64)
    obs = StockObs.from_tensors(cum, top, bot)
    num, den = stock_misfit(soc, obs, _cfg(), {})
    # by hand: predicted increments over 0-5, 5-30, 30-100 cm as mean densities
    pt = T([[0.0, 0.05, 0.3], [0.0, 0.05, NAN]], dtype=torch.float64)
    pred = stocks_over_intervals(soc, pt, bot) / (bot - pt)
    o = T(
        [[1500 / 0.05, 6100 / 0.25, 2400 / 0.7], [900 / 0.05, 3100 / 0.25, NAN]],
        dtype=torch.float64,
    )
    ref = np.nansum(((pred - o) ** 2).numpy())
    assert float(num) == pytest.approx(ref, rel=1e-10) and float(den) == 5
    two = T(2.0, dtype=torch.float64)
    n2, d2 = add_stock_misfit(T(3.0), two, soc, obs, NO_LAYERS, _cfg(weight=0.5), {})
    assert float(n2) == pytest.approx(3.0 + 0.5 * ref) and float(d2) == pytest.approx(4.5)
    assert add_stock_misfit(T(3.0), T(2.0), soc, obs, NO_LAYERS, _cfg(weight=0.0), {})[0] == 3.0
    # finite-difference gradient through the operator
    x = soc.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda s: stock_misfit(s, obs, _cfg("log_mse"), {})[0], (x,), eps=1e-4, atol=1e-6
    )


def test_stock_metrics_by_hand():
    obs = np.array([[1000.0, 5000.0], [2000.0, 9000.0], [3000.0, 7000.0]])
    pred = obs + np.array([[100.0, 0.0], [100.0, 1000.0], [100.0, -3000.0]])
    top = np.zeros((3, 2))
    bot = np.array([[0.3, 1.0]] * 3)
    df = stock_metrics(pred, obs, top, bot)
    assert list(df.index) == ["0-30cm", "0-100cm"]
    assert df.loc["0-30cm", "bias_kg_m2"] == pytest.approx(0.1)
    assert df.loc["0-30cm", "r2"] == pytest.approx(1.0) and df.loc["0-30cm", "spearman"] == 1.0
    assert df.loc["0-100cm", "rmse_kg_m2"] == pytest.approx(np.sqrt(10 / 3))
    assert df.loc["0-100cm", "spearman"] == pytest.approx(0.5)


#: a small network and 2 polishing steps: these tests check the stock observations'
#: path through training, CV and evaluation, not the fit
SMALL = ["train.epochs=2", "train.batch_size=16", "model.hidden=16", "model.depth=1",
         "model.lonlat_encoding.n_features=8", "train.progress=off",
         "train.polish.iterations=2"]  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """60 synthetic sites: 20 with layers only, 20 with stocks only, 20 with both."""
    from soilbinn.data.schema import add_stocks, save_dataset
    from soilbinn.inputs.synth import make_synthetic

    ds = make_synthetic(60, seed=5)
    top = np.zeros((60, 3))
    bot = np.tile([0.05, 0.3, 1.0], (60, 1))
    truth = stocks_over_intervals(
        torch.as_tensor(ds["soc_layer_true"].values), torch.as_tensor(top), torch.as_tensor(bot)
    ).numpy()
    truth[:20] = np.nan
    ds = add_stocks(ds, truth, np.where(np.isfinite(truth), top, NAN),
                    np.where(np.isfinite(truth), bot, NAN))  # fmt: skip
    ds["soc"].values[20:40] = np.nan
    ds["obs_depth"].values[20:40] = np.nan
    d = tmp_path_factory.mktemp("mixed")
    save_dataset(ds, d / "mixed.nc")
    return d / "mixed.nc"


def _sets(over):
    return [a for o in over for a in ("--set", o)]


@pytest.mark.slow
def test_train_evaluate_on_layers_and_stocks(mixed, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["validate", str(mixed)]) == 0
    assert main(["train", "--data", str(mixed), "--run-dir", str(run), *_sets(SMALL)]) == 0
    out = capsys.readouterr().out
    assert "stocks (kg m-2):" in out and "0-100cm" in out
    hist = pd.read_csv(run / "metrics.csv")
    assert np.isfinite(hist["train_misfit"]).all() and hist["val_nse"].notna().all()
    st = pd.read_csv(run / "evaluation_stocks.csv").set_index(["split", "interval"])
    assert {"0-5cm", "0-30cm", "0-100cm"} <= set(st.index.get_level_values("interval"))
    assert np.isfinite(st["rmse_kg_m2"]).all() and (st["n"] > 0).all()
    assert main(["evaluate", str(run), "--data", str(mixed)]) == 0
    again = pd.read_csv(run / "evaluation_mixed_stocks.csv").set_index(["split", "interval"])
    key = ("test", "0-30cm")
    assert again.loc[key, "rmse_kg_m2"] == pytest.approx(st.loc[key, "rmse_kg_m2"], rel=1e-9)
    # predict on the mixed dataset: stocks over its intervals, consistent with 0-30/0-100 cm
    import xarray as xr

    pred = tmp_path / "pred.nc"
    assert main(["predict", str(run), "--data", str(mixed), "--out", str(pred)]) == 0
    with xr.open_dataset(pred) as p:
        assert p["stock_pred"].attrs["units"] == "g m-2"
        sp = p["stock_pred"].values
        np.testing.assert_allclose(sp[20:, 1], p["soc_stock_0_30cm"].values[20:], rtol=1e-9)
        np.testing.assert_allclose(sp[20:, 2], p["soc_stock_0_100cm"].values[20:], rtol=1e-9)
        assert np.isnan(sp[:20]).all()


def test_stock_only_dataset_trains_and_stock_weight_is_in_the_config(mixed, tmp_path):
    import xarray as xr

    from soilbinn.training.config import load_config
    from soilbinn.training.trainer import train

    with xr.open_dataset(mixed) as f:
        ds = f.load()
    ds = ds.isel(site=slice(20, 40)).drop_vars(["soc", "obs_depth", "obs_top", "obs_bottom"])
    cfg = load_config("demo", SMALL + ["loss.stock_weight=2.0", "train.epochs=1"])
    assert cfg.loss.stock_weight == 2.0
    res = train(cfg, ds, run_dir=tmp_path / "r", figures=False)
    assert res.stock_metrics is not None and np.isfinite(res.history["train_misfit"]).all()
    assert np.isnan(res.metrics.loc[("test", "all"), "nse"])  # no layers to score
    with pytest.raises(ValueError, match="stock_weight"):
        load_config("demo", ["loss.stock_weight=-1"])


def test_validation_score_pools_layers_and_increments_as_in_the_loss():
    from soilbinn.evaluation.metrics import depth_binned_metrics
    from soilbinn.training.stocks import validation_score

    layer_p, layer_o = np.array([[10.0, 20.0]]), np.array([[12.0, 18.0]])
    flat = {"pred": layer_p, "obs": layer_o, "depth": np.array([[0.1, 0.5]])}
    table = depth_binned_metrics(flat["pred"], flat["obs"], flat["depth"])
    assert validation_score(table, flat, 1.0, 1.0) == table.loc["all", "nse"]
    flat.update(stock_pred=np.array([[1.0, 3.0]]), stock_obs=np.array([[2.0, 4.0]]),
                stock_top=np.array([[0.0, 0.0]]), stock_bottom=np.array([[0.5, 1.0]]))  # fmt: skip
    assert validation_score(table, flat, 0.0, 0.0) == table.loc["all", "nse"]
    # increments 0-0.5 m, 0.5-1 m as mean densities: pred 2, 4; obs 4, 4
    p, o, w = np.array([10, 20, 2, 4.0]), np.array([12, 18, 4, 4.0]), np.array([1, 1, 2, 2.0])
    m = np.average(o, weights=w)
    ref = 1 - (w * (p - o) ** 2).sum() / (w * (o - m) ** 2).sum()
    # the one site has layers: its stocks weigh stock_weight_with_layers, not stock_weight
    assert validation_score(table, flat, 5.0, 2.0) == pytest.approx(ref)
    assert validation_score(table, flat, 2.0, 0.0) == table.loc["all", "nse"]
    # without its layers the site's stocks weigh stock_weight
    flat["obs"] = np.full_like(layer_o, np.nan)
    flat["stock_obs"] = np.array([[2.0, 5.0]])  # increments as densities 4, 6; pred 2, 4
    assert validation_score(table, flat, 2.0, 0.0) == pytest.approx(1 - 8 / 2)
    assert validation_score(table, flat, 0.0, 2.0) == table.loc["all", "nse"]


@pytest.mark.slow
def test_cv_reports_stock_columns(mixed, tmp_path):
    import xarray as xr

    from soilbinn.training.config import load_config
    from soilbinn.training.cv import cross_validate

    with xr.open_dataset(mixed) as f:
        ds = f.load()
    cfg = load_config("demo", SMALL + ["train.epochs=1"])
    table = cross_validate(cfg, ds, k=2, out_dir=tmp_path / "cv")
    for c in ("nse", "0-30cm_r2", "0-100cm_bias_kg_m2", "0-5cm_spearman"):
        assert c in table.columns, c
    assert np.isfinite(table.loc[[0, 1], "0-100cm_rmse_kg_m2"]).all()


def test_stocks_at_sites_with_layers_weigh_stock_weight_with_layers():
    """Site 0 carries layers and stocks (the same pedon twice), site 1 stocks only."""
    from soilbinn.training.stocks import (
        has_layer_observations,
        observed_densities,
        stock_site_weights,
    )

    rng = np.random.default_rng(3)
    soc = torch.tensor(rng.uniform(1e3, 3e4, (2, 20)))
    cum = T([[1500.0, 7600.0, 10000.0], [900.0, 4000.0, 6000.0]], dtype=torch.float64)
    top = torch.zeros((2, 3), dtype=torch.float64)
    bot = T([[0.05, 0.3, 1.0]] * 2, dtype=torch.float64)
    obs = StockObs.from_tensors(cum, top, bot)
    layers = T([[12.0, NAN], [NAN, NAN]], dtype=torch.float64)  # (n, obs) layer SOC
    has = T([True, False])
    assert has_layer_observations(layers).tolist() == [True, False]
    per_site = [stock_misfit(soc[i : i + 1], obs.select(T([i])), _cfg(), {})[0] for i in (0, 1)]
    zero = T(0.0, dtype=torch.float64)
    # default: the layered site's stocks do not enter the loss, the other's weigh 1
    n, d = add_stock_misfit(zero, zero, soc, obs, has, _cfg(weight=1.0, with_layers=0.0), {})
    assert float(n) == pytest.approx(float(per_site[1])) and float(d) == 3.0
    # an explicit weight for sites with layers
    n, d = add_stock_misfit(zero, zero, soc, obs, has, _cfg(weight=2.0, with_layers=0.25), {})
    assert float(n) == pytest.approx(0.25 * float(per_site[0]) + 2.0 * float(per_site[1]))
    assert float(d) == pytest.approx(0.25 * 3 + 2.0 * 3)
    # nothing weighted: the layer misfit unchanged
    n, d = add_stock_misfit(T(3.0), T(1.0), soc, obs, T([True, True]), _cfg(), {})
    assert float(n) == 3.0 and float(d) == 1.0
    # statistics of the observations: only increments the loss uses
    w = stock_site_weights(has, _cfg(weight=1.0, with_layers=0.0))
    assert w.tolist() == [0.0, 1.0]
    assert observed_densities(layers, obs, w).numel() == 1 + 3
    assert observed_densities(layers, obs).numel() == 1 + 6


def test_stock_weight_with_layers_is_strict_in_the_config():
    from soilbinn.training.config import load_config

    assert load_config("real_spatial").loss.stock_weight_with_layers == 0.0
    assert (
        load_config("demo", ["loss.stock_weight_with_layers=0.5"]).loss.stock_weight_with_layers
        == 0.5
    )
    with pytest.raises(ValueError, match="stock_weight_with_layers"):
        load_config("demo", ["loss.stock_weight_with_layers=-1"])
    with pytest.raises(ValueError, match="stock_weight_with_layer"):
        load_config("demo", ["loss.stock_weight_with_layer=1"])
