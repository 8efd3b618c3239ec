"""Forcing and covariates at user-given sites (a CSV of lat/lon rows) for prediction.

The CSV needs ``lat`` and ``lon`` columns (``latitude`` / ``longitude`` also accepted,
case-insensitive, degrees north / east); an optional ``site`` (or ``id``, ``name``)
column names the rows (default ``row<i>``) and an optional ``land_use`` column gives the
land use for models trained with that category. Rows outside the data's coverage (not
finite, outside CONUS, or some gridded input without a value within ``max_km``) are
reported with the inputs they lack, never guessed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.data.schema import base_coords
from soilbinn.inputs.covariates import land_use_codes
from soilbinn.inputs.dataset import attach_inputs
from soilbinn.inputs.grids import default_shared_path
from soilbinn.inputs.regions import in_conus
from soilbinn.inputs.sampling import MAX_DISTANCE_KM

_ALIASES = {"lat": ("lat", "latitude"), "lon": ("lon", "longitude", "long"),
            "site": ("site", "id", "site_id", "name")}  # fmt: skip


class SitesFileError(ValueError):
    """The sites CSV is unreadable or lacks lat/lon."""


def read_sites_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sites CSV into columns site (str), lat, lon (float) and optional land_use."""
    path = Path(path)
    if not path.exists():
        raise SitesFileError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise SitesFileError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    if raw.empty:
        raise SitesFileError(
            f"{path}: no data rows (a header line with lat,lon, then one row per site)"
        )
    cols = {c.lower().strip(): c for c in raw.columns}
    out = pd.DataFrame(index=raw.index)
    for key, names in _ALIASES.items():
        col = next((cols[n] for n in names if n in cols), None)
        if col is None:
            if key == "site":
                out["site"] = [f"row{i}" for i in range(len(raw))]
                continue
            raise SitesFileError(f"{path}: no {key!r} column (columns: {list(raw.columns)})")
        if key == "site":
            out["site"] = raw[col].astype(str)
        else:
            vals = pd.to_numeric(raw[col], errors="coerce")
            bad = vals.isna() & raw[col].notna()
            if bad.any():
                rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:10])
                raise SitesFileError(f"{path}: column {col!r} is not numeric at line(s) {rows}")
            out[key] = vals.astype(float)
    if out.site.duplicated().any():
        dup = out.site[out.site.duplicated()].unique()[:10]
        raise SitesFileError(f"{path}: duplicate site names {list(dup)}")
    if "land_use" in cols:
        out["land_use"] = raw[cols["land_use"]].astype("string").fillna("")
    return out


def build_site_dataset(
    csv_path: str | os.PathLike,
    shared: str | os.PathLike | None = None,
    max_km: float = MAX_DISTANCE_KM,
    conus_only: bool = True,
    land_use: bool = False,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Dataset (forcing + covariates) for the covered rows of a sites CSV.

    Returns
    -------
    ds : xr.Dataset
        Covered rows only, in file order (may have 0 sites).
    outside : DataFrame
        The rows not covered: site, lat, lon, reason.
    """
    sites = read_sites_csv(csv_path)
    lat, lon = sites.lat.to_numpy(), sites.lon.to_numpy()
    reason = np.full(len(sites), "", dtype=object)
    finite = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
    reason[~finite] = "missing or invalid lat/lon"
    if conus_only:
        out_c = finite & ~in_conus(lat, np.where(lon >= 180, lon - 360, lon))
        reason[out_c] = "outside CONUS (the training domain)"
    cand = reason == ""
    if not cand.any():
        first = "; ".join(f"{s}: {r}" for s, r in zip(sites.site[:3], reason[:3]))
        raise SitesFileError(f"{csv_path}: no row can be predicted ({first}); nothing was written")
    lu = land_use_codes(sites["land_use"].tolist()) if (land_use and "land_use" in sites) else None
    if land_use and lu is None:
        lu = np.full(len(sites), -1, np.int32)
    shared = Path(shared) if shared is not None else default_shared_path()
    ds = base_coords(sites.site.to_numpy()[cand].astype(str), lat[cand], lon[cand])
    ds, ok, missing = attach_inputs(ds, shared, max_km=max_km,
                                    land_use=None if lu is None else lu[cand])  # fmt: skip
    idx = np.flatnonzero(cand)
    for k in np.flatnonzero(~ok):
        reason[idx[k]] = f"no value within {max_km:g} km for {missing[k]}"
    outside = sites.loc[reason != "", ["site", "lat", "lon"]].assign(reason=reason[reason != ""])
    return ds, outside.reset_index(drop=True)
