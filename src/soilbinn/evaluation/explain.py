"""Which covariates drive each parameter, process and stock of a trained run.

Two attribution methods (registry :data:`METHODS`), both applied to the network *inputs*
while every site keeps its own forcing (NPP, temperature, water, bedrock...), so they
answer "through the network, which covariates set this output?":

``permutation`` (default; Breiman 2001, Fisher et al. 2019)
    For each feature, its values are shuffled across the explained sites (seeded, ``R``
    repeats) and the whole model is re-run: network -> 21 parameters -> CLM5 steady state
    (float64, batched) -> processes and stocks. The raw importance of feature ``j`` for
    output ``k`` is the mean absolute change ``mean_i |y_k(x_perm) - y_k(x)|`` over sites,
    in the output's units.
``gradient``
    Integrated gradients (Sundararajan et al. 2017) from the mean site: ``a_ijk = (x_ij -
    xbar_j) * mean_alpha dy_k/dx_j (xbar + alpha (x_i - xbar))``, through the network and,
    for processes and stocks, through the process model's exact implicit backward; a
    categorical covariate is attributed through its embedding vector (path from the mean
    embedding). Per site the attributions add up to ``y_k(x_i) - y_k(xbar)`` (completeness;
    its median relative error is reported), unlike plain gradient x input, which
    linearises the multi-scale sinusoidal (lon, lat) encoding far from the mean site and
    overstates it. The raw importance is ``mean_i |a_ijk|`` over sites. No repeats: its
    spread is NaN.

Features are covariates as a user thinks of them: every numeric covariate; every
categorical covariate (its code is shuffled; its embedding vector is attributed); the
(lon, lat) pair when the run encodes it (``lon_lat``); and the multi-column land-cover
fractions ``lc_*`` as one feature ``land_cover`` (:data:`GROUP_PREFIXES`; more groups can
be given, e.g. texture). For every output the importances are also normalised to shares
that sum to 1 over features (per repeat; the mean and standard deviation over repeats are
reported). An output that no covariate moves (a fixed parameter, the carbon input, which is
forcing) has NaN shares.

An ensemble run (``ensemble.json`` + ``members/``) is explained as its member mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from soilbinn.io import check_output, save_figure, write_csv, write_netcdf
from soilbinn.process import grid
from soilbinn.process.diagnostics import PROCESS_ATTRS
from soilbinn.process.outputs import OUTPUT_ATTRS
from soilbinn.training.predict import Run, load_run
from soilbinn.training.sitedata import SiteData, site_data_from_dataset

#: what can be explained, in order
TARGETS: tuple[str, ...] = ("params", "processes", "stocks")
#: the six bulk processes (Tao et al. 2023)
PROCESSES: tuple[str, ...] = (
    "carbon_input", "cue", "baseline_decomposition", "environmental_modifier",
    "vertical_transport", "input_allocation",
)  # fmt: skip
STOCKS: tuple[str, ...] = ("soc_stock_0_30cm", "soc_stock_0_100cm")
#: numeric covariates whose names start with a prefix form one feature
GROUP_PREFIXES: dict[str, str] = {"lc_": "land_cover"}
#: outputs that change less than this (relative to their mean magnitude) are "not driven"
_REL_TINY = 1e-9
OUTPUT_FILES = ("importance.nc", "importance.csv", "importance.png")


class ExplainError(ValueError):
    """Bad input for ``explain`` (names the run, dataset or option)."""


# ----------------------------------------------------------------------------- features
@dataclass(frozen=True)
class Feature:
    """One explained feature: ``kind`` numeric | categorical | lonlat; ``columns`` index
    the numeric (or categorical) columns of :class:`SiteData`; ``members`` their names."""

    name: str
    kind: str
    columns: tuple[int, ...]
    members: tuple[str, ...]
    long_name: str


def features_of(
    data: SiteData,
    lonlat: bool,
    groups: dict[str, Sequence[str]] | None = None,
    long_names: dict[str, str] | None = None,
) -> list[Feature]:
    """Features of the network inputs, in input order.

    Parameters
    ----------
    data : SiteData
    lonlat : bool
        The run encodes (lon, lat): add the feature ``lon_lat``.
    groups : dict of str to list of str, optional
        Extra groups ``name -> numeric covariates`` treated as one feature.
    long_names : dict, optional
        Long names of the numeric covariates.
    """
    names = list(data.numeric_names)
    long_names = dict(long_names or {})
    group_of: dict[str, str] = {}
    for name in names:
        for prefix, group in GROUP_PREFIXES.items():
            if name.startswith(prefix):
                group_of[name] = group
    for group, members in (groups or {}).items():
        unknown = [m for m in members if m not in names]
        if unknown:
            raise ExplainError(f"group {group}: covariate(s) {unknown} are not inputs of the "
                               f"run; inputs: {', '.join(names)}")  # fmt: skip
        for m in members:
            group_of[m] = group
    feats: list[Feature] = []
    done: set[str] = set()
    for name in names:
        g = group_of.get(name)
        if g is None:
            feats.append(Feature(name, "numeric", (names.index(name),), (name,),
                                 long_names.get(name, name)))  # fmt: skip
        elif g not in done:
            cols = tuple(i for i, n in enumerate(names) if group_of.get(n) == g)
            members = tuple(names[i] for i in cols)
            feats.append(Feature(g, "numeric", cols, members, f"{g} ({', '.join(members)})"))
            done.add(g)
    for j, name in enumerate(data.categorical_names):
        feats.append(Feature(name, "categorical", (j,), (name,), f"{name} (categorical)"))
    if lonlat:
        feats.append(Feature("lon_lat", "lonlat", (0, 1), ("lon", "lat"),
                             "longitude and latitude (encoded)"))  # fmt: skip
    return feats


def _permuted(data: SiteData, feat: Feature, perm: torch.Tensor) -> SiteData:
    """``data`` with the columns of ``feat`` shuffled across sites by ``perm`` (jointly)."""
    cols = list(feat.columns)
    if feat.kind == "numeric":
        x = data.numeric.clone()
        x[:, cols] = data.numeric[perm][:, cols]
        return replace(data, numeric=x)
    if feat.kind == "categorical":
        c = data.categorical.clone()
        c[:, cols] = data.categorical[perm][:, cols]
        return replace(data, categorical=c)
    return replace(data, lonlat=data.lonlat[perm].clone())


# ----------------------------------------------------------------------------- outputs
def _is_binn(model) -> bool:
    return hasattr(model, "process_model")


def output_names(model, targets: Iterable[str]) -> list[str]:
    """Names of the explained outputs of ``model`` for ``targets`` (pure NN: stocks only)."""
    targets = set(targets)
    out: list[str] = []
    if _is_binn(model):
        if "params" in targets:
            out += list(model.param_names)
        if "processes" in targets:
            out += list(PROCESSES)
    if "stocks" in targets:
        out += list(STOCKS)
    return out


def _outputs(model, batch: SiteData, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs (n,) float64 of one model for one batch (graph kept if inputs need grad)."""
    if _is_binn(model) and set(names) <= set(model.param_names):  # the network alone
        learned = model.param_net(batch.numeric, batch.categorical, batch.lonlat)
        p = model.assemble(learned, batch.fixed_params)
        return {k: p[:, model.param_names.index(k)] for k in names}
    out = model(batch)
    res: dict[str, torch.Tensor] = {}
    if _is_binn(model):
        for i, p in enumerate(model.param_names):
            if p in names:
                res[p] = out["params"][:, i]
        if any(n in PROCESSES for n in names):
            res.update({k: v for k, v in model.processes(batch, out).items() if k in names})
        res.update({k: out[k] for k in STOCKS if k in names})
    else:
        soc = out["soc_layer"]
        for k, (top, bottom) in zip(STOCKS, ((0.0, 0.3), (0.0, 1.0))):
            if k in names:
                w = grid.depth_bin_stock_weights(top, bottom).to(soc.device, soc.dtype)
                res[k] = (soc * w).sum(1)
    return {k: res[k].to(torch.float64) for k in names}


