"""Every gridded input at arbitrary points (sites or grid cells), and the forcing built
from them.

:func:`sample_inputs` reads each CESM2, BIOME4 and fine covariate field at its own cell
of each point; where that cell has no value, each field is filled *separately* from its
own nearest valid cell within ``max_km`` (see :meth:`~soilbinn.inputs.grids.Grid.sample`),
and the distance used is kept per field (``distance_km``). A point with any field that
has nothing valid within ``max_km`` is flagged (``ok`` False, ``missing`` names the
fields) and never filled by guessing.

Sites sample the fine grids (0.05 and 1/12 degree) at their own fine cell; grid cells
pass ``footprint`` (the cell edges of their grid) and get each fine field averaged over
the cell first (land cover as class fractions and majority class), so training sites,
prediction sites and map cells go through this one function.

:func:`forcing_arrays` turns the sampled values into the schema's forcing variables with
:mod:`soilbinn.inputs.forcing`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from soilbinn.inputs import forcing as fx
from soilbinn.inputs import water as wt
from soilbinn.inputs.grids import Grid, cached, read_biome4, read_cesm2, read_fine

#: default search radius for a field's nearest valid cell (km), for every field: about
#: one CESM2 cell; reaches across the coastal and lake-shore holes of the 0.5 degree
#: grids without reaching into another climate
MAX_DISTANCE_KM = 60.0
#: inputs allowed to reach further than ``max_km`` (factor on it): BIOME4 ``whc`` has
#: inland holes up to ~115 km wide on clay plains (Red River Valley of the North,
#: Mississippi Delta, coastal Louisiana) where every other input has values; 2.5 x 60 km
#: covers them (measured on the real pedon locations; see the inputs README)
LIMIT_FACTOR: dict[str, float] = {"whc": 2.5}

#: sampled key -> (reader, name in its file set)
CESM2_KEYS = {"npp": "NPP", "gpp": "GPP", "totvegc": "TOTVEGC", "o_scalar": "O_SCALAR",
              "altmax": "ALTMAX", "altmax_lastyear": "ALTMAX_LASTYEAR", "nbedrock": "nbedrock"}  # fmt: skip
BIOME4_KEYS = ("temp", "prec", "sun", "tmin", "whc")
#: fine continuous covariate grids sampled as they are
FINE_KEYS = ("clay", "sand", "silt", "oc", "ph", "elevation", "roughness", "ndvi_max",
             "ndvi_min")  # fmt: skip
#: MODIS IGBP classes 0-16 (MCD12C1 majority land cover)
IGBP_CLASSES: tuple[str, ...] = (
    "water", "evergreen_needleleaf_forest", "evergreen_broadleaf_forest",
    "deciduous_needleleaf_forest", "deciduous_broadleaf_forest", "mixed_forest",
    "closed_shrubland", "open_shrubland", "woody_savanna", "savanna", "grassland",
    "permanent_wetland", "cropland", "urban", "cropland_natural_mosaic", "snow_ice", "barren",
)  # fmt: skip
#: land-cover groups whose fractions are covariates: name -> IGBP codes
LANDCOVER_GROUPS: dict[str, tuple[int, ...]] = {
    "forest": (1, 2, 3, 4, 5), "shrubland": (6, 7), "savanna": (8, 9), "grassland": (10,),
    "wetland": (11,), "cropland": (12, 14), "urban": (13,), "barren": (15, 16), "water": (0,),
}  # fmt: skip
#: half-width (fine cells) of the window whose elevation spread is the roughness
ROUGHNESS_HALF_WINDOW = 1


@dataclass
class GriddedInputs:
    """Gridded values at ``n`` points (physical units).

    Attributes
    ----------
    lat, lon : (n,) degrees
    ok : (n,) bool, every field has a value within ``max_km``
    distance_km : dict field -> (n,) fill distance: 0 where the point's own cell has a
        value, else km from the point to the centre of the cell used
    missing : (n,) str, comma-separated fields without a value within ``max_km``
    values : dict
        temp (n, 12) degC; prec (n, 12) mm month-1; sun (n, 12) percent; tmin (n,) degC;
        whc (n, 2) mm m-1; npp, gpp (n, 12) gC m-2 s-1; totvegc (n, 12) gC m-2;
        o_scalar (n, 12, 20) 1; altmax, altmax_lastyear, nbedrock (n, 12);
        clay, sand, silt, oc (n,) %; ph (n,) 1; elevation, roughness (n,) m;
        ndvi_max, ndvi_min (n,) 1; lc_<group> (n,) fraction; igbp_class (n,) code.
    """

    lat: np.ndarray
    lon: np.ndarray
    ok: np.ndarray
    distance_km: dict[str, np.ndarray] = field(default_factory=dict)
    missing: np.ndarray | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]

    def __len__(self) -> int:
        return len(self.lat)

    def select(self, mask: np.ndarray) -> GriddedInputs:
        return GriddedInputs(
            self.lat[mask], self.lon[mask], self.ok[mask],
            {k: v[mask] for k, v in self.distance_km.items()},
            None if self.missing is None else self.missing[mask],
            {k: v[mask] for k, v in self.values.items()},
        )  # fmt: skip


def _roughness(shared) -> Grid:
    """Standard deviation (m) of elevation over the 3 x 3 fine cells around each cell."""

    def build() -> Grid:
        g = read_fine(shared, "elevation")
        v = g.values.astype(np.float64)
        fin = np.isfinite(v)
        size = 2 * ROUGHNESS_HALF_WINDOW + 1
        mode = ("nearest", "wrap")
        n = ndimage.uniform_filter(fin.astype(np.float64), size, mode=mode)
        s1 = ndimage.uniform_filter(np.where(fin, v, 0.0), size, mode=mode)
        s2 = ndimage.uniform_filter(np.where(fin, v * v, 0.0), size, mode=mode)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = s2 / n - (s1 / n) ** 2
        r = np.sqrt(np.clip(var, 0.0, None)).astype(np.float32)
        r[~fin] = np.nan
        return Grid(r, g.lat, g.lon, "m", "roughness")

    return cached(shared, "fine:roughness", build)


def _fine_grid(shared, key: str) -> Grid:
    return _roughness(shared) if key == "roughness" else read_fine(shared, key)


def _footprint_key(footprint) -> str:
    le, oe = footprint
    return f"{le[0]:.6f},{le[-1]:.6f},{len(le)},{oe[0]:.6f},{oe[-1]:.6f},{len(oe)}"


def _landcover_aggregate(lc: Grid, footprint) -> dict[str, Grid]:
    """Class-group fractions and majority IGBP class of the land cover over target cells."""
    lat_e, lon_e = footprint
    ti = np.searchsorted(lat_e, lc.lat, side="right") - 1
    tj = np.searchsorted(lon_e, lc.lon, side="right") - 1
    m, k = len(lat_e) - 1, len(lon_e) - 1
    rows = np.flatnonzero((ti >= 0) & (ti < m))
    cols = np.flatnonzero((tj >= 0) & (tj < k))
    code = lc.values[np.ix_(rows, cols)]
    cell = ti[rows][:, None] * k + tj[cols][None, :]
    fin = np.isfinite(code)
    c = code[fin].astype(np.int64)
    nc = len(IGBP_CLASSES)
    counts = np.bincount(cell[fin] * nc + c, minlength=m * k * nc).reshape(m * k, nc)
    total = counts.sum(axis=1)
    lat_c, lon_c = 0.5 * (lat_e[1:] + lat_e[:-1]), 0.5 * (lon_e[1:] + lon_e[:-1])
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for g, codes in LANDCOVER_GROUPS.items():
            f = np.where(total > 0, counts[:, list(codes)].sum(axis=1) / total, np.nan)
            out[f"lc_{g}"] = Grid(f.reshape(m, k), lat_c, lon_c, "1", f"lc_{g}")
    dom = np.where(total > 0, counts.argmax(axis=1), np.nan).reshape(m, k)
    out["igbp_class"] = Grid(dom, lat_c, lon_c, "1", "igbp_class")
    return out


def fine_fields(shared, footprint=None) -> dict[str, Grid]:
    """The fine covariate grids, at their own resolution or averaged over ``footprint``.

    Parameters
    ----------
    footprint : (lat_edges, lon_edges), optional
        Ascending cell edges (degrees) of a target grid; each fine field is averaged over
        the target cells (NaN-aware mean of the fine cells whose centres fall inside).
    """
    if footprint is None:
        grids = {k: _fine_grid(shared, k) for k in FINE_KEYS}
        grids["igbp_class"] = read_fine(shared, "landcover")
        return grids
    fk = _footprint_key(footprint)

    def build() -> dict[str, Grid]:
        out = {k: _fine_grid(shared, k).aggregate(*footprint) for k in FINE_KEYS}
        out.update(_landcover_aggregate(read_fine(shared, "landcover"), footprint))
        return out

    return cached(shared, f"fine-agg:{fk}", build)


def sample_inputs(
    shared: str | os.PathLike, lat, lon, max_km: float = MAX_DISTANCE_KM, footprint=None
) -> GriddedInputs:
    """Sample every gridded input at points ``(lat, lon)`` (degrees; lon in [-180, 360)).

    Parameters
    ----------
    max_km : float
        Largest distance (km) to a substitute cell where a field's own cell has no value
        (times :data:`LIMIT_FACTOR` for the inputs listed there).
    footprint : (lat_edges, lon_edges), optional
        For grid cells: average the fine covariate grids over these cells first.

    Returns
    -------
    GriddedInputs
        Values are NaN where ``ok`` is False.
    """
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    lon = np.where(lon >= 180.0, lon - 360.0, lon)
    n = len(lat)
    grids: dict[str, Grid] = {k: read_cesm2(shared, v) for k, v in CESM2_KEYS.items()}
    grids.update({k: read_biome4(shared, k) for k in BIOME4_KEYS})
    grids.update(fine_fields(shared, footprint))
    vals, dist = {}, {}
    ok = np.ones(n, bool)
    missing = np.full(n, "", dtype=object)
    for key, g in grids.items():
        factor = LIMIT_FACTOR.get(key, 1.0)
        v, d, found = g.sample(lat, lon, max_km * factor)
        vals[key], dist[key] = v, d
        ok &= found
        label = key if factor == 1.0 else f"{key} ({max_km * factor:g} km)"
        missing[~found] = missing[~found] + label + ","
    for v in vals.values():
        v[~ok] = np.nan
    vals["igbp_class"] = np.where(ok, np.nan_to_num(vals["igbp_class"], nan=-1), -1).astype(
        np.int32
    )
    if footprint is None:  # a point's own fine cell: its class, as fractions 0 or 1
        for g, codes in LANDCOVER_GROUPS.items():
            vals[f"lc_{g}"] = np.where(ok, np.isin(vals["igbp_class"], codes), np.nan)
            dist[f"lc_{g}"] = dist["igbp_class"]
    missing = np.array([s.rstrip(",") for s in missing], dtype=object)
    return GriddedInputs(lat, lon, ok, dist, missing, vals)


#: water-scalar derivations of :func:`forcing_arrays` (``bucket``: the earlier single
#: bucket, the same in every layer, kept only to measure what the CLM5 form changed)
WATER_SCALARS = ("clm5", "bucket")


def forcing_arrays(
    inp: GriddedInputs,
    nitrogen: float = fx.NITROGEN_SCALAR,
    kappa: float = fx.THERMAL_DIFFUSIVITY,
    water: str = "clm5",
) -> dict[str, np.ndarray]:
    """The schema's forcing variables from sampled inputs (only meaningful where ``ok``).

    The topsoil clay and sand (HWSD, %) of each point are in ``inp["clay"]`` and
    ``inp["sand"]`` for a texture-dependent water scalar.

    Returns
    -------
    dict
        input_cwd/litter1/litter2/litter3 (n, 12) g m-2 month-1; altmax,
        altmax_lastyear (n, 12) m; nbedrock (n,) int; soil_temperature (n, 20, 12) K;
        water_scalar (CLM5 form, :mod:`soilbinn.inputs.water`), oxygen_scalar,
        nitrogen_scalar (n, 20, 12) 1; and for diagnostics pet (n, 12) mm month-1,
        soil_water_potential (n, 20, 12) MPa, clay, sand (n,) percent, texture_filled
        (n,) bool (loam used where HWSD had no value).
    """
    n = len(inp)
    temp = np.nan_to_num(inp["temp"])
    out = fx.litter_inputs(np.nan_to_num(inp["npp"]), np.nan_to_num(inp["totvegc"]))
    out["altmax"] = fx.active_layer(np.nan_to_num(inp["altmax"], nan=fx.NO_PERMAFROST_ALT))
    out["altmax_lastyear"] = fx.active_layer(
        np.nan_to_num(inp["altmax_lastyear"], nan=fx.NO_PERMAFROST_ALT)
    )
    out["nbedrock"] = fx.bedrock_index(np.nan_to_num(inp["nbedrock"], nan=20.0))
    out["soil_temperature"] = fx.soil_temperature(temp, kappa=kappa)
    pet = fx.thornthwaite_pet(temp, inp.lat)
    nan = np.full(n, np.nan)
    clay, sand, filled = wt.fill_texture(inp.values.get("clay", nan), inp.values.get("sand", nan))
    if water not in WATER_SCALARS:
        raise ValueError(f"water scalar {water!r}: expected one of {', '.join(WATER_SCALARS)}")
    wb = wt.soil_water_balance(np.nan_to_num(inp["prec"]), pet, temp, out["soil_temperature"],
                               clay, sand, out["nbedrock"])  # fmt: skip
    out["water_scalar"] = wb.w if water == "clm5" else bucket_water_scalar(inp, temp, pet)
    out["oxygen_scalar"] = fx.oxygen_scalar(np.nan_to_num(inp["o_scalar"], nan=1.0))
    out["nitrogen_scalar"] = fx.nitrogen_scalar(n, nitrogen)
    out["pet"] = pet
    out["soil_water_potential"] = wb.psi
    out["clay"], out["sand"], out["texture_filled"] = clay, sand, filled
    return out


def bucket_water_scalar(inp: GriddedInputs, temp: np.ndarray, pet: np.ndarray) -> np.ndarray:
    """The earlier single-bucket water scalar (n, 20, 12), the same in every layer.

    BIOME4 water-holding capacity fills one bucket that monthly rain and snowmelt recharge
    and Thornthwaite PET drains; its relative water is the scalar, floored at
    ``forcing.WATER_SCALAR_MIN``. Kept only to measure what the CLM5 form changed
    (``prepare real --water-scalar bucket``).
    """
    cap = fx.bucket_capacity(np.nan_to_num(inp["whc"], nan=100.0))
    cap = np.where(cap > 0, cap, 1.0)
    rel = fx.bucket_relative_water(np.nan_to_num(inp["prec"]), pet, temp, cap)
    return fx.water_scalar(rel)
