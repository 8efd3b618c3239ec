"""Region labels of sites, for leave-region-out evaluation (whole regions held out).

:func:`site_regions` labels every site of a dataset:

1. a ``region(site)`` string variable of the dataset where it is non-empty;
2. else the RaCA Major Land Resource (MO) region, read from RaCA site ids
   (``raca_C0101F01...``: the two digits after the leading letter are the MO region, which
   matches the ``MO`` column of RaCA's pedon table for all 4,304 pedons), e.g. ``MO01``;
3. else the label of the nearest site labelled by 1 or 2 when it lies within
   ``nearest_km`` (sites of one NEON field site, ``neon_ABBY_...``, are placed together, by
   their centroid), so a NEON/SoDaH site inside a RaCA region is held out with it;
4. else a ``block_deg`` x ``block_deg`` lon/lat block, ``B<lat0>_<lon0>`` (south-west
   corner in whole degrees).

The scheme is deterministic and needs only the site ids and coordinates.
"""

from __future__ import annotations

import re

import numpy as np
import xarray as xr

#: dataset site ids of RaCA pedons: prefix ``raca_`` / ``raca_stock_``, then the RaCA code
_RACA = re.compile(r"^raca(?:_stock)?_(.*)$", re.IGNORECASE)
_NEON = re.compile(r"^neon_([A-Za-z]{4})_", re.IGNORECASE)
EARTH_RADIUS_KM = 6371.0


def raca_region(site_id: str) -> str:
    """``MOxx`` for a dataset site id of a RaCA pedon (``raca_C0101F011``), else ``""``
    (the rule is :func:`soilbinn.inputs.stocks.raca_region`'s)."""
    from soilbinn.inputs.stocks import raca_region as region_of_codes

    m = _RACA.match(str(site_id))
    return str(region_of_codes([m.group(1)])[0]) if m else ""


def _cluster_key(site_id: str) -> str:
    m = _NEON.match(str(site_id))
    return f"neon_{m.group(1).upper()}" if m else str(site_id)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


def block_label(lat: float, lon: float, block_deg: float) -> str:
    """Label of the ``block_deg`` block holding (lat, lon)."""
    i = int(np.floor(lat / block_deg) * block_deg)
    j = int(np.floor(lon / block_deg) * block_deg)
    return f"B{i:+03d}_{j:+04d}"


def site_regions(ds: xr.Dataset, nearest_km: float = 150.0, block_deg: float = 10.0) -> np.ndarray:
    """Region label (n,) str of every site (see the module docstring for the rules).

    Parameters
    ----------
    ds : dataset with ``site``, ``lat``, ``lon`` (degrees) and optionally ``region(site)``
    nearest_km : km; an unlabelled site takes the label of the nearest labelled site
        within this great-circle distance (0 disables)
    block_deg : degrees; size of the fallback lon/lat blocks
    """
    ids = np.asarray(ds["site"].values).astype(str)
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    labels = np.array([""] * len(ids), dtype=object)
    if "region" in ds.variables:
        given = np.asarray(ds["region"].values).astype(str)
        ok = ~np.isin(np.char.strip(given), ["", "nan", "None"])
        labels[ok] = given[ok]
    for i, s in enumerate(ids):
        if not labels[i]:
            labels[i] = raca_region(s)
    known = labels != ""
    if (~known).any():
        keys = np.array([_cluster_key(s) for s in ids])
        todo = np.unique(keys[~known])
        ref = _unit_vectors(lat[known], lon[known]) if known.any() else None
        for key in todo:
            members = np.nonzero((keys == key) & ~known)[0]
            clat, clon = float(lat[members].mean()), float(lon[members].mean())
            label = ""
            if ref is not None and nearest_km > 0:
                cos = np.clip(ref @ _unit_vectors(np.array([clat]), np.array([clon]))[0], -1, 1)
                j = int(np.argmax(cos))
                if EARTH_RADIUS_KM * np.arccos(cos[j]) <= nearest_km:
                    label = labels[np.nonzero(known)[0][j]]
            labels[members] = label or block_label(clat, clon, block_deg)
    return labels.astype(str)


__all__ = ["site_regions", "raca_region", "block_label"]
