"""The CLM5-form water scalar, the Cosby pedotransfer and the monthly water balance."""

import math
from pathlib import Path

import numpy as np
import pytest

from soilbinn.inputs import forcing as fx
from soilbinn.inputs import water as wt

M = np.arange(1, 13)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ---------------------------------------------------------------- scalar from potential
def test_scalar_hand_values():
    psi_sat = -0.003  # MPa
    w = wt.water_scalar_from_potential(np.array([0.0, psi_sat, -1.5, -10.0, -12.0]), psi_sat)
    # saturated (and wetter) gives 1; psi_min and below give the floor
    assert w[0] == 1.0 and w[1] == pytest.approx(1.0)
    # log(10 / 1.5) / log(10 / 0.003) = 1.897120 / 8.111728 = 0.233874
    assert w[2] == pytest.approx(math.log(10 / 1.5) / math.log(10 / 0.003), rel=1e-12)
    assert w[2] == pytest.approx(0.233874, abs=1e-6)
    assert w[3] == wt.W_FLOOR and w[4] == wt.W_FLOOR
    # CLM5's own floor is 0
    assert wt.water_scalar_from_potential(-12.0, psi_sat, w_floor=0.0) == 0.0
    with pytest.raises(ValueError, match="w_floor"):
        wt.water_scalar_from_potential(-1.0, psi_sat, w_floor=1.0)


def test_scalar_monotone_in_potential():
    psi = -np.logspace(-3, 1.2, 200)
    w = wt.water_scalar_from_potential(psi, -0.002)
    assert np.all(np.diff(w) <= 0) and w[0] == 1.0 and w[-1] == wt.W_FLOOR


# ---------------------------------------------------------------- pedotransfer
def test_pedotransfer_cosby_clm_values():
    # Cosby et al. (1984) Table 5 as in CLM5 SoilStateInitTimeConst, by hand:
    # loam (sand 40, clay 20): theta_sat 0.489 - 0.0504 = 0.4386; b = 2.91 + 3.18 = 6.09;
    #   sucsat = 10 * 10^(1.88 - 0.524) = 226.99 mm -> psi_sat = -2.2245e-3 MPa;
    #   k_sat = 0.0070556 * 10^(-0.884 + 0.612) = 3.7717e-3 mm s-1
    # sand (92, 3): 0.37308, 3.387, 47.293 mm; clay (20, 60): 0.4638, 12.45, 414.95 mm
    h = wt.pedotransfer([20.0, 3.0, 60.0], [40.0, 92.0, 20.0])
    np.testing.assert_allclose(h.theta_sat, [0.4386, 0.37308, 0.4638], rtol=1e-12)
    np.testing.assert_allclose(h.b, [6.09, 3.387, 12.45], rtol=1e-12)
    np.testing.assert_allclose(-h.psi_sat / 9.8e-6, [226.986, 47.2933, 414.954], rtol=1e-5)
    assert h.k_sat[0] == pytest.approx(3.7717e-3, rel=1e-4)
    # the retention curve passes through saturation and is drier at lower potential
    np.testing.assert_allclose(h.theta_at(h.psi_sat), h.theta_sat)
    assert np.all(h.theta_at(-1.5) < h.theta_at(-0.033))
    # clay holds more water at wilting point than sand
    th = h.theta_at(-1.5)
    assert th[2] > th[0] > th[1]


def test_pedotransfer_rejects_bad_texture():
    with pytest.raises(ValueError, match="finite"):
        wt.pedotransfer([np.nan], [40.0])
    with pytest.raises(ValueError, match="percentages"):
        wt.pedotransfer([120.0], [40.0])


def test_potential_and_frozen_cap():
    # theta = theta_sat / 2, b = 5, psi_sat = -0.002 -> psi = -0.002 * 2^5 = -0.064 MPa
    assert wt.soil_water_potential(0.2, 0.4, 5.0, -0.002) == pytest.approx(-0.064)
    # clamped at -15 MPa as in CLM5
    assert wt.soil_water_potential(1e-6, 0.4, 12.0, -0.004) == -15.0
    # frozen: liquid water potential 1e-3 * 3.337e5 * (-1) / 272.15 = -1.22616 MPa at -1 C
    assert wt.freezing_potential(272.15) == pytest.approx(-1.226162, rel=1e-6)
    assert wt.soil_water_potential(0.4, 0.4, 5.0, -0.002, 272.15) == pytest.approx(-1.226162)
    assert wt.soil_water_potential(0.4, 0.4, 5.0, -0.002, 280.0) == pytest.approx(-0.002)


