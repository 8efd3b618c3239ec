"""An ensemble member whose steady state no real soil has is left out at that site."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import soilbinn.training.predict as predict_mod
from soilbinn.training.ensemble import mixture_quantiles, predict_ensemble


def _member_output(stock: list[float], flag: list[int]) -> xr.Dataset:
    return xr.Dataset(
        {
            "soc_stock_0_30cm": ("site", np.asarray(stock, dtype=float), {"units": "g m-2"}),
            "params": (("site", "param"), np.tile(np.asarray(stock)[:, None] / 1e4, (1, 2))),
            "implausible": ("site", np.asarray(flag, dtype=np.int8)),
        },
        coords={"site": ["a", "b", "c"], "param": ["p0", "p1"]},
    )


def test_implausible_member_is_left_out(tmp_path, monkeypatch):
    outputs = {
        "m0": _member_output([1000.0, 2000.0, 3e9], [0, 0, 1]),
        "m1": _member_output([3000.0, 4e9, 5e9], [0, 1, 1]),
        "m2": _member_output([2000.0, 6000.0, 7e9], [0, 0, 1]),
    }
    (tmp_path / "ensemble.json").write_text(json.dumps({
        "members": list(outputs), "obs_error_log_sd": {"soc_stock_0_30cm": 0.5},
        "obs_error_log_location": {"soc_stock_0_30cm": 0.0},
    }))  # fmt: skip
    monkeypatch.setattr(predict_mod, "predict_dataset", lambda m, *a, **k: outputs[m.name])
    out = predict_ensemble(tmp_path, xr.Dataset())
    s = out["soc_stock_0_30cm"].values
    assert s[0] == pytest.approx(2000.0)  # all three plausible
    assert s[1] == pytest.approx(4000.0)  # the 4e9 member left out
    assert np.isnan(s[2])  # no plausible member: no number
    assert out["soc_stock_0_30cm_sd"].values[1] == pytest.approx(np.std([2000, 6000], ddof=1))
    assert out["implausible"].values.tolist() == [0, 0, 1]
    assert out["implausible_members"].values.tolist() == [0, 1, 3]
    assert out["params"].values[1, 0] == pytest.approx(0.4)
    p05, p95 = out["soc_stock_0_30cm_p05"].values, out["soc_stock_0_30cm_p95"].values
    assert p05[1] < 2000.0 < 6000.0 < p95[1] < 1e5 and np.isnan(p95[2])


def test_mixture_quantiles_ignore_nan_members():
    v = np.array([[1.0, np.nan], [np.nan, np.nan], [4.0, 2.0]])
    q = mixture_quantiles(v, 0.3, {"p50": 0.5})["p50"]
    assert q[0] == pytest.approx(2.0, rel=1e-6)  # median of the equal mixture of 1 and 4
    assert q[1] == pytest.approx(2.0, rel=1e-6)  # the single remaining member
    plain = mixture_quantiles(v, 0.0, {"p50": 0.5})["p50"]
    assert plain.tolist() == pytest.approx([2.5, 2.0])
