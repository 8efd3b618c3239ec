"""soilbinn report on real-data evidence: a realeval run (comparison table, calibration of
the 90 % intervals, its figures with readable titles), a ``predict --data`` NetCDF (maps
of stocks, processes and their interval width) and an ``explain`` folder; no JSON on the
page; outputs follow the output policy."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from soilbinn.cli import main
from soilbinn.experiments.realeval import metrics_table
from soilbinn.experiments.report import ReportError, make_report

# a 1x1 white PNG (the report embeds files as they are)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)
N_REGION = 20  # sites per region (the calibration figure shows regions with >= 20)


def _rows(page: str, first_cell: str) -> list[list[str]]:
    """Cells of the table rows whose first cell is ``first_cell``."""
    out = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        cells = [c.strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        if cells and cells[0] == first_cell:
            out.append(cells)
    return out


def _images(page: str) -> dict[str, bytes]:
    return {a: base64.b64decode(b) for a, b in
            re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']*)'>", page)}  # fmt: skip


@pytest.fixture
def realeval_run(tmp_path):
    """A realeval run directory with the files and variable names realeval writes.

    BINN (with intervals): in region A every observation is inside its interval, in B
    half are (the others below p05), in C none (10 below p05, 10 above p95): pooled
    coverage 0.5, below p05 1/3, above p95 1/6. GBM has no intervals.
    """
    n = 3 * N_REGION
    regions = np.repeat(["A", "B", "C"], N_REGION)
    rng = np.random.default_rng(0)
    obs = rng.uniform(2000.0, 20000.0, n)  # g m-2
    pred = obs * 1.1
    lo, hi = obs * 0.5, obs * 1.5  # inside
    b = np.nonzero(regions == "B")[0][: N_REGION // 2]
    lo[b], hi[b] = obs[b] * 1.2, obs[b] * 2.0  # observation below p05
    c = np.nonzero(regions == "C")[0]
    lo[c[:10]], hi[c[:10]] = obs[c[:10]] * 1.2, obs[c[:10]] * 2.0  # below p05
    lo[c[10:]], hi[c[10:]] = obs[c[10:]] * 0.3, obs[c[10:]] * 0.8  # above p95
    nan = np.full(n, np.nan)
    ds = xr.Dataset(
        coords={"scheme": ["region"], "model": ["binn", "gbm"], "site": [f"s{i}" for i in range(n)],
                "lat": ("site", rng.uniform(30, 45, n)), "lon": ("site", rng.uniform(-110, -80, n))},
    )  # fmt: skip
    ds["region"] = ("site", regions)
    ds["fold"] = (("scheme", "site"), np.searchsorted(["A", "B", "C"], regions)[None])
    for k in ("soc_stock_0_30cm", "soc_stock_0_100cm"):
        a = {"units": "g m-2"}
        ds[f"pred_{k}"] = (("scheme", "model", "site"), np.stack([pred, pred * 0.9])[None], a)
        ds[f"obs_{k}"] = ("site", obs, a)
        ds[f"obs_{k}_source"] = ("site", np.full(n, "stock"))
        ds[f"pred_{k}_p05"] = (("scheme", "model", "site"), np.stack([lo, nan])[None], a)
        ds[f"pred_{k}_p95"] = (("scheme", "model", "site"), np.stack([hi, nan])[None], a)
    run = tmp_path / "realeval"
    (run / "figures").mkdir(parents=True)
    ds.to_netcdf(run / "predictions.nc")
    metrics_table(ds, {"region": regions}).to_csv(run / "metrics.csv", index=False)
    pd.DataFrame({"scheme": ["region"] * 3, "fold": [0, 1, 2], "model": "binn",
                  "held_out": ["A", "B", "C"], "n_test": N_REGION}).to_csv(run / "folds.csv", index=False)  # fmt: skip
    (run / "figures" / "region_soc_stock_0_30cm_spearman_by_group.png").write_bytes(PNG)
    (run / "figures" / "region_soc_stock_0_30cm_pred_vs_obs.png").write_bytes(PNG)
    (run / "experiment.json").write_text(json.dumps({
        "experiment": "realeval", "settings": {"data": "real.nc", "models": ["binn", "gbm"]},
        "results": {"region/soc_stock_0_30cm/binn/spearman": 0.5, "n_sites": n,
                    "regions": {"A": N_REGION, "B": N_REGION, "C": N_REGION}},
        "timings_s": {"total": 12.0}, "soilbinn_version": "0", "git_commit": "abc",
        "finished": "now"}))  # fmt: skip
    return run


@pytest.fixture
def prediction_nc(tmp_path):
    """A ``predict --data`` output of a 3-member ensemble on a 3 x 4 lattice."""
    lon, lat = np.meshgrid(np.arange(-100.0, -96.0), np.arange(35.0, 38.0))
    n = lon.size
    stock = np.linspace(1000.0, 12000.0, n)  # g m-2
    ds = xr.Dataset(coords={"site": np.arange(n)})
    ds["lat"] = ("site", lat.ravel(), {"units": "degrees_north"})
    ds["lon"] = ("site", lon.ravel(), {"units": "degrees_east"})
    for name, long, units, v in (
        ("soc_stock_0_30cm", "SOC stock 0-30 cm", "g m-2", stock),
        ("cue", "carbon use (transfer) efficiency", "1", np.linspace(0.2, 0.6, n)),
    ):
        a = {"units": units, "long_name": long}
        ds[name] = ("site", v, a)
        ds[f"{name}_sd"] = ("site", 0.1 * v, {**a, "long_name": f"ensemble sd of {name}"})
        ds[f"{name}_p05"] = ("site", 0.8 * v, {**a, "long_name": f"05th percentile of {name}"})
        ds[f"{name}_p95"] = ("site", 1.4 * v, {**a, "long_name": f"95th percentile of {name}"})
    ds.attrs.update({"ensemble_members": 3, "obs_error_log_sd": json.dumps({"soc_layer": 0.5})})
    path = tmp_path / "pred.nc"
    ds.to_netcdf(path)
    return path, stock


@pytest.fixture
def explain_dir(tmp_path):
    d = tmp_path / "explain"
    d.mkdir()
    rows = []
    for out, kind, units, shares in (
        ("soc_stock_0_30cm", "stock", "g m-2", {"mat": 0.6, "clay": 0.3, "npp": 0.1}),
        ("q10", "parameter", "1", {"mat": 0.1, "clay": 0.2, "npp": 0.7}),
    ):
        order = sorted(shares, key=shares.get, reverse=True)
        for cov, s in shares.items():
            rows.append({"method": "permutation", "output": out, "output_kind": kind,
                         "output_units": units, "covariate": cov, "covariate_members": cov,
                         "rank": order.index(cov) + 1, "importance": s,
                         "importance_sd": 0.01, "importance_raw": s})  # fmt: skip
    pd.DataFrame(rows).to_csv(d / "importance.csv", index=False)
    (d / "importance.png").write_bytes(PNG)
    return d


def test_report_of_real_data_evidence(realeval_run, prediction_nc, explain_dir, tmp_path):
    pred_path, stock = prediction_nc
    out = tmp_path / "report.html"
    assert main(["report", str(realeval_run), str(pred_path), str(explain_dir),
                 "--out", str(out)]) == 0  # fmt: skip
    page = out.read_text()
    imgs = _images(page)
    assert '{"' not in page and "<pre>" not in page  # no raw JSON anywhere
    assert "http://" not in page and "https://" not in page  # opens offline

    # comparison table: BINN and GBM rows of the pooled 0-30 cm stock
    rows = [r for r in _rows(page, "leave-region-out") if len(r) == 14]
    assert sorted(r[1:3] for r in rows) == [
        [t, m] for t in ("SOC stock 0-100 cm", "SOC stock 0-30 cm")
        for m in ("BINN", "gradient boosting")
    ]  # fmt: skip
    assert {r[2]: r[8] for r in rows} == {"BINN": "0.500", "gradient boosting": ""}  # coverage90
    # calibration: a drawn figure and the hand-computed pooled coverage / misses of BINN
    calib = [a for a in imgs if a.startswith("Calibration of the 90 % intervals")]
    assert calib and imgs[calib[0]][:4] == b"\x89PNG" and len(imgs[calib[0]]) > 5000
    binn = [r for r in _rows(page, "leave-region-out") if r[2] == "BINN" and len(r) == 8]
    assert [r[1] for r in binn] == ["SOC stock 0-30 cm", "SOC stock 0-100 cm"]
    n, cover, below, above = (float(x) for x in binn[0][3:7])
    assert (n, cover) == (60, 0.5)
    assert below == pytest.approx(1 / 3, abs=1e-3) and above == pytest.approx(1 / 6, abs=1e-3)
    assert not [r for r in _rows(page, "leave-region-out") if len(r) == 8 and r[2] != "BINN"]
    assert "only the 5th and 95th percentiles" in page  # says why there is no PIT curve
    # realeval's own figures, with readable titles
    assert "SOC stock 0-30 cm: Spearman rho per held-out region (leave-region-out)" in imgs
    assert "SOC stock 0-30 cm: predicted vs observed, kg C m-2 (leave-region-out)" in imgs
    # experiment.json as small tables, not JSON
    assert _rows(page, "data") == [["data", "real.nc"]] and _rows(page, "models") == [
        ["models", "binn, gbm"]]  # fmt: skip

    # maps: mean and 90 % interval width, titles from long_name, stocks in kg C m-2
    for title in ("SOC stock 0-30 cm (kg C m-2)", "carbon use (transfer) efficiency (1)"):
        assert imgs[title][:4] == b"\x89PNG"
        assert imgs[f"90% interval width of {title}"][:4] == b"\x89PNG"
    assert (
        imgs["SOC stock 0-30 cm (kg C m-2)"]
        != imgs["90% interval width of SOC stock 0-30 cm (kg C m-2)"]
    )
    summary = _rows(page, "soc_stock_0_30cm")[0]
    assert summary[2] == "kg C m-2"
    assert float(summary[3]) == pytest.approx(np.median(stock) / 1000, rel=1e-3)
    assert float(summary[6]) == pytest.approx(np.median(0.6 * stock) / 1000, rel=1e-3)

    # explain: the figure and the top covariates in order
    assert "covariate importance (share of each output)" in imgs
    top = _rows(page, "SOC stock 0-30 cm")[0]
    assert top[1:5] == ["stock", "mat 0.60 ± 0.01", "clay 0.30 ± 0.01", "npp 0.10 ± 0.01"]
    assert _rows(page, "parameter q10")[0][2] == "npp 0.70 ± 0.01"


def test_report_refuses_existing_output_and_unknown_input(
    realeval_run, prediction_nc, tmp_path, capsys
):
    out = tmp_path / "report.html"
    out.write_text("precious")
    assert main(["report", str(realeval_run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert out.read_text() == "precious"
    with pytest.raises(Exception, match="already exists"):
        make_report([realeval_run], out)
    assert main(["report", str(prediction_nc[0]), "--out", str(out), "--overwrite"]) == 0
    assert "SOC stock 0-30 cm (kg C m-2)" in out.read_text()

    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    other_nc = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(other_nc)
    broken_nc = tmp_path / "broken.nc"
    broken_nc.write_bytes(b"CDF\x01 not really")
    for p, msg in ((bad, "not a run directory"), (other_nc, "no lat/lon"),
                   (broken_nc, "not a readable NetCDF"),
                   (tmp_path / "missing", "not found")):  # fmt: skip
        assert main(["report", str(p), "--out", str(tmp_path / "r.html")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(p) in err[0] and msg in err[0], err
        with pytest.raises(ReportError):
            make_report([p], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_report_of_training_runs_and_single_model_prediction(prediction_nc, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "ensemble.json").write_text(json.dumps({
        "members": ["members/m00", "members/m01"], "obs_error_log_sd": {"soc_stock_0_30cm": 0.5},
        "obs_error_n": {"soc_stock_0_30cm": 40}, "obs_error_method": "rms of log(obs/pred)"}))  # fmt: skip
    pd.DataFrame({"site": np.arange(200), "split": "train"}).to_csv(run / "split.csv", index=False)
    path, _ = prediction_nc
    with xr.open_dataset(path) as ds:  # the same file from a single model: no intervals
        single = ds.drop_vars([v for v in ds.data_vars if v.endswith(("_p05", "_p95", "_sd"))])
        single.attrs = {}
        single.load().to_netcdf(tmp_path / "single.nc")
    page = make_report([run, tmp_path / "single.nc"], tmp_path / "r.html").read_text()
    assert _rows(page, "SOC stock 0-30 cm")[0][1:] == [
        "0.5",
        "0",  # location: 0 for runs written before the term existed
        f"{np.exp(2 * 1.6449 * 0.5):.4g}",
        "40",
    ]
    assert "Ensemble: 2 members" in page
    assert "first 20 of 200 rows" in page and len(_rows(page, "train")) == 0  # site column first
    assert len(re.findall(r"<tr>\s*<td>\d+</td>\s*<td>train</td>", page)) == 20
    imgs = _images(page)
    assert "SOC stock 0-30 cm (kg C m-2)" in imgs
    assert not [a for a in imgs if a.startswith("90% interval width")]
    assert "no intervals in this file" in page
