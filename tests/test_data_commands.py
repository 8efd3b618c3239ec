"""CLI verbs `soilbinn synth` and `soilbinn validate` end to end on tiny data."""

from __future__ import annotations

import xarray as xr

from soilbinn.cli import main
from soilbinn.data.schema import load_dataset, save_dataset


def test_synth_then_validate(tmp_path, capsys):
    out = tmp_path / "synth.nc"
    assert main(["synth", "--sites", "20", "--seed", "4", "--out", str(out)]) == 0
    ds = load_dataset(out, require=("forcing", "observations", "covariates", "params"))
    assert ds.sizes["site"] == 20 and ds.attrs["seed"] == 4
    capsys.readouterr()
    assert main(["validate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "valid (20 sites" in text and "observations" in text


def test_validate_lists_every_problem(tmp_path, capsys):
    out = tmp_path / "synth.nc"
    main(["synth", "--sites", "12", "--seed", "1", "--out", str(out)])
    with xr.open_dataset(out) as f:
        ds = f.load()
    ds["soc"].values[3, 0] = -1.0
    ds["nbedrock"].values[5] = 30
    ds = ds.drop_vars("water_scalar")
    bad = tmp_path / "bad.nc"
    save_dataset(ds, bad)
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 1
    text = capsys.readouterr().out
    assert "3 problem(s)" in text
    assert "water_scalar: missing" in text
    assert "nbedrock: values outside [1, 20]" in text and "S000005" in text
    assert "soc: values outside" in text and "S000003" in text
    assert main(["validate", str(bad), "--require", "covariates"]) == 0
    assert main(["validate", str(tmp_path / "missing.nc")]) == 1
    assert main(["validate", str(bad), "--require", "bogus"]) == 2


def test_synth_grid(tmp_path):
    out = tmp_path / "grid.nc"
    assert main(["synth", "--grid", "3", "--out", str(out)]) == 0
    ds = load_dataset(out, require=("forcing", "covariates"))
    assert "grid_i" in ds and "soc" not in ds
