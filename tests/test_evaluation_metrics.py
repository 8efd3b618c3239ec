"""Metrics, losses, the shapefile reader and the figures."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
import xarray as xr

from soilbinn.evaluation.metrics import depth_binned_metrics, regression_metrics
from soilbinn.inputs.naturalearth import read_shapes
from soilbinn.training.config import LossConfig
from soilbinn.training.losses import DEPTH_WEIGHTS, LOSSES, masked_misfit, parameter_regulariser


def test_metrics_reference_values():
    obs = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    m = regression_metrics(obs, obs)
    assert m["nse"] == 1.0 and m["rmse"] == 0.0 and m["n"] == 4
    m = regression_metrics(np.full(4, 2.5), obs[:4])  # the mean: NSE 0
    assert m["nse"] == pytest.approx(0.0)
    biased = obs[:4] + 1.0  # perfectly correlated but biased: R2 1, NSE 1 - 4/5
    m = regression_metrics(biased, obs[:4])
    assert m["r2"] == pytest.approx(1.0) and m["nse"] == pytest.approx(0.2)
    assert m["rmse"] == pytest.approx(1.0) and m["mae"] == pytest.approx(1.0)


def test_depth_bins_partition_observations():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0, 3, 500)
    obs = rng.lognormal(8, 1, 500)
    pred = obs * rng.lognormal(0, 0.2, 500)
    df = depth_binned_metrics(pred, obs, depth)
    assert list(df.index) == ["all", "0-0.1m", "0.1-0.3m", "0.3-1m", ">1m"]
    assert df.loc["all", "n"] == df["n"].iloc[1:].sum() == 500


def test_masked_losses_ignore_nan_and_match_torch():
    pred = torch.tensor([[1.0, 5.0, 2.0], [3.0, 0.0, 9.0]], dtype=torch.float64)
    obs = torch.tensor([[1.5, float("nan"), 2.0], [1.0, 0.5, float("nan")]], dtype=torch.float64)
    w = torch.ones_like(obs)
    cfg = LossConfig()
    num, den = masked_misfit(pred, obs, w, cfg, {"obs_variance": 2.0})
    valid = torch.isfinite(obs)
    ref = torch.nn.functional.smooth_l1_loss(pred[valid], obs[valid], reduction="sum")
    assert float(den) == 4 and float(num) == pytest.approx(float(ref))
    for kind in LOSSES:
        cfg.kind = kind
        num, den = masked_misfit(pred, obs, w, cfg, {"obs_variance": 2.0})
        assert torch.isfinite(num) and float(num) > 0
    cfg.kind = "nse"  # (p - o)^2 / var: exactly MSE / 2 here
    num, _ = masked_misfit(pred, obs, w, cfg, {"obs_variance": 2.0})
    assert float(num) == pytest.approx(float(((pred - obs)[valid] ** 2).sum() / 2))


def test_depth_weights():
    depth = torch.tensor([[0.01, 0.05, 0.2, 0.5, 2.0, 3.0]], dtype=torch.float64)
    valid = torch.ones_like(depth, dtype=torch.bool)
    assert torch.equal(DEPTH_WEIGHTS["none"](depth, valid), torch.ones_like(depth))
    wb = DEPTH_WEIGHTS["bins"](depth, valid)
    # four bins get equal total weight
    sums = [float(wb[0, :2].sum()), float(wb[0, 2]), float(wb[0, 3]), float(wb[0, 4:].sum())]
    assert np.allclose(sums, sums[0])
    wi = DEPTH_WEIGHTS["inverse_depth"](depth, valid)
    assert float(wi.mean()) == pytest.approx(1.0) and bool((wi[0, :-1] >= wi[0, 1:]).all())


def test_regulariser_zero_at_centre_and_large_at_bounds():
    assert float(parameter_regulariser(torch.full((3, 4), 0.5))) == 0.0
    edge = parameter_regulariser(torch.tensor([[0.0]]))
    assert float(edge) == pytest.approx(np.cosh(5.0) - 1.0)


def _write_polyline_shp(path, parts):
    pts = np.concatenate(parts)
    n_parts, n_points = len(parts), len(pts)
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    content = struct.pack("<i4d2i", 3, *pts.min(0), *pts.max(0), n_parts, n_points)
    content += struct.pack(f"<{n_parts}i", *starts) + pts.astype("<f8").tobytes()
    rec = struct.pack(">2i", 1, len(content) // 2) + content
    header = struct.pack(">7i", 9994, 0, 0, 0, 0, 0, (100 + len(rec)) // 2)
    header += struct.pack("<2i4d4d", 1000, 3, *pts.min(0), *pts.max(0), 0, 0, 0, 0)
    path.write_bytes(header + rec)


def test_shapefile_reader_roundtrip(tmp_path):
    parts = [
        np.array([[-100.0, 40.0], [-99.0, 41.0]]),
        np.array([[-90.0, 30.0], [-89, 31], [-88, 30]]),
    ]
    f = tmp_path / "lines.shp"
    _write_polyline_shp(f, parts)
    got = read_shapes(f)
    assert len(got) == 2 and np.allclose(got[1], parts[1])
    assert read_shapes(f, bbox=(0, 0, 10, 10)) == []
    bad = tmp_path / "bad.shp"
    bad.write_bytes(b"x" * 120)
    with pytest.raises(ValueError, match="not a shapefile"):
        read_shapes(bad)


def test_maps_from_toy_prediction(tmp_path):
    from soilbinn.evaluation.figures import maps_of_prediction

    lon, lat = np.meshgrid(np.arange(-120, -70, 2.0), np.arange(26, 49, 2.0))
    n = lon.size
    ds = xr.Dataset(
        {"soc_stock_0_30cm": ("site", np.linspace(1e3, 9e3, n), {"units": "g m-2"}),
         "cue": ("site", np.linspace(0.2, 0.6, n), {"units": "1"})},
        coords={"site": [f"s{i}" for i in range(n)], "lat": ("site", lat.ravel()),
                "lon": ("site", lon.ravel())},
    )  # fmt: skip
    files = maps_of_prediction(ds, tmp_path / "maps")
    assert sorted(f.name for f in files) == ["cue.png", "soc_stock_0_30cm.png"]
    assert all(f.stat().st_size > 5000 for f in files)
    with pytest.raises(ValueError, match="lacks variable"):
        maps_of_prediction(ds, tmp_path / "m2", ["soc_stock"])


def test_natural_earth_outlines_if_present():
    from soilbinn.evaluation.figures import OUTLINE_FILES, default_maps_dir

    d = default_maps_dir()
    if d is None:
        pytest.skip("../shared/data/maps/naturalearth not present")
    parts = read_shapes(d / OUTLINE_FILES[1], bbox=(-125, 24, -66, 50))
    allpts = np.concatenate(parts)
    assert len(parts) > 50 and allpts[:, 0].min() < -100 and allpts[:, 1].max() > 45
