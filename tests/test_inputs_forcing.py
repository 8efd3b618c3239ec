"""Unit tests of the real-data forcing builder against hand-computed values (no shared data)."""

import numpy as np
import pytest

from soilbinn.inputs import forcing as fx
from soilbinn.inputs.covariates import KOPPEN_CLASSES, koppen_group, land_use_codes

M = np.arange(1, 13)


def test_damping_depth_hand_value():
    # sqrt(5e-7 * 31_536_000 / pi) = sqrt(5.01908...) = 2.24033 m
    assert fx.damping_depth(5e-7) == pytest.approx(2.240330, rel=1e-5)


def test_annual_harmonic_recovers_cosine():
    t = 10.0 + 5.0 * np.cos(2 * np.pi * (M - 7) / 12)
    mean, amp, m_max = fx.annual_harmonic(t[None, :])
    assert mean[0] == pytest.approx(10.0)
    assert amp[0] == pytest.approx(5.0)
    assert m_max[0] == pytest.approx(7.0)


def test_soil_temperature_damped_wave_hand_values():
    t = 10.0 + 5.0 * np.cos(2 * np.pi * (M - 7) / 12)
    d = fx.damping_depth()
    ts = fx.soil_temperature(t[None, :], depths=np.array([0.0, d, 50.0]))
    assert ts.shape == (1, 3, 12)
    # surface: the air temperature cycle itself, in K
    np.testing.assert_allclose(ts[0, 0], 273.15 + t, atol=1e-9)
    # at z = d, July: 10 + 5 e^-1 cos(-1) = 10.993831 C
    assert ts[0, 1, 6] == pytest.approx(273.15 + 10.0 + 5 * np.exp(-1) * np.cos(-1.0), abs=1e-9)
    assert ts[0, 1, 6] == pytest.approx(284.143831, abs=1e-6)
    # deep: the annual mean
    np.testing.assert_allclose(ts[0, 2], 283.15, atol=1e-6)


def test_thornthwaite_equator_constant_10C():
    # I = 12 * 2^1.514 = 34.2721, a = 1.043158, PET(30 d, 12 h) = 16 (100/I)^a = 48.8934 mm
    pet = fx.thornthwaite_pet(np.full((1, 12), 10.0), np.array([0.0]))
    np.testing.assert_allclose(pet[0], 48.89343 * fx.DAYS_IN_MONTH / 30.0, rtol=1e-5)
    assert fx.thornthwaite_pet(np.full((1, 12), -3.0), np.array([45.0])).sum() == 0.0


def test_day_length_poles_and_equator():
    dl = fx.day_length_hours(np.array([0.0, 80.0, -80.0]))
    np.testing.assert_allclose(dl[0], 12.0, atol=1e-9)
    assert dl[1, 5] == pytest.approx(24.0) and dl[1, 11] == pytest.approx(0.0)
    assert dl[2, 5] == pytest.approx(0.0)


def test_bucket_hand_cycle():
    p = np.array([[100.0] * 6 + [0.0] * 6])
    pet = np.array([[0.0] * 6 + [30.0] * 6])
    rel = fx.bucket_relative_water(p, pet, np.full((1, 12), 10.0), np.array([100.0]))
    want = [0.5, 1, 1, 1, 1, 1, 0.85, 0.55, 0.25, 0.05, 0.0, 0.0]
    np.testing.assert_allclose(rel[0], want, atol=1e-12)


def test_bucket_snow_stored_then_melted():
    t = np.array([[-5.0] * 3 + [5.0] * 9])
    p = np.full((1, 12), 30.0)
    pet = np.zeros((1, 12))
    pet[0, 11] = 1000.0  # empties the bucket every December
    rel = fx.bucket_relative_water(p, pet, t, np.array([1000.0]))
    np.testing.assert_allclose(rel[0, :3], 0.0, atol=1e-12)  # snow, not soil water
    assert rel[0, 3] == pytest.approx((0 + 120) / 2 / 1000)  # 30 rain + 90 melt
    assert rel[0, 4] == pytest.approx((120 + 150) / 2 / 1000)


def test_bucket_rejects_zero_capacity():
    with pytest.raises(ValueError, match="capacity"):
        fx.bucket_relative_water(
            np.ones((1, 12)), np.ones((1, 12)), np.ones((1, 12)), np.array([0.0])
        )


def test_water_scalar_mapping_and_shape():
    w = fx.water_scalar(np.array([[0.0, 0.5, 1.0, 2.0] + [1.0] * 8]))
    assert w.shape == (1, 20, 12)
    np.testing.assert_allclose(w[0, 0, :4], [0.05, 0.525, 1.0, 1.0])
    np.testing.assert_allclose(w[0, 19], w[0, 0])


def test_bucket_capacity_hand_value():
    assert fx.bucket_capacity(np.array([[100.0, 200.0]]))[0] == pytest.approx(0.3 * 100 + 0.7 * 200)


