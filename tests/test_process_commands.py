"""End-to-end runs of ``soilbinn simulate`` and the benchmark worker."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from soilbinn.cli import main
from soilbinn.data.schema import save_dataset
from soilbinn.inputs.synth import make_synthetic


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    ds = make_synthetic(24, seed=3, noise=0.1)
    path = tmp_path_factory.mktemp("sim") / "synth.nc"
    save_dataset(ds, path)
    return path, ds


def test_simulate_reproduces_the_synthetic_truth(synth_file, tmp_path):
    path, ds = synth_file
    out = tmp_path / "sim.nc"
    assert main(["simulate", str(path), "--params-var", "true_params", "--out", str(out)]) == 0
    res = xr.open_dataset(out)
    for name in ("soc_layer", "pools", "soc_stock", "soc_stock_0_30cm", "soc_stock_0_100cm",
                 "carbon_input", "cue", "baseline_decomposition", "environmental_modifier",
                 "vertical_transport", "input_allocation", "params_physical"):  # fmt: skip
        assert name in res.variables, name
        assert res[name].attrs.get("units"), name
    np.testing.assert_allclose(res["soc_layer"].values, ds["soc_layer_true"].values, rtol=1e-6)
    assert res["pools"].dims == ("site", "pool", "layer")
    assert (res["soc_stock_0_30cm"] < res["soc_stock_0_100cm"]).all()
    res.close()


def test_simulate_refuses_out_of_range_params(synth_file, tmp_path, capsys):
    path, ds = synth_file
    bad = ds.copy(deep=True)
    bad["params"].values[5, 3] = 1.7
    bpath = tmp_path / "bad.nc"
    bad.to_netcdf(bpath)
    code = main(["simulate", str(bpath), "--out", str(tmp_path / "x.nc")])
    err = capsys.readouterr().err
    assert code == 1
    assert "params" in err and str(ds["site"].values[5]) in err
    assert not (tmp_path / "x.nc").exists()


def test_simulate_missing_file(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.nc"), "--out", str(tmp_path / "o.nc")]) == 1
    assert "nope.nc" in capsys.readouterr().err


def test_bench_worker_measures():
    from soilbinn.process.bench import measure

    r = measure(16, "backward", "structured", "cpu", 1, "clm5")
    assert r["seconds"] > 0 and r["peak_mb"] >= 0


def test_simulate_outputs_what_was_simulated(synth_file, tmp_path):
    """params are the ones used (not the input's), soc_sim at the obs depths, no input soc."""
    path, ds = synth_file
    other = ds.copy(deep=True)
    rng = np.random.default_rng(0)
    other["params"].values[:] = rng.uniform(0.2, 0.8, other["params"].shape)
    ppath = tmp_path / "p.nc"
    save_dataset(other, ppath)
    out = tmp_path / "sim.nc"
    assert main(["simulate", str(path), "--params", str(ppath), "--out", str(out)]) == 0
    with xr.open_dataset(out) as res:
        np.testing.assert_allclose(res["params"].values, other["params"].values)
        for v in ("true_params", "soc", "soc_true", "soc_layer_true"):
            assert v not in res.variables, v
        # soc_sim is the linear interpolation of soc_layer at obs_depth (checked by hand)
        z = res["depth"].values
        for i in (0, 7):
            d = ds["obs_depth"].values[i]
            ok = np.isfinite(d)
            want = np.interp(d[ok], z, res["soc_layer"].values[i])
            np.testing.assert_allclose(res["soc_sim"].values[i, ok], want, rtol=1e-10)
            assert np.isnan(res["soc_sim"].values[i, ~ok]).all()
        assert res["soc_sim"].attrs["units"] == "g m-3"
        # different parameters -> different SOC than the truth's
        assert not np.allclose(res["soc_layer"].values, ds["soc_layer_true"].values, rtol=1e-3)


def test_simulate_with_noise_writes_a_training_dataset(synth_file, tmp_path, capsys):
    """--noise: soc = soc_sim * lognormal(sigma), true_params = the parameters used, valid."""
    from soilbinn.data.schema import load_dataset

    path, ds = synth_file
    other = ds.copy(deep=True)
    other["params"].values[:] = np.random.default_rng(1).uniform(0.2, 0.8, other["params"].shape)
    ppath = tmp_path / "p.nc"
    save_dataset(other, ppath)
    outs = {}
    for name, sigma, seed in (("a", 0.2, 4), ("b", 0.2, 4), ("c", 0.2, 5), ("zero", 0.0, 4)):
        outs[name] = tmp_path / f"{name}.nc"
        argv = ["simulate", str(path), "--params", str(ppath), "--out", str(outs[name]),
                "--noise", str(sigma), "--seed", str(seed)]  # fmt: skip
        assert main(argv) == 0
    res = load_dataset(outs["a"], require=("forcing", "observations", "params"))
    np.testing.assert_allclose(res["true_params"].values, other["params"].values)
    np.testing.assert_array_equal(res["soc_true"].values, res["soc_sim"].values)
    r = np.log(res["soc"].values / res["soc_true"].values)
    ok = np.isfinite(res["obs_depth"].values)
    assert np.isfinite(r[ok]).all() and np.isnan(res["soc"].values[~ok]).all()
    assert ok.sum() > 150
    assert abs(r[ok].std() - 0.2) < 0.04 and abs(r[ok].mean()) < 0.05
    with xr.open_dataset(outs["b"]) as b, xr.open_dataset(outs["c"]) as c:
        np.testing.assert_array_equal(b["soc"].values, res["soc"].values)  # same seed
        assert not np.allclose(c["soc"].values[ok], res["soc"].values[ok])
    with xr.open_dataset(outs["zero"]) as z:
        np.testing.assert_array_equal(z["soc"].values, z["soc_sim"].values)
    assert main(["validate", str(outs["a"])]) == 0
    code = main(["simulate", str(path), "--out", str(tmp_path / "n.nc"), "--noise", "-0.1"])
    assert code == 1 and "--noise must be >= 0" in capsys.readouterr().err
