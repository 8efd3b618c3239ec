"""explain: importance of covariates on a BINN whose network is set by hand, so the true
drivers are known: q10 depends on covariate A only; tau4s2 on B strongly and C weakly; every
other parameter is constant (0.5)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from soilbinn.cli import main
from soilbinn.evaluation.explain import (
    explain,
    features_of,
    integrated_gradients,
    output_names,
)
from soilbinn.training.config import load_config
from soilbinn.training.modelbuild import build_model
from soilbinn.training.predict import Run
from soilbinn.training.sitedata import SiteData, site_data_from_dataset

A, B, C = "mat", "clay", "npp"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from soilbinn.data.schema import covariates_from_dataset, save_dataset
    from soilbinn.inputs.synth import make_synthetic
    from soilbinn.training.rundir import RunDir, atomic_torch_save

    torch.manual_seed(0)
    ds = make_synthetic(40, seed=3)
    cov = covariates_from_dataset(ds)
    x = cov.numeric.to(torch.float64)
    meta = {
        "numeric_names": list(cov.numeric_names),
        "categorical_names": list(cov.categorical_names),
        "n_categories": list(cov.n_categories),
        "numeric_min": torch.nan_to_num(x, nan=np.inf).min(0).values.tolist(),
        "numeric_max": torch.nan_to_num(x, nan=-np.inf).max(0).values.tolist(),
    }
    over = ["model.depth=1", "model.hidden=3", "model.batchnorm=false",
            "model.lonlat_encoding.enabled=false", "model.temperature.learnable=false"]  # fmt: skip
    cfg = load_config("demo", over)
    model = build_model(cfg, meta)
    names = meta["numeric_names"]
    first, last = model.param_net.mlp[0], model.param_net.mlp[-1]
    T = float(model.param_net.temperature)
    with torch.no_grad():
        for p in model.param_net.mlp.parameters():
            p.zero_()
        for unit, cov_name in enumerate((A, B, C)):  # hidden unit u = scaled covariate
            first.weight[unit, names.index(cov_name)] = 1.0
        q10, tau = model.param_names.index("q10"), model.param_names.index("tau4s2")
        last.weight[q10, 0], last.bias[q10] = 4 * T, -2 * T
        last.weight[tau, 1], last.weight[tau, 2], last.bias[tau] = 4 * T, 0.4 * T, -2.2 * T
    model.eval()
    d = tmp_path_factory.mktemp("explain")
    save_dataset(ds, d / "sites.nc")
    run = RunDir.create(d / "run", cfg)
    atomic_torch_save({"model": model.state_dict(), "meta": meta}, run.best)
    return Run(model, cfg, meta, None), ds, d


def _top(imp, output):
    row = imp["importance"].sel(output=output)
    return list(imp["covariate"].values[np.argsort(-np.nan_to_num(row.values, nan=-1))])


def test_permutation_ranks_the_known_drivers(toy):
    run, ds, _ = toy
    imp = explain(run, ds, "permutation", repeats=3, n_sites=None, seed=1)
    share = imp["importance"]
    # q10 depends on A only: all of its importance is A's, exactly
    assert float(share.sel(output="q10", covariate=A)) == pytest.approx(1.0, abs=1e-12)
    assert _top(imp, "tau4s2")[:2] == [B, C]
    others = [c for c in imp["covariate"].values if c not in (A, B, C)]
    assert float(abs(share.sel(covariate=others)).max()) == 0.0  # nothing else moves anything
    # stocks move through q10 and tau4s2 only
    for k in ("soc_stock_0_30cm", "soc_stock_0_100cm", "cue"):
        assert set(_top(imp, k)[:3]) == {A, B, C}
    # shares of every driven output sum to 1 (each repeat too); undriven outputs are NaN
    finite = np.isfinite(share.values).any(1)
    np.testing.assert_allclose(share.values[finite].sum(1), 1.0, rtol=1e-12)
    rep = imp["importance_repeat"].values
    np.testing.assert_allclose(rep[:, finite].sum(-1), 1.0, rtol=1e-12)
    for undriven in ("fcwdl2", "beta", "carbon_input"):
        assert np.isnan(share.sel(output=undriven).values).all()
    assert imp["importance_sd"].sel(output="tau4s2", covariate=B) > 0


def test_permutation_is_seeded(toy):
    run, ds, _ = toy
    kw = dict(targets=["params"], repeats=2, n_sites=30)
    a = explain(run, ds, seed=5, **kw)["importance_repeat"].values
    b = explain(run, ds, seed=5, **kw)["importance_repeat"].values
    c = explain(run, ds, seed=6, **kw)["importance_repeat"].values
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(c))
    # parameters alone (network only) are explained exactly as within the full model
    full = explain(run, ds, seed=5, **{**kw, "targets": ["params", "stocks"]})
    params = list(run.model.param_names)
    np.testing.assert_allclose(full["importance_repeat"].sel(output=params).values, a, rtol=1e-6)


def test_integrated_gradients_complete_and_rank(toy):
    run, ds, _ = toy
    imp = explain(run, ds, "gradient", targets=["params", "stocks"], n_sites=None, steps=16)
    assert float(imp["importance"].sel(output="q10", covariate=A)) == pytest.approx(1.0)
    assert _top(imp, "tau4s2")[:2] == [B, C]
    assert imp.attrs["completeness_error"] < 1e-2
    # completeness per site: attributions add up to y(site) - y(mean site)
    model = run.model
    data = site_data_from_dataset(ds, observations=False, numeric_names=run.meta["numeric_names"],
                                  categorical_names=run.meta["categorical_names"])  # fmt: skip
    data.forcing = model.process_model.prepare(data.forcing)
    feats = features_of(data, lonlat=False)
    names = ["q10", "soc_stock_0_30cm"]
    attr, delta = integrated_gradients(model, data, feats, names, steps=32)
    ok = np.isfinite(data.numeric.numpy()).all(1)  # NaN inputs are not attributed
    np.testing.assert_allclose(attr.sum(-1)[:, ok], delta[:, ok], rtol=2e-3,
                               atol=2e-3 * np.abs(delta).max())  # fmt: skip


def test_features_group_land_cover_lonlat_and_categories():
    n = 4
    data = SiteData(
        site_ids=list("abcd"), numeric=torch.zeros(n, 4), categorical=torch.zeros(n, 1, dtype=torch.int64),
        lonlat=torch.zeros(n, 2), forcing=None,
        numeric_names=["mat", "lc_forest", "clay", "lc_crop"], categorical_names=["koppen"],
    )  # fmt: skip
    feats = {f.name: f for f in features_of(data, lonlat=True, groups={"soil": ["clay"]})}
    assert list(feats) == ["mat", "land_cover", "soil", "koppen", "lon_lat"]
    assert feats["land_cover"].columns == (1, 3)
    assert feats["land_cover"].members == ("lc_forest", "lc_crop")
    # a joint permutation moves the grouped columns together
    from soilbinn.evaluation.explain import _permuted

    data.numeric = torch.arange(16.0).reshape(4, 4)
    p = _permuted(data, feats["land_cover"], torch.tensor([3, 2, 1, 0]))
    assert p.numeric[:, [1, 3]].tolist() == data.numeric[[3, 2, 1, 0]][:, [1, 3]].tolist()
    assert p.numeric[:, [0, 2]].tolist() == data.numeric[:, [0, 2]].tolist()


def test_cli_explain_outputs_and_errors(toy, tmp_path, capsys):
    run, _, d = toy
    out = tmp_path / "ex"
    args = ["explain", str(d / "run"), "--data", str(d / "sites.nc"), "--out", str(out),
            "--repeats", "2", "--targets", "params,stocks"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"q10: {A} 1.00" in printed
    with xr.open_dataset(out / "importance.nc") as imp:
        assert imp["importance"].attrs["units"] == "1"
        assert str(imp["output_units"].sel(output="soc_stock_0_30cm").values) == "g m-2"
        assert imp.attrs["method"] == "permutation"
    import pandas as pd

    table = pd.read_csv(out / "importance.csv")
    top = table[(table.output == "q10") & (table["rank"] == 1)]
    assert top.covariate.tolist() == [A]
    assert (out / "importance.png").stat().st_size > 10_000
    before = (out / "importance.nc").read_bytes()
    assert main(args) == 2  # refuses to overwrite
    err = capsys.readouterr().err.strip()
    assert "--overwrite" in err and len(err.splitlines()) == 1
    assert (out / "importance.nc").read_bytes() == before
    # a bad run path: one clean line naming it
    assert main(["explain", str(tmp_path / "nope"), "--data", str(d / "sites.nc"),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err and "Traceback" not in err
    # a folder that is not a run
    assert main(["explain", str(tmp_path), "--data", str(d / "sites.nc"),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "config.yaml" in err


def test_ensemble_is_explained_as_member_mean(toy, tmp_path):
    import shutil

    run, ds, d = toy
    ens = tmp_path / "ens"
    for m in ("m00", "m01"):
        shutil.copytree(d / "run", ens / "members" / m)
    (ens / "ensemble.json").write_text(json.dumps({"members": 2}))
    kw = dict(targets=["params"], repeats=1, n_sites=20, seed=2)
    a = explain(ens, ds, **kw)
    b = explain(run, ds, **kw)
    assert a.attrs["n_members"] == 2
    np.testing.assert_allclose(a["importance"].values, b["importance"].values, rtol=1e-12)
    assert output_names(run.model, ["stocks"]) == ["soc_stock_0_30cm", "soc_stock_0_100cm"]
