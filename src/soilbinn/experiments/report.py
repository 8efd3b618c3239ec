"""One self-contained HTML page (opens offline) with the tables and figures of runs.

Every input is recognised by its contents:

* an experiment run directory (``experiment.json``): its settings, headline results and
  timings as small tables, every ``*.csv`` table and every ``figures/*.png``; a
  ``soilbinn experiment realeval`` run also gets the comparison table, a calibration
  figure and table of the 90 % intervals and its figures with readable titles;
* a ``soilbinn predict --data`` NetCDF (``lat``/``lon`` and predicted stocks or
  processes): maps of the 0-30 / 0-100 cm SOC stocks and the six processes, and, for an
  ensemble, of their 90 % interval width (p95 - p05), drawn by
  :func:`soilbinn.evaluation.figures.maps_of_prediction` (the maps of ``soilbinn map``);
* a ``soilbinn explain`` folder (``importance.csv``, ``importance.png``): the figure and
  the top 5 covariates of every output;
* any other directory: its ``*.csv`` tables and ``figures/*.png``.

Images are embedded as base64: the page can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import tempfile
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:0.8em;margin:0.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:0.5em}
.note{font-size:0.85em;color:#444}
.warn{background:#fde8e8;border:2px solid #c00;color:#900;padding:0.6em;font-weight:bold}
"""

#: stocks are shown in kg C m-2 (the units of the comparison table); the files hold g m-2
_STOCKS = ("soc_stock_0_30cm", "soc_stock_0_100cm")
_PROCESSES = ("carbon_input", "cue", "baseline_decomposition", "environmental_modifier",
              "vertical_transport", "input_allocation")  # fmt: skip
_MODEL_LABELS = {"binn": "BINN", "nn": "pure NN", "gbm": "gradient boosting",
                 "mean": "training mean"}  # fmt: skip
_SCHEME_LABELS = {"region": "leave-region-out", "block2": "2-degree block CV"}
_TARGET_LABELS = {"soc_stock_0_30cm": "SOC stock 0-30 cm", "soc_stock_0_100cm":
                  "SOC stock 0-100 cm", "profile": "layer SOC density",
                  "soc_layer": "layer SOC density"}  # fmt: skip


class ReportError(ValueError):
    """An input that is not a run directory, prediction file or explain folder."""


# ----------------------------------------------------------------------------- helpers
def _esc(x) -> str:
    return html.escape(str(x))


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.{digits}g}", border=0,
                      na_rep="")  # fmt: skip


