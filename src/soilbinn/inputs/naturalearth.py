"""The one shapefile reader: Natural Earth outlines offline (masks and map drawing).

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

from soilbinn.inputs.grids import SharedDataError, require_file

COUNTRIES = "ne_50m_admin_0_countries"
STATE_LINES = "ne_50m_admin_1_states_provinces_lines"


_LINE_TYPES = {3, 5, 13, 15, 23, 25}  # polyline, polygon and their M / Z variants


def read_records(
    path: str | os.PathLike, bbox: tuple[float, float, float, float] | None = None
) -> list[list[np.ndarray]]:
    """Parts of every record of a ``.shp``: list (one per record) of lists of (k, 2) (x, y).

    Records that are not polylines/polygons, or whose bounding box misses ``bbox`` =
    (xmin, ymin, xmax, ymax), give an empty list, so records stay aligned with the
    ``.dbf`` rows. Raises :class:`SharedDataError` for a file that is not a shapefile.
    """
    path = require_file(Path(path), "shapefile")
    data = path.read_bytes()
    if len(data) < 100 or struct.unpack(">i", data[:4])[0] != 9994:
        raise SharedDataError(f"{path}: not a shapefile (bad file code)")
    pos, out = 100, []
    while pos + 8 <= len(data):
        _, length = struct.unpack(">ii", data[pos : pos + 8])
        rec = data[pos + 8 : pos + 8 + 2 * length]
        pos += 8 + 2 * length
        if len(rec) < 44 or struct.unpack("<i", rec[:4])[0] not in _LINE_TYPES:
            out.append([])
            continue
        xmin, ymin, xmax, ymax = struct.unpack("<4d", rec[4:36])
        if bbox is not None and (
            xmax < bbox[0] or xmin > bbox[2] or ymax < bbox[1] or ymin > bbox[3]
        ):
            out.append([])
            continue
        nparts, npts = struct.unpack("<ii", rec[36:44])
        parts = np.frombuffer(rec, "<i4", nparts, 44)
        pts = np.frombuffer(rec, "<f8", 2 * npts, 44 + 4 * nparts).reshape(npts, 2)
        bounds = list(parts) + [npts]
        out.append([pts[bounds[i] : bounds[i + 1]].copy() for i in range(nparts)])
    return out


def read_shapes(
    path: str | os.PathLike, bbox: tuple[float, float, float, float] | None = None
) -> list[np.ndarray]:
    """All parts (k, 2) of the polyline/polygon records of a ``.shp`` (for drawing)."""
    return [p for rec in read_records(path, bbox) for p in rec]


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
    shapes = read_records(shp)
    return [
        p for r, s in zip(rows, shapes) if iso_a3 in (r.get("ISO_A3"), r.get("ADM0_A3")) for p in s
    ]


def state_lines(maps_dir: str | os.PathLike) -> list[np.ndarray]:
    """State/province boundary lines (lon, lat) for drawing."""
    d = Path(maps_dir)
    return read_shapes(d / f"{STATE_LINES}.shp")


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
