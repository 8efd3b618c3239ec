"""Why out-of-region R2 of 0-30 cm stocks stays near 0.1, and which covariates could move it.

Usage::

    python benchmarks/realeval_tail.py screen --data real_oc.nc [--shared ../shared/data]
    python benchmarks/realeval_tail.py tail RUN [RUN ...]      # realeval output directories

``screen`` repeats the gradient-boosting comparator of ``experiment realeval`` (same
settings as :mod:`soilbinn.experiments.gbm`, stocks only) on the same seeded 6,000-site
subsample and the same 6 leave-region-out folds, once per candidate covariate set, and
prints pooled Spearman rho / R2 (1 - SSE/SS) / bias (kg m-2) of held-out 0-30 and 0-100 cm
stocks. The dataset must carry ``topsoil_oc`` (``prepare real --hwsd-oc``). Candidates
computed here from the shared grids, at a site's own cell like the other fine covariates:

* ``tpi5`` / ``tpi11`` (m): topographic position, elevation minus the mean elevation of
  the 5 x 5 / 11 x 11 cells of 1/12 degree around the cell (negative = lower than the
  surroundings, where water collects);
* ``wet5`` / ``wet11`` (1): fraction of MODIS IGBP permanent wetland (class 11) among the
  5 x 5 / 11 x 11 cells of 0.05 degree around the cell;
* ``topsoil_oc`` (%): HWSD topsoil organic carbon (a map of SOC itself);
* ``noise1`` / ``noise2``: uniform random columns, the size of a change that means nothing;
* ``land_use``: the pedon's own land use (RaCA letter, SoDaH land cover), harmonised by
  :func:`soilbinn.inputs.covariates.land_use_codes`; known at a pedon, not on the grid.

``tail`` reads ``predictions.nc`` of realeval runs and prints, per model: R2, Pearson r
(R2 can exceed r^2 for no affine recalibration, even one fitted on the held-out data),
the share of the squared error from pedons above 50 kg m-2 and their mean prediction.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

TAIL_KG_M2 = 50.0
STOCKS = ("soc_stock_0_30cm", "soc_stock_0_100cm")


def _score(p: np.ndarray, o: np.ndarray) -> tuple[float, float, float]:
    ok = np.isfinite(o) & np.isfinite(p)
    p, o = p[ok], o[ok]
    nse = 1.0 - ((p - o) ** 2).sum() / ((o - o.mean()) ** 2).sum()
    rho = pd.Series(p).rank().corr(pd.Series(o).rank())
    return float(rho), float(nse), float((p - o).mean() / 1000.0)


def _window_mean(values: np.ndarray, size: int) -> np.ndarray:
    from scipy import ndimage

    fin = np.isfinite(values)
    mode = ("nearest", "wrap")
    n = ndimage.uniform_filter(fin.astype(np.float64), size, mode=mode)
    s = ndimage.uniform_filter(np.where(fin, values, 0.0), size, mode=mode)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / n
    out[~fin] = np.nan
    return out


def candidates(shared, lat: np.ndarray, lon: np.ndarray) -> pd.DataFrame:
    """The screened terrain and wetland covariates at points (see the module docstring)."""
    from soilbinn.inputs.grids import Grid, read_fine

    out = {}
    el = read_fine(shared, "elevation")
    v = el.values.astype(np.float64)
    for size in (5, 11):
        g = Grid((v - _window_mean(v, size)).astype(np.float32), el.lat, el.lon, "m", "tpi")
        out[f"tpi{size}"] = g.sample(lat, lon, 60.0)[0]
    lc = read_fine(shared, "landcover")
    wet = np.where(np.isfinite(lc.values), (lc.values == 11).astype(np.float64), np.nan)
    for size in (5, 11):
        g = Grid(_window_mean(wet, size).astype(np.float32), lc.lat, lc.lon, "1", "wet")
        out[f"wet{size}"] = g.sample(lat, lon, 60.0)[0]
    return pd.DataFrame(out)


def screen(data: Path, shared) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    from soilbinn.data.splits import group_kfold
    from soilbinn.evaluation.observed import observed_stocks
    from soilbinn.evaluation.regions import site_regions
    from soilbinn.experiments.realeval import RealEvalConfig, load_eval_dataset
    from soilbinn.inputs.covariates import land_use_codes

    cfg = RealEvalConfig(data=str(data), max_sites=6000, region_folds=6)
    ds = load_eval_dataset(cfg)
    obs = observed_stocks(ds)
    folds = group_kfold(site_regions(ds, cfg.nearest_km, cfg.region_block_deg), 6, cfg.seed)
    num = pd.DataFrame(ds["covariates"].values, columns=ds["covariate"].values.astype(str))
    if "topsoil_oc" not in num:
        raise SystemExit(f"{data} has no topsoil_oc: prepare it with `prepare real --hwsd-oc`")
    cat = pd.DataFrame(ds["categories"].values, columns=ds["category"].values.astype(str))
    cat = cat.astype(float).where(cat >= 0)
    extra = candidates(shared, ds["lat"].values, ds["lon"].values)
    lu = land_use_codes(ds["land_use_label"].values.astype(str)).astype(float)
    extra["land_use"] = np.where(lu >= 0, lu, np.nan)
    rng = np.random.default_rng(0)  # controls: columns that carry no information
    extra["noise1"], extra["noise2"] = rng.random(len(lu)), rng.random(len(lu))
    table = pd.concat([num, extra, cat], axis=1)
    base = [c for c in num.columns if c != "topsoil_oc"]
    sets = {
        "default covariates": [],
        "+ topsoil_oc (HWSD)": ["topsoil_oc"],
        "+ noise1 (control: uniform random)": ["noise1"],
        "+ noise2 (control)": ["noise2"],
        "+ tpi5": ["tpi5"],
        "+ tpi11": ["tpi11"],
        "+ wet5": ["wet5"],
        "+ wet11": ["wet11"],
        "+ tpi11 + wet11": ["tpi11", "wet11"],
        "+ land_use (pedon, not on the grid)": ["land_use"],
        "+ topsoil_oc + land_use": ["topsoil_oc", "land_use"],
    }
    categorical = {"land_use", *cat.columns}
    print(f"{'covariates':38s} | 0-30 cm rho / R2 / bias | 0-100 cm rho / R2 / bias")
    for name, add in sets.items():
        cols = base + add + list(cat.columns)
        x = table[cols].values
        mask = np.array([c in categorical for c in cols])
        cells = []
        for k in STOCKS:
            y = obs[k].values
            pred = np.full(len(y), np.nan)
            for f in np.unique(folds):
                tr, te = (folds != f) & np.isfinite(y), folds == f
                m = HistGradientBoostingRegressor(
                    learning_rate=0.05, max_iter=500, min_samples_leaf=20, early_stopping=True,
                    validation_fraction=0.1, n_iter_no_change=20, random_state=cfg.seed,
                    categorical_features=mask,
                )  # fmt: skip
                with threadpool_limits(1):
                    m.fit(x[tr], y[tr])
                    pred[te] = m.predict(x[te])
            cells.append("{:.2f} / {:.3f} / {:+.1f}".format(*_score(pred, y)))
        print(f"{name:38s} | {cells[0]:23s} | {cells[1]}", flush=True)


def tail(runs: list[Path]) -> None:
    for run in runs:
        p = xr.open_dataset(Path(run) / "predictions.nc")
        o = p["obs_soc_stock_0_30cm"].values / 1000.0
        for model in p["model"].values.astype(str):
            if model == "mean":
                continue
            q = p["pred_soc_stock_0_30cm"].sel(scheme="region", model=model).values / 1000.0
            ok = np.isfinite(o) & np.isfinite(q)
            oo, qq = o[ok], q[ok]
            sse = (qq - oo) ** 2
            ss = ((oo - oo.mean()) ** 2).sum()
            big = oo > TAIL_KG_M2
            r = np.corrcoef(qq, oo)[0, 1]
            print(f"{run} {model}: R2 {1 - sse.sum() / ss:.3f}, Pearson r {r:.2f} "
                  f"(r^2 {r * r:.3f}); {big.sum()} pedons > {TAIL_KG_M2:g} kg m-2 hold "
                  f"{((oo - oo.mean()) ** 2)[big].sum() / ss:.2f} of SS and "
                  f"{sse[big].sum() / sse.sum():.2f} of SSE; mean prediction there "
                  f"{qq[big].mean():.1f} (observed {oo[big].mean():.1f})")  # fmt: skip


def main() -> None:
    from soilbinn.inputs.grids import default_shared_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("screen")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--shared", type=Path, default=None)
    t = sub.add_parser("tail")
    t.add_argument("runs", type=Path, nargs="+")
    args = ap.parse_args()
    if args.what == "screen":
        screen(args.data, args.shared or default_shared_path())
    else:
        tail(args.runs)


if __name__ == "__main__":
    main()
