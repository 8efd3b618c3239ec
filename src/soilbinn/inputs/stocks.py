"""Depth-integrated SOC stock tables -> stock observations ``stock_obs(site, interval)``.

Users' own stock tables (:func:`read_stock_table`): a CSV in long format, one row per
pedon (site) and depth interval::

    site_id,lat,lon,top_cm,bottom_cm,stock_kg_m2
    plot7,44.21,-72.55,0,30,9.8
    plot7,44.21,-72.55,0,100,17.2

* ``site_id`` (text), ``lat`` / ``lon`` (degrees north / east, WGS84);
* the interval: ``top_m`` / ``bottom_m`` (m) or ``top_cm`` / ``bottom_cm`` (cm) below the
  mineral or organic surface as the stock was computed, ``0 <= top < bottom <= 8.6 m``;
* the stock of soil organic carbon in one column whose name carries its units:
  ``stock_kg_m2`` (kg C m-2), ``stock_g_m2`` (g C m-2) or ``stock_Mg_ha`` (Mg C ha-1 =
  0.1 kg m-2 = 100 g m-2);
* optional ``region`` (text, e.g. a survey region, for leave-region-out evaluation) and
  ``land_use`` (free labels harmonised by :func:`soilbinn.inputs.covariates.land_use_codes`).

Cumulative stocks (0-30 and 0-100 cm of one pedon) and increments (0-30, 30-100 cm) are
both fine: the dataset keeps the intervals as given, the loss uses increments.

RaCA's pedon stocks (:func:`raca_stock_table`): ``raca_pedon_stocks.csv`` with cumulative
0-5, 0-30 and 0-100 cm stocks in Mg C ha-1 (NaN where the pedon was not sampled that
deep), the MO region and the land-use letter.

:func:`build_stock_dataset` adds forcing and covariates at each location with
:func:`soilbinn.inputs.dataset.build_point_dataset`; :func:`merge_observation_datasets`
joins a layer dataset and a stock dataset into one; :func:`attach_stocks` puts stocks on
existing (layered) sites; :func:`add_raca_stocks` is what ``soilbinn prepare real`` calls
(see its docstring for which stock pedons join a layered site and which become sites).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from soilbinn.data.schema import MAX_OBS_DEPTH, add_stocks, base_coords, validate_dataset

#: stock column name -> factor to g C m-2
STOCK_COLUMNS: dict[str, float] = {"stock_g_m2": 1.0, "stock_kg_m2": 1000.0, "stock_Mg_ha": 100.0}
#: depth column suffix -> factor to m
DEPTH_UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01}
#: RaCA wide-file stock columns -> interval (m)
RACA_COLUMNS: dict[str, tuple[float, float]] = {
    "SOCstock_0_5cm_MgC_ha": (0.0, 0.05),
    "SOCstock_0_30cm_MgC_ha": (0.0, 0.30),
    "SOCstock_0_100cm_MgC_ha": (0.0, 1.00),
}
RACA_STOCK_FILE = "raca_pedon_stocks.csv"
RACA_LAYER_FILE = "raca_layers_west.csv"
STOCK_PEDON_LONG_NAME = "stock pedon (stock table site) whose stocks the site carries ('' = none)"
#: columns of the canonical long table every reader returns
COLUMNS = ("site", "lat", "lon", "top_m", "bottom_m", "stock_g_m2", "region", "land_use", "source")


class StockTableError(ValueError):
    """A stock table is malformed (one line naming the file, column, rows and sites)."""


def _fail(path, problem: str, rows=None, sites=None) -> None:
    where = ""
    if rows is not None and len(rows):
        lines = ", ".join(str(int(r) + 2) for r in rows[:5])  # header is line 1
        names = ", ".join(dict.fromkeys(str(s) for s in sites[:5]))
        more = f" (+{len(rows) - 5} more)" if len(rows) > 5 else ""
        where = f" at line(s) {lines}{more} (site {names})"
    raise StockTableError(f"{path}: {problem}{where}")


def _read_csv(path: Path, what: str, dtype: dict) -> pd.DataFrame:
    """A stock CSV as a DataFrame; a missing or unreadable file is one line naming it."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        return pd.read_csv(path, dtype=dtype)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise StockTableError(f"{path}: cannot read as CSV: {err}") from None


