"""Regions: names, lon/lat boxes and the CONUS box (no shared data)."""

import numpy as np
import pytest

from soilbinn.inputs.regions import CONUS_BBOX, RegionError, in_conus, parse_region


def test_parse_region_names_and_boxes():
    assert parse_region("CONUS") == ("conus", CONUS_BBOX)
    assert parse_region("global") == ("global", (-180.0, -90.0, 180.0, 90.0))
    assert parse_region("-10,35,30,60") == ("box", (-10.0, 35.0, 30.0, 60.0))
    for bad in ("europe", "1,2,3", "10,0,5,20", "0,50,10,40", "0,0,200,10"):
        with pytest.raises(RegionError, match="region"):
            parse_region(bad)


def test_in_conus_box_order():
    # Key West (24.55 N) is in, Toronto's latitude but Pacific longitude is out
    assert in_conus(np.array([24.55, 45.0, 45.0]), np.array([-81.8, -130.0, -100.0])).tolist() == [
        True, False, True,
    ]  # fmt: skip


def test_land_cells_leave_out_mostly_water_cells():
    from soilbinn.inputs.dataset import LAND_MASK_NOTE, MIN_LAND_FRACTION, land_cells

    water = np.array([0.0, 0.3, 0.5, 0.51, 0.97, 1.0, np.nan])
    assert land_cells(water).tolist() == [True, True, True, False, False, False, False]
    # conus: inside the Natural Earth polygon AND mostly land (the polygon includes lakes)
    inside = np.array([True, False, True, True, True, True, True])
    assert land_cells(water, inside).tolist() == [True, False, True, False, False, False, False]
    assert MIN_LAND_FRACTION == 0.5 and "not soil" in LAND_MASK_NOTE
