"""Figures: predicted-vs-observed scatter and CONUS maps (PNG, matplotlib, offline).

Map outlines (coasts, national borders, US state lines) come from the compact Natural Earth
outline shipped in the package (``outline_conus.npz``, public domain, built by
``scripts/make_map_outline.py``), so every map has them in a fresh clone; a folder of
Natural Earth shapefiles given as ``maps_dir`` (``soilbinn map --maps-dir``) or in
``$SOILBINN_MAPS`` is drawn instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from soilbinn.evaluation.metrics import regression_metrics  # noqa: E402
from soilbinn.inputs.naturalearth import read_shapes  # noqa: E402
from soilbinn.inputs.regions import CONUS_BBOX  # noqa: E402
from soilbinn.io import save_figure  # noqa: E402

#: map extent: the CONUS box of the input layer with a small margin (degrees)
MAP_EXTENT = (CONUS_BBOX[0], CONUS_BBOX[1] - 0.3, CONUS_BBOX[2] + 0.3, CONUS_BBOX[3] + 0.5)
OUTLINE_FILES = ("ne_50m_admin_0_countries.shp", "ne_50m_admin_1_states_provinces_lines.shp")


def default_maps_dir() -> Path | None:
    """``$SOILBINN_MAPS`` or ``../shared/data/maps/naturalearth`` (repo-relative) if present."""
    env = os.environ.get("SOILBINN_MAPS")
    cands = [Path(env)] if env else []
    here = Path(__file__).resolve()
    cands += [p / "shared" / "data" / "maps" / "naturalearth" for p in here.parents[3:5]]
    cands.append(Path("../shared/data/maps/naturalearth"))
    for c in cands:
        if (c / OUTLINE_FILES[0]).exists():
            return c
    return None


#: the outline shipped with the package (see scripts/make_map_outline.py)
SHIPPED_OUTLINE = Path(__file__).resolve().parent / "outline_conus.npz"


def draw_outlines(ax, maps_dir: Path | None, bbox=MAP_EXTENT) -> bool:
    """Draw country and state outlines; False when there were none to draw.

    ``maps_dir=None`` draws the shipped outline (:data:`SHIPPED_OUTLINE`); a folder draws
    its Natural Earth shapefiles (:data:`OUTLINE_FILES`).
    """
    if maps_dir is None:
        if not SHIPPED_OUTLINE.exists():
            return False
        with np.load(SHIPPED_OUTLINE) as f:
            for name, lw in (("countries", 0.8), ("states", 0.4)):
                ax.plot(f[name][:, 0], f[name][:, 1], color="0.3", lw=lw)
        return True
    drew = False
    for name, lw in zip(OUTLINE_FILES, (0.8, 0.4)):
        f = Path(maps_dir) / name
        if not f.exists():
            continue
        for part in read_shapes(f, bbox=(bbox[0] - 5, bbox[1] - 5, bbox[2] + 5, bbox[3] + 5)):
            ax.plot(part[:, 0], part[:, 1], color="0.3", lw=lw)
        drew = True
    return drew


def pred_vs_obs_figure(pred, obs, depth, path: str | Path, title: str = "") -> Path:
    """Log-log scatter of predicted against observed SOC (g m-3), coloured by depth."""
    pred = np.asarray(pred, float).ravel()
    obs = np.asarray(obs, float).ravel()
    depth = np.asarray(depth, float).ravel()
    ok = np.isfinite(pred) & np.isfinite(obs) & (pred > 0) & (obs > 0)
    m = regression_metrics(pred, obs)
    fig, ax = plt.subplots(figsize=(5, 4.6))
    if ok.any():
        sc = ax.scatter(obs[ok], pred[ok], c=depth[ok], s=4, cmap="viridis_r", alpha=0.6,
                        vmin=0, vmax=max(1.0, float(np.nanmax(depth[ok]))))  # fmt: skip
        lo = min(obs[ok].min(), pred[ok].min())
        hi = max(obs[ok].max(), pred[ok].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        fig.colorbar(sc, ax=ax, label="depth (m)")
    ax.set_xlabel("observed SOC (g C m$^{-3}$)")
    ax.set_ylabel("predicted SOC (g C m$^{-3}$)")
    ax.set_title(
        f"{title}\nNSE={m['nse']:.3f}  R$^2$={m['r2']:.3f}  RMSE={m['rmse']:.4g}  n={m['n']}",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return Path(path)


def _as_lattice(lon, lat, v):
    """(X, Y, Z) 2-D arrays when the points lie on a regular lon/lat lattice, else None."""
    ux, uy = np.unique(np.round(lon, 6)), np.unique(np.round(lat, 6))
    if len(ux) < 2 or len(uy) < 2 or len(ux) * len(uy) > 4 * len(v) + 10:
        return None
    dx, dy = np.min(np.diff(ux)), np.min(np.diff(uy))
    ix = np.round((lon - ux[0]) / dx).astype(int)
    iy = np.round((lat - uy[0]) / dy).astype(int)
    if not (np.allclose(ux[0] + ix * dx, lon, atol=1e-4 * dx) and
            np.allclose(uy[0] + iy * dy, lat, atol=1e-4 * dy)):  # fmt: skip
        return None
    z = np.full((iy.max() + 1, ix.max() + 1), np.nan)
    z[iy, ix] = v
    xs = ux[0] + dx * np.arange(z.shape[1])
    ys = uy[0] + dy * np.arange(z.shape[0])
    return (*np.meshgrid(xs, ys), np.ma.masked_invalid(z))


def map_figure(
    lon, lat, values, path: str | Path, title: str = "", units: str = "",
    maps_dir: Path | None = None, log: bool = False,
) -> Path:  # fmt: skip
    """Map of per-site (or per-cell) values over CONUS as coloured points."""
    lon = np.asarray(lon, float)
    lat = np.asarray(lat, float)
    v = np.asarray(values, float)
    ok = np.isfinite(v) & np.isfinite(lon) & np.isfinite(lat)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    if ok.any():
        plot_v = np.log10(np.clip(v[ok], 1e-12, None)) if log else v[ok]
        lo, hi = np.nanpercentile(plot_v, [2, 98])
        hi = hi if hi > lo else lo + 1e-12
        grid = _as_lattice(lon[ok], lat[ok], plot_v)
        if grid is not None:  # a regular grid: draw cells
            sc = ax.pcolormesh(*grid, cmap="viridis", vmin=lo, vmax=hi, shading="nearest")
        else:  # scattered sites
            sc = ax.scatter(lon[ok], lat[ok], c=plot_v, s=12, cmap="viridis", vmin=lo, vmax=hi,
                            linewidths=0)  # fmt: skip
        fig.colorbar(sc, ax=ax, shrink=0.8, label=(f"log10 {units}" if log else units))
    if maps_dir is None and os.environ.get("SOILBINN_MAPS"):
        maps_dir = default_maps_dir()
    draw_outlines(ax, maps_dir)
    ax.set_xlim(MAP_EXTENT[0], MAP_EXTENT[2])
    ax.set_ylim(MAP_EXTENT[1], MAP_EXTENT[3])
    ax.set_aspect(1.25)
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return Path(path)


#: variables drawn by ``soilbinn map`` (name -> log colour scale?)
MAP_VARIABLES: dict[str, bool] = {
    "soc_stock_0_30cm": False,
    "soc_stock_0_100cm": False,
    "soc_stock": False,
    "carbon_input": False,
    "cue": False,
    "baseline_decomposition": True,
    "environmental_modifier": False,
    "vertical_transport": True,
    "input_allocation": False,
}


def maps_of_prediction(
    ds: xr.Dataset, out_dir: str | Path, variables: list[str] | None = None,
    params: bool = True, maps_dir: Path | None = None,
) -> list[Path]:  # fmt: skip
    """One PNG per variable (stocks, processes, and physical parameters) of a prediction."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = [v for v in ("lat", "lon") if v not in ds.variables]
    if missing:
        raise ValueError(f"prediction file lacks {missing}: cannot draw maps")
    names = variables or [v for v in MAP_VARIABLES if v in ds.variables]
    bad = [v for v in names if v not in ds.variables]
    if bad:
        raise ValueError(f"prediction file lacks variable(s) {bad}; has {sorted(ds.data_vars)}")
    written = []
    for v in names:
        da = ds[v]
        title = f"{da.attrs.get('long_name', v)} ({v})"
        written.append(map_figure(ds["lon"], ds["lat"], da.values, out_dir / f"{v}.png", title,
                                  da.attrs.get("units", ""), maps_dir, MAP_VARIABLES.get(v, False)))  # fmt: skip
        if f"{v}_p05" in ds.variables and f"{v}_p95" in ds.variables:  # ensemble uncertainty
            width = ds[f"{v}_p95"].values - ds[f"{v}_p05"].values
            written.append(map_figure(ds["lon"], ds["lat"], width, out_dir / f"{v}_p90width.png",
                                      f"90% interval width (p95 - p05) of {da.attrs.get('long_name', v)}",
                                      da.attrs.get("units", ""), maps_dir))  # fmt: skip
        if f"{v}_sd" in ds.variables:
            written.append(map_figure(ds["lon"], ds["lat"], ds[f"{v}_sd"].values,
                                      out_dir / f"{v}_sd.png",
                                      f"ensemble sd of {da.attrs.get('long_name', v)}",
                                      da.attrs.get("units", ""), maps_dir))  # fmt: skip
    if params and "params_physical" in ds.variables and variables is None:
        pp = ds["params_physical"]
        for name in np.asarray(ds["param"].values).astype(str):
            da = pp.sel(param=name)
            units = str(ds["param_units"].sel(param=name).values) if "param_units" in ds else ""
            written.append(map_figure(ds["lon"], ds["lat"], da.values, out_dir / f"param_{name}.png",
                                      f"parameter {name}", units, maps_dir))  # fmt: skip
    return written