def read_stock_table(path: str | os.PathLike, source: str = "user") -> pd.DataFrame:
    """Read a long-format stock CSV (module docstring) into the canonical table.

    Returns
    -------
    DataFrame with :data:`COLUMNS`: stocks in g C m-2, depths in m.

    Raises
    ------
    StockTableError
        Missing or ambiguous columns, unknown units, non-numeric or missing values,
        negative stocks, ``top >= bottom``, intervals below 8.6 m, coordinates out of
        range, an interval repeated for one site, one site at two locations.
    """
    path = Path(path)
    df = _read_csv(path, "stock table", {"site_id": str, "region": str, "land_use": str})
    cols = set(df.columns)
    stock_cols = [c for c in df.columns if str(c).lower().startswith("stock")]
    known = [c for c in stock_cols if c in STOCK_COLUMNS]
    if len(stock_cols) != 1 or not known:
        _fail(path, f"need exactly one stock column named with its units, one of "
                    f"{', '.join(STOCK_COLUMNS)}; found {stock_cols or 'none'}")  # fmt: skip
    unit = next((u for u in DEPTH_UNITS if {f"top_{u}", f"bottom_{u}"} <= cols), None)
    if unit is None:
        _fail(path, "need depth columns top_m,bottom_m (m) or top_cm,bottom_cm (cm)")
    missing = [c for c in ("site_id", "lat", "lon") if c not in cols]
    if missing:
        _fail(path, f"missing column(s) {', '.join(missing)}")
    site = df["site_id"].astype(str).str.strip()
    num = {}
    for col in ("lat", "lon", f"top_{unit}", f"bottom_{unit}", stock_cols[0]):
        v = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(v.to_numpy(dtype=float)))
        if len(bad):
            _fail(path, f"column {col}: missing or non-numeric value", bad, site.iloc[bad].tolist())
        num[col] = v.to_numpy(dtype=float)
    top = num[f"top_{unit}"] * DEPTH_UNITS[unit]
    bottom = num[f"bottom_{unit}"] * DEPTH_UNITS[unit]
    stock = num[stock_cols[0]] * STOCK_COLUMNS[stock_cols[0]]
    checks = (
        ((site == "") | (site.str.lower() == "nan")).to_numpy(), "site_id: empty",
        (num["lat"] < -90) | (num["lat"] > 90), "lat: outside [-90, 90] degrees north",
        (num["lon"] < -180) | (num["lon"] > 360), "lon: outside [-180, 360] degrees east",
        stock < 0, f"{stock_cols[0]}: negative stock",
        top < 0, f"top_{unit}: negative depth (above the surface)",
        top >= bottom, f"top_{unit} >= bottom_{unit} (empty or inverted interval)",
        bottom > MAX_OBS_DEPTH + 1e-9,
        f"bottom_{unit}: below the {MAX_OBS_DEPTH} m soil column of CLM5",
        pd.DataFrame({"s": site, "t": top, "b": bottom}).duplicated().to_numpy(),
        "the same interval given twice for one site",
    )  # fmt: skip
    for mask, text in zip(checks[::2], checks[1::2]):
        bad = np.flatnonzero(mask)
        if len(bad):
            _fail(path, text, bad, site.iloc[bad].tolist())
    loc = pd.DataFrame({"s": site, "lat": num["lat"], "lon": num["lon"]})
    n_loc = loc.groupby("s")[["lat", "lon"]].nunique().max(axis=1)
    if (n_loc > 1).any():
        names = n_loc.index[n_loc > 1].tolist()
        _fail(path, f"site_id given at several lat/lon: {', '.join(names[:5])}")
    out = pd.DataFrame({
        "site": site.to_numpy(), "lat": num["lat"], "lon": num["lon"], "top_m": top,
        "bottom_m": bottom, "stock_g_m2": stock,
        "region": df["region"].fillna("").astype(str).to_numpy() if "region" in cols else "",
        "land_use": df["land_use"].fillna("").astype(str).to_numpy() if "land_use" in cols else "",
        "source": source,
    })  # fmt: skip
    problems = _nested_problems(out)
    if problems:
        raise StockTableError(f"{path}: {problems[0]}")
    return out


