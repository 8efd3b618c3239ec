"""Stock observations in the schema, the stock-table importer and planted faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    from soilbinn.inputs.stocks import raca_pedon_key

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
    assert set(src[stock_site]) == {"raca", "raca_stock", "user"}
    # stock pedons of layered pedons are on those sites (layers and stocks), not new sites
    both = stock_site & layer_site
    st = rep["stocks"]
    assert both.sum() == st["raca_stock_pedons_attached_to_layered_sites"] >= 1
    assert set(src[both]) == {"raca"}
    pid = ds["stock_pedon_id"].values.astype(str)
    keys = raca_pedon_key([p.replace("raca_stock_", "") for p in pid[both]])
    assert list(keys) == [s.replace("raca_", "") for s in ds.site.values[both]]
    assert len(set(pid[stock_site])) == stock_site.sum()  # each stock pedon once
    own = raca_pedon_key(
        [s.replace("raca_stock_", "") for s in ds.site.values[src == "raca_stock"]]
    )
    layered = {s.replace("raca_", "") for s in ds.site.values[src == "raca"]}
    assert not set(own) & layered
    # regions: RaCA MO codes on stock pedons and RaCA layers, the user's own label
    reg = ds["region"].values.astype(str)
    assert all(r.startswith("MO") for r in reg[(src == "raca") | (src == "raca_stock")])
    assert reg[ds.site.values == "mine1"][0] == "VT"
    mine = ds["stock_obs"].sel(site="mine1").values
    np.testing.assert_allclose(mine[np.isfinite(mine)], [9800.0, 17200.0])


# --- RaCA stock pedons that are layered sites: attached there, the others new sites


def _raca_stock_rows(tmp_path, rows):
    """A ``raca_pedon_stocks.csv`` with ``rows`` = (pedon_id, site_id, lat, lon, MO, 5, 30, 100)."""
    cols = ["pedon_id", "site_id", "lat", "lon", "MO", "SOCstock_0_5cm_MgC_ha",
            "SOCstock_0_30cm_MgC_ha", "SOCstock_0_100cm_MgC_ha"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols).assign(source="RaCA", land_use="F")
    p = tmp_path / "raca_pedon_stocks.csv"
    df.to_csv(p, index=False)
    return p


def _layer_sites(ids, profile_ids, source, lat, lon):
    """An in-memory layer dataset (one 0-10 cm layer per site) with provenance."""
    n = len(ids)
    ds = base_coords(ids, np.asarray(lat, float), np.asarray(lon, float))
    ds["soc"] = (("site", "obs"), np.full((n, 1), 20000.0), {"units": "g m-3"})
    ds["obs_depth"] = (("site", "obs"), np.full((n, 1), 0.05), {"units": "m"})
    ds["source"] = ("site", np.asarray(source, dtype=str))
    ds["profile_ids"] = ("site", np.asarray(profile_ids, dtype=str))
    return ds


def test_stock_pedon_of_a_layered_site_attaches_there_by_hand(tmp_path):
    from soilbinn.inputs.stocks import attach_stocks, layered_site_of_stock_pedons
    from soilbinn.training.config import load_config
    from soilbinn.training.stocks import has_layer_observations, stock_site_weights

    t = raca_stock_table(_raca_stock_rows(tmp_path, [
        ("C0101F01-1", "C0101F01", 47.01, -122.77, 1, 10.0, 50.0, 90.0),  # = layered pedon
        ("C0102P03_1", "C0102P03", 47.2, -122.1, 1, 5.0, 20.0, NAN),  # layered, '_' spelling
        ("C0103X05X", "C0103X05", 46.0, -120.0, 1, 4.0, 30.0, 60.0),  # other pedon, same site
        ("A1801F02-1", "A1801F02", 44.2, -72.5, 18, 12.0, 90.0, 170.0),  # the East
    ]))  # fmt: skip
    assert list(t.pedon_key.unique()) == ["C0101F011", "C0102P031", "C0103X05X", "A1801F021"]
    # pedon mode: one site per layered pedon
    ds = _layer_sites(["raca_C0101F011", "raca_C0102P031", "raca_C0103X051", "sodah_1"],
                      ["RACA_C0101F011", "RACA_C0102P031", "RACA_C0103X051", "S1"],
                      ["raca", "raca", "raca", "sodah"], [47.01, 47.2, 46.0, 40], [-122.77, -122.1, -120, -105])  # fmt: skip
    target, rule = layered_site_of_stock_pedons(ds, t)
    by_pedon = dict(zip(t.site, target))
    assert by_pedon["raca_stock_C0101F01-1"] == "raca_C0101F011"
    assert by_pedon["raca_stock_C0102P03_1"] == "raca_C0102P031"
    assert by_pedon["raca_stock_C0103X05X"] == ""  # another pedon: its own site
    assert by_pedon["raca_stock_A1801F02-1"] == ""
    assert set(rule[target != ""]) == {"same_pedon"}
    on = target != ""
    out = attach_stocks(ds, t[on], target[on])
    assert out.sizes["site"] == ds.sizes["site"]  # no new site
    np.testing.assert_allclose(out["stock_obs"].sel(site="raca_C0101F011").values,
                               [1000.0, 5000.0, 9000.0])  # fmt: skip
    s2 = out["stock_obs"].sel(site="raca_C0102P031").values
    np.testing.assert_allclose(s2[np.isfinite(s2)], [500.0, 2000.0])
    assert np.isnan(out["stock_obs"].sel(site="sodah_1").values).all()
    assert out["stock_pedon_id"].values.tolist() == [
        "raca_stock_C0101F01-1", "raca_stock_C0102P03_1", "", ""]  # fmt: skip
    assert validate_dataset(out, ("observations",)) == []
    # the loss: these sites carry layers, so their stocks weigh stock_weight_with_layers
    soc, _ = observations_from_dataset(out)
    cfg = load_config("real_spatial").loss
    w = stock_site_weights(has_layer_observations(soc), cfg)
    assert w.tolist() == [cfg.stock_weight_with_layers] * 4 == [0.0] * 4
    # --raca site: composites raca_<RaCA site>; the site's other pedon attaches too
    comp = _layer_sites(["raca_C0101F01", "raca_C0103X05"],
                        ["RACA_C0101F011;RACA_C0101F012", "RACA_C0103X051;RACA_C0103X052"],
                        ["raca", "raca"], [47.01, 46.0], [-122.77, -120.0])  # fmt: skip
    target, rule = layered_site_of_stock_pedons(comp, t)
    got = {p: (s, r) for p, s, r in zip(t.site, target, rule)}
    assert got["raca_stock_C0101F01-1"] == ("raca_C0101F01", "same_pedon")
    assert got["raca_stock_C0103X05X"] == ("raca_C0103X05", "composite")
    assert got["raca_stock_C0102P03_1"] == ("", "") and got["raca_stock_A1801F02-1"] == ("", "")


@pytest.mark.skipif(
    not (SHARED / "grids").exists(), reason="shared data (../shared/data) not present"
)
def test_add_raca_stocks_attaches_same_pedon_and_adds_the_others(tmp_path):
    from soilbinn.inputs.dataset import build_point_dataset
    from soilbinn.inputs.stocks import add_raca_stocks

    shared = tmp_path / "shared"
    (shared / "profiles").mkdir(parents=True)
    for d in ("grids", "maps"):
        (shared / d).symlink_to(SHARED / d)
    _raca_stock_rows(shared / "profiles", [
        ("C0101F01-1", "C0101F01", 47.01, -122.77, 1, 10.0, 50.0, 90.0),
        ("A1801F02-1", "A1801F02", 44.2, -72.5, 18, 12.0, 90.0, 170.0),
    ])  # fmt: skip
    pd.DataFrame({"profile_id": ["RACA_C0101F011"], "site_id": ["C0101F01"]}).to_csv(
        shared / "profiles" / "raca_layers_west.csv", index=False
    )
    ds, ok = build_point_dataset([47.01, 40.5], [-122.77, -105.0],
                                 ["raca_C0101F011", "sodah_1"], shared)  # fmt: skip
    assert ok.all()
    lay = _layer_sites(["raca_C0101F011", "sodah_1"], ["RACA_C0101F011", "S1"],
                       ["raca", "sodah"], [47.01, 40.5], [-122.77, -105.0])  # fmt: skip
    for v in ("soc", "obs_depth", "source", "profile_ids"):
        ds[v] = lay[v]
    ds["n_profiles"] = ("site", np.ones(2, np.int32))
    out, rep = add_raca_stocks(ds, shared)
    assert rep["raca_stock_pedons_read"] == 2
    assert rep["raca_stock_pedons_attached_to_layered_sites"] == 1
    assert rep["raca_stock_pedons_as_own_sites"] == 1 and rep["stock_sites"] == 1
    assert out.site.values.tolist() == ["raca_C0101F011", "sodah_1", "raca_stock_A1801F02-1"]
    np.testing.assert_allclose(out["stock_obs"].sel(site="raca_C0101F011").values,
                               [1000.0, 5000.0, 9000.0])  # fmt: skip
    assert out["region"].values.tolist() == ["MO01", "", "MO18"]
    assert out["stock_pedon_id"].values.tolist() == [
        "raca_stock_C0101F01-1", "", "raca_stock_A1801F02-1"]  # fmt: skip
    assert np.isnan(out["soc"].sel(site="raca_stock_A1801F02-1").values).all()
    assert validate_dataset(out, ("forcing", "observations", "covariates")) == []
