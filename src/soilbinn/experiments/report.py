"""One self-contained HTML page (opens offline) with the tables and figures of runs.

For every run directory: its ``experiment.json`` (settings, headline results, timings),
every ``*.csv`` table and every ``figures/*.png`` embedded as base64. No external
resources: the page can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime
from pathlib import Path

import pandas as pd

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:0.8em;margin:0.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
pre{background:#f7f7f7;padding:0.5em;font-size:0.8em;overflow-x:auto}
.warn{background:#fde8e8;border:2px solid #c00;color:#900;padding:0.6em;font-weight:bold}
"""


class ReportError(ValueError):
    """A path that is not a run directory."""


def _section(run: Path) -> str:
    parts = [f"<h2>{html.escape(run.name)}</h2>"]
    meta_p = run / "experiment.json"
    if meta_p.exists():
        meta = json.loads(meta_p.read_text())
        parts.append(f"<p>experiment: <b>{html.escape(str(meta.get('experiment')))}</b>, "
                     f"soilbinn {html.escape(str(meta.get('soilbinn_version')))}, "
                     f"commit {html.escape(str(meta.get('git_commit'))[:12])}, "
                     f"finished {html.escape(str(meta.get('finished')))}</p>")  # fmt: skip
        for w in meta.get("results", {}).get("warnings", []):
            parts.append(f"<p class='warn'>WARNING: {html.escape(str(w))}</p>")
        for key in ("results", "timings_s", "settings"):
            if key in meta:
                parts.append(
                    f"<h3>{key}</h3><pre>{html.escape(json.dumps(meta[key], indent=1))}</pre>"
                )
    if meta_p.exists() and json.loads(meta_p.read_text()).get("experiment") == "realeval":
        parts.append(_realeval_section(run))
    for csv in sorted(run.glob("*.csv")):
        if csv.name == "metrics.csv" and (run / "predictions.nc").exists():
            continue  # realeval: summarised above (the full table stays in the CSV)
        df = pd.read_csv(csv)
        parts.append(f"<h3>{html.escape(csv.name)}</h3>")
        parts.append(df.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
    for png in sorted((run / "figures").glob("*.png")):
        b64 = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f"<h3>{html.escape(png.name)}</h3><img alt='{html.escape(png.stem)}' "
                     f"src='data:image/png;base64,{b64}'>")  # fmt: skip
    return "\n".join(parts)


_REALEVAL_NOTE = (
    "Every site is predicted by models that never saw its region (scheme <i>region</i>) or "
    "its 2-degree block fold (<i>block2</i>). spearman: Spearman rank correlation; nse: "
    "1 - SSE/SS, the R<sup>2</sup> of an out-of-sample prediction (negative: worse than the "
    "observed mean); r2: squared Pearson r; bias and rmse in kg C m<sup>-2</sup> for stocks, "
    "g C m<sup>-3</sup> for layer SOC (profile); coverage90: share of observed stocks inside "
    "the predicted 5-95 % interval (ensembles only); *_grp: median over held-out regions "
    "with at least 20 observations. Full table: metrics.csv."
)


def _realeval_section(run: Path) -> str:
    from soilbinn.experiments.realeval import comparison_table

    table = comparison_table(pd.read_csv(run / "metrics.csv")).reset_index()
    return (
        "<h3>Held-out skill: BINN against the pure NN, gradient boosting and the training "
        f"mean</h3><p>{_REALEVAL_NOTE}</p>"
        + table.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)
    )


def make_report(runs: list[str | Path], out: str | Path, title: str = "soilbinn report") -> Path:
    """Write ``out`` (HTML) for the given run directories."""
    paths = [Path(r) for r in runs]
    bad = [str(p) for p in paths if not p.is_dir()]
    if bad:
        raise ReportError(f"not a run directory: {bad}")
    body = "\n".join(_section(p) for p in paths)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>generated {datetime.now():%Y-%m-%d %H:%M}</p>{body}</body></html>"
    )
    from soilbinn.io import write_text

    return write_text(out, page)
