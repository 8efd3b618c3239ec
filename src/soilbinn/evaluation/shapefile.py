"""A tiny reader of ESRI shapefile geometry (.shp), enough to draw map outlines.

Reads polyline (3) and polygon (5) records (and their M/Z variants 13, 15, 23, 25) as
lists of (k, 2) arrays of (lon, lat) parts, with an optional bounding-box filter. No
attributes (.dbf) are read. Format: ESRI Shapefile Technical Description (1998).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_LINE_TYPES = {3, 5, 13, 15, 23, 25}


def read_shapes(
    path: str | Path, bbox: tuple[float, float, float, float] | None = None
) -> list[np.ndarray]:
    """Parts of every polyline/polygon record, each an array (k, 2) of (x, y).

    Parameters
    ----------
    bbox : (xmin, ymin, xmax, ymax), optional
        Keep only records whose bounding box intersects it.
    """
    data = Path(path).read_bytes()
    if len(data) < 100 or struct.unpack(">i", data[:4])[0] != 9994:
        raise ValueError(f"{path}: not a shapefile (bad file code)")
    parts_out: list[np.ndarray] = []
    pos = 100
    while pos + 8 <= len(data):
        _, length = struct.unpack(">ii", data[pos : pos + 8])
        content = data[pos + 8 : pos + 8 + 2 * length]
        pos += 8 + 2 * length
        if len(content) < 4:
            continue
        shape_type = struct.unpack("<i", content[:4])[0]
        if shape_type not in _LINE_TYPES:
            continue
        xmin, ymin, xmax, ymax = struct.unpack("<4d", content[4:36])
        if bbox is not None and (
            xmax < bbox[0] or xmin > bbox[2] or ymax < bbox[1] or ymin > bbox[3]
        ):
            continue
        n_parts, n_points = struct.unpack("<ii", content[36:44])
        starts = list(struct.unpack(f"<{n_parts}i", content[44 : 44 + 4 * n_parts]))
        off = 44 + 4 * n_parts
        pts = np.frombuffer(content, dtype="<f8", count=2 * n_points, offset=off).reshape(-1, 2)
        for a, b in zip(starts, starts[1:] + [n_points]):
            parts_out.append(pts[a:b].copy())
    return parts_out
