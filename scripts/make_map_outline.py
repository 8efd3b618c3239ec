"""Build the map outline shipped with soilbinn (``src/soilbinn/evaluation/outline_conus.npz``).

Provenance: Natural Earth 1:50m Cultural Vectors, version 5.1.1, files
``ne_50m_admin_0_countries.shp`` (country polygons: coasts and national borders) and
``ne_50m_admin_1_states_provinces_lines.shp`` (state and province boundaries), from
https://www.naturalearthdata.com/ . Natural Earth is in the public domain
(https://www.naturalearthdata.com/about/terms-of-use/), so the derived outline may be shipped.

What this script does: reads both files, keeps the parts that touch the box
lon -135..-55, lat 15..60 (CONUS with a margin), drops every vertex closer than
``--tolerance`` degrees (default 0.03, about 3 km, well below one pixel of a CONUS map)
to the last kept vertex, and stores each layer as one float32 array (k, 2) of (lon, lat)
with NaN rows between lines, so a map draws each layer with a single ``plot`` call.

Usage (from the repository root)::

    python scripts/make_map_outline.py --maps-dir PATH/TO/naturalearth
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from soilbinn.inputs.naturalearth import read_shapes
from soilbinn.io import atomic_path

BOX = (-135.0, 15.0, -55.0, 60.0)
LAYERS = {
    "countries": "ne_50m_admin_0_countries.shp",
    "states": "ne_50m_admin_1_states_provinces_lines.shp",
}
OUT = Path(__file__).resolve().parents[1] / "src" / "soilbinn" / "evaluation" / "outline_conus.npz"


def decimate(part: np.ndarray, tol: float) -> np.ndarray:
    """Keep the first and last vertex and every vertex >= ``tol`` from the last kept one."""
    keep = [0]
    for i in range(1, len(part) - 1):
        if np.hypot(*(part[i] - part[keep[-1]])) >= tol:
            keep.append(i)
    keep.append(len(part) - 1)
    return part[keep]


def layer(path: Path, tol: float) -> np.ndarray:
    pieces = []
    for part in read_shapes(path, bbox=BOX):
        part = decimate(np.asarray(part, dtype=np.float64), tol)
        if len(part) >= 2:
            pieces += [part, np.full((1, 2), np.nan)]
    return np.concatenate(pieces[:-1]).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--maps-dir", type=Path, required=True, help="Natural Earth shapefile folder")
    ap.add_argument("--tolerance", type=float, default=0.03, help="degrees (default 0.03)")
    ap.add_argument("--out", type=Path, default=OUT, help="output .npz (default: the package's)")
    args = ap.parse_args()
    arrays = {name: layer(args.maps_dir / f, args.tolerance) for name, f in LAYERS.items()}
    arrays["box"] = np.asarray(BOX, dtype=np.float32)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    sizes = ", ".join(f"{k} {len(v)} vertices" for k, v in arrays.items() if k != "box")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} kB): {sizes}")


if __name__ == "__main__":
    main()