def test_litter_inputs_units_and_partition():
    npp = np.full((2, 12), 1e-6)  # gC m-2 s-1
    npp[0, 0] = -1e-6  # negative NPP is clipped
    out = fx.litter_inputs(npp, np.array([100.0, 20000.0]))
    jan = 1e-6 * 31 * 86400  # 2.6784 g m-2 month-1
    # non-woody site: no CWD; 0.25/0.5/0.25 split
    assert out["input_cwd"][0].sum() == 0.0
    assert out["input_litter1"][0, 0] == 0.0
    assert out["input_litter2"][0, 1] == pytest.approx(0.5 * 1e-6 * 28 * 86400)
    # forest: CWD share = CLM5 tree wood allocation 2.99 / 5.49
    assert fx.WOOD_ALLOCATION == pytest.approx(0.544627, abs=1e-6)
    total = sum(out[k][1] for k in out)
    np.testing.assert_allclose(total.sum(), 1e-6 * 365 * 86400)
    assert out["input_cwd"][1, 0] == pytest.approx(jan * 0.544627, rel=1e-6)
    assert out["input_litter1"][1, 0] == pytest.approx(jan * (1 - 0.544627) * 0.25, rel=1e-6)


def test_woody_fraction_ramp():
    np.testing.assert_allclose(fx.woody_fraction(np.array([0.0, 500.0, 4250.0, 8000.0, 9e4])),
                               [0, 0, 0.5, 1, 1])  # fmt: skip


def test_nitrogen_oxygen_bedrock_alt():
    n = fx.nitrogen_scalar(3)
    assert n.shape == (3, 20, 12) and np.all(n == 0.7)
    with pytest.raises(ValueError):
        fx.nitrogen_scalar(1, 1.5)
    o = np.zeros((1, 12, 20))
    o[0, 3, 7] = 1.2
    oo = fx.oxygen_scalar(o)
    assert oo.shape == (1, 20, 12) and oo[0, 7, 3] == 1.0
    nb = fx.bedrock_index(np.array([[5.6] * 12, [0.0] * 12, [25.0] * 12]))
    assert nb.tolist() == [6, 1, 20] and nb.dtype == np.int64
    np.testing.assert_allclose(fx.active_layer(np.array([[-1.0, 50.0]])), [[0.0, 41.9984368640029]])


def test_koppen_groups():
    lat = np.array([40.0, 0.0, 70.0, 45.0, 35.0])
    t = np.stack([
        10 + 13 * np.cos(2 * np.pi * (M - 7) / 12),  # continental-ish, dry -> B
        np.full(12, 26.0),  # tropical
        -10 + 15 * np.cos(2 * np.pi * (M - 7) / 12),  # warmest 5 C -> E
        5 + 15 * np.cos(2 * np.pi * (M - 7) / 12),  # coldest -10 C, wet -> D
        15 + 8 * np.cos(2 * np.pi * (M - 7) / 12),  # coldest 7 C, wet -> C
    ])  # fmt: skip
    p = np.stack([np.full(12, 20.0), np.full(12, 200.0), np.full(12, 30.0),
                  np.full(12, 80.0), np.full(12, 100.0)])  # fmt: skip
    got = [KOPPEN_CLASSES[c][0] for c in koppen_group(t, p, lat)]
    assert got == ["B", "A", "E", "D", "C"]


def test_land_use_codes():
    codes = land_use_codes(["F", "deciduousForest", "r", "cultivatedCrops", "", None, "mars"])
    assert codes.tolist() == [0, 0, 1, 3, -1, -1, -1]


def test_soil_temperature_per_site_diffusivity_and_offset():
    # per-site kappa and surface offset equal site-by-site calls with scalars
    t = np.stack([10 + 5 * np.cos(2 * np.pi * (M - 7) / 12), -2 + 12 * np.sin(2 * np.pi * M / 12)])
    kappa, off = np.array([3e-7, 8e-7]), np.array([1.0, 2.5])
    both = fx.soil_temperature(t, kappa=kappa, surface_offset=off)
    for i in range(2):
        one = fx.soil_temperature(t[i : i + 1], kappa=kappa[i], surface_offset=off[i])
        np.testing.assert_allclose(both[i], one[0], rtol=0, atol=1e-12)
    # kappa_from_damping_depth inverts damping_depth
    assert fx.damping_depth(fx.kappa_from_damping_depth(2.2)) == pytest.approx(2.2)


def test_litter_partition_conserves_input():
    monthly = np.array([np.linspace(1, 12, 12), np.full(12, 3.0)])
    out = fx.litter_partition(monthly, np.array([0.0, 0.25]))
    np.testing.assert_allclose(sum(out.values()), monthly)
    np.testing.assert_allclose(out["input_cwd"][1], 0.75)
    np.testing.assert_allclose(out["input_litter2"][1], 3.0 * 0.75 * 0.5)


def test_nbedrock_from_depth():
    # CLM5 level bottoms: 0.02, 0.06, 0.12, ... ; 0.1 m lies in level 3 -> 2 levels above it
    assert fx.nbedrock_from_depth(np.array([0.0, 0.1, 100.0])).tolist() == [1, 2, 20]
    assert fx.nbedrock_from_depth(np.array([0.0]), minimum=5).tolist() == [5]
