"""Stock observations in the schema, the stock-table importer and planted faults."""

from __future__ import annotations

import numpy as np
import pytest

from soilbinn.data.schema import (
    add_stocks,
    base_coords,
    load_dataset,
    observations_from_dataset,
    save_dataset,
    stocks_from_dataset,
    validate_dataset,
)
from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.stocks import (
    StockTableError,
    merge_observation_datasets,
    raca_region,
    raca_stock_table,
    read_stock_table,
    stock_arrays,
)
from soilbinn.inputs.synth import make_synthetic

SHARED = default_shared_path()
NAN = np.nan


def _stock_ds(stock, top, bottom):
    n = len(stock)
    ds = base_coords([f"p{i}" for i in range(n)], np.full(n, 40.0), np.full(n, -100.0))
    return add_stocks(ds, np.asarray(stock), np.asarray(top), np.asarray(bottom))


GOOD = ([[1500.0, 7600.0, 10000.0], [900.0, 4000.0, NAN]],
        [[0.0, 0.0, 0.0], [0.0, 0.0, NAN]], [[0.05, 0.3, 1.0], [0.05, 0.3, NAN]])  # fmt: skip


def test_valid_stock_only_dataset_and_tensors(tmp_path):
    ds = _stock_ds(*GOOD)
    assert validate_dataset(ds, ("observations",)) == []
    back = load_dataset(save_dataset(ds, tmp_path / "s.nc"), require=("observations",))
    stock, top, bottom = stocks_from_dataset(back)
    assert stock.shape == (2, 3) and float(stock[0, 1]) == 7600.0
    assert np.isnan(float(stock[1, 2])) and np.isnan(float(top[1, 2]))
    soc, depth = observations_from_dataset(back)  # no layers: all-NaN placeholder
    assert soc.shape == (2, 1) and bool(soc.isnan().all())


def _fault(stock=None, top=None, bottom=None, units=None):
    s, t, b = (np.array(x, dtype=float) for x in GOOD)
    for arr, new in ((s, stock), (t, top), (b, bottom)):
        if new is not None:
            arr[new[0]] = new[1]
    ds = _stock_ds(s, t, b)
    if units:
        ds["stock_obs"].attrs["units"] = units
    return "\n".join(validate_dataset(ds, ("observations",)))


@pytest.mark.parametrize(
    "kw,expect",
    [
        ({"stock": ((1, 0), -5.0)}, "stock_obs: values outside [0,"),
        ({"top": ((0, 1), 0.3)}, "stock_top/stock_bottom: interval with top >= bottom"),
        ({"stock": ((0, 1), 20000.0)}, "stock_obs: a stock exceeds the stock of an interval"),
        ({"units": "kg m-2"}, "stock_obs: units 'kg m-2' not accepted; expected 'g m-2'"),
        ({"bottom": ((0, 2), 9.0)}, "stock_bottom: values outside [0, 8.6] m"),
        ({"stock": ((0, 0), 1500.0 * 1000)}, "stock_obs: implausible stock"),
        ({"stock": ((1, slice(None)), NAN)}, "stock_obs: no valid observation"),
    ],
)
def test_planted_faults_are_caught_naming_variable_and_site(kw, expect):
    text = _fault(**kw)
    assert expect in text, text
    assert "units" in kw or "site(s): p" in text  # units are per variable, the rest per site


def test_layers_optional_when_stocks_exist_but_a_site_needs_one_kind():
    lay = make_synthetic(4, seed=1, simulate=True)
    n = lay.sizes["site"]
    s = np.full((n, 3), NAN)
    s[0] = GOOD[0][0]
    ds = add_stocks(lay.copy(), s, np.where(np.isfinite(s), 0.0, NAN),
                    np.where(np.isfinite(s), [0.05, 0.3, 1.0], NAN))  # fmt: skip
    assert validate_dataset(ds, ("observations",)) == []
    soc = ds["soc"].values.copy()
    soc[:2] = NAN  # site 0 keeps its stocks, site 1 has nothing left
    ds["soc"].values[:] = soc
    text = "\n".join(validate_dataset(ds, ("observations",)))
    assert "no valid observation" in text and str(ds.site.values[1]) in text
    assert str(ds.site.values[0]) not in text


def _csv(tmp_path, text):
    p = tmp_path / "stocks.csv"
    p.write_text(text)
    return p


def test_read_stock_table_units_and_arrays(tmp_path):
    p = _csv(tmp_path, "site_id,lat,lon,top_cm,bottom_cm,stock_kg_m2,region\n"
                       "a,44.2,-72.5,0,100,17.2,NE\na,44.2,-72.5,0,30,9.8,NE\n"
                       "b,40,-100,30,100,3.0,\n")  # fmt: skip
    t = read_stock_table(p)
    sites, stock, top, bottom = stock_arrays(t)
    assert list(sites.index) == ["a", "b"] and sites.region.tolist() == ["NE", ""]
    np.testing.assert_allclose(stock[0], [9800.0, 17200.0])  # sorted by interval, g m-2
    np.testing.assert_allclose(bottom[0], [0.3, 1.0])
    np.testing.assert_allclose([top[1, 0], bottom[1, 0], stock[1, 0]], [0.3, 1.0, 3000.0])
    assert np.isnan(stock[1, 1])
    p2 = _csv(tmp_path, "site_id,lat,lon,top_m,bottom_m,stock_Mg_ha\nx,40,-100,0,0.3,50\n")
    assert float(read_stock_table(p2).stock_g_m2.iloc[0]) == pytest.approx(5000.0)