def raca_pedon_key(pedon_id) -> np.ndarray:
    """RaCA pedon ids as one key for both RaCA files (upper case, without ``-`` / ``_``).

    The stock file writes pedon ``C0101F01`` number 1 as ``C0101F01-1``, ``C0101F01_1`` or
    ``c0101f01-1``; the layer file as ``RACA_C0101F011`` (whose layered site in
    ``pedon`` mode is ``raca_C0101F011``). Both map to ``C0101F011``.
    """
    s = pd.Series(np.asarray(pedon_id, dtype=str))
    s = s.str.replace(r"^RACA_", "", regex=True).str.replace(r"[-_]", "", regex=True)
    return s.str.upper().to_numpy(dtype=object)


def raca_stock_table(path: str | os.PathLike) -> pd.DataFrame:
    """RaCA's ``raca_pedon_stocks.csv`` (wide, Mg C ha-1) as the canonical long table.

    Site ids are ``raca_stock_<pedon_id>``; extra columns ``raca_site`` (RaCA's site id),
    ``pedon_key`` (:func:`raca_pedon_key`, the id shared with the layer file) and
    ``raca_land_use`` (RaCA's letter as given); ``region`` is ``MO`` as ``MO01``..``MO18``;
    ``land_use`` is RaCA's letter in lower case (as for RaCA's layered pedons). Missing
    intervals (pedons not sampled that deep) are left out; organic and wetland pedons
    are kept. This is the one reader of the file (``prepare real`` and the harmonisation
    check ``prepare check-stocks`` both use it).
    """
    path = Path(path)
    df = _read_csv(path, "RaCA pedon stocks", {"pedon_id": str, "site_id": str, "land_use": str})
    need = {"pedon_id", "site_id", "lat", "lon", "MO", "land_use", *RACA_COLUMNS}
    if need - set(df.columns):
        _fail(path, f"missing column(s) {', '.join(sorted(need - set(df.columns)))}")
    mo = pd.to_numeric(df.MO, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(mo))
    if len(bad):
        _fail(path, "column MO: missing or non-numeric region", bad, df.pedon_id.iloc[bad].tolist())
    key = raca_pedon_key(df.pedon_id)
    parts = []
    for col, (top, bottom) in RACA_COLUMNS.items():
        v = pd.to_numeric(df[col], errors="coerce")
        ok = np.isfinite(v.to_numpy(dtype=float))
        parts.append(pd.DataFrame({
            "site": "raca_stock_" + df.pedon_id[ok].astype(str), "lat": df.lat[ok].astype(float),
            "lon": df.lon[ok].astype(float), "top_m": top, "bottom_m": bottom,
            "stock_g_m2": v[ok].to_numpy(dtype=float) * STOCK_COLUMNS["stock_Mg_ha"],
            "region": [f"MO{int(m):02d}" for m in mo[ok]],
            "land_use": df.land_use[ok].astype(str).str.lower(), "source": "raca_stock",
            "raca_site": df.site_id[ok].astype(str), "pedon_key": key[ok],
            "raca_land_use": df.land_use[ok].astype(str),
        }))  # fmt: skip
    out = pd.concat(parts, ignore_index=True)
    neg = np.flatnonzero(out.stock_g_m2.to_numpy() < 0)
    if len(neg):
        _fail(path, "negative stock", neg, out.site.iloc[neg].tolist())
    return out


def _nested_problems(table: pd.DataFrame) -> list[str]:
    """Schema problems of the stock intervals of a canonical table (nesting, density)."""
    sites, stock, top, bottom = stock_arrays(table)
    ds = add_stocks(base_coords(sites.index, sites.lat, sites.lon), stock, top, bottom)
    return validate_dataset(ds, require=("observations",))


def stock_arrays(table: pd.DataFrame):
    """Canonical long table -> (sites, stock, top, bottom).

    Returns
    -------
    sites : DataFrame indexed by site (first-appearance order) with lat, lon, region,
        land_use, source
    stock : ndarray (n, k), g m-2; top, bottom : ndarray (n, k), m
        Each site's intervals sorted by (top, bottom), NaN-padded to the longest.
    """
    t = table.sort_values(["top_m", "bottom_m"], kind="stable")
    order = pd.unique(table["site"])
    sites = t.groupby("site", sort=False)[["lat", "lon", "region", "land_use", "source"]].first()
    sites = sites.reindex(order)
    row = pd.Series(np.arange(len(order)), index=order)[t["site"]].to_numpy()
    rank = t.groupby("site", sort=False).cumcount().to_numpy()
    k = int(rank.max()) + 1 if len(t) else 1
    arr = {c: np.full((len(order), k), np.nan) for c in ("stock_g_m2", "top_m", "bottom_m")}
    for c, a in arr.items():
        a[row, rank] = t[c].to_numpy(dtype=float)
    return sites, arr["stock_g_m2"], arr["top_m"], arr["bottom_m"]


