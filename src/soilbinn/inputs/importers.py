"""Importers of user tables: layered SOC profiles (long CSV) and covariate tables (CSV).

Profiles
    One row per layer with a profile id, lat, lon, top and bottom depth and SOC either as
    a carbon density (``g m-3``, ``kg m-3``, ``g cm-3``) or as a content (``%`` or
    ``g kg-1``) together with a bulk density column (``g cm-3``, ``Mg m-3``, ``kg m-3``)
    and optionally a coarse-fragment volume column (%). Conversions (to g m-3)::

        density  = soc_pct / 100 * bd[g cm-3] * 1e6 * (1 - fragments/100)
        density  = soc_g_kg / 1000 * bd[g cm-3] * 1e6 * (1 - fragments/100)

    Each layer becomes one observation at its node depth (midpoint, m) with
    ``obs_top``/``obs_bottom``; layers are sorted by depth within a profile and the
    ``obs`` dimension is padded with NaN. Rows without SOC (e.g. no bulk density) or
    deeper than 8.6 m are dropped and counted in ``ds.attrs["import_report"]``; malformed
    input raises :class:`ImportError_` naming file, line, column and profile.
Covariate tables
    One row per site; a site-id column, numeric columns and named categorical columns.
    A header may carry units in brackets, ``clay [%]``. Sites of the dataset missing from
    the table, duplicated ids and non-numeric values are errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.data.schema import MAX_OBS_DEPTH, add_categories, add_covariates, base_coords


class ImportError_(ValueError):  # noqa: N801 - avoid shadowing the builtin ImportError
    """A user table cannot be imported; the message names file, line(s), column, profile."""


ProfileImportError = ImportError_

#: depth units -> factor to m
DEPTH_FACTORS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}
#: SOC density units -> factor to g m-3
DENSITY_FACTORS: dict[str, float] = {"g m-3": 1.0, "kg m-3": 1e3, "g cm-3": 1e6, "mg cm-3": 1e3}
#: SOC content units -> factor to a mass fraction (g g-1)
CONTENT_FACTORS: dict[str, float] = {"%": 0.01, "g kg-1": 1e-3, "g g-1": 1.0}
#: bulk density units -> factor to g cm-3
BULK_DENSITY_FACTORS: dict[str, float] = {"g cm-3": 1.0, "Mg m-3": 1.0, "kg m-3": 1e-3}

DEFAULT_COLUMNS: dict[str, str] = {
    "profile_id": "profile_id", "lat": "lat", "lon": "lon", "top": "top_m", "bottom": "bot_m",
    "soc": "soc_g_m3", "bulk_density": "bd_g_cm3", "coarse_fragments": "",
}  # fmt: skip


def _lines(index: pd.Index, limit: int = 8) -> str:
    lines = [str(int(i) + 2) for i in index[:limit]]  # +1 header, +1 one-based
    return ", ".join(lines) + (f" (+{len(index) - limit} more)" if len(index) > limit else "")


def _numeric(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    s = pd.to_numeric(df[col], errors="coerce")
    bad = s.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
    if bad.any():
        examples = ", ".join(repr(v) for v in df.loc[bad, col].astype(str).unique()[:3])
        raise ImportError_(
            f"{path}: column {col!r} has non-numeric values ({examples}) on line(s) {_lines(bad[bad].index)}"
        )
    return s.astype(np.float64)


def read_profiles_csv(
    path: str | os.PathLike,
    *,
    soc_units: str = "g m-3",
    bulk_density_units: str = "g cm-3",
    depth_units: str = "m",
    columns: dict[str, str] | None = None,
    duplicates: str = "error",
    invalid: str = "error",
    max_obs: int | None = None,
) -> xr.Dataset:
    """Read a long CSV of layers into observations at node depths.

    Parameters
    ----------
    path : CSV file, one row per layer
    soc_units : units of the SOC column: a density (``g m-3``, ``kg m-3``, ``g cm-3``,
        ``mg cm-3``) or a content (``%``, ``g kg-1``, ``g g-1``; needs bulk density)
    bulk_density_units : ``g cm-3``, ``Mg m-3`` or ``kg m-3``
    depth_units : ``m``, ``cm`` or ``mm`` (top and bottom)
    columns : override of :data:`DEFAULT_COLUMNS` (keys profile_id, lat, lon, top,
        bottom, soc, bulk_density, coarse_fragments; "" = not used)
    duplicates : what to do with layers repeated with the same top and bottom in a
        profile: ``"error"``, ``"mean"`` (average SOC) or ``"first"``
    invalid : ``"error"`` (default) or ``"drop"``: rows with missing or inverted depths
        or negative SOC raise an error, or are dropped and counted in the report
    max_obs : keep at most this many (shallowest) layers per profile

    Returns
    -------
    xarray.Dataset
        ``site``, ``lat``, ``lon``, ``soc(site, obs)`` g m-3, ``obs_depth``, ``obs_top``,
        ``obs_bottom`` (site, obs) m; attribute ``import_report``.
    """
    path = Path(path)
    cols = dict(DEFAULT_COLUMNS, **(columns or {}))
    unknown = set(cols) - set(DEFAULT_COLUMNS)
    if unknown:
        raise ImportError_(f"read_profiles_csv: unknown column key(s) {sorted(unknown)}")
    if depth_units not in DEPTH_FACTORS:
        raise ImportError_(
            f"depth_units {depth_units!r} unknown; choose from {sorted(DEPTH_FACTORS)}"
        )
    is_content = soc_units in CONTENT_FACTORS
    if not is_content and soc_units not in DENSITY_FACTORS:
        raise ImportError_(
            f"soc_units {soc_units!r} unknown; densities {sorted(DENSITY_FACTORS)} or contents {sorted(CONTENT_FACTORS)}"
        )
    if is_content and bulk_density_units not in BULK_DENSITY_FACTORS:
        raise ImportError_(
            f"bulk_density_units {bulk_density_units!r} unknown; choose from {sorted(BULK_DENSITY_FACTORS)}"
        )
    if invalid not in ("error", "drop"):
        raise ImportError_(f"invalid={invalid!r}; choose error or drop")
    if duplicates not in ("error", "mean", "first"):
        raise ImportError_(f"duplicates={duplicates!r}; choose error, mean or first")
    if not path.exists():
        raise FileNotFoundError(f"profile table not found: {path}")
    df = pd.read_csv(path, low_memory=False)
    need = ["profile_id", "lat", "lon", "top", "bottom", "soc"]
    if is_content:
        need.append("bulk_density")
    if cols["coarse_fragments"]:
        need.append("coarse_fragments")
    missing = [f"{cols[k]!r} ({k})" for k in need if cols[k] not in df.columns]
    if missing:
        raise ImportError_(
            f"{path}: missing column(s) {', '.join(missing)}; the file has {list(df.columns)}"
            + (" (SOC given as a content needs a bulk density column)" if is_content else "")
        )
    report: list[str] = [f"{len(df)} rows read from {path.name}"]
    pid = df[cols["profile_id"]]
    if pid.isna().any():
        raise ImportError_(
            f"{path}: empty {cols['profile_id']!r} on line(s) {_lines(pid[pid.isna()].index)}"
        )
    pid = pid.astype(str)
    lat, lon = _numeric(df, cols["lat"], path), _numeric(df, cols["lon"], path)
    bad = lat.isna() | lon.isna() | (lat.abs() > 90) | (lon < -180) | (lon > 360)
    if bad.any():
        raise ImportError_(
            f"{path}: missing or invalid lat/lon on line(s) {_lines(bad[bad].index)} "
            f"(profiles {', '.join(pid[bad].unique()[:5])})"
        )
    f = DEPTH_FACTORS[depth_units]
    top, bot = _numeric(df, cols["top"], path) * f, _numeric(df, cols["bottom"], path) * f
    bad = top.isna() | bot.isna() | (top < 0) | (bot <= top)
    dropped = bad.copy()
    if bad.any() and invalid == "drop":
        report.append(f"{int(bad.sum())} rows dropped: missing or inverted depths")
    elif bad.any():
        raise ImportError_(
            f"{path}: layers with missing depths, negative top or bottom <= top on line(s) "
            f"{_lines(bad[bad].index)} (profiles {', '.join(pid[bad].unique()[:5])}); depths read in "
            f"{depth_units}; pass invalid='drop' to skip them"
        )
    raw = _numeric(df, cols["soc"], path)
    if is_content:
        bd = _numeric(df, cols["bulk_density"], path) * BULK_DENSITY_FACTORS[bulk_density_units]
        badbd = bd.notna() & ((bd < 0.02) | (bd > 2.7))
        if badbd.any():
            raise ImportError_(
                f"{path}: bulk density outside [0.02, 2.7] g cm-3 on line(s) {_lines(badbd[badbd].index)} "
                f"(column {cols['bulk_density']!r} read as {bulk_density_units})"
            )
        soc = raw * CONTENT_FACTORS[soc_units] * bd * 1e6
    else:
        soc = raw * DENSITY_FACTORS[soc_units]
    if cols["coarse_fragments"]:
        frag = _numeric(df, cols["coarse_fragments"], path).fillna(0.0)
        if ((frag < 0) | (frag > 100)).any():
            b = (frag < 0) | (frag > 100)
            raise ImportError_(
                f"{path}: coarse fragments outside 0-100 % on line(s) {_lines(b[b].index)}"
            )
        soc = soc * (1.0 - frag / 100.0)
    neg = (soc < 0) & ~dropped
    if neg.any() and invalid == "drop":
        report.append(f"{int(neg.sum())} rows dropped: negative SOC")
        dropped |= neg
    elif neg.any():
        raise ImportError_(
            f"{path}: negative SOC on line(s) {_lines(neg[neg].index)} (profiles {', '.join(pid[neg].unique()[:5])})"
        )
    t = pd.DataFrame({"pid": pid, "lat": lat, "lon": lon, "top": top, "bot": bot, "soc": soc})
    t["depth"] = (t["top"] + t["bot"]) / 2.0
    t = t[~dropped.to_numpy()]
    keep = t["soc"].notna()
    if (~keep).any():
        report.append(f"{int((~keep).sum())} rows dropped: SOC missing (or bulk density missing)")
    deep = keep & (t["depth"] > MAX_OBS_DEPTH)
    if deep.any():
        report.append(f"{int(deep.sum())} rows dropped: node depth below {MAX_OBS_DEPTH} m")
    t = t[keep & ~deep]
    if t.empty:
        raise ImportError_(f"{path}: no usable layer (all rows lack SOC or are too deep)")
    g = t.groupby("pid", sort=False)
    spread = (g["lat"].max() - g["lat"].min()).abs() + (g["lon"].max() - g["lon"].min()).abs()
    moving = spread[spread > 1e-6]
    if len(moving):
        raise ImportError_(
            f"{path}: profile(s) with several lat/lon values: {', '.join(map(str, moving.index[:10]))}"
        )
    dup = t.duplicated(["pid", "top", "bot"], keep=False)
    if dup.any():
        dprof = t.loc[dup, "pid"].unique()
        if duplicates == "error":
            raise ImportError_(
                f"{path}: {len(dprof)} profile(s) repeat a layer with the same top and bottom "
                f"(e.g. {', '.join(map(str, dprof[:5]))}); pass duplicates='mean' or 'first'"
            )
        agg = "mean" if duplicates == "mean" else "first"
        t = t.groupby(["pid", "top", "bot"], sort=False, as_index=False).agg(
            lat=("lat", "first"), lon=("lon", "first"), soc=("soc", agg), depth=("depth", "first")
        )
        report.append(
            f"{int(dup.sum())} duplicated layers in {len(dprof)} profiles combined ({agg})"
        )
    t = t.sort_values(["pid", "depth"], kind="stable")
    order = pd.unique(pid[pid.isin(t["pid"])])
    t["pid"] = pd.Categorical(t["pid"], categories=order)
    t = t.sort_values(["pid", "depth"], kind="stable")
    t["k"] = t.groupby("pid", observed=True).cumcount()
    if max_obs is not None:
        over = t["k"] >= max_obs
        if over.any():
            report.append(f"{int(over.sum())} deeper layers dropped (max_obs={max_obs})")
        t = t[~over]
    n, m = len(order), int(t["k"].max()) + 1
    si = t["pid"].cat.codes.to_numpy()
    k = t["k"].to_numpy()
    arrays = {}
    for name in ("soc", "depth", "top", "bot"):
        a = np.full((n, m), np.nan)
        a[si, k] = t[name].to_numpy()
        arrays[name] = a
    first = t.groupby("pid", observed=True)[["lat", "lon"]].first()
    ds = base_coords(order, first["lat"].to_numpy(), first["lon"].to_numpy())
    ds = ds.drop_vars(["layer", "depth", "month"])
    m_attrs = {"units": "m", "positive": "down"}
    ds["soc"] = (
        ("site", "obs"),
        arrays["soc"],
        {"units": "g m-3", "long_name": "soil organic carbon density"},
    )
    ds["obs_depth"] = (
        ("site", "obs"),
        arrays["depth"],
        {**m_attrs, "long_name": "layer node (midpoint) depth"},
    )
    ds["obs_top"] = (
        ("site", "obs"),
        arrays["top"],
        {**m_attrs, "long_name": "top of the observed layer"},
    )
    ds["obs_bottom"] = (
        ("site", "obs"),
        arrays["bot"],
        {**m_attrs, "long_name": "bottom of the observed layer"},
    )
    report.append(f"{len(t)} observations in {n} profiles (max {m} per profile)")
    ds.attrs["import_report"] = "; ".join(report)
    ds.attrs["source"] = f"soilbinn.inputs.importers.read_profiles_csv({path.name})"
    return ds


_UNIT_HEADER = re.compile(r"^\s*(?P<name>[^\[]+?)\s*\[(?P<units>[^\]]*)\]\s*$")


def _split_header(col: str) -> tuple[str, str]:
    m = _UNIT_HEADER.match(str(col))
    return (m["name"], m["units"].strip() or "1") if m else (str(col).strip(), "1")


def join_covariates_csv(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    site_column: str = "site",
    categorical: Sequence[str] = (),
    units: dict[str, str] | None = None,
    use: Sequence[str] | None = None,
) -> xr.Dataset:
    """Add covariates from a CSV table (one row per site) joined on the site id.

    Parameters
    ----------
    ds : dataset with a ``site`` coordinate
    path : CSV file
    site_column : name of the site-id column
    categorical : names of categorical columns (coded 0..n-1 by sorted label; empty = -1)
    units : units of numeric columns (overrides ``name [units]`` headers; default "1")
    use : restrict to these columns (default all other columns)

    Returns
    -------
    xarray.Dataset with ``covariates``/``covariate_units`` and/or ``categories`` added
    (existing covariates are kept; a name clash is an error).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"covariate table not found: {path}")
    df = pd.read_csv(path, dtype={site_column: str}, low_memory=False)
    parsed = {c: _split_header(c) for c in df.columns}
    df = df.rename(columns={c: parsed[c][0] for c in df.columns})
    header_units = {parsed[c][0]: parsed[c][1] for c in parsed}
    if site_column not in df.columns:
        raise ImportError_(
            f"{path}: site-id column {site_column!r} missing; the file has {list(df.columns)}"
        )
    names = [c for c in (use or df.columns) if c != site_column]
    absent = [c for c in [*names, *categorical] if c not in df.columns]
    if absent:
        raise ImportError_(f"{path}: column(s) {absent} not in the table {list(df.columns)}")
    ids = df[site_column].astype(str).str.strip()
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise ImportError_(f"{path}: duplicate site id(s) {', '.join(dup.unique()[:10])}")
    df.index = ids
    site_ids = np.asarray(ds["site"].values).astype(str)
    missing = [s for s in site_ids if s not in df.index]
    if missing:
        more = f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
        raise ImportError_(
            f"{path}: {len(missing)} site(s) of the dataset not in the table: {', '.join(missing[:10])}{more}"
        )
    # category labels come from the whole table (stable codes across datasets joined to it)
    all_labels = {
        c: sorted(x for x in df[c].astype("string").str.strip().dropna().unique() if x != "")
        for c in categorical
    }
    df = df.loc[site_ids].reset_index(drop=True)
    numeric = [c for c in names if c not in categorical]
    values, problems = {}, []
    for c in numeric:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = v.isna()
        if bad.any():
            problems.append(
                f"column {c!r}: missing or non-numeric for site(s) "
                f"{', '.join(site_ids[bad.to_numpy()][:10])}" + (" ..." if bad.sum() > 10 else "")
            )
        values[c] = v.to_numpy(np.float64)
    if problems:
        raise ImportError_(f"{path}: " + "; ".join(problems))
    out = ds
    existing = (
        set(np.asarray(ds["covariate"].values).astype(str)) if "covariate" in ds.coords else set()
    )
    existing |= (
        set(np.asarray(ds["category"].values).astype(str)) if "category" in ds.coords else set()
    )
    clash = existing & set(names)
    if clash:
        raise ImportError_(f"{path}: covariate(s) {sorted(clash)} already in the dataset")
    if numeric:
        u = {c: (units or {}).get(c, header_units.get(c, "1")) for c in numeric}
        if "covariates" in ds.variables:
            old = np.asarray(ds["covariate"].values).astype(str)
            prev = {c: ds["covariates"].sel(covariate=c).values for c in old}
            prev_u = dict(zip(old, np.asarray(ds["covariate_units"].values).astype(str)))
            out = out.drop_vars(["covariates", "covariate_units", "covariate"] +
                                (["covariate_long_name"] if "covariate_long_name" in ds.variables else []))  # fmt: skip
            values, u = {**prev, **values}, {**prev_u, **u}
        out = add_covariates(out, values, u)
    if categorical:
        codes, labels = {}, {}
        if "categories" in ds.variables:
            from soilbinn.data.schema import category_labels

            labels.update(category_labels(ds))
            for c in labels:
                codes[c] = ds["categories"].sel(category=c).values
            out = out.drop_vars(["categories", "category"])
        for c in categorical:
            s = df[c].astype("string").str.strip()
            lab = all_labels[c]
            lut = {x: i for i, x in enumerate(lab)}
            codes[c] = np.array(
                [lut.get(x, -1) if isinstance(x, str) else -1 for x in s.tolist()], dtype=np.int32
            )
            labels[c] = lab
        out = add_categories(out, codes, labels)
    return out