class _Explained:
    """The members of a run with their site data (forcing prepared per member)."""

    def __init__(self, runs: Sequence[Run], data: SiteData, names: Sequence[str]):
        self.models = [r.model for r in runs]
        self.names = list(names)
        self.data = []
        for m in self.models:
            m.eval()
            forcing = m.process_model.prepare(data.forcing) if _is_binn(m) else data.forcing
            self.data.append(replace(data, forcing=forcing))

    def __call__(self, edit: Callable[[SiteData], SiteData] | None = None, batch_size=4096):
        """Member-mean outputs ``(n_outputs, n_sites)`` (numpy) of the edited inputs."""
        n = len(self.data[0])
        total = np.zeros((len(self.names), n))
        with torch.no_grad():
            for model, data in zip(self.models, self.data):
                d = edit(data) if edit is not None else data
                for start in range(0, n, batch_size):
                    sl = torch.arange(start, min(start + batch_size, n))
                    res = _outputs(model, d.select(sl), self.names)
                    total[:, start : sl[-1] + 1] += np.stack([res[k].numpy() for k in self.names])
        return total / len(self.models)


# ----------------------------------------------------------------------------- methods
def permutation_importance(
    explained: _Explained, feats: Sequence[Feature], repeats: int, seed: int
) -> np.ndarray:
    """Raw permutation importance ``(repeat, output, feature)`` in output units."""
    base = explained()
    rng = np.random.default_rng(seed)
    n = base.shape[1]
    raw = np.full((repeats, base.shape[0], len(feats)), np.nan)
    for r in range(repeats):
        for j, feat in enumerate(feats):
            perm = torch.as_tensor(rng.permutation(n))
            y = explained(lambda d, f=feat, p=perm: _permuted(d, f, p))
            diff = np.abs(y - base)
            ok = np.isfinite(diff)
            with np.errstate(invalid="ignore"):
                raw[r, :, j] = np.where(ok, diff, 0).sum(1) / ok.sum(1)
    return raw