def build_stock_dataset(
    table: pd.DataFrame, shared: str | os.PathLike, land_use: bool = False, **inputs
) -> tuple[xr.Dataset, dict]:
    """Forcing, covariates and stock observations at the sites of a canonical table.

    ``inputs`` (``max_km``, ``nitrogen``) go to
    :func:`soilbinn.inputs.dataset.build_point_dataset`. Returns (dataset, report) where
    the report counts the sites without a valid grid cell.
    """
    from soilbinn.inputs.covariates import land_use_codes
    from soilbinn.inputs.dataset import build_point_dataset

    sites, stock, top, bottom = stock_arrays(table)
    lu = land_use_codes(sites.land_use.tolist()) if land_use else None
    ds, ok = build_point_dataset(sites.lat, sites.lon, sites.index, shared, land_use=lu, **inputs)
    sites = sites[ok]
    ds = add_stocks(ds, stock[ok], top[ok], bottom[ok])
    ds["source"] = ("site", sites.source.to_numpy().astype(str), {"long_name": "source database"})
    ds["land_use_label"] = ("site", sites.land_use.to_numpy().astype(str),
                            {"long_name": "land use / cover as given by the source"})  # fmt: skip
    ds["region"] = ("site", sites.region.to_numpy().astype(str),
                    {"long_name": "region of the source survey (empty = unknown)"})  # fmt: skip
    ds["profile_ids"] = ("site", np.asarray(sites.index, dtype=str),
                         {"long_name": "original profile id(s); several = composite"})  # fmt: skip
    ds["n_profiles"] = ("site", np.ones(len(sites), np.int32),
                        {"units": "1", "long_name": "number of source profiles in this site"})  # fmt: skip
    return ds, {"sites": int(ok.sum()), "no_valid_grid_cell": int((~ok).sum()),
                "intervals": int(np.isfinite(stock[ok]).sum())}  # fmt: skip


def _fill_like(da: xr.DataArray, sizes: dict) -> xr.DataArray:
    """An all-missing copy of ``da`` with the given dimension sizes."""
    shape = tuple(sizes[d] for d in da.dims)
    kind = da.dtype.kind
    fill = "" if kind in "OSU" else (-1 if kind in "iu" else (False if kind == "b" else np.nan))
    dtype = object if kind in "OSU" else (np.float64 if kind == "f" else da.dtype)
    return xr.DataArray(np.full(shape, fill, dtype=dtype), dims=da.dims, attrs=da.attrs)


def merge_observation_datasets(a: xr.Dataset, b: xr.Dataset) -> xr.Dataset:
    """Concatenate two datasets along ``site``; variables one lacks are filled as missing.

    Both must come from the same input layer (identical covariate and category lists);
    e.g. a layer dataset (``obs``) and a stock dataset (``interval``).
    """
    a, b = a.copy(), b.copy()
    for x, y in ((a, b), (b, a)):
        for name, da in y.data_vars.items():
            if name not in x.variables and "site" in da.dims:
                sizes = {**{d: y.sizes[d] for d in da.dims}, "site": x.sizes["site"]}
                x[name] = _fill_like(da, sizes)
    for name in ("obs", "interval"):
        if name in a.dims and name in b.dims and a.sizes[name] != b.sizes[name]:
            n = max(a.sizes[name], b.sizes[name])
            a, b = (d.pad({name: (0, n - d.sizes[name])}) for d in (a, b))
    out = xr.concat([a, b], dim="site", data_vars="minimal", coords="minimal",
                    compat="override", combine_attrs="override")  # fmt: skip
    for name in ("source", "land_use_label", "region", "profile_ids", "stock_pedon_id"):
        if name in out.variables:
            out[name] = out[name].astype(str)
    return out


