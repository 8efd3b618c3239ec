"""Minimal offline reader of the Natural Earth shapefiles in ``shared/data/maps``.

Only what soilbinn needs: polygons of one country (to mask the CONUS grid) and the
state/province boundary lines (to draw maps). ESRI shapefile main files are a 100-byte
header then records (big-endian record header, little-endian content); shape types 3
(polyline) and 5 (polygon) are parts of x/y points. The dBASE table gives the attributes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from soilbinn.inputs.grids import require_file

COUNTRIES = "ne_50m_admin_0_countries"
STATE_LINES = "ne_50m_admin_1_states_provinces_lines"


def read_shapes(path: str | os.PathLike) -> list[list[np.ndarray]]:
    """Parts of every record of a polyline/polygon ``.shp``: list (records) of lists of (k, 2)."""
    data = Path(path).read_bytes()
    pos, out = 100, []
    while pos + 8 <= len(data):
        _, length = struct.unpack(">ii", data[pos : pos + 8])
        rec = data[pos + 8 : pos + 8 + 2 * length]
        pos += 8 + 2 * length
        stype = struct.unpack("<i", rec[:4])[0]
        if stype not in (3, 5):
            out.append([])
            continue
        nparts, npts = struct.unpack("<ii", rec[36:44])
        parts = np.frombuffer(rec, "<i4", nparts, 44)
        pts = np.frombuffer(rec, "<f8", 2 * npts, 44 + 4 * nparts).reshape(npts, 2)
        bounds = list(parts) + [npts]
        out.append([pts[bounds[i] : bounds[i + 1]] for i in range(nparts)])
    return out


def read_dbf(path: str | os.PathLike, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Selected character fields of every record of a ``.dbf`` file."""
    data = Path(path).read_bytes()
    nrec, hlen, rlen = struct.unpack("<IHH", data[4:12])
    specs, off, pos = [], 1, 32
    while data[pos] != 0x0D:
        name = data[pos : pos + 11].split(b"\0")[0].decode("ascii", "replace")
        size = data[pos + 16]
        specs.append((name, off, size))
        off += size
        pos += 32
    want = [(n, o, s) for n, o, s in specs if n in fields]
    rows = []
    for i in range(nrec):
        rec = data[hlen + i * rlen : hlen + (i + 1) * rlen]
        rows.append({n: rec[o : o + s].decode("utf-8", "replace").strip() for n, o, s in want})
    return rows


def country_polygons(maps_dir: str | os.PathLike, iso_a3: str = "USA") -> list[np.ndarray]:
    """Polygon rings (lon, lat) of one country."""
    d = Path(maps_dir)
    shp = require_file(d / f"{COUNTRIES}.shp", "Natural Earth countries")
    rows = read_dbf(
        require_file(d / f"{COUNTRIES}.dbf", "Natural Earth countries"), ("ISO_A3", "ADM0_A3")
    )
    shapes = read_shapes(shp)
    return [
        p for r, s in zip(rows, shapes) if iso_a3 in (r.get("ISO_A3"), r.get("ADM0_A3")) for p in s
    ]


def state_lines(maps_dir: str | os.PathLike) -> list[np.ndarray]:
    """State/province boundary lines (lon, lat) for drawing."""
    d = Path(maps_dir)
    return [
        p
        for s in read_shapes(require_file(d / f"{STATE_LINES}.shp", "Natural Earth states"))
        for p in s
    ]


def inside(rings: list[np.ndarray], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points inside any ring (even-odd per ring, OR over rings): bool (n,)."""
    from matplotlib.path import Path as MplPath

    pts = np.column_stack([np.asarray(lon, float), np.asarray(lat, float)])
    res = np.zeros(len(pts), bool)
    for ring in rings:
        lo, hi = ring.min(axis=0), ring.max(axis=0)
        box = (
            (pts[:, 0] >= lo[0])
            & (pts[:, 0] <= hi[0])
            & (pts[:, 1] >= lo[1])
            & (pts[:, 1] <= hi[1])
        )
        if box.any():
            res[box] |= MplPath(ring).contains_points(pts[box])
    return res