def test_fill_texture_counts_loam():
    c, s, filled = wt.fill_texture([10.0, np.nan], [50.0, 30.0])
    assert filled.tolist() == [False, True]
    assert c.tolist() == [10.0, wt.LOAM_CLAY] and s.tolist() == [50.0, wt.LOAM_SAND]


def test_root_fractions_sum_to_one_above_bedrock():
    r = wt.root_fractions(np.array([20, 5, 1]))
    np.testing.assert_allclose(r.sum(axis=1), 1.0)
    assert np.all(r[1, 5:] == 0) and r[2, 0] == 1.0
    # Jackson: 1 - 0.966^2 of the roots in the top 2 cm
    assert r[0, 0] == pytest.approx((1 - 0.966**2) / (1 - 0.966**860), rel=1e-9)


# ---------------------------------------------------------------- water balance
def _climates():
    """Mediterranean (wet winter, rainless summer), humid continental, semi-arid hot."""
    t = np.stack([
        15 + 8 * np.cos(2 * np.pi * (M - 7.5) / 12),
        8 + 14 * np.cos(2 * np.pi * (M - 7.2) / 12),
        19 + 9 * np.cos(2 * np.pi * (M - 7.3) / 12),
    ])  # fmt: skip
    p = np.array([
        [110, 90, 70, 40, 15, 0, 0, 0, 0, 80, 100, 120],
        [60, 55, 70, 85, 100, 95, 90, 85, 80, 75, 70, 65],
        [15, 18, 15, 25, 55, 65, 50, 55, 65, 45, 18, 15],
    ], dtype=float)  # fmt: skip
    lat = np.array([38.0, 42.0, 31.0])
    pet = fx.thornthwaite_pet(t, lat)
    return p, pet, t, fx.soil_temperature(t)


@pytest.fixture(scope="module")
def balance():
    p, pet, t, ts = _climates()
    wb = wt.soil_water_balance(p, pet, t, ts, [25.0, 20.0, 20.0], [35.0, 40.0, 60.0],
                               [20, 20, 20])  # fmt: skip
    return p, wb


def test_balance_periodic_and_mass_conserving(balance):
    p, wb = balance
    assert wb.converged.all()
    f = wb.fluxes
    total = f["et"].sum(1) + f["drainage"].sum(1) + f["runoff"].sum(1) + f["storage_change"]
    np.testing.assert_allclose(f["precipitation"].sum(1), p.sum(1))
    np.testing.assert_allclose(total, p.sum(1), atol=1e-6 * p.sum(1).max())
    assert np.all(np.abs(f["storage_change"]) < 1.0)  # mm, periodic steady state
    assert wb.w.shape == (3, 20, 12) and np.all((wb.w >= wt.W_FLOOR) & (wb.w <= 1.0))


def test_wet_month_rewets_top_and_deep_stays_moister(balance):
    _, wb = balance
    med = wb.w[0]
    # September has no rain, October 80 mm: the top layer re-wets
    assert med[0, 9] > med[0, 8] + 0.2
    # dry season (July-September): deep layers no drier than the surface
    top = med[:3, 6:9].mean(axis=0)
    deep = med[8:12, 6:9].mean(axis=0)
    assert np.all(deep >= top)
    # a soil at the transpiration limit (-2.5 MPa) still has w about 0.17, not the floor
    assert wb.w[2].min() > 0.1


def test_balance_et_limited_by_pet_and_humid_site_drains(balance):
    p, wb = balance
    _, pet, _, _ = _climates()
    assert np.all(wb.fluxes["et"] <= pet + 1e-9)
    # humid site drains, semi-arid hot site does not
    assert wb.fluxes["drainage"][1].sum() > 100.0
    assert wb.fluxes["drainage"][2].sum() < 0.05 * p[2].sum()