def raca_layer_sites(shared: Path, profile_ids) -> np.ndarray:
    """RaCA site id (``C0401C01``) of each semicolon-joined ``profile_ids`` entry ('' if none)."""
    path = shared / "profiles" / RACA_LAYER_FILE
    if not path.exists():
        return np.full(len(profile_ids), "", dtype=object)
    m = pd.read_csv(path, usecols=["profile_id", "site_id"]).drop_duplicates("profile_id")
    lookup = dict(zip(m.profile_id.astype(str), m.site_id.astype(str)))
    return np.array(
        [next((lookup[p] for p in str(ids).split(";") if p in lookup), "") for ids in profile_ids],
        dtype=object,
    )


def raca_region(site_ids) -> np.ndarray:
    """RaCA MO region ``MO01``.. from RaCA site ids ('' for others).

    RaCA site ids carry the MO region in characters 2-3 (``C0401C01`` is in MO04); this
    holds for every pedon of ``raca_pedon_stocks.csv``, whose ``MO`` column says so.
    """
    s = pd.Series(np.asarray(site_ids, dtype=str))
    digits = s.str[1:3]
    ok = digits.str.fullmatch(r"\d\d")
    return np.where(ok, "MO" + digits.where(ok, "00"), "").astype(object)


def layered_site_of_stock_pedons(
    ds: xr.Dataset, table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """The layered site of ``ds`` each row of a RaCA stock table belongs to.

    Two rules, first match wins:

    1. *same pedon*: the row's ``pedon_key`` is one of the RaCA ``profile_ids`` of a site
       (``raca_C0101F011`` holds ``RACA_C0101F011`` = stock pedon ``C0101F01-1``); in
       ``--raca site`` mode that site is the composite of the pedon's RaCA site;
    2. *composite of its location* (``--raca site`` only): the row's RaCA site is
       composited as site ``raca_<raca_site>`` (the stock file's pedon of that RaCA site
       is not one of the composited layered pedons, e.g. ``C0401C01X``).

    Returns
    -------
    target : ndarray of str (rows,), the ``ds`` site id ('' = no layered site)
    rule : ndarray of str (rows,), ``same_pedon``, ``composite`` or ''
    """
    n = len(table)
    target, rule = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    if "profile_ids" not in ds or "source" not in ds or not n:
        return target, rule
    sites = np.asarray(ds["site"].values).astype(str)
    raca = np.asarray(ds["source"].values).astype(str) == "raca"
    by_key = {}
    for site, ids in zip(sites[raca], np.asarray(ds["profile_ids"].values)[raca].astype(str)):
        for k in raca_pedon_key(ids.split(";")):
            by_key.setdefault(k, site)
    raca_sites = set(sites[raca])
    for i, (k, rs) in enumerate(zip(table["pedon_key"], table["raca_site"].astype(str))):
        if k in by_key:
            target[i], rule[i] = by_key[k], "same_pedon"
        elif f"raca_{rs}" in raca_sites:
            target[i], rule[i] = f"raca_{rs}", "composite"
    return target, rule


def attach_stocks(ds: xr.Dataset, table: pd.DataFrame, target: np.ndarray) -> xr.Dataset:
    """Stock observations of ``table`` rows on existing sites of ``ds`` (``target`` ids).

    Adds ``stock_obs`` / ``stock_top`` / ``stock_bottom`` (all-missing at other sites) and
    ``stock_pedon_id(site)`` (the stock table's site id, '' where none). ``ds`` must not
    carry stocks yet; one stock pedon per site.
    """
    if "stock_obs" in ds:
        raise ValueError("attach_stocks: the dataset already carries stock observations")
    t = table.assign(stock_pedon=table["site"].astype(str).to_numpy(), site=np.asarray(target))
    per_site = t.groupby("site").stock_pedon.nunique()
    if (per_site > 1).any():
        raise StockTableError(
            f"several stock pedons would attach to site(s) {per_site.index[per_site > 1][:5].tolist()}"
        )
    sites, stock, top, bottom = stock_arrays(t)
    n = ds.sizes["site"]
    row = pd.Series(np.arange(n), index=np.asarray(ds["site"].values).astype(str))
    where = row.reindex(sites.index).to_numpy()
    if np.isnan(where.astype(float)).any():
        raise ValueError("attach_stocks: target site(s) not in the dataset")
    k = max(stock.shape[1], 1)
    arr = [np.full((n, k), np.nan) for _ in range(3)]
    for a, v in zip(arr, (stock, top, bottom)):
        a[where.astype(int), : v.shape[1]] = v
    ds = add_stocks(ds.copy(), *arr)
    pid = np.full(n, "", dtype=object)
    pid[where.astype(int)] = t.groupby("site").stock_pedon.first().reindex(sites.index).to_numpy()
    ds["stock_pedon_id"] = ("site", pid.astype(str), {"long_name": STOCK_PEDON_LONG_NAME})
    return ds


def add_raca_stocks(
    ds: xr.Dataset,
    shared: str | os.PathLike,
    land_use: bool = False,
    extra_tables=(),
    raca: bool = True,
    max_pedons: int | None = None,
    seed: int = 0,
    **inputs,
) -> tuple[xr.Dataset, dict]:
    """Add RaCA's pedon stocks (and users' stock tables) to a layer dataset.

    Every RaCA stock pedon with valid gridded inputs is kept, organic and wetland pedons
    included:

    * a stock pedon that is the same pedon as a layered site of ``ds`` (MO01-05; rule 1
      of :func:`layered_site_of_stock_pedons`), or, with ``--raca site``, whose RaCA site
      is composited in ``ds`` (rule 2), has its intervals attached to that site: the site
      then carries layers and stocks. No site is duplicated; the loss weights stock
      increments at sites with layers by ``loss.stock_weight_with_layers`` (default 0:
      RaCA's stocks are computed from the same layers, see
      :mod:`soilbinn.training.stocks`), and the stocks are scored in evaluation;
    * every other stock pedon (the East, western pedons whose layers were dropped, and
      the other pedon of a layered RaCA site in ``pedon`` mode) becomes its own site
      ``raca_stock_<pedon_id>`` with forcing and covariates at its location.

    ``max_pedons`` keeps a random subset of the own-site stock pedons (quick runs and
    tests). Every site gets ``region``: RaCA's MO region for RaCA layers and stock pedons,
    a user table's ``region`` column, else empty; and ``stock_pedon_id`` ('' = no stocks).

    Returns
    -------
    (dataset, report) with counts of pedons read, attached to layered sites (by rule),
    kept as own sites, without a valid grid cell.
    """
    shared = Path(shared)
    rep: dict = {}
    raca_site = (
        raca_layer_sites(shared, ds["profile_ids"].values)
        if "profile_ids" in ds
        else np.full(ds.sizes["site"], "", dtype=object)
    )
    ds = ds.copy()
    ds["region"] = ("site", raca_region(raca_site).astype(str),
                    {"long_name": "region of the source survey (empty = unknown)"})  # fmt: skip
    tables = []
    attach = None
    if raca:
        from soilbinn.inputs.grids import require_file

        t = raca_stock_table(require_file(shared / "profiles" / RACA_STOCK_FILE, "RaCA stocks"))
        target, rule = layered_site_of_stock_pedons(ds, t)
        on = target != ""
        rep["raca_stock_pedons_read"] = int(t.site.nunique())
        rep["raca_stock_pedons_attached_to_layered_sites"] = int(t.site[on].nunique())
        for r in ("same_pedon", "composite"):
            rep[f"raca_stock_pedons_attached_{r}"] = int(t.site[rule == r].nunique())
        attach = (t[on], target[on])
        t = t[~on]
        if max_pedons is not None and max_pedons < t.site.nunique():
            rng = np.random.default_rng(seed)
            keep = rng.choice(t.site.unique(), size=max_pedons, replace=False)
            rep["raca_stock_pedons_dropped_as_subset"] = int(t.site.nunique() - max_pedons)
            t = t[t.site.isin(set(keep))]
        rep["raca_stock_pedons_as_own_sites"] = int(t.site.nunique())
        tables.append(t)
    tables.extend(extra_tables)
    if attach is not None and len(attach[0]):
        ds = attach_stocks(ds, *attach)
    if not tables:
        return ds, rep
    table = pd.concat(tables, ignore_index=True)
    clash = set(table.site) & set(np.asarray(ds["site"].values).astype(str))
    if clash:
        raise StockTableError(f"stock site id(s) already used by layer sites: {sorted(clash)[:5]}")
    sds, srep = build_stock_dataset(table, shared, land_use=land_use, **inputs)
    sds["stock_pedon_id"] = ("site", np.asarray(sds["site"].values).astype(str),
                             {"long_name": STOCK_PEDON_LONG_NAME})  # fmt: skip
    rep.update({f"stock_{k}": v for k, v in srep.items()})
    return merge_observation_datasets(ds, sds), rep