def _img(png: bytes, alt: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return f"<img alt='{_esc(alt)}' src='data:image/png;base64,{b64}'>"


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _flatten(obj, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dict -> (key path, readable value) rows (lists joined by commas)."""
    rows: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            rows += _flatten(v, f"{prefix} / {k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in obj):
            rows.append((prefix, ", ".join(_fmt(v) for v in obj)))
        else:
            for i, v in enumerate(obj):
                rows += _flatten(v, f"{prefix} / {i}")
    else:
        rows.append((prefix, _fmt(obj)))
    return rows


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _kv_table(obj, head=("item", "value")) -> str:
    return _table(pd.DataFrame(_flatten(obj), columns=list(head)))


# ----------------------------------------------------------------------------- runs
def _section(run: Path) -> str:
    """An experiment run directory, or any directory with ``*.csv`` and ``figures/``."""
    parts = [f"<h2>{_esc(run.name)}</h2>"]
    meta_p = run / "experiment.json"
    meta = {}
    if meta_p.exists():
        try:
            meta = json.loads(meta_p.read_text())
        except (OSError, ValueError) as e:
            raise ReportError(f"{meta_p}: not readable as JSON ({e})") from None
        parts.append(f"<p>experiment: <b>{_esc(meta.get('experiment'))}</b>, "
                     f"soilbinn {_esc(meta.get('soilbinn_version'))}, "
                     f"commit {_esc(str(meta.get('git_commit'))[:12])}, "
                     f"finished {_esc(meta.get('finished'))}</p>")  # fmt: skip
        results = dict(meta.get("results", {}))
        for w in results.pop("warnings", []):
            parts.append(f"<p class='warn'>WARNING: {_esc(w)}</p>")
        if meta.get("experiment") == "realeval":
            parts.append(_realeval_section(run, results))
        elif results:
            parts.append("<h3>Results</h3>" + _kv_table(results, ("result", "value")))
        if meta.get("timings_s"):
            parts.append("<h3>Timings</h3>" + _kv_table(meta["timings_s"], ("step", "seconds")))
        if meta.get("settings"):
            parts.append("<h3>Settings</h3>" + _kv_table(meta["settings"], ("setting", "value")))
    if (run / "ensemble.json").exists():
        parts.append(_ensemble_table(run / "ensemble.json"))
    realeval = meta.get("experiment") == "realeval"
    for csv in sorted(run.glob("*.csv")):
        if realeval and csv.name == "metrics.csv":
            continue  # summarised above (the full table stays in the CSV)
        parts.append(_csv_table(csv))
    for png in sorted((run / "figures").glob("*.png")):
        title = _realeval_figure_title(png.stem) if realeval else png.name
        parts.append(f"<h3>{_esc(title)}</h3>" + _img(png.read_bytes(), title))
    return "\n".join(parts)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: not readable as CSV ({' '.join(str(e).split())})") from None


def _open_netcdf(path: Path):
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            return ds.load()
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: not a readable NetCDF ({' '.join(str(e).split())})") from None


def _csv_table(csv: Path, max_rows: int = 50) -> str:
    """A CSV as a table; long ones (per-site tables) as their first rows."""
    df = _read_csv(csv)
    head = f"<h3>{_esc(csv.name)}</h3>"
    if len(df) > max_rows:
        head += f"<p class='note'>first 20 of {len(df)} rows; the full table is {_esc(csv)}</p>"
        df = df.head(20)
    return head + _table(df)


def _ensemble_table(path: Path) -> str:
    """Members and observation-error terms of an ensemble run (``ensemble.json``)."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: not readable as JSON ({e})") from None
    sig, n = info.get("obs_error_log_sd", {}), info.get("obs_error_n", {})
    loc = info.get("obs_error_log_location", {})
    rows = [{"output": _TARGET_LABELS.get(k, k.replace("_", " ")), "log-scale sd": v,
             "log-scale location": loc.get(k, 0.0),
             "factor p95 / p05 from it alone": float(np.exp(2 * 1.6449 * v)),
             "validation observations": n.get(k, "")} for k, v in sig.items()]  # fmt: skip
    return (f"<h3>Ensemble: {len(info.get('members', []))} members</h3>"
            "<p class='note'>Observation-error terms of the predictive intervals: "
            f"{_esc(info.get('obs_error_method', ''))}.</p>" + _table(pd.DataFrame(rows)))  # fmt: skip


_REALEVAL_NOTE = (
    "Every site is predicted by models that never saw its region (leave-region-out) or "
    "its 2-degree block fold (2-degree block CV). spearman: Spearman rank correlation; nse: "
    "1 - SSE/SS, the R<sup>2</sup> of an out-of-sample prediction (negative: worse than the "
    "observed mean); r2: squared Pearson r; bias and rmse in kg C m<sup>-2</sup> for stocks, "
    "g C m<sup>-3</sup> for layer SOC density; coverage90: share of observed stocks inside "
    "the predicted 5-95 % interval (ensembles only); *_grp: median over held-out regions "
    "with at least 20 observations. Full table: metrics.csv."
)


def _realeval_figure_title(stem: str) -> str:
    """A readable title of a figure ``experiment realeval`` writes (else the file name)."""
    schemes = "|".join(_SCHEME_LABELS)
    m = re.fullmatch(rf"({schemes})_(\w+?)_(spearman|nse)_by_group", stem)
    if m:
        what = "Spearman rho" if m[3] == "spearman" else "R2 (1 - SSE/SS)"
        unit = "region" if m[1] == "region" else "fold"
        return (f"{_TARGET_LABELS.get(m[2], m[2])}: {what} per held-out {unit} "
                f"({_SCHEME_LABELS[m[1]]})")  # fmt: skip
    m = re.fullmatch(rf"({schemes})_(\w+?)_pred_vs_obs", stem)
    if m:
        return (f"{_TARGET_LABELS.get(m[2], m[2])}: predicted vs observed, kg C m-2 "
                f"({_SCHEME_LABELS[m[1]]})")  # fmt: skip
    m = re.fullmatch(rf"({schemes})_profile_(\w+)", stem)
    if m:
        return (f"Layer SOC density: predicted vs observed, g C m-3, "
                f"{_MODEL_LABELS.get(m[2], m[2])} ({_SCHEME_LABELS[m[1]]})")  # fmt: skip
    return stem


def _realeval_section(run: Path, results: dict) -> str:
    from soilbinn.experiments.realeval import comparison_table

    metrics = _read_csv(run / "metrics.csv")
    need = {"scheme", "model", "group", "target", "spearman", "nse", "n"}
    if not need <= set(metrics.columns):
        raise ReportError(f"{run / 'metrics.csv'}: lacks columns {sorted(need - set(metrics.columns))}; "
                          "not a realeval metrics table")  # fmt: skip
    table = comparison_table(metrics).reset_index()
    for col, labels in (("scheme", _SCHEME_LABELS), ("target", _TARGET_LABELS),
                        ("model", _MODEL_LABELS)):  # fmt: skip
        table[col] = [labels.get(v, v) for v in table[col]]
    parts = [
        "<h3>Held-out skill: BINN against the pure NN, gradient boosting and the training "
        f"mean</h3><p class='note'>{_REALEVAL_NOTE}</p>",
        table.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, na_rep=""),
    ]
    if isinstance(results.get("regions"), dict):
        reg = pd.DataFrame([results["regions"]])
        parts.append(f"<h3>Sites per region ({results.get('n_sites', '')} sites)</h3>"
                     + _table(reg))  # fmt: skip
    if (run / "predictions.nc").exists():
        parts.append(_calibration_section(run / "predictions.nc"))
    return "\n".join(parts)