@pytest.mark.parametrize(
    "body,expect",
    [
        ("top_cm,bottom_cm,stock_lbs_acre\na,40,-100,0,30,1\n", "one stock column named with its units"),
        ("top_cm,bottom_cm,stock_kg_m2\na,40,-100,0,30,-1\n", "stock_kg_m2: negative stock at line(s) 2 (site a)"),
        ("top_cm,bottom_cm,stock_kg_m2\na,40,-100,30,30,1\n", "top_cm >= bottom_cm"),
        ("top_cm,bottom_cm,stock_kg_m2\na,40,-100,0,900,1\n", "below the 8.6 m soil column"),
        ("top_cm,bottom_cm,stock_kg_m2\na,40,-100,0,30,9\na,40,-100,0,100,5\n", "exceeds the stock"),
        ("top_cm,bottom_cm,stock_kg_m2\na,40,-100,0,30,x\n", "stock_kg_m2: missing or non-numeric"),
        ("top,bottom,stock_kg_m2\na,40,-100,0,30,1\n", "need depth columns"),
    ],
)  # fmt: skip
def test_stock_table_faults_one_line_naming_file(tmp_path, body, expect):
    p = _csv(tmp_path, "site_id,lat,lon," + body)
    with pytest.raises(StockTableError) as err:
        read_stock_table(p)
    msg = str(err.value)
    assert expect in msg and str(p) in msg and "\n" not in msg


def test_merge_layers_and_stocks_validates():
    lay = make_synthetic(3, seed=2, simulate=True)
    st = make_synthetic(2, seed=4, simulate=False)
    st = st.drop_vars([v for v in ("soc", "obs_depth", "obs_top", "obs_bottom", "soc_true")
                       if v in st]).assign_coords(site=["s0", "s1"])  # fmt: skip
    st = add_stocks(st, np.array(GOOD[0]), np.array(GOOD[1]), np.array(GOOD[2]))
    ds = merge_observation_datasets(lay, st)
    assert ds.sizes["site"] == 5
    assert validate_dataset(ds, ("forcing", "observations", "covariates")) == []
    assert bool(np.isnan(ds["stock_obs"].values[:3]).all())
    assert bool(np.isnan(ds["soc"].values[3:]).all())


def test_raca_region_from_site_ids():
    assert list(raca_region(["C0401C01", "A1816F02", "", "sodah_x"])) == ["MO04", "MO18", "", ""]


@pytest.mark.skipif(not (SHARED / "profiles/raca_pedon_stocks.csv").exists(),
                    reason="shared data (../shared/data) not present")  # fmt: skip
def test_raca_stock_file_units_and_consistency():
    t = raca_stock_table(SHARED / "profiles/raca_pedon_stocks.csv")
    assert 4200 < t.site.nunique() <= 4304
    # Mg C ha-1 -> g m-2: factor 100 (first pedon's 0-30 cm stock is 76.02 Mg ha-1)
    first = t[(t.site == "raca_stock_A0108P92-1") & (t.bottom_m == 0.3)]
    assert float(first.stock_g_m2.iloc[0]) == pytest.approx(7602.207, rel=1e-6)
    assert (raca_region(t.raca_site) == t.region).all()
    sites, stock, top, bottom = stock_arrays(t)
    ds = add_stocks(base_coords(sites.index, sites.lat, sites.lon), stock, top, bottom)
    assert validate_dataset(ds, ("observations",)) == []


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "profiles/raca_pedon_stocks.csv").exists(),
                    reason="shared data (../shared/data) not present")  # fmt: skip
def test_prepare_real_adds_raca_stocks_without_duplicating_layered_sites(tmp_path):
    from soilbinn.inputs.dataset import build_real_dataset
    from soilbinn.inputs.stocks import raca_layer_sites

    user = tmp_path / "mine.csv"
    user.write_text("site_id,lat,lon,top_cm,bottom_cm,stock_kg_m2,region\n"
                    "mine1,44.2,-72.5,0,30,9.8,VT\nmine1,44.2,-72.5,0,100,17.2,VT\n")  # fmt: skip
    ds, rep = build_real_dataset(SHARED, max_profiles=300, seed=1,
                                 stock_tables=[read_stock_table(user)])  # fmt: skip
    assert validate_dataset(ds, ("forcing", "observations", "covariates")) == []
    src = ds["source"].values.astype(str)
    stock_site = np.isfinite(ds["stock_obs"].values).any(1)
    layer_site = np.isfinite(ds["soc"].values).any(1)
    assert (stock_site | layer_site).all() and stock_site.sum() >= 250
    assert set(src[stock_site]) == {"raca_stock", "user"}
    # no stock pedon sits at a RaCA site that has layered pedons in the dataset
    layered = set(raca_layer_sites(SHARED, ds["profile_ids"].values[src == "raca"])) - {""}
    assert rep["stocks"]["raca_stock_pedons_dropped_as_layered_sites"] >= 1
    stock_ids = [s.replace("raca_stock_", "") for s in ds.site.values[src == "raca_stock"]]
    assert not {s[:8] for s in stock_ids} & layered
    # regions: RaCA MO codes on stock pedons and RaCA layers, the user's own label
    reg = ds["region"].values.astype(str)
    assert all(r.startswith("MO") for r in reg[(src == "raca") | (src == "raca_stock")])
    assert reg[ds.site.values == "mine1"][0] == "VT"
    mine = ds["stock_obs"].sel(site="mine1").values
    np.testing.assert_allclose(mine[np.isfinite(mine)], [9800.0, 17200.0])