def test_balance_bedrock_and_frozen():
    p, pet, t, ts = _climates()
    wb = wt.soil_water_balance(p, pet, t, ts, [25.0] * 3, [35.0] * 3, [4, 4, 4])
    # below bedrock: the deepest soil layer's values
    np.testing.assert_array_equal(wb.w[:, 4:], np.repeat(wb.w[:, 3:4], 16, axis=1))
    cold = np.full_like(ts, 273.15 - 12.0)
    wbc = wt.soil_water_balance(p, pet, t, cold, [25.0] * 3, [35.0] * 3, [20] * 3)
    assert np.all(wbc.w == wt.W_FLOOR)  # liquid water below -10 MPa when frozen at -12 C


def test_balance_rejects_bad_input():
    p, pet, t, ts = _climates()
    p[0, 0] = np.nan
    with pytest.raises(ValueError, match="precipitation"):
        wt.soil_water_balance(p, pet, t, ts, [25.0] * 3, [35.0] * 3)


# ---------------------------------------------------------------- shared data
@pytest.mark.shared_data
@pytest.mark.slow
def test_no_rainy_conus_month_at_the_floor():
    """No month with > 40 mm of rain in a CONUS 0.5 deg cell has its whole profile at the floor."""
    if not (SHARED / "grids" / "hwsd" / "T_CLAY.nc4").exists():
        pytest.skip(f"shared data not found at {SHARED}")
    from soilbinn.inputs.dataset import conus_land_mask
    from soilbinn.inputs.regions import CONUS_BBOX
    from soilbinn.inputs.sampling import forcing_arrays, sample_inputs

    lo0, la0, lo1, la1 = CONUS_BBOX
    lat, lon = np.meshgrid(np.arange(la0 + 0.25, la1, 0.5), np.arange(lo0 + 0.25, lo1, 0.5))
    lat, lon = lat.ravel(), lon.ravel()
    keep = conus_land_mask(SHARED, lat, lon)
    inp = sample_inputs(SHARED, lat[keep], lon[keep])
    inp = inp.select(inp.ok)
    assert len(inp) > 3000
    f = forcing_arrays(inp)
    profile = f["water_scalar"].mean(axis=1)  # (n, 12)
    rain = np.where(inp["temp"] >= 0.0, inp["prec"], 0.0)
    assert ((rain > 40.0) & (profile <= wt.W_FLOOR + 1e-9)).sum() == 0
    assert profile[rain > 40.0].min() > 0.1


def test_forcing_arrays_uses_the_layered_scalar_and_fills_loam():
    from soilbinn.inputs.sampling import GriddedInputs, forcing_arrays

    p, _, t, _ = _climates()
    n = len(p)
    vals = {
        "temp": t, "prec": p, "npp": np.full((n, 12), 1e-5), "totvegc": np.full((n, 12), 300.0),
        "altmax": np.full((n, 12), 41.998), "altmax_lastyear": np.full((n, 12), 41.998),
        "nbedrock": np.full((n, 12), 20.0), "o_scalar": np.ones((n, 12, 20)),
        "clay": np.array([25.0, np.nan, 20.0]), "sand": np.array([35.0, 40.0, 60.0]),
    }  # fmt: skip
    lat = np.array([38.0, 42.0, 31.0])
    inp = GriddedInputs(lat, -np.full(n, 100.0), np.ones(n, bool), np.zeros(n), np.zeros(n), vals)
    f = forcing_arrays(inp)
    assert f["texture_filled"].tolist() == [False, True, False]
    assert f["clay"][1] == wt.LOAM_CLAY and f["sand"][1] == wt.LOAM_SAND
    assert f["water_scalar"].shape == (n, 20, 12)
    # depth-resolved: not the same in every layer
    assert np.ptp(f["water_scalar"], axis=1).max() > 0.1
    psi = f["soil_water_potential"]
    assert np.all((psi <= 0.0) & (psi >= wt.PSI_CLAMP))

    # the earlier single bucket, kept for before/after comparisons: one value for all layers
    vals["whc"] = np.full((n, 2), 150.0)
    b = forcing_arrays(inp, water="bucket")["water_scalar"]
    assert b.shape == (n, 20, 12) and np.ptp(b, axis=1).max() == 0.0
    assert not np.allclose(b, f["water_scalar"])
    with pytest.raises(ValueError, match="water scalar 'wet'"):
        forcing_arrays(inp, water="wet")