def _site_inputs(model):
    from soilbinn.nn.encoders import SiteInputs

    return next(m for m in model.modules() if isinstance(m, SiteInputs))


def integrated_gradients(
    model,
    data: SiteData,
    feats: Sequence[Feature],
    names: Sequence[str],
    steps: int = 16,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrated gradients of one model from the mean site (Sundararajan et al. 2017).

    The path runs from the baseline (mean numeric covariates, mean (lon, lat), mean
    embedding vector of each categorical covariate over the sites of ``data``) to each site,
    all inputs together; the gradient is averaged over ``steps`` midpoints of the path and
    multiplied by ``input - baseline``. Missing numeric values (NaN) stay missing on the
    path and get no attribution.

    Returns
    -------
    attribution : ndarray (output, site, feature), in output units (signed)
    delta : ndarray (output, site), ``y(site) - y(baseline)``; with enough steps
        ``attribution.sum(-1) == delta`` (completeness).
    """
    inputs = _site_inputs(model)
    n, n_out = len(data), len(names)
    with torch.no_grad():  # baseline: mean inputs over the explained sites
        num_mean = torch.nanmean(data.numeric.to(torch.float64), 0).to(torch.float32)
        num_mean = torch.nan_to_num(num_mean)
        ll_mean = data.lonlat.mean(0)
        emb = _embedded(inputs, data)
        emb_mean = [e.mean(0) for e in emb]
    attr = np.zeros((n_out, n, len(feats)))
    delta = np.zeros((n_out, n))
    alphas = [(s + 0.5) / steps for s in range(steps)] + [0.0, 1.0]  # + both ends for delta
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        b = data.select(torch.arange(sl.start, sl.stop))
        e_site = [e[sl] for e in emb]
        d_num = torch.where(torch.isnan(b.numeric), 0.0, b.numeric - num_mean)
        d_ll = b.lonlat - ll_mean
        d_emb = [e - m for e, m in zip(e_site, emb_mean)]
        g_sum = None
        for s, alpha in enumerate(alphas):
            with torch.enable_grad() if s < steps else torch.no_grad():
                num = (num_mean + alpha * d_num).where(~torch.isnan(b.numeric), b.numeric)
                num = num.detach().requires_grad_(True)
                ll = (ll_mean + alpha * d_ll).detach().requires_grad_(True)
                path = [
                    (m + alpha * d).detach().requires_grad_(True) for m, d in zip(emb_mean, d_emb)
                ]
                with _replace_embeddings(inputs, path):
                    res = _outputs(model, replace(b, numeric=num, lonlat=ll), names)
                if s >= steps:  # the end points: y(baseline), y(site)
                    sign = -1.0 if alpha == 0.0 else 1.0
                    for k, name in enumerate(names):
                        delta[k, sl] += sign * res[name].detach().numpy()
                    continue
                wrt = [num, ll, *path]
                grads = []
                for name in names:
                    y = res[name]
                    if not y.requires_grad:  # fixed parameter or forcing-only output
                        grads.append([torch.zeros_like(w) for w in wrt])
                        continue
                    g = torch.autograd.grad(y.sum(), wrt, retain_graph=True, allow_unused=True)
                    grads.append(
                        [torch.zeros_like(w) if gi is None else gi for w, gi in zip(wrt, g)]
                    )
            g_sum = (
                grads
                if g_sum is None
                else [[a + c for a, c in zip(ga, gb)] for ga, gb in zip(g_sum, grads)]
            )
        for k in range(n_out):
            g = [x / steps for x in g_sum[k]]
            a_num = torch.nan_to_num(g[0] * d_num)
            a_ll = (g[1] * d_ll).sum(1)
            a_cat = [(gi * d).sum(1) for gi, d in zip(g[2:], d_emb)]
            for j, f in enumerate(feats):
                if f.kind == "numeric":
                    a = a_num[:, list(f.columns)].sum(1)
                elif f.kind == "categorical":
                    a = a_cat[f.columns[0]]
                else:
                    a = a_ll
                attr[k, sl, j] = a.detach().to(torch.float64).numpy()
    return attr, delta


def gradient_attribution(
    explained: _Explained, feats: Sequence[Feature], steps: int = 16
) -> tuple[np.ndarray, float]:
    """Raw integrated-gradient importance ``(1, output, feature)`` in output units, and the
    median relative completeness error ``|sum_j a_j - delta| / |delta|`` over sites and
    outputs (small means ``steps`` was enough)."""
    signed, delta = 0.0, 0.0
    for model, data in zip(explained.models, explained.data):
        a, d = integrated_gradients(model, data, feats, explained.names, steps)
        signed, delta = signed + a / len(explained.models), delta + d / len(explained.models)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        err = np.abs(signed.sum(-1) - delta) / np.abs(delta)
        err = err[np.isfinite(err) & (np.abs(delta) > _REL_TINY * np.nanmean(np.abs(delta)))]
        return np.nanmean(np.abs(signed), axis=1)[None], float(np.median(err)) if err.size else 0.0


@contextmanager
def _capture_embeddings(inputs):
    """Collect the embedding vectors (n, e) that ``inputs`` computes inside the block."""
    captured: list[torch.Tensor] = []
    hooks = [e.register_forward_hook(lambda m, i, o: captured.append(o)) for e in inputs.embeddings]
    try:
        yield captured
    finally:
        for h in hooks:
            h.remove()


@contextmanager
def _replace_embeddings(inputs, vectors: Sequence[torch.Tensor]):
    """Inside the block, the embeddings of ``inputs`` return ``vectors`` (one per category)."""
    hooks = [
        e.register_forward_hook(lambda m, i, o, v=v: v) for e, v in zip(inputs.embeddings, vectors)
    ]
    try:
        yield
    finally:
        for h in hooks:
            h.remove()


def _embedded(inputs, data: SiteData) -> list[torch.Tensor]:
    """Embedding vectors of every categorical covariate of ``data`` (no gradient)."""
    with torch.no_grad(), _capture_embeddings(inputs) as captured:
        inputs(data.numeric, data.categorical, data.lonlat)
    return captured


#: method name -> what its raw importance is
METHODS: dict[str, str] = {
    "permutation": "permutation importance: mean |change| of the output when the covariate "
    "is shuffled across sites",
    "gradient": "integrated gradients from the mean site: mean |attribution| over sites",
}


# ----------------------------------------------------------------------------- driver
def load_members(run_or_dir) -> list[Run]:
    """The run's model(s): a :class:`Run`, a list of Runs, a run or an ensemble directory."""
    if isinstance(run_or_dir, Run):
        return [run_or_dir]
    if isinstance(run_or_dir, (list, tuple)):
        return list(run_or_dir)
    path = Path(run_or_dir)
    if not path.is_dir():
        raise ExplainError(f"run directory {path} not found")
    if (path / "ensemble.json").exists():
        members = sorted(p for p in (path / "members").glob("*") if (p / "config.yaml").exists())
        if not members:
            raise ExplainError(f"{path}: ensemble.json but no member run in {path / 'members'}")
        return [load_run(p) for p in members]
    return [load_run(path)]


def _normalise(raw: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Shares over the last axis (sum 1); NaN where the total is ~0 relative to ``scale``."""
    total = raw.sum(-1, keepdims=True)
    tiny = _REL_TINY * np.maximum(scale, 1e-300)[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > tiny, raw / total, np.nan)


def _output_attrs(model, name: str) -> tuple[str, str, str]:
    """(kind, units of the raw importance, long name) of one output."""
    if _is_binn(model) and name in model.param_names:
        space = model.process_model.space
        unit = space.units[space.index(name)]
        return "parameter", "1", f"{name} (unit scale; physical units {unit})"
    if name in PROCESS_ATTRS:
        units, long = PROCESS_ATTRS[name]
        return "process", units, long
    units, long = OUTPUT_ATTRS[name]
    return "stock", units, long


def _site_data(run: Run, ds: xr.Dataset, source: str) -> SiteData:
    """Site tensors of ``ds`` for the inputs of ``run`` (as prediction builds them)."""
    model, cfg, meta = run.model, run.config, run.meta
    binn = _is_binn(model)
    fixed_from = cfg.model.fixed_from if binn and bool(model.site_mask.any()) else None
    return site_data_from_dataset(
        ds, observations=False, fixed_from=fixed_from,
        param_names=model.process_model.space.names if binn else None,
        numeric_names=meta["numeric_names"], categorical_names=meta["categorical_names"],
        region_names=meta.get("region_names", []),
        source=source,
    )  # fmt: skip


def _importance_dataset(raw, shares, model, names, feats, method) -> xr.Dataset:
    """The importance Dataset from raw ``(repeat, output, feature)`` values and shares."""
    attrs = [_output_attrs(model, k) for k in names]
    out = xr.Dataset(
        coords={
            "output": ("output", names, {"long_name": "explained model output"}),
            "output_kind": ("output", [a[0] for a in attrs], {"long_name": "parameter, process or stock"}),
            "output_units": ("output", [a[1] for a in attrs], {"long_name": "units of the output and of importance_raw"}),
            "output_long_name": ("output", [a[2] for a in attrs]),
            "covariate": ("covariate", [f.name for f in feats], {"long_name": "covariate (feature) of the network"}),
            "covariate_members": ("covariate", [",".join(f.members) for f in feats],
                                  {"long_name": "input columns permuted or attributed together"}),
            "covariate_long_name": ("covariate", [f.long_name for f in feats]),
            "repeat": ("repeat", np.arange(raw.shape[0]), {"long_name": "permutation repeat"}),
        }
    )  # fmt: skip
    dims = ("output", "covariate")
    with warnings.catch_warnings():  # all-NaN rows: outputs no covariate moves
        warnings.simplefilter("ignore", RuntimeWarning)
        out["importance"] = (dims, np.nanmean(shares, 0), {
            "units": "1", "long_name": "share of the output's importance (sums to 1 over covariates)"})  # fmt: skip
        sd = np.nanstd(shares, 0, ddof=1) if raw.shape[0] > 1 else np.full(shares.shape[1:], np.nan)
    out["importance_sd"] = (dims, sd, {"units": "1", "long_name":
                            "standard deviation of the share over permutation repeats"})  # fmt: skip
    out["importance_raw"] = (dims, raw.mean(0), {"units": "see output_units",
                             "long_name": METHODS[method]})  # fmt: skip
    out["importance_repeat"] = (("repeat", *dims), shares, {"units": "1",
                                "long_name": "share of the output's importance, per repeat"})  # fmt: skip
    return out


def explain(
    run_or_dir,
    ds: xr.Dataset,
    method: str = "permutation",
    targets: Sequence[str] = TARGETS,
    repeats: int = 5,
    n_sites: int | None = 1000,
    seed: int = 0,
    groups: dict[str, Sequence[str]] | None = None,
    source: str = "dataset",
    steps: int = 64,
) -> xr.Dataset:
    """Importance of every feature for every output of a trained run.

    Parameters
    ----------
    run_or_dir : run directory, ensemble directory, :class:`Run` or list of Runs
    ds : xarray.Dataset
        Sites with covariates and forcing (observations not needed).
    method : {"permutation", "gradient"}
    targets : subset of :data:`TARGETS`
    repeats : int
        Permutations per feature (permutation only).
    n_sites : int, optional
        Explain a seeded random subset of this many sites (None: all).
    seed : int
        Seeds the site subset and the permutations.
    groups : dict, optional
        Extra feature groups ``name -> numeric covariates``.
    steps : int
        Path steps of integrated gradients (gradient only).

    Returns
    -------
    xarray.Dataset
        ``importance`` (output, covariate): share of the output's total importance (1; sums
        to 1 over covariates), ``importance_sd``: its standard deviation over repeats,
        ``importance_raw``: mean absolute change (or attribution) in the output's units
        (``output_units``), ``importance_repeat`` (repeat, output, covariate): shares per
        repeat.
    """
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose {', '.join(METHODS)}")
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        raise ExplainError(f"unknown target(s) {bad}; choose from {', '.join(TARGETS)}")
    if repeats < 1 or steps < 1:
        raise ExplainError("--repeats and --steps must be at least 1")
    runs = load_members(run_or_dir)
    first = runs[0]
    model, cfg = first.model, first.config
    if method == "gradient" and any(
        type(getattr(r.model, "param_net", None)).__name__ == "GPPrior" for r in runs
    ):  # its categories enter one-hot, not through the embeddings the path interpolates
        raise ExplainError("--method gradient cannot follow a run with train.gp_prior (its "
                           "categories are one-hot features); use --method permutation")  # fmt: skip
    names = output_names(model, targets)
    if not names:
        raise ExplainError(f"a {cfg.model.kind} run has none of the outputs {list(targets)}; "
                           "a pure NN run explains stocks only")  # fmt: skip
    if n_sites is not None and n_sites < 2:
        raise ExplainError("--sites must be at least 2 (importance compares sites)")
    if ds.sizes.get("site", 0) < 2:
        raise ExplainError(f"{source}: at least 2 sites are needed")
    if n_sites is not None and ds.sizes["site"] > n_sites:
        pick = np.sort(np.random.default_rng([seed, 1]).choice(ds.sizes["site"], n_sites, False))
        ds = ds.isel(site=pick)
    data = _site_data(first, ds, source)
    long_names = {}
    if "covariate_long_name" in ds.variables:
        long_names = dict(zip(map(str, ds["covariate"].values),
                              map(str, ds["covariate_long_name"].values)))  # fmt: skip
    feats = features_of(data, _site_inputs(model).lonlat is not None, groups, long_names)
    explained = _Explained(runs, data, names)
    if method == "permutation":
        raw = permutation_importance(explained, feats, repeats, seed)
    else:
        raw, completeness = gradient_attribution(explained, feats, steps)
    scale = np.nanmean(np.abs(explained()), axis=1)
    out = _importance_dataset(raw, _normalise(raw, scale), model, names, feats, method)
    from soilbinn import __version__

    out.attrs.update({
        "title": "soilbinn explain: covariate importance", "method": method,
        "method_description": METHODS[method], "run": str(first.path or "in-memory"),
        "n_members": len(runs), "n_sites": int(len(data)), "repeats": int(raw.shape[0]),
        "seed": int(seed), "source": str(source), "soilbinn_version": __version__,
        "note": "forcing is each site's own; only the network inputs are permuted/attributed",
    })  # fmt: skip
    if method == "gradient":
        out.attrs.update({"steps": int(steps), "completeness_error": completeness})
    return out


# ----------------------------------------------------------------------------- outputs
def importance_table(imp: xr.Dataset) -> pd.DataFrame:
    """Tidy table: one row per (output, covariate), ranked within each output."""
    df = imp[["importance", "importance_sd", "importance_raw"]].to_dataframe().reset_index()
    df = df.drop(columns=[c for c in ("repeat",) if c in df.columns])
    df["rank"] = df.groupby("output")["importance"].rank(ascending=False, method="first")
    df["rank"] = df["rank"].astype("Int64")
    df.insert(0, "method", imp.attrs["method"])
    order = {k: i for i, k in enumerate(imp["output"].values)}
    df = df.sort_values(["output", "rank"], key=lambda s: s.map(order) if s.name == "output" else s)
    cols = ["method", "output", "output_kind", "output_units", "covariate", "covariate_members",
            "rank", "importance", "importance_sd", "importance_raw"]  # fmt: skip
    return df[cols].reset_index(drop=True)


def top_covariates(imp: xr.Dataset, k: int = 5) -> str:
    """Printable top-``k`` covariates of every output."""
    lines = []
    for o in imp["output"].values:
        row = imp["importance"].sel(output=o)
        sd = imp["importance_sd"].sel(output=o)
        if not np.isfinite(row.values).any():
            lines.append(f"{o:>24}: not driven by the covariates (fixed or forcing only)")
            continue
        order = np.argsort(-np.nan_to_num(row.values, nan=-1))[:k]
        parts = []
        for i in order:
            s = f"{imp['covariate'].values[i]} {row.values[i]:.2f}"
            if np.isfinite(sd.values[i]):
                s += f"\u00b1{sd.values[i]:.2f}"
            parts.append(s)
        lines.append(f"{o:>24}: " + ", ".join(parts))
    return "\n".join(lines)


def _label(imp: xr.Dataset, o: str) -> str:
    kind = str(imp["output_kind"].sel(output=o).values)
    if kind == "parameter":
        return f"{o} (parameter)"
    if kind == "stock":
        return {
            "soc_stock_0_30cm": "SOC stock 0-30 cm",
            "soc_stock_0_100cm": "SOC stock 0-100 cm",
        }.get(o, o)
    return o.replace("_", " ")


def importance_figure(imp: xr.Dataset, path: str | Path, max_covariates: int = 30) -> Path:
    """Heatmap outputs x covariates of the shares; the top covariate of each row is boxed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    shares = imp["importance"]
    keep = [o for o in imp["output"].values if np.isfinite(shares.sel(output=o).values).any()]
    if not keep:
        raise ExplainError("no output is driven by the covariates: nothing to draw")
    m = shares.sel(output=keep).values
    col_order = np.argsort(-np.nanmean(m, 0))[:max_covariates]
    m = m[:, col_order]
    covs = [str(c) for c in imp["covariate"].values[col_order]]
    fig_w = min(4 + 0.42 * len(covs), 22)
    fig_h = min(2.5 + 0.32 * len(keep), 16)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), layout="constrained")
    im = ax.imshow(m, cmap="YlGnBu", vmin=0, vmax=max(float(np.nanmax(m)), 1e-9), aspect="auto")
    for i in range(m.shape[0]):
        if not np.isfinite(m[i]).any():
            continue
        top = np.argsort(-np.nan_to_num(m[i], nan=-1))[:3]
        ax.add_patch(Rectangle((top[0] - 0.5, i - 0.5), 1, 1, fill=False, ec="crimson", lw=1.5))
        for j in top:
            if m[i, j] > 0:
                color = "white" if m[i, j] > 0.5 * np.nanmax(m) else "black"
                ax.text(j, i, f"{m[i, j]:.2f}".lstrip("0"), ha="center", va="center",
                        fontsize=7, color=color)  # fmt: skip
    kinds = [str(imp["output_kind"].sel(output=o).values) for o in keep]
    for i in range(1, len(kinds)):
        if kinds[i] != kinds[i - 1]:
            ax.axhline(i - 0.5, color="0.2", lw=1.2)
    ax.set_xticks(range(len(covs)), covs, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(keep)), [_label(imp, o) for o in keep], fontsize=8)
    undriven = [str(o) for o in imp["output"].values if o not in keep]
    note = f"\nnot shown (no covariate moves them): {', '.join(undriven)}" if undriven else ""
    ax.set_xlabel("covariate (sorted by mean share over outputs)" + note)
    n_rep = imp.attrs.get("repeats", 1)
    extra = f", {n_rep} repeats" if imp.attrs.get("method") == "permutation" else ""
    ax.set_title(
        f"Which covariates drive each output ({imp.attrs.get('method')}, "
        f"{imp.attrs.get('n_sites')} sites{extra})\n"
        "each row sums to 1; numbers: the 3 largest shares of a row; box: the largest",
        fontsize=10,
    )
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("share of the output's importance (1)")
    save_figure(fig, path, dpi=130, format="png")
    plt.close(fig)
    return Path(path)


def write_outputs(imp: xr.Dataset, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """``importance.nc``, ``importance.csv`` and ``importance.png`` in ``out_dir``.

    Existing files are refused unless ``overwrite``.
    """
    out_dir = Path(out_dir)
    paths = [out_dir / f for f in OUTPUT_FILES]
    for p in paths:
        check_output(p, overwrite)
    write_netcdf(imp, paths[0])
    write_csv(importance_table(imp), paths[1], index=False)
    importance_figure(imp, paths[2])
    return paths