_CALIB_NOTE = (
    "Observed coverage of the predicted 90 % interval (5th to 95th percentile, observation "
    "error included) per held-out region with at least {min_n} observed stocks and pooled "
    "over all sites (<i>all</i>); a calibrated model sits on the dashed line at 0.9. "
    "predictions.nc stores only the 5th and 95th percentiles, so a PIT histogram or a "
    "multi-level reliability curve cannot be drawn from it; instead the right-hand panels "
    "show the interval width against the absolute error of the prediction (points above "
    "the line width / 2 are outside a centred interval), and the table splits the misses "
    "into observations below p05 and above p95 (0.05 each when calibrated)."
)


def _calibration_section(pred_path: Path, min_n: int = 20) -> str:
    """Calibration figure and table of the 90 % intervals in a realeval predictions.nc."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = _open_netcdf(pred_path)
    targets = [t for t in _STOCKS if f"pred_{t}_p05" in pred and f"pred_{t}_p95" in pred]
    if not targets:
        return ("<h3>Calibration of the 90 % intervals</h3><p>No model of this run has "
                "predictive intervals (an ensemble config, train.ensemble > 1, gives them)."
                "</p>")  # fmt: skip
    regions = pred["region"].values.astype(str) if "region" in pred else None
    parts, rows = ["<h3>Calibration of the 90 % intervals</h3>"], []
    for scheme in pred["scheme"].values.astype(str):
        groups = regions if scheme == "region" and regions is not None else None
        if groups is None and "fold" in pred:
            groups = np.array([f"fold{f}" for f in pred["fold"].sel(scheme=scheme).values])
        fig, axes = plt.subplots(len(targets), 2, figsize=(12, 3.8 * len(targets)),
                                 squeeze=False)  # fmt: skip
        drawn = False
        for ti, t in enumerate(targets):
            o = pred[f"obs_{t}"].values / 1000.0
            ax_c, ax_w = axes[ti]
            models = []
            for model in pred["model"].values.astype(str):
                sel = {"scheme": scheme, "model": model}
                lo = pred[f"pred_{t}_p05"].sel(sel).values / 1000.0
                hi = pred[f"pred_{t}_p95"].sel(sel).values / 1000.0
                p = pred[f"pred_{t}"].sel(sel).values / 1000.0
                ok = np.isfinite(o) & np.isfinite(lo) & np.isfinite(hi)
                if not ok.any():
                    continue
                models.append((model, o, lo, hi, p, ok))
                inside = (o[ok] >= lo[ok]) & (o[ok] <= hi[ok])
                rows.append({"scheme": _SCHEME_LABELS.get(scheme, scheme),
                             "target": _TARGET_LABELS[t], "model": _MODEL_LABELS.get(model, model),
                             "n": int(ok.sum()), "coverage90": inside.mean(),
                             "below_p05": (o[ok] < lo[ok]).mean(),
                             "above_p95": (o[ok] > hi[ok]).mean(),
                             "median_width_kg_m2": float(np.median(hi[ok] - lo[ok]))})  # fmt: skip
            if not models:
                ax_c.axis("off")
                ax_w.axis("off")
                continue
            drawn = True
            labels = ["all"]
            if groups is not None:
                ok_any = np.isfinite(o)
                labels += sorted(g for g in set(groups[ok_any].tolist())
                                 if (ok_any & (groups == g)).sum() >= min_n)  # fmt: skip
            x = np.arange(len(labels))
            width = 0.8 / len(models)
            for i, (model, o_, lo, hi, p, ok) in enumerate(models):
                cov, ns = [], []
                for g in labels:
                    m = ok if g == "all" else ok & (groups == g)
                    ns.append(int(m.sum()))
                    cov.append(((o_[m] >= lo[m]) & (o_[m] <= hi[m])).mean() if m.any() else np.nan)
                ax_c.bar(x + i * width - 0.4 + width / 2, cov, width,
                         label=_MODEL_LABELS.get(model, model))  # fmt: skip
                err = np.abs(p - o_)
                ax_w.scatter(hi[ok] - lo[ok], err[ok], s=4, alpha=0.4,
                             label=_MODEL_LABELS.get(model, model))  # fmt: skip
            ax_c.axhline(0.9, color="k", ls="--", lw=1, label="nominal 0.9")
            ax_c.set_xticks(x, [f"{g}\nn={n}" for g, n in zip(labels, ns)], fontsize=7,
                            rotation=45 if len(labels) > 8 else 0)  # fmt: skip
            ax_c.set_ylim(0, 1.2)
            ax_c.set_ylabel("observed coverage of the 90 % interval (1)")
            ax_c.set_title(f"{_TARGET_LABELS[t]}: 90 % interval coverage per held-out "
                           f"group ({_SCHEME_LABELS.get(scheme, scheme)})", fontsize=9)  # fmt: skip
            ax_c.legend(fontsize=7, loc="upper left", ncol=len(models) + 1)
            w_all = np.concatenate([(hi - lo)[ok] for _, _, lo, hi, _, ok in models])
            w_all = w_all[w_all > 0]
            if w_all.size:
                wx = np.geomspace(w_all.min(), w_all.max(), 50)
                ax_w.plot(wx, wx / 2, "k--", lw=1, label="|error| = width / 2")
                ax_w.set_xscale("log")
                ax_w.set_yscale("symlog", linthresh=0.1)
                ax_w.set_ylim(bottom=0)
            ax_w.set_xlabel("90 % interval width p95 - p05 (kg C m$^{-2}$)")
            ax_w.set_ylabel("|predicted - observed| (kg C m$^{-2}$)")
            ax_w.set_title(f"{_TARGET_LABELS[t]}: interval width vs absolute error", fontsize=9)
            ax_w.legend(fontsize=7, markerscale=3)
        if not drawn:
            plt.close(fig)
            continue
        fig.tight_layout()
        title = f"Calibration of the 90 % intervals ({_SCHEME_LABELS.get(scheme, scheme)})"
        parts.append(f"<h4>{_esc(title)}</h4>" + _img(_figure_png(fig), title))
    parts.append(f"<p class='note'>{_CALIB_NOTE.format(min_n=min_n)}</p>")
    parts.append(_table(pd.DataFrame(rows), 3))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- predictions
def _is_prediction(ds) -> bool:
    return (
        "lat" in ds.variables
        and "lon" in ds.variables
        and any(v in ds.variables for v in (*_STOCKS, *_PROCESSES))
    )


def _prediction_section(path: Path, ds) -> str:
    """Maps of stocks, processes and their 90 % interval width of a ``predict`` NetCDF."""
    with warnings.catch_warnings():  # all-NaN variables: NaN summaries, empty maps
        warnings.simplefilter("ignore", RuntimeWarning)
        return _prediction_body(path, ds)


def _prediction_body(path: Path, ds) -> str:
    from soilbinn.evaluation.figures import maps_of_prediction

    ds = ds.copy()
    for v in _STOCKS:  # g m-2 -> kg C m-2 (the units of the evaluation tables)
        for name in (v, f"{v}_sd", f"{v}_p05", f"{v}_p95"):
            if name in ds.variables and ds[name].attrs.get("units") == "g m-2":
                attrs = {**ds[name].attrs, "units": "kg C m-2"}
                ds[name] = ds[name] / 1000.0
                ds[name].attrs = attrs
    names = [v for v in (*_STOCKS, *_PROCESSES) if v in ds.variables]
    ens = all(f"{v}_p05" in ds.variables and f"{v}_p95" in ds.variables for v in names)
    n = ds.sizes.get("site", len(np.atleast_1d(ds["lat"].values)))
    members = ds.attrs.get("ensemble_members")
    if ens:
        what = (f"an ensemble of {_esc(members)} members" if members else "intervals") + (
            ": maps of the mean and of the 90 % interval width (p95 - p05; for stocks the "
            "predictive interval, observation error included; for processes the spread of "
            "the members)"
        )
    else:
        what = "no intervals in this file (a single model): maps of the prediction only"
    parts = [
        f"<h2>{_esc(path.name)}: predicted stocks and processes</h2>",
        f"<p>{n} grid cells or sites; {what}.</p>",
    ]
    rows = []
    for v in names:  # all-NaN variables give NaN (no warning)
        a = ds[v].attrs
        vals = np.asarray(ds[v].values, float)
        row = {"variable": v, "description": a.get("long_name", v), "units": a.get("units", ""),
               "median": np.nanmedian(vals), "p05 over cells": np.nanpercentile(vals, 5),
               "p95 over cells": np.nanpercentile(vals, 95)}  # fmt: skip
        if f"{v}_p05" in ds.variables and f"{v}_p95" in ds.variables:
            row["median 90 % width"] = np.nanmedian(ds[f"{v}_p95"].values - ds[f"{v}_p05"].values)
        rows.append(row)
    parts.append("<h3>Summary over the map</h3>" + _table(pd.DataFrame(rows), 4))
    with tempfile.TemporaryDirectory(prefix="soilbinn-report-") as tmp:
        maps_of_prediction(ds, tmp, variables=names, params=False)
        for v in names:
            a = ds[v].attrs
            title = f"{a.get('long_name', v)} ({a.get('units', '')})"
            cells = [_img((Path(tmp) / f"{v}.png").read_bytes(), title)]
            width = Path(tmp) / f"{v}_p90width.png"
            if width.exists():
                cells.append(_img(width.read_bytes(), f"90% interval width of {title}"))
                title += "; right: 90 % interval width (p95 - p05), same units"
            parts.append(f"<h3>{_esc(title)}</h3><div class='pair'>{''.join(cells)}</div>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- explain
def _output_label(name: str, kind: str) -> str:
    from soilbinn.process.outputs import OUTPUT_ATTRS

    if kind == "parameter":
        return f"parameter {name}"
    if name in OUTPUT_ATTRS:  # the shares are unitless: the long name only
        return OUTPUT_ATTRS[name][1]
    return name.replace("_", " ")


def _explain_section(folder: Path) -> str:
    """The importance figure and the top 5 covariates of every output of ``explain``."""
    df = _read_csv(folder / "importance.csv")
    need = {"output", "output_kind", "covariate", "importance"}
    if not need <= set(df.columns):
        raise ReportError(f"{folder / 'importance.csv'}: lacks columns "
                          f"{sorted(need - set(df.columns))}; not a soilbinn explain table")  # fmt: skip
    method = str(df["method"].iloc[0]) if "method" in df and len(df) else "?"
    parts = [f"<h2>{_esc(folder.name)}: which covariates drive each output</h2>",
             f"<p class='note'>Method: {_esc(method)}. Share: the covariate's part of the "
             "output's total importance (sums to 1 over covariates); ± its standard "
             "deviation over permutation repeats.</p>"]  # fmt: skip
    png = folder / "importance.png"
    if png.exists():
        parts.append(_img(png.read_bytes(), "covariate importance (share of each output)"))
    order = {"stock": 0, "process": 1, "parameter": 2}
    rows = []
    for (out, kind), g in df.groupby(["output", "output_kind"], sort=False):
        g = g[np.isfinite(g["importance"])].sort_values("importance", ascending=False)
        row = {"output": _output_label(str(out), str(kind)), "kind": kind}
        if g.empty:
            row["1"] = "not driven by the covariates (fixed or forcing only)"
        for i, r in enumerate(g.head(5).itertuples(), 1):
            sd = getattr(r, "importance_sd", np.nan)
            row[str(i)] = f"{r.covariate} {r.importance:.2f}" + (
                f" ± {sd:.2f}" if np.isfinite(sd) else ""
            )
        rows.append((order.get(str(kind), 3), row))
    rows.sort(key=lambda x: x[0])
    table = pd.DataFrame([r for _, r in rows]).fillna("")
    parts.append("<h3>Top 5 covariates of every output (share)</h3>" + _table(table))
    return "\n".join(parts)


# ----------------------------------------------------------------------------- page
def _input_section(p: Path) -> str:
    """The section of one input, recognised by its contents."""
    if p.is_dir():
        if (p / "importance.csv").exists() and not (p / "experiment.json").exists():
            return _explain_section(p)
        return _section(p)
    if not p.exists():
        raise ReportError(f"{p}: not found")
    if p.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        ds = _open_netcdf(p)
        if not _is_prediction(ds):
            raise ReportError(
                f"{p}: no lat/lon with predicted stocks or processes; expected the "
                "output of soilbinn predict --data"
            )
        return _prediction_section(p, ds)
    raise ReportError(f"{p}: not a run directory, explain folder or prediction NetCDF (.nc)")


def make_report(
    runs: list[str | Path], out: str | Path, title: str = "soilbinn report",
    overwrite: bool = False,
) -> Path:  # fmt: skip
    """Write ``out`` (one offline HTML page) for the given inputs.

    Parameters
    ----------
    runs : list of str or Path
        Experiment run directories (``experiment.json``), ``soilbinn predict --data``
        NetCDF files, ``soilbinn explain`` folders or other directories with ``*.csv`` and
        ``figures/*.png``; each is recognised by its contents (see the module docstring).
    out : str or Path
        The HTML file; an existing file is refused unless ``overwrite``.
    title : str
        Page title.
    overwrite : bool
        Replace an existing ``out``.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ReportError
        An input that is missing or not recognised (the message names it).
    """
    from soilbinn.io import check_output, write_text

    check_output(out, overwrite)
    paths = [Path(r) for r in runs]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ReportError(f"not found: {', '.join(missing)}")
    body = "\n".join(_input_section(p) for p in paths)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
        f"<p>generated {datetime.now():%Y-%m-%d %H:%M}</p>{body}</body></html>"
    )
    return write_text(out, page)
