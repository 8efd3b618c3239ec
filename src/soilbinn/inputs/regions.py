"""Regions: the CONUS box used by the real data, named regions and lon/lat boxes for
``prepare grid --region``, and a coarse hand-digitised CONUS land mask for synthetic data.

Every box in this module is ordered ``(lon_min, lat_min, lon_max, lat_max)`` (degrees),
the order of ``--region lon0,lat0,lon1,lat1``.

The synthetic-data outline is a hand-digitised lon/lat polygon (~95 vertices, accuracy ~0.3-0.5 deg)
following the Pacific, Gulf and Atlantic coasts, the Rio Grande and the Mexican border,
the 49th parallel and the Great Lakes / St Lawrence border. The five Great Lakes are
excluded as separate polygons. It is meant for placing synthetic sites and grid cells on
land, not for cartography (use Natural Earth shapefiles for maps).
"""

from __future__ import annotations

import numpy as np
from matplotlib.path import Path


class RegionError(ValueError):
    """A region is neither a known name nor a valid lon/lat box."""


def parse_region(text: str) -> tuple[str, tuple[float, float, float, float]]:
    """``(name, (lon_min, lat_min, lon_max, lat_max))`` of ``conus``, ``global`` or
    ``lon0,lat0,lon1,lat1`` (degrees, lon in [-180, 180], lat in [-90, 90])."""
    key = str(text).strip().lower()
    if key in REGIONS:
        return key, REGIONS[key]
    try:
        box = tuple(float(v) for v in key.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise RegionError(f"region {text!r}: use {' or '.join(REGIONS)} or lon0,lat0,lon1,lat1")
    lo0, la0, lo1, la1 = box
    if not (-180 <= lo0 < lo1 <= 180 and -90 <= la0 < la1 <= 90):
        raise RegionError(f"region {text!r}: need -180 <= lon0 < lon1 <= 180 and "
                          "-90 <= lat0 < lat1 <= 90")  # fmt: skip
    return "box", box


def in_box(lat, lon, box: tuple[float, float, float, float]) -> np.ndarray:
    """Points inside ``box`` = (lon_min, lat_min, lon_max, lat_max): bool (n,)."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    lo0, la0, lo1, la1 = box
    return (lat >= la0) & (lat <= la1) & (lon >= lo0) & (lon <= lo1)


def in_conus(lat, lon) -> np.ndarray:
    """Points inside :data:`CONUS_BBOX`: bool (n,)."""
    return in_box(lat, lon, CONUS_BBOX)


#: (lon, lat) vertices of the CONUS outline, clockwise from Cape Flattery
CONUS_OUTLINE: tuple[tuple[float, float], ...] = (
    (-124.7, 48.4), (-123.0, 48.1), (-122.7, 49.0), (-95.2, 49.0), (-95.2, 49.4),
    (-94.8, 48.8), (-93.0, 48.6), (-91.0, 48.2), (-89.5, 48.0), (-84.4, 46.5),
    (-83.6, 46.1), (-82.4, 43.0), (-83.1, 42.3), (-82.8, 41.9), (-78.9, 42.9),
    (-79.1, 43.3), (-76.8, 43.6), (-76.3, 44.2), (-74.7, 45.0), (-71.5, 45.0),
    (-70.8, 45.4), (-70.0, 46.7), (-69.2, 47.45), (-68.3, 47.35), (-67.8, 47.1),
    (-67.8, 45.7), (-67.0, 44.9), (-68.5, 44.3), (-70.2, 43.6), (-70.6, 42.65),
    (-71.0, 42.3), (-70.0, 41.8), (-70.5, 41.5), (-71.9, 41.3), (-74.0, 40.6),
    (-74.0, 40.0), (-74.9, 38.9), (-75.1, 38.3), (-75.9, 37.1), (-76.0, 36.9),
    (-75.5, 35.2), (-76.5, 34.7), (-77.9, 33.9), (-79.2, 33.2), (-80.8, 32.1),
    (-81.4, 30.7), (-81.2, 29.5), (-80.6, 28.4), (-80.0, 26.7), (-80.4, 25.2),
    (-81.1, 25.1), (-81.8, 26.1), (-82.7, 27.6), (-82.7, 28.9), (-83.7, 29.9),
    (-84.4, 30.0), (-85.4, 29.7), (-86.5, 30.4), (-88.0, 30.4), (-89.6, 30.2),
    (-89.4, 29.0), (-90.5, 29.1), (-92.3, 29.5), (-94.0, 29.6), (-95.1, 29.1),
    (-96.6, 28.1), (-97.4, 27.1), (-97.2, 25.9), (-99.1, 26.4), (-100.3, 27.9),
    (-101.4, 29.8), (-102.4, 29.8), (-103.1, 29.0), (-104.5, 29.6), (-105.0, 30.7),
    (-106.5, 31.8), (-108.2, 31.8), (-108.2, 31.33), (-111.1, 31.33), (-114.8, 32.5),
    (-114.7, 32.7), (-117.1, 32.5), (-118.4, 33.8), (-118.5, 34.0), (-120.6, 34.6),
    (-121.9, 36.3), (-122.5, 37.5), (-123.0, 38.0), (-123.7, 39.0), (-124.4, 40.4),
    (-124.1, 41.8), (-124.5, 42.8), (-124.0, 44.5), (-124.1, 46.0), (-124.1, 47.0),
)  # fmt: skip

#: coarse polygons of the Great Lakes (water, excluded from land)
GREAT_LAKES: dict[str, tuple[tuple[float, float], ...]] = {
    "superior": ((-92.0, 46.75), (-89.0, 46.8), (-87.0, 46.5), (-85.0, 46.8), (-84.6, 46.5),
                 (-84.6, 47.5), (-86.0, 48.0), (-88.5, 48.5), (-89.6, 48.2), (-91.5, 47.3)),
    "michigan": ((-87.9, 41.7), (-86.9, 41.65), (-86.3, 42.4), (-86.5, 43.6), (-86.2, 44.6),
                 (-85.0, 45.8), (-86.0, 45.95), (-87.6, 45.1), (-87.6, 44.1), (-87.8, 43.0)),
    "huron": ((-84.7, 45.9), (-83.5, 45.3), (-83.3, 44.3), (-83.9, 43.9), (-83.3, 43.9),
              (-82.6, 43.2), (-81.7, 43.3), (-81.5, 45.0), (-82.5, 45.9)),
    "erie": ((-83.4, 41.7), (-82.5, 41.4), (-81.6, 41.5), (-80.5, 42.0), (-79.0, 42.5),
             (-78.9, 42.9), (-80.0, 42.7), (-81.5, 42.6), (-83.1, 42.0)),
    "ontario": ((-79.8, 43.2), (-78.0, 43.35), (-76.7, 43.3), (-76.2, 43.5), (-76.3, 44.2),
                (-77.0, 44.0), (-79.0, 43.9), (-79.8, 43.6)),
}  # fmt: skip

#: envelope (lon_min, lat_min, lon_max, lat_max) in which synthetic sites are drawn
#: before the outline test (a little larger than the outline)
OUTLINE_ENVELOPE = (-124.8, 24.9, -66.9, 49.5)
#: the conterminous US box of the real data (lon_min, lat_min, lon_max, lat_max): profiles
#: and prediction sites outside it are outside the training domain
CONUS_BBOX = (-125.0, 24.3, -66.8, 49.5)
#: named regions of ``prepare grid --region``
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "conus": CONUS_BBOX,
    "global": (-180.0, -90.0, 180.0, 90.0),
}

_OUTLINE = Path(np.asarray(CONUS_OUTLINE))
_LAKES = [Path(np.asarray(v)) for v in GREAT_LAKES.values()]


def is_conus_land(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Boolean mask (n,) of points inside the CONUS outline and outside the Great Lakes."""
    pts = np.column_stack([np.asarray(lon, dtype=np.float64).ravel(),
                           np.asarray(lat, dtype=np.float64).ravel()])  # fmt: skip
    inside = _OUTLINE.contains_points(pts)
    for lake in _LAKES:
        inside &= ~lake.contains_points(pts)
    return inside.reshape(np.shape(lat))
