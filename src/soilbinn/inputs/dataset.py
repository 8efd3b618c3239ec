"""Assemble schema-conforming datasets from real data.

* :func:`build_real_dataset`: observed profiles + derived forcing + covariates (training).
* :func:`build_point_dataset`: forcing + covariates at arbitrary points (prediction;
  used by :mod:`soilbinn.inputs.sites` and :func:`build_grid_dataset`).
* :func:`build_grid_dataset`: land cells of a regular grid over a region (maps).

All three share :func:`attach_inputs`, so covariates and forcing are computed by exactly
the same code in training and prediction.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

from soilbinn import __version__
from soilbinn.data.schema import (
    add_categories,
    add_covariates,
    add_forcing,
    base_coords,
    validate_dataset,
)
from soilbinn.inputs import forcing as fx
from soilbinn.inputs.covariates import (
    CATEGORY_LABELS,
    LAND_USE_CLASSES,
    LONG_NAMES,
    NUMERIC_UNITS,
    covariate_arrays,
    land_use_codes,
)
from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.naturalearth import country_polygons, inside
from soilbinn.inputs.profiles import add_layer_flags, harmonise_profiles
from soilbinn.inputs.regions import CONUS_BBOX, in_box, parse_region
from soilbinn.inputs.sampling import (
    MAX_DISTANCE_KM,
    fine_fields,
    forcing_arrays,
    sample_inputs,
)

FORCING_METHOD = (
    "soilbinn.inputs.forcing: damped-wave soil temperature from BIOME4 air temperature "
    "(kappa={kappa} m2 s-1); CLM5-form water scalar from soil water potential of a "
    "monthly 20-layer water balance (soilbinn.inputs.water: BIOME4 precipitation, "
    "Thornthwaite PET, HWSD topsoil texture with Cosby 1984 pedotransfer); CESM2 O_SCALAR, ALTMAX, ALTMAX_LASTYEAR, nbedrock; litter "
    "inputs = CESM2 NPP partitioned by a TOTVEGC woody fraction; constant nitrogen scalar "
    "{nitrogen}"
)


class CoverageError(ValueError):
    """No point has valid gridded inputs (all outside the data's coverage)."""


def attach_inputs(
    ds: xr.Dataset,
    shared: str | os.PathLike,
    max_km: float = MAX_DISTANCE_KM,
    nitrogen: float = fx.NITROGEN_SCALAR,
    kappa: float = fx.THERMAL_DIFFUSIVITY,
    land_use: np.ndarray | None = None,
    hwsd_oc: bool = True,
    footprint=None,
    water: str = "clm5",
) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """Add forcing and covariates at the sites of ``ds``.

    Each gridded field is taken at the site's own cell or, where that has no value, at
    that field's nearest valid cell within ``max_km``; ``fill_distance(site, input)`` (km)
    records the distance per field. Sites where some field has nothing within ``max_km``
    are removed, never filled by guessing.

    Parameters
    ----------
    hwsd_oc : bool
        Add the ``topsoil_oc`` covariate (see :func:`~soilbinn.inputs.covariates.covariate_arrays`).
    footprint : (lat_edges, lon_edges), optional
        Grid cells: average the fine covariate grids over these cells.
    water : {"clm5", "bucket"}
        Water scalar (:data:`~soilbinn.inputs.sampling.WATER_SCALARS`); ``bucket`` only to
        compare with the earlier forcing (predictions always use ``clm5``).

    Returns
    -------
    ds : dataset of the covered sites
    ok : (n,) bool, covered mask over the input sites
    missing : (n,) str, the fields without a value within ``max_km`` ("" where covered)
    """
    inp = sample_inputs(shared, ds["lat"].values, ds["lon"].values, max_km, footprint)
    ok, missing = inp.ok.copy(), inp.missing
    ds = ds.isel(site=np.flatnonzero(ok))
    inp = inp.select(ok)
    if land_use is not None:
        land_use = np.asarray(land_use)[ok]
    if ds.sizes["site"] == 0:
        return ds, ok, missing
    f = forcing_arrays(inp, nitrogen=nitrogen, kappa=kappa, water=water)
    ds = add_forcing(ds, f, dtype=np.float32)
    num, cat = covariate_arrays(inp, hwsd_oc=hwsd_oc)
    ds = add_covariates(ds, num, NUMERIC_UNITS, LONG_NAMES)
    labels = dict(CATEGORY_LABELS)
    if land_use is not None:
        cat["land_use"] = land_use.astype(np.int32)
        labels["land_use"] = LAND_USE_CLASSES
    ds = add_categories(ds, cat, labels)
    names = list(inp.distance_km)
    ds = ds.assign_coords(input=("input", np.asarray(names, dtype=str)))
    ds["fill_distance"] = (
        ("site", "input"),
        np.stack([inp.distance_km[k] for k in names], axis=1).astype(np.float32),
        {"units": "km", "long_name": "fill distance of each input: 0 where the site's own "
         "cell has a value, else the distance to the centre of the nearest cell with one"},
    )  # fmt: skip
    ds.attrs["forcing_method"] = FORCING_METHOD.format(kappa=kappa, nitrogen=nitrogen)
    ds.attrs["water_scalar_method"] = water
    ds.attrs["max_grid_distance_km"] = float(max_km)
    ds.attrs["soilbinn_version"] = __version__
    return ds, ok, missing


def _observations(ds: xr.Dataset, layers, site_index: dict[str, int], n_obs: int) -> xr.Dataset:
    n = ds.sizes["site"]
    arr = {k: np.full((n, n_obs), np.nan) for k in ("soc", "obs_depth", "obs_top", "obs_bottom")}
    rank = layers.groupby("site").cumcount().to_numpy()
    rows = layers.site.map(site_index).to_numpy()
    for key, col in (("soc", "soc_g_m3"), ("obs_depth", "depth_m"), ("obs_top", "top_m"),
                     ("obs_bottom", "bot_m")):  # fmt: skip
        arr[key][rows, rank] = layers[col].to_numpy()
    meta = {
        "soc": ("g m-3", "soil organic carbon density (carbon mass per soil volume)"),
        "obs_depth": ("m", "observation node depth (middle of the horizon)"),
        "obs_top": ("m", "top of the observed horizon"),
        "obs_bottom": ("m", "bottom of the observed horizon"),
    }
    for key, (units, long_name) in meta.items():
        ds[key] = (("site", "obs"), arr[key], {"units": units, "long_name": long_name})
    return add_layer_flags(ds, layers, rows, rank)


def build_real_dataset(
    shared: str | os.PathLike | None = None,
    max_profiles: int | None = None,
    raca: str = "pedon",
    land_use: bool = False,
    max_km: float = MAX_DISTANCE_KM,
    nitrogen: float = fx.NITROGEN_SCALAR,
    seed: int = 0,
    raca_vnir: str = "fallback",
    raca_stocks: bool = True,
    stock_tables=(),
    hwsd_oc: bool = False,
    water: str = "clm5",
) -> tuple[xr.Dataset, dict]:
    """Observed CONUS SOC profiles (and pedon stocks) with derived forcing and covariates.

    Parameters
    ----------
    shared : path, optional
        The shared data folder (default :func:`~soilbinn.inputs.grids.default_shared_path`).
    max_profiles : int, optional
        Random subset of harmonised profiles, and as many RaCA stock pedons (quick runs).
    raca : {"pedon", "site"}
        RaCA pedons kept separately or composited per site location.
    land_use : bool
        Add the harmonised ``land_use`` category (missing on the prediction grid).
    max_km : float
        Search radius for the nearest valid grid cell.
    nitrogen : float
        The assumed nitrogen scalar.
    raca_vnir : {"fallback", "drop"}
        RaCA layers without a lab value: VNIR prediction or dropped (see
        :func:`~soilbinn.inputs.profiles.harmonise_profiles`).
    raca_stocks : bool
        Add RaCA's pedon stocks as stock observations (see
        :func:`soilbinn.inputs.stocks.add_raca_stocks` for which pedons attach to layered sites).
    stock_tables : sequence of DataFrame
        Users' stock tables (:func:`soilbinn.inputs.stocks.read_stock_table`) to add.
    hwsd_oc : bool
        Add HWSD topsoil organic carbon as a covariate (off by default: it is a map of
        SOC itself; see :func:`~soilbinn.inputs.covariates.covariate_arrays`).

    Returns
    -------
    ds : xr.Dataset
        Full schema (forcing, observations, covariates) plus provenance variables.
    report : dict
        Counts read / kept / dropped by reason, timings.
    """
    t0 = time.perf_counter()
    shared = Path(shared) if shared is not None else default_shared_path()
    h = harmonise_profiles(
        shared / "profiles", raca=raca, max_profiles=max_profiles, seed=seed, raca_vnir=raca_vnir
    )
    t1 = time.perf_counter()
    sites = h.sites
    ds = base_coords(sites.index.to_numpy(), sites.lat.to_numpy(), sites.lon.to_numpy())
    prov = {
        "source": ("source database (sodah, raca, neon)", sites.source.to_numpy()),
        "profile_ids": (
            "original profile id(s); several = composite",
            sites.profile_ids.to_numpy(),
        ),
        "land_use_label": (
            "land use / cover as given by the source",
            sites.land_use.astype(str).to_numpy(),
        ),
    }
    for k, (ln, v) in prov.items():
        ds[k] = ("site", np.asarray(v).astype(str), {"long_name": ln})
    ds["n_profiles"] = ("site", sites.n_profiles.to_numpy().astype(np.int32),
                        {"units": "1", "long_name": "number of source profiles in this site"})  # fmt: skip
    ds["bd_filled_fraction"] = ("site", sites.bd_filled_fraction.to_numpy().astype(np.float32),
                                {"units": "1", "long_name": "fraction of layers with pedotransfer bulk density"})  # fmt: skip
    n_obs = int(sites.n_obs.max()) if len(sites) else 1
    ds = _observations(ds, h.layers, {s: i for i, s in enumerate(sites.index)}, n_obs)
    lu = land_use_codes(sites.land_use.tolist()) if land_use else None
    ds, ok, missing = attach_inputs(ds, shared, max_km=max_km, nitrogen=nitrogen, land_use=lu,
                                    hwsd_oc=hwsd_oc, water=water)  # fmt: skip
    t2 = time.perf_counter()
    report = dict(h.report)
    for fields in np.unique(missing[~ok]):
        report["dropped_profiles"][f"no value within {max_km:g} km for {fields}"] = int(
            (missing == fields).sum()
        )
    if ds.sizes["site"] == 0:
        raise CoverageError("no profile has valid gridded inputs")
    if raca_stocks or len(stock_tables):
        from soilbinn.inputs.stocks import add_raca_stocks

        ds, report["stocks"] = add_raca_stocks(ds, shared, land_use=land_use, raca=raca_stocks,
                                               extra_tables=stock_tables, max_km=max_km,
                                               nitrogen=nitrogen, hwsd_oc=hwsd_oc, water=water, max_pedons=max_profiles,
                                               seed=seed)  # fmt: skip
    soc = ds["soc"].values
    report["kept"] = {
        "sites": int(ds.sizes["site"]),
        "source_profiles": int(ds["n_profiles"].sum()),
        "layers": int(np.isfinite(soc).sum()),
        "by_source": {
            s: int((ds["source"].values == s).sum()) for s in np.unique(ds["source"].values)
        },
        "max_obs_per_site": int(np.isfinite(soc).sum(axis=1).max()),
        "stock_sites": int(np.isfinite(ds["stock_obs"].values).any(1).sum())
        if "stock_obs" in ds
        else 0,
    }
    report["seconds"] = {"harmonise": round(t1 - t0, 2), "forcing_covariates": round(t2 - t1, 2)}
    problems = validate_dataset(ds, require=("forcing", "observations", "covariates"))
    if problems:
        raise ValueError("real dataset fails the schema:\n  " + "\n  ".join(problems))
    ds.attrs["title"] = "soilbinn real dataset: observed CONUS SOC profiles with derived forcing"
    ds.attrs["sources"] = (
        "SoDaH (EDI edi.521), RaCA western regions (USDA-NRCS), NEON initial characterisation"
    )
    return ds, report


def build_point_dataset(
    lat,
    lon,
    site_ids,
    shared: str | os.PathLike | None = None,
    max_km: float = MAX_DISTANCE_KM,
    nitrogen: float = fx.NITROGEN_SCALAR,
    land_use: np.ndarray | None = None,
    footprint=None,
    hwsd_oc: bool = True,
    water: str = "clm5",
) -> tuple[xr.Dataset, np.ndarray]:
    """Forcing and covariates at arbitrary points (prediction sites, pedons, grid cells).

    Parameters
    ----------
    lat, lon : array_like (n,), degrees
    site_ids : array_like (n,) of str
    footprint : (lat_edges, lon_edges), optional
        For grid cells: fine covariates averaged over the cells (see
        :func:`~soilbinn.inputs.sampling.sample_inputs`).
    hwsd_oc : bool
        Add ``topsoil_oc`` (default True for prediction: a model uses only the covariates
        it was trained with; pass the training dataset's choice to build more training
        points, e.g. pedon stocks).

    Returns
    -------
    ds : dataset of the covered points
    ok : (n,) bool, covered mask (:func:`attach_inputs` also says which inputs are missing)
    """
    shared = Path(shared) if shared is not None else default_shared_path()
    ds = base_coords(
        np.asarray(site_ids).astype(str), np.asarray(lat, float), np.asarray(lon, float)
    )
    ds, ok, _ = attach_inputs(ds, shared, max_km=max_km, nitrogen=nitrogen, land_use=land_use,
                              hwsd_oc=hwsd_oc, footprint=footprint, water=water)  # fmt: skip
    return ds, ok


def conus_land_mask(shared: str | os.PathLike, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points inside the USA polygons of Natural Earth and the CONUS box."""
    rings = country_polygons(Path(shared) / "maps" / "naturalearth", "USA")
    return in_box(lat, lon, CONUS_BBOX) & inside(rings, lon, lat)


#: a grid cell is land when at least this share of its MODIS land cover is not water
#: (every region; a ``conus`` cell must also lie inside the USA of Natural Earth)
MIN_LAND_FRACTION = 0.5

#: what ``prepare grid`` leaves out, written to the grid's ``land_mask`` attribute
LAND_MASK_NOTE = (
    "cells with less than {frac:g} of their MODIS IGBP 2019 land cover (0.05 deg cells "
    "whose centres fall inside the cell) not water are left out: open water is not soil "
    "(some such cells also have no CESM2 NPP, hence no carbon input and no soil carbon "
    "steady state: the middle of Lakes Michigan and Superior, which the CONUS Natural "
    "Earth polygon includes); cells_masked_water counts them"
)


def land_cells(water_fraction: np.ndarray, inside_region: np.ndarray | None = None) -> np.ndarray:
    """Grid cells to keep: mostly land (and inside the region's polygons, if given), (n,) bool.

    Parameters
    ----------
    water_fraction : (n,) float
        MODIS IGBP water share of each cell, 0-1; NaN (no land cover at all) counts as
        water.
    inside_region : (n,) bool, optional
        Cells inside the region's polygons (``conus``).
    """
    land = np.nan_to_num(1.0 - np.asarray(water_fraction, float), nan=0.0) >= MIN_LAND_FRACTION
    return land if inside_region is None else land & np.asarray(inside_region, bool)


def build_grid_dataset(
    shared: str | os.PathLike | None = None,
    resolution: float = 0.5,
    region: str = "conus",
    max_km: float = MAX_DISTANCE_KM,
    nitrogen: float = fx.NITROGEN_SCALAR,
) -> xr.Dataset:
    """Forcing and covariates on the land cells of a regular grid over a region.

    Parameters
    ----------
    resolution : float
        Cell size (degrees); cell centres are ``lon0 + resolution (j + 1/2)``,
        ``lat0 + resolution (i + 1/2)`` inside the region's box.
    region : str
        ``conus`` (cells inside the USA of Natural Earth and the CONUS box), ``global``
        or ``lon0,lat0,lon1,lat1``. In every region a cell is kept only when its MODIS
        land cover is at least :data:`MIN_LAND_FRACTION` land (:func:`land_cells`); the
        others, open water, are counted in the ``cells_masked_water`` attribute.

    Returns
    -------
    xr.Dataset
        Covered land cells with ``grid_lat`` / ``grid_lon`` axes and each cell's
        ``grid_i`` / ``grid_j`` index, so predictions can be put back on the grid. Fine
        covariates are averaged over each cell; cells with a field missing within
        ``max_km`` are left out and counted in ``cells_without_inputs``.
    """
    shared = Path(shared) if shared is not None else default_shared_path()
    if not resolution > 0:
        raise ValueError(f"grid resolution must be > 0 degrees (got {resolution})")
    name, (lo0, la0, lo1, la1) = parse_region(region)
    nlat = int(np.floor((la1 - la0) / resolution + 1e-9))
    nlon = int(np.floor((lo1 - lo0) / resolution + 1e-9))
    lat_edges = la0 + resolution * np.arange(nlat + 1)
    lon_edges = lo0 + resolution * np.arange(nlon + 1)
    glat = 0.5 * (lat_edges[1:] + lat_edges[:-1])
    glon = 0.5 * (lon_edges[1:] + lon_edges[:-1])
    LA, LO = np.meshgrid(glat, glon, indexing="ij")
    II, JJ = np.meshgrid(np.arange(nlat), np.arange(nlon), indexing="ij")
    water = fine_fields(shared, (lat_edges, lon_edges))["lc_water"].values.ravel()
    region_cells = conus_land_mask(shared, LA.ravel(), LO.ravel()) if name == "conus" else None
    m = land_cells(water, region_cells)
    candidates = region_cells if region_cells is not None else np.isfinite(water)
    n_water = int((candidates & ~m).sum())
    lat, lon = LA.ravel()[m], LO.ravel()[m]
    ids = [f"g{a:.3f}_{b:.3f}" for a, b in zip(lat, lon)]
    ds, ok = build_point_dataset(lat, lon, ids, shared, max_km=max_km, nitrogen=nitrogen,
                                 footprint=(lat_edges, lon_edges))  # fmt: skip
    ds["grid_i"] = ("site", II.ravel()[m][ok].astype(np.int32), {"long_name": "row in grid_lat"})
    ds["grid_j"] = ("site", JJ.ravel()[m][ok].astype(np.int32), {"long_name": "column in grid_lon"})
    ds = ds.assign_coords(
        grid_lat=("grid_lat", glat,
                  {"units": "degrees_north", "long_name": "grid cell centre latitude"}),
        grid_lon=("grid_lon", glon,
                  {"units": "degrees_east", "long_name": "grid cell centre longitude"}),
    )  # fmt: skip
    ds.attrs["title"] = f"soilbinn {region} {resolution:g} degree grid with derived forcing"
    ds.attrs["region"] = str(region)
    ds.attrs["grid_resolution_deg"] = float(resolution)
    ds.attrs["cells_without_inputs"] = int((~ok).sum())
    ds.attrs["cells_masked_water"] = n_water
    ds.attrs["land_mask"] = LAND_MASK_NOTE.format(frac=MIN_LAND_FRACTION)
    problems = validate_dataset(ds, require=("forcing", "covariates"))
    if problems:
        raise ValueError("grid dataset fails the schema:\n  " + "\n  ".join(problems))
    return ds
